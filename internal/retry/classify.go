// Package retry is the run's one retry policy: which failures are
// transient, how long to wait before trying again (exponential backoff with
// jitter, on go-retry), and one budget of retries that every call of a run
// draws from — the AWS SDK's retryer, the token service and the outer loops
// alike — so that retries cannot multiply.
package retry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Class is what a failure says about trying again.
type Class int

// The classes of failure.
const (
	// Permanent: trying again cannot help (refused, invalid, not found).
	Permanent Class = iota
	// Throttled: refused for its rate before anything was done.
	Throttled
	// NotSent: the request never left (no connection could be made), so
	// nothing was done.
	NotSent
	// ServerError: the service failed (HTTP 5xx, IDPCommunicationError);
	// the call may or may not have taken effect.
	ServerError
	// ConnectionLost: the answer did not come (a timeout, a reset
	// connection); the call may or may not have taken effect.
	ConnectionLost
	// BudgetSpent: the run's retry budget is used up.
	BudgetSpent
	// Canceled: the run was interrupted.
	Canceled
)

var classNames = map[Class]string{
	Permanent:      "permanent",
	Throttled:      "throttled",
	NotSent:        "not sent",
	ServerError:    "server error",
	ConnectionLost: "connection lost",
	BudgetSpent:    "retry budget spent",
	Canceled:       "canceled",
}

func (c Class) String() string { return classNames[c] }

// Transient reports whether the same call may pass if it is made again.
func (c Class) Transient() bool {
	return c == Throttled || c == NotSent || c == ServerError || c == ConnectionLost
}

// MayHaveApplied reports whether a call that failed this way may still have
// taken effect: a non-idempotent call must look before it is made again.
func (c Class) MayHaveApplied() bool { return c == ServerError || c == ConnectionLost }

// throttleCodes are the AWS error codes of a call refused for its rate: the
// SDK's list, which covers every service the action calls.
var throttleCodes = awsretry.DefaultThrottleErrorCodes

// serverErrorCodes are AWS error codes of a failure on the service's side
// that a later call may not meet. STS answers IDPCommunicationError (HTTP
// 400) when it could not reach the identity provider's keys.
var serverErrorCodes = map[string]bool{
	"IDPCommunicationError":   true,
	"InternalFailure":         true,
	"InternalError":           true,
	"InternalServerError":     true,
	"ServerException":         true,
	"ServiceUnavailable":      true,
	"ServiceUnavailableError": true,
	"RequestTimeout":          true,
	"RequestTimeoutException": true,
}

// Transient reports whether err may pass if the call is made again.
func Transient(err error) bool { return Classify(err).Transient() }

// Classify says what err means for trying again. It is the one
// classification of the run: the SDK's retryer, the token service and every
// outer loop use it.
func Classify(err error) Class {
	if err == nil {
		return Permanent
	}
	if _, ok := errors.AsType[*finalError](err); ok {
		return Permanent
	}
	if _, ok := errors.AsType[*BudgetError](err); ok {
		return BudgetSpent
	}
	// An interrupt ends everything; a deadline does not count as one here,
	// because the transport's own timeouts (a stalled endpoint) also
	// satisfy errors.Is(err, context.DeadlineExceeded). Callers check their
	// context before trying again.
	if errors.Is(err, context.Canceled) {
		return Canceled
	}
	if c, ok := errors.AsType[interface {
		error
		CanceledError() bool
	}](err); ok && c.CanceledError() {
		return Canceled
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		code := ae.ErrorCode()
		if _, ok := throttleCodes[code]; ok {
			return Throttled
		}
		if serverErrorCodes[code] {
			return ServerError
		}
	}
	if re, ok := errors.AsType[*transport.Error](err); ok {
		for _, d := range re.Errors {
			if d.Code == transport.TooManyRequestsErrorCode {
				return Throttled
			}
		}
		return statusClass(re.StatusCode, re.Temporary())
	}
	if se, ok := errors.AsType[interface {
		error
		HTTPStatusCode() int
	}](err); ok && se.HTTPStatusCode() > 0 {
		// A success whose body was cut off on its way (the SDK could not
		// read what it had to decode) is a lost connection, not an answer.
		if _, cut := errors.AsType[*smithy.DeserializationError](err); cut && se.HTTPStatusCode() < 300 {
			if c := connectionClass(err); c != Permanent {
				return c
			}
		}
		// Otherwise a response came: the status says it all.
		return statusClass(se.HTTPStatusCode(), false)
	}
	return connectionClass(err)
}

// statusClass classifies an HTTP status.
func statusClass(status int, temporary bool) Class {
	switch {
	case status == http.StatusTooManyRequests:
		return Throttled
	case status >= 500 || status == http.StatusRequestTimeout || temporary:
		return ServerError
	}
	return Permanent
}

// connectionClass classifies a failure to exchange a request and an answer.
func connectionClass(err error) Class {
	if dns, ok := errors.AsType[*net.DNSError](err); ok {
		if dns.IsNotFound {
			return Permanent
		}
		return NotSent
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return NotSent
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return NotSent
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return ConnectionLost
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return ConnectionLost
	}
	// The SDK knows more shapes of a broken connection than the above
	// (wrapped resets, closed connections); it has the last word.
	if (awsretry.RetryableConnectionError{}).IsErrorRetryable(err) == aws.TrueTernary {
		return ConnectionLost
	}
	return Permanent
}

// Final marks err as not to be retried, whatever its cause: a call that may
// have taken effect, which nobody could check.
func Final(err error) error {
	if err == nil {
		return nil
	}
	return &finalError{err}
}

type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }
