package sandbox

import "context"

// ecrService stands in for Amazon ECR: its API and its registry front.
type ecrService struct{ s *Sandbox }

func newECRService(ctx context.Context, s *Sandbox) (*ecrService, error) {
	return &ecrService{s: s}, nil
}

func (e *ecrService) handle(c *Call) (any, *APIError) {
	return nil, &APIError{Status: 400, Code: "UnknownOperationException", Message: c.Operation}
}

func (e *ecrService) issuedSecrets() []string { return nil }
