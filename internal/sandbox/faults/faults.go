// Package faults is the sandbox's fault injection: the faults a world or a
// test asks for, matched to calls by service and operation, and applied as
// latency, errors or both.
package faults

import (
	"context"
	"sync"
	"time"
)

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
	// Message is the error message; a generic one when empty. For the ecs
	// fault "task-crash" it is the reason the container runtime gives for
	// the crashed container (DescribeTasks' containers[].reason); for the
	// ecs fault "service-event" it is the event's message.
	Message string `json:"message,omitempty"`
	// Times is how many matching calls fail; 0 means every one.
	Times int `json:"times,omitempty"`
	// LatencyMillis delays each matching call.
	LatencyMillis int `json:"latencyMillis,omitempty"`
	// BlackHole holds each matching request and never answers it, until
	// the client gives up: an endpoint that accepts and stalls.
	BlackHole bool `json:"blackHole,omitempty"`
	// AnswerLost, for an AWS call, lets the service carry the call out and
	// then loses its answer: the latency, the error or the black hole
	// strike after the work is done, as when a server fails or a
	// connection drops after committing a change.
	AnswerLost bool `json:"answerLost,omitempty"`
	// Image, for the ecs fault with Operation "task-crash", names the image
	// whose containers crash as they start: a full reference, its
	// repository:tag (or repository@digest) tail, or a manifest digest.
	// Empty crashes every image. Times counts crashed tasks. For the ecs
	// fault "task-exit" it names, alike, the image whose essential
	// containers in tasks RunTask starts exit with ExitCode.
	Image string `json:"image,omitempty"`
	// ExitCode, for the ecs fault "task-exit", is the code a matching
	// container of a standalone task exits with, whatever its command
	// would give. Times counts containers.
	ExitCode int `json:"exitCode,omitempty"`
	// Stage, for the ecs faults "lifecycle-hook" (a Lambda lifecycle hook
	// answers FAILED) and "alarm" (a deployment's CloudWatch alarm goes
	// off), is the lifecycle stage it happens at (TEST_TRAFFIC_SHIFT,
	// BAKE_TIME, ...); for the codedeploy fault "lifecycle-hook", the
	// lifecycle event whose hook fails (AfterAllowTestTraffic, ...). Empty
	// matches the first. Times counts failed hooks or alarms.
	Stage string `json:"stage,omitempty"`
}

// Fails reports whether the fault fails the call rather than only
// delaying it.
func (f Fault) Fails() bool { return f.Code != "" || f.Status != 0 }

// Response is what a failing fault answers with: the HTTP status, the AWS
// error code and the message, AWS's own where the fault leaves them out.
func (f Fault) Response() (status int, code, message string) {
	status, code, message = f.Status, f.Code, f.Message
	if status == 0 {
		status = 400
	}
	if message == "" {
		message = "injected fault: " + f.Code
		switch f.Code {
		case "Throttling", "ThrottlingException":
			message = "Rate exceeded"
		case "IDPCommunicationError":
			message = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"
		case "InternalFailure", "InternalError", "ServerException":
			message = "We encountered an internal error. Please try again."
		case "ServiceUnavailable":
			message = "Service is unavailable. Please try again."
		}
	}
	if code == "" {
		code = "InternalFailure"
	}
	return status, code, message
}

// Source hands out the fault for a call, if any; *Set is one.
type Source interface {
	Take(service, operation string) (Fault, bool)
}

// Apply takes the fault for one call of service and operation from src and
// waits out its latency. It returns the fault when the call must fail with
// it, nil when the call goes on, and ctx's error when ctx ended during the
// delay (the client is gone: answer nothing).
func Apply(ctx context.Context, src Source, service, operation string) (*Fault, error) {
	f, ok := src.Take(service, operation)
	if !ok {
		return nil, nil
	}
	return f.Strike(ctx)
}

// Strike waits out the fault's latency (for ever, for a black hole) and
// returns the fault when the call must fail with it, nil when it goes on,
// and ctx's error when ctx ended first (the client is gone: answer
// nothing).
func (f Fault) Strike(ctx context.Context) (*Fault, error) {
	switch {
	case f.BlackHole:
		<-ctx.Done()
		return nil, ctx.Err()
	case f.LatencyMillis > 0:
		t := time.NewTimer(time.Duration(f.LatencyMillis) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if !f.Fails() {
		return nil, nil
	}
	return &f, nil
}

// Set holds the faults in force. Each call takes at most one fault: the
// first that matches.
type Set struct {
	mu     sync.Mutex
	faults []*state
}

type state struct {
	Fault
	left int // calls left to affect; -1 = unlimited
}

// NewSet returns a set holding the initial faults.
func NewSet(initial []Fault) *Set {
	s := &Set{}
	for _, f := range initial {
		s.Add(f)
	}
	return s
}

// Add puts a fault in force after those already there.
func (s *Set) Add(f Fault) {
	left := f.Times
	if left == 0 {
		left = -1
	}
	s.mu.Lock()
	s.faults = append(s.faults, &state{Fault: f, left: left})
	s.mu.Unlock()
}

// Take returns the fault for a call of service and operation, consuming one
// of its Times. A fault without an Operation matches every operation.
func (s *Set) Take(service, operation string) (Fault, bool) {
	return s.take(func(f Fault) bool {
		return f.Service == service && (f.Operation == "" || f.Operation == operation)
	})
}

// TakeMatching returns the first fault of exactly service and operation
// that match accepts, consuming one of its Times. It serves faults that are
// events rather than calls (an ECS task crashing), which a fault for every
// operation of the service must not trigger.
func (s *Set) TakeMatching(service, operation string, match func(Fault) bool) (Fault, bool) {
	return s.take(func(f Fault) bool {
		return f.Service == service && f.Operation == operation && match(f)
	})
}

func (s *Set) take(match func(Fault) bool) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.left == 0 || !match(f.Fault) {
			continue
		}
		if f.left > 0 {
			f.left--
		}
		return f.Fault, true
	}
	return Fault{}, false
}
