package sandbox

import "sync"

// Fault makes the sandbox misbehave the way AWS or GitHub sometimes does.
// A fault matches calls by service and operation; it delays them, fails
// them with an error, or both. Times bounds how many calls it affects.
type Fault struct {
	// Service is sts, ecr, ecs, github (the token endpoint) or registry (the
	// ECR registry front).
	Service string `json:"service"`
	// Operation is the API action (AssumeRoleWithWebIdentity, UpdateService,
	// ...); for the registry front a request kind such as "blob-upload" or
	// "manifest-put"; empty matches every operation of the service.
	Operation string `json:"operation,omitempty"`
	// Code is the AWS error code to answer, e.g. Throttling,
	// ThrottlingException, IDPCommunicationError, InternalFailure,
	// ServiceUnavailable. Empty with a zero Status means delay only.
	Code string `json:"code,omitempty"`
	// Status is the HTTP status; 400 when Code is set and Status is not.
	Status int `json:"status,omitempty"`
	// Message is the error message; a generic one when empty.
	Message string `json:"message,omitempty"`
	// Times is how many matching calls fail; 0 means every one.
	Times int `json:"times,omitempty"`
	// LatencyMillis delays each matching call.
	LatencyMillis int `json:"latencyMillis,omitempty"`
	// Image, for the ecs fault with Operation "task-crash", names the image
	// whose containers crash as they start: a full reference, its
	// repository:tag (or repository@digest) tail, or a manifest digest.
	// Empty crashes every image. Times counts crashed tasks.
	Image string `json:"image,omitempty"`
}

func (f Fault) apiError() *APIError {
	status := f.Status
	if status == 0 {
		status = 400
	}
	msg := f.Message
	if msg == "" {
		msg = "injected fault: " + f.Code
		switch f.Code {
		case "Throttling", "ThrottlingException":
			msg = "Rate exceeded"
		case "IDPCommunicationError":
			msg = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"
		case "InternalFailure", "InternalError", "ServerException":
			msg = "We encountered an internal error. Please try again."
		case "ServiceUnavailable":
			msg = "Service is unavailable. Please try again."
		}
	}
	code := f.Code
	if code == "" {
		code = "InternalFailure"
	}
	return &APIError{Status: status, Code: code, Message: msg}
}

// faultSet holds the faults in force. Each call takes at most one fault: the
// first that matches.
type faultSet struct {
	mu     sync.Mutex
	faults []*faultState
}

type faultState struct {
	Fault
	left int // calls left to affect; -1 = unlimited
}

func newFaultSet(initial []Fault) *faultSet {
	fs := &faultSet{}
	for _, f := range initial {
		fs.add(f)
	}
	return fs
}

func (fs *faultSet) add(f Fault) {
	left := f.Times
	if left == 0 {
		left = -1
	}
	fs.mu.Lock()
	fs.faults = append(fs.faults, &faultState{Fault: f, left: left})
	fs.mu.Unlock()
}

// take returns the fault for a call, consuming one of its Times.
func (fs *faultSet) take(service, operation string) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.faults {
		if f.left == 0 || f.Service != service || (f.Operation != "" && f.Operation != operation) {
			continue
		}
		if f.left > 0 {
			f.left--
		}
		return f.Fault, true
	}
	return Fault{}, false
}
