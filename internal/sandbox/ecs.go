package sandbox

import "context"

// ecsService stands in for Amazon ECS.
type ecsService struct{ s *Sandbox }

func newECSService(ctx context.Context, s *Sandbox) (*ecsService, error) {
	return &ecsService{s: s}, nil
}

func (e *ecsService) handle(c *Call) (any, *APIError) {
	return nil, &APIError{Status: 400, Code: "UnknownOperationException", Message: c.Operation}
}
