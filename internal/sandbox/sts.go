package sandbox

// stsService stands in for AWS STS.
type stsService struct{ s *Sandbox }

func newSTSService(s *Sandbox) *stsService { return &stsService{s: s} }

func (st *stsService) handle(c *Call) (any, *APIError) {
	return nil, &APIError{Status: 400, Code: "InvalidAction", Message: "Could not find operation " + c.Operation}
}
