package deploy_test

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// pollStepper carries a client's requests and, before each DescribeServices
// that follows an UpdateService (each poll of the watch), calls before
// with the poll's number, from 1: the test moves the sandbox's clock there,
// so the world changes between polls by exactly what the test chose.
type pollStepper struct {
	base   http.RoundTripper
	before func(poll int)

	mu      sync.Mutex
	updated bool
	polls   int
	// described counts the service deployments ECS described.
	described int
}

func (p *pollStepper) RoundTrip(r *http.Request) (*http.Response, error) {
	target := r.Header.Get("X-Amz-Target")
	p.mu.Lock()
	poll := 0
	switch {
	case strings.HasSuffix(target, ".UpdateService"):
		p.updated = true
	case strings.HasSuffix(target, ".DescribeServices") && p.updated:
		p.polls++
		poll = p.polls
	}
	p.mu.Unlock()
	if poll > 0 {
		p.before(poll)
	}
	resp, err := p.base.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusOK && strings.HasSuffix(target, ".DescribeServiceDeployments") {
		p.mu.Lock()
		p.described++
		p.mu.Unlock()
	}
	return resp, err
}

// deploymentLine is a line the watch prints when where our deployment
// stands changes: "Deployment ecs-svc/...: STATE, ...".
var deploymentLine = regexp.MustCompile(`(?m)^Deployment ecs-svc/\d+: ([^,\n]+)`)

// statesSeen are the states the watch printed, in order, each once.
func statesSeen(log string) []string {
	var out []string
	for _, m := range deploymentLine.FindAllStringSubmatch(log, -1) {
		if len(out) == 0 || out[len(out)-1] != m[1] {
			out = append(out, m[1])
		}
	}
	return out
}

// TestWatchSeesEveryState runs rollouts on a stepped clock, the sandbox's
// time moving only between the watch's polls, by as much as each scenario
// needs, so that the watch sees every state it handles, with the
// ServiceDeployment API and without it (watching the service's
// deployments[]): in progress, completed, failed, rolling back, rolled
// back, stopped and replaced. Each must end as it should: only a completed
// rollout of our revision is a success.
func TestWatchSeesEveryState(t *testing.T) {
	t.Parallel()
	type want struct {
		states []string // the states printed, in order
		err    string   // "" for success
	}
	const second = time.Second
	steady := func(int) time.Duration { return second }
	tests := []struct {
		name string
		// crash makes the new revision's containers crash as they start.
		crash      bool
		noRollback bool
		// lag is how far the ServiceDeployment API's answers lag
		// DescribeServices', in seconds; such scenarios need the API.
		lag float64
		// step is how far the clock moves before poll n.
		step func(n int) time.Duration
		// act, when set, acts on the service before poll n, after the step.
		act              func(t *testing.T, e *testEnv, n int)
		withAPI, without want
	}{
		{
			name: "completed", step: steady,
			withAPI: want{states: []string{"IN_PROGRESS", "SUCCESSFUL"}},
			without: want{states: []string{"IN_PROGRESS", "COMPLETED"}},
		},
		{
			name: "rolling_back", crash: true, step: steady,
			withAPI: want{states: []string{"IN_PROGRESS", "ROLLBACK_IN_PROGRESS"}, err: "failed and ECS is rolling back (ROLLBACK_IN_PROGRESS): Service deployment rolled back because the circuit breaker threshold was exceeded."},
			without: want{states: []string{"IN_PROGRESS", "FAILED"}, err: "FAILED: ECS deployment circuit breaker: tasks failed to start."},
		},
		{
			name: "rolled_back", crash: true,
			step: func(n int) time.Duration {
				if n < 3 {
					return second
				}
				return time.Minute // the breaker, the rollback and its end, between two polls
			},
			withAPI: want{states: []string{"IN_PROGRESS", "ROLLBACK_SUCCESSFUL"}, err: "failed and ECS rolled the service back (ROLLBACK_SUCCESSFUL)"},
			without: want{states: []string{"IN_PROGRESS", "no longer among the service's deployments"}, err: "deployment failed: tasks failed to start."},
		},
		{
			name: "stopped_by_the_circuit_breaker", crash: true, noRollback: true, step: steady,
			withAPI: want{states: []string{"IN_PROGRESS", "STOPPED"}, err: "was stopped (STOPPED): ECS deployment circuit breaker: tasks failed to start."},
			without: want{states: []string{"IN_PROGRESS", "FAILED"}, err: "FAILED: ECS deployment circuit breaker: tasks failed to start."},
		},
		{
			name: "superseded_in_progress", step: steady,
			act: func(t *testing.T, e *testEnv, n int) {
				t.Helper()
				if n == 2 {
					forceNewDeployment(t, e)
				}
			},
			withAPI: want{states: []string{"IN_PROGRESS", "STOPPED"}, err: "was stopped (STOPPED): Service deployment stopped because a newer service deployment started."},
			// Ours had not started a task yet: ECS stops such tasks at once
			// and drops the deployment.
			without: want{states: []string{"IN_PROGRESS", "no longer among the service's deployments"}, err: "was replaced by another deployment"},
		},
		{
			name: "replaced_once_completed",
			step: func(n int) time.Duration {
				if n == 2 {
					return time.Minute // ours completes between two polls...
				}
				return second
			},
			act: func(t *testing.T, e *testEnv, n int) {
				t.Helper()
				if n == 2 {
					forceNewDeployment(t, e) // ...and another starts
				}
			},
			withAPI: want{states: []string{"IN_PROGRESS", "SUCCESSFUL"}, err: "was replaced by another deployment"},
			without: want{states: []string{"IN_PROGRESS", "COMPLETED"}, err: "was replaced by another deployment"},
		},
		{
			// DescribeServices says FAILED before the service deployment
			// does: the failure is not missed for it.
			name: "failed_before_the_service_deployment_says_so", crash: true, lag: 3, step: steady,
			withAPI: want{states: []string{"IN_PROGRESS"}, err: "FAILED: ECS deployment circuit breaker: tasks failed to start."},
		},
		{
			// Another deployment is primary while the service deployment
			// still says IN_PROGRESS: after a second look, ours is replaced.
			name: "replaced_before_the_service_deployment_says_so", lag: 3, step: steady,
			act: func(t *testing.T, e *testEnv, n int) {
				t.Helper()
				if n == 2 {
					forceNewDeployment(t, e)
				}
			},
			withAPI: want{states: []string{"IN_PROGRESS"}, err: "was replaced by another deployment"},
		},
	}
	for _, tt := range tests {
		for _, withAPI := range []bool{true, false} {
			name, w := tt.name+"/with_the_service_deployment_api", tt.withAPI
			if !withAPI {
				if tt.lag > 0 {
					continue
				}
				name, w = tt.name+"/with_deployments_only", tt.without
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				clock := sandboxtest.NewSteppedClock()
				world := sandbox.DemoWorld()
				world.ECS = &sandbox.ECSSettings{ServiceDeploymentLagSeconds: tt.lag}
				svc := world.Accounts[account].Clusters[cluster].Services["api-service"]
				svc.NoRollback = tt.noRollback
				if !withAPI {
					role := world.Accounts[account].Roles["gha-deploy"]
					role.Permissions.Statement = append(role.Permissions.Statement, sandbox.Statement{
						Effect: "Deny", Action: sandbox.StringList{"ecs:DescribeServiceDeployments", "ecs:ListServiceDeployments"}, Resource: sandbox.StringList{"*"},
					})
				}
				sb := sandboxtest.StartWorld(t, world, sandbox.Options{Now: clock.Now})
				e := &testEnv{sb: sb, cfg: sandboxtest.WebIdentityConfig(sb.Env(), roleARN, "watch-states"), repoURI: sb.RegistryHost(account) + "/" + repoName}
				digest := e.pushRandomImage(t, "sha-4f2c8e1")
				if tt.crash {
					sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "task-crash", Image: digest})
				}
				e.ecs = ecs.NewFromConfig(e.cfg)
				watched := e.cfg.Copy()
				stepper := &pollStepper{base: http.DefaultTransport, before: func(n int) {
					clock.Step(tt.step(n))
					if tt.act != nil {
						tt.act(t, e, n)
					}
				}}
				watched.HTTPClient = &http.Client{Transport: stepper}
				runner, logs := newRunner(t)
				results, err := deploy.Run(context.Background(), ecs.NewFromConfig(watched), e.request(digest), runner)
				log := logs.String()

				if got := statesSeen(log); !slices.Equal(got, w.states) {
					t.Errorf("the watch printed the states %q, want %q", got, w.states)
				}
				if used := stepper.described > 0; used != withAPI {
					t.Errorf("the watch read the ServiceDeployment API: %v, want %v", used, withAPI)
				}
				if w.err == "" {
					if err != nil || results[0].Outcome != deploy.OutcomeSucceeded {
						t.Fatalf("Run = %v, outcome %q; want success", err, results[0].Outcome)
					}
					return
				}
				if err == nil || results[0].Outcome != deploy.OutcomeFailed || !strings.Contains(err.Error(), w.err) {
					t.Fatalf("Run = %v, outcome %q; want a failure saying %q", err, results[0].Outcome, w.err)
				}
			})
		}
	}
}

// forceNewDeployment starts another deployment of the service, as someone
// else would, outside the watch's client.
func forceNewDeployment(t *testing.T, e *testEnv) {
	t.Helper()
	_, err := e.ecs.UpdateService(context.Background(), &ecs.UpdateServiceInput{
		Cluster: aws.String(cluster), Service: aws.String("api-service"), ForceNewDeployment: true,
	})
	if err != nil {
		t.Errorf("UpdateService by someone else: %v", err)
	}
}
