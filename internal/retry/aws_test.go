package retry_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/retry"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// countingTransport counts the ECS requests that reach the network.
type countingTransport struct{ ecs atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "AmazonEC2ContainerService") {
		c.ecs.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// ecsClients starts the demo world and returns n ECS clients whose
// retryers come from p, as every client of a run does, and the counter of
// their requests.
func ecsClients(t *testing.T, p *retry.Policy, n int) (*sandbox.Sandbox, []*ecs.Client, *countingTransport) {
	t.Helper()
	sb := sandboxtest.Start(t, nil)
	counter := &countingTransport{}
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), "arn:aws:iam::111122223333:role/gha-deploy", "retry-test")
	cfg.HTTPClient = &http.Client{Transport: counter}
	cfg.Retryer = p.AWSRetryer
	clients := make([]*ecs.Client, n)
	for i := range clients {
		clients[i] = ecs.NewFromConfig(cfg)
	}
	return sb, clients, counter
}

func describe(ctx context.Context, c *ecs.Client, optFns ...func(*ecs.Options)) error {
	_, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod-cluster"), Services: []string{"api-service"}}, optFns...)
	return err
}

// TestSDKRetriesShareTheRunsBudget: separate SDK clients, each with its own
// retryer from the policy, pay every retry from the one budget, so that
// parallel services that all meet a failing ECS cannot multiply retries.
func TestSDKRetriesShareTheRunsBudget(t *testing.T) {
	t.Parallel()
	const callers, retries = 5, 3
	p := fast(retry.Options{Budget: retries * retry.RetryCost})
	sb, clients, counter := ecsClients(t, p, callers)
	sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "DescribeServices", Code: "ServerException", Status: 500})

	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i, c := range clients {
		wg.Go(func() { errs[i] = describe(context.Background(), c) })
	}
	wg.Wait()
	for _, err := range errs {
		if err == nil {
			t.Fatal("DescribeServices succeeded against a failing ECS")
		}
	}
	if got, want := int(counter.ecs.Load()), callers+retries; got != want {
		t.Errorf("%d DescribeServices requests from %d callers, want %d: every caller once, and the budget's %d retries", got, callers, want, retries)
	}
	spent := 0
	for _, err := range errs {
		if retry.Classify(err) == retry.BudgetSpent {
			spent++
		}
	}
	if spent == 0 {
		t.Errorf("no caller says the budget is spent: %v", errs)
	}
}

func TestSDKRetryerRetriesWhatPolicySays(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fault     sandbox.Fault
		noBlind   bool
		wantCalls int
		wantErr   bool
	}{
		{"throttled_twice", sandbox.Fault{Code: "ThrottlingException", Times: 2}, false, 3, false},
		{"server_error_twice", sandbox.Fault{Code: "ServerException", Status: 500, Times: 2}, false, 3, false},
		{"access_denied", sandbox.Fault{Code: "AccessDeniedException", Status: 400, Times: 1}, false, 1, true},
		{"server_error_no_blind_retry", sandbox.Fault{Code: "ServerException", Status: 500, Times: 1}, true, 1, true},
		{"throttled_no_blind_retry", sandbox.Fault{Code: "ThrottlingException", Times: 2}, true, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var lines []string
			p := fast(retry.Options{Logf: func(f string, a ...any) {
				mu.Lock()
				defer mu.Unlock()
				lines = append(lines, f)
			}})
			sb, clients, counter := ecsClients(t, p, 1)
			f := tt.fault
			f.Service, f.Operation = "ecs", "DescribeServices"
			sb.InjectFault(f)
			var opts []func(*ecs.Options)
			if tt.noBlind {
				opts = append(opts, func(o *ecs.Options) { o.Retryer = retry.NoBlindRetries(o.Retryer) })
			}
			err := describe(context.Background(), clients[0], opts...)
			if got := int(counter.ecs.Load()); got != tt.wantCalls || (err != nil) != tt.wantErr {
				t.Errorf("%d requests, error %v; want %d requests, error %v", got, err, tt.wantCalls, tt.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(lines) != tt.wantCalls-1 {
				t.Errorf("%d retry lines logged for %d requests", len(lines), tt.wantCalls)
			}
		})
	}
}
