package sandbox

import "context"

// ecrService stands in for Amazon ECR: its API and its registry front.
type ecrService struct{ s *Sandbox }

func newECRService(ctx context.Context, s *Sandbox) (*ecrService, error) { return &ecrService{s: s}, nil }

func (e *ecrService) handle(c *Call) (any, *APIError) {
	return nil, &APIError{Status: 400, Code: "UnknownOperationException", Message: c.Operation}
}

func (e *ecrService) issuedSecrets() []string { return nil }

// registryHost is host:port of the registry front serving account's
// repositories, as it appears in repository URIs.
func (e *ecrService) registryHost(account string) string { return "" }

// imageExists reports whether an image reference (host/repo:tag or
// host/repo@sha256:...) on one of the fronts resolves to a manifest, and
// returns that manifest's digest: what an ECS task's image pull would find.
func (e *ecrService) imageExists(ctx context.Context, ref string) (digest string, ok bool, err error) {
	return "", false, nil
}
