package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/retry"
)

// fast is a policy with waits short enough for a test.
func fast(opts retry.Options) *retry.Policy {
	opts.BaseDelay, opts.ThrottleDelay, opts.MaxDelay = time.Millisecond, time.Millisecond, 5*time.Millisecond
	return retry.New(opts)
}

// awsError is err as the SDK returns a failed operation of service.
func awsError(status int, code string) error {
	resp := &smithyhttp.Response{Response: &http.Response{StatusCode: status}}
	return &smithy.OperationError{ServiceID: "ECS", OperationName: "UpdateService", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: resp, Err: &smithy.GenericAPIError{Code: code, Message: "m"}},
	}}
}

// statusOnly is an answer that carries nothing but its HTTP status, as the
// token service's do.
type statusOnly int

func (s statusOnly) Error() string       { return fmt.Sprintf("HTTP %d", int(s)) }
func (s statusOnly) HTTPStatusCode() int { return int(s) }

func TestClassify(t *testing.T) {
	t.Parallel()
	headerTimeout := &url.Error{Op: "Post", URL: "http://127.0.0.1:1/", Err: timeoutError{}}
	tests := []struct {
		name string
		err  error
		want retry.Class
	}{
		{"aws_throttling", awsError(400, "ThrottlingException"), retry.Throttled},
		{"sts_throttling", awsError(400, "Throttling"), retry.Throttled},
		{"ecs_server_exception", awsError(500, "ServerException"), retry.ServerError},
		{"service_unavailable_503", awsError(503, "ServiceUnavailable"), retry.ServerError},
		{"unknown_code_on_502", awsError(502, "BadGateway"), retry.ServerError},
		{"idp_communication_error", awsError(400, "IDPCommunicationError"), retry.ServerError},
		{"access_denied", awsError(403, "AccessDeniedException"), retry.Permanent},
		{"not_found", awsError(400, "ClusterNotFoundException"), retry.Permanent},
		{"invalid_identity_token", awsError(400, "InvalidIdentityToken"), retry.Permanent},
		{"expired_token", awsError(400, "ExpiredTokenException"), retry.Permanent},
		{"token_service_429", statusOnly(429), retry.Throttled},
		{"token_service_503", statusOnly(503), retry.ServerError},
		{"token_service_401", statusOnly(401), retry.Permanent},
		{"registry_429", &transport.Error{StatusCode: 429}, retry.Throttled},
		{"registry_toomanyrequests", &transport.Error{StatusCode: 400, Errors: []transport.Diagnostic{{Code: transport.TooManyRequestsErrorCode}}}, retry.Throttled},
		{"registry_500", &transport.Error{StatusCode: 500}, retry.ServerError},
		{"registry_unauthorized", &transport.Error{StatusCode: 401}, retry.Permanent},
		{"dial_refused", &url.Error{Op: "Get", URL: "http://127.0.0.1:1/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, retry.NotSent},
		{"dns_temporary", &net.DNSError{Err: "timeout", Name: "sts.example.invalid", IsTimeout: true}, retry.NotSent},
		{"dns_not_found", &net.DNSError{Err: "no such host", Name: "sts.example.invalid", IsNotFound: true}, retry.Permanent},
		{"reset", &url.Error{Op: "Post", URL: "http://127.0.0.1:1/", Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}, retry.ConnectionLost},
		{"unexpected_eof", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), retry.ConnectionLost},
		{"response_header_timeout", headerTimeout, retry.ConnectionLost},
		{"sdk_request_send_failed", &smithy.OperationError{ServiceID: "ECS", OperationName: "DescribeServices", Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{}}, Err: &smithyhttp.RequestSendError{Err: headerTimeout}},
		}}, retry.ConnectionLost},
		// ECS answered 200 and the connection closed before the body
		// was read: the SDK reports the status and a failed decoding.
		{"sdk_body_cut_off_after_200", &smithy.OperationError{ServiceID: "ECS", OperationName: "DescribeServices", Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusOK}}, Err: &smithy.DeserializationError{
				Err: &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed},
			}},
		}}, retry.ConnectionLost},
		{"sdk_malformed_200", &smithy.OperationError{ServiceID: "ECS", OperationName: "DescribeServices", Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusOK}}, Err: &smithy.DeserializationError{
				Err: errors.New("invalid character 'x' looking for beginning of value"),
			}},
		}}, retry.Permanent},
		{"canceled", fmt.Errorf("call: %w", context.Canceled), retry.Canceled},
		{"sdk_canceled", &aws.RequestCanceledError{Err: context.Canceled}, retry.Canceled},
		{"budget_spent", fmt.Errorf("x: %w", &retry.BudgetError{Retries: 3}), retry.BudgetSpent},
		{"final_server_error", retry.Final(awsError(500, "ServerException")), retry.Permanent},
		{"plain", errors.New("no family"), retry.Permanent},
		{"nil", nil, retry.Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := retry.Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %s, want %s", tt.err, got, tt.want)
			}
		})
	}
}

// timeoutError is how net/http reports a response that did not come in time.
type timeoutError struct{}

func (timeoutError) Error() string   { return "net/http: timeout awaiting response headers" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestMayHaveApplied(t *testing.T) {
	t.Parallel()
	for class, want := range map[retry.Class]bool{
		retry.Throttled: false, retry.NotSent: false, retry.Permanent: false,
		retry.ServerError: true, retry.ConnectionLost: true,
	} {
		if got := class.MayHaveApplied(); got != want {
			t.Errorf("%s.MayHaveApplied() = %v, want %v", class, got, want)
		}
	}
}

func TestDoRetriesTransientOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		failures  []error
		wantCalls int
		wantErr   bool
	}{
		{"two_server_errors_then_success", []error{awsError(500, "ServerException"), awsError(503, "ServiceUnavailable")}, 3, false},
		{"throttled_then_success", []error{awsError(400, "ThrottlingException")}, 2, false},
		{"access_denied_once", []error{awsError(403, "AccessDeniedException")}, 1, true},
		{"final_once", []error{retry.Final(awsError(500, "ServerException"))}, 1, true},
		{"server_errors_past_the_attempts", []error{
			awsError(500, "ServerException"), awsError(500, "ServerException"), awsError(500, "ServerException"),
			awsError(500, "ServerException"), awsError(500, "ServerException"), awsError(500, "ServerException"),
		}, 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var lines []string
			p := fast(retry.Options{Logf: func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }})
			calls := 0
			err := p.Do(context.Background(), "call", func(context.Context) error {
				calls++
				if calls <= len(tt.failures) {
					return tt.failures[calls-1]
				}
				return nil
			})
			if calls != tt.wantCalls || (err != nil) != tt.wantErr {
				t.Errorf("Do: %d calls, error %v; want %d calls, error %v", calls, err, tt.wantCalls, tt.wantErr)
			}
			if got := len(lines); got != calls-1 {
				t.Errorf("logged %d retries for %d calls: %q", got, calls, lines)
			}
		})
	}
}

// TestBudgetIsSharedByEveryCaller: parallel callers that all keep failing
// spend one budget between them, so the retries of a run are bounded
// however many services and loops it has.
func TestBudgetIsSharedByEveryCaller(t *testing.T) {
	t.Parallel()
	const callers, budget = 20, 5 * retry.RetryCost
	p := fast(retry.Options{Budget: budget})
	var calls atomic.Int32
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			errs[i] = p.Do(context.Background(), "call", func(context.Context) error {
				calls.Add(1)
				return awsError(500, "ServerException")
			})
		})
	}
	wg.Wait()
	// Every caller tries once; the budget pays for five retries in all.
	if got, want := int(calls.Load()), callers+budget/retry.RetryCost; got != want {
		t.Errorf("%d calls in all, want %d: retries multiplied past the budget", got, want)
	}
	spent := 0
	for _, err := range errs {
		if retry.Classify(err) == retry.BudgetSpent {
			spent++
		}
	}
	if spent == 0 {
		t.Errorf("no caller was told the budget is spent: %v", errs)
	}
	if st := p.Stats(); st.Retries != budget/retry.RetryCost || st.Refused == 0 {
		t.Errorf("Stats = %+v, want %d retries and some refused", st, budget/retry.RetryCost)
	}
}

func TestDoStopsWithTheContext(t *testing.T) {
	t.Parallel()
	p := retry.New(retry.Options{Attempts: 1000, BaseDelay: 20 * time.Millisecond, MaxDelay: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := p.Do(ctx, "call", func(context.Context) error { return awsError(503, "ServiceUnavailable") })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do = %v, want the context's deadline", err)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" {
		t.Errorf("Do = %v, want it to say what the last try met", err)
	}
}

// TestDoStopsWithTheContextDuringATry: a try that fails after the context
// has ended (its answer came as the time ran out) ends the call with the
// context's error, as a wait cut short does, and says what the try met.
func TestDoStopsWithTheContextDuringATry(t *testing.T) {
	t.Parallel()
	p := retry.New(retry.Options{Attempts: 1000, BaseDelay: 20 * time.Millisecond, MaxDelay: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	tries := 0
	err := p.Do(ctx, "call", func(ctx context.Context) error {
		tries++
		<-ctx.Done()
		return awsError(503, "ServiceUnavailable")
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do = %v, want the context's deadline", err)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" {
		t.Errorf("Do = %v, want it to say what the last try met", err)
	}
	if tries != 1 {
		t.Errorf("%d tries, want 1: nothing is tried after the context ended", tries)
	}
}

func TestDelayGrowsWithJitterUpToTheCap(t *testing.T) {
	t.Parallel()
	p := retry.New(retry.Options{BaseDelay: 100 * time.Millisecond, ThrottleDelay: time.Second, MaxDelay: time.Second})
	tests := []struct {
		n      int
		class  retry.Class
		around time.Duration
	}{
		{1, retry.ServerError, 100 * time.Millisecond},
		{2, retry.ServerError, 200 * time.Millisecond},
		{3, retry.ConnectionLost, 400 * time.Millisecond},
		{6, retry.ServerError, time.Second},
		{1, retry.Throttled, time.Second},
		{4, retry.Throttled, time.Second},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 20 {
			d := p.Delay(tt.n, tt.class)
			if d < tt.around/2 || d > tt.around*3/2 {
				t.Errorf("Delay(%d, %s) = %v, want %v ± 50%%", tt.n, tt.class, d, tt.around)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("Delay(%d, %s) gave %v every time: no jitter", tt.n, tt.class, seen)
		}
	}
}

// multiErrors is an error type that cannot be compared with ==, as
// go-containerregistry's joined errors are.
type multiErrors []error

func (m multiErrors) Error() string   { return fmt.Sprint([]error(m)) }
func (m multiErrors) Unwrap() []error { return m }

func TestDoWithUncomparableErrors(t *testing.T) {
	t.Parallel()
	p := fast(retry.Options{Attempts: 3})
	calls := 0
	err := p.Do(context.Background(), "call", func(context.Context) error {
		calls++
		return multiErrors{awsError(503, "ServiceUnavailable"), errors.New("and another")}
	})
	if calls != 3 || err == nil {
		t.Errorf("Do: %d calls, error %v; want 3 calls and the error", calls, err)
	}
}
