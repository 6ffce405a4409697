package deploy_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// steppedClock is both the sandbox's clock and the watch's: every pause of
// the watch moves it forward at once, so that ECS's simulated minutes pass
// in moments and the test never waits for them.
type steppedClock struct{ c *sandboxtest.Clock }

func (s steppedClock) Now() time.Time { return s.c.Now() }

func (s steppedClock) After(d time.Duration) <-chan time.Time {
	s.c.Advance(d)
	ch := make(chan time.Time, 1)
	ch <- s.c.Now()
	return ch
}

// startSteppedSandbox starts world on a stepped clock.
func startSteppedSandbox(tb testing.TB, world *sandbox.World) (*testEnv, steppedClock) {
	tb.Helper()
	clock := steppedClock{c: &sandboxtest.Clock{}}
	sb := sandboxtest.StartWorld(tb, world, sandbox.Options{Now: clock.Now})
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), roleARN, "deploy-test")
	return &testEnv{sb: sb, cfg: cfg, ecs: ecs.NewFromConfig(cfg), repoURI: sb.RegistryHost(account) + "/" + repoName}, clock
}

// TestQuietRolloutLogsHeartbeats: a rollout whose tasks take three minutes
// to start changes nothing ECS reports for that long; the watch says where
// it stands once a minute, with the counts, and the run ends in success.
func TestQuietRolloutLogsHeartbeats(t *testing.T) {
	t.Parallel()
	w := sandbox.DemoWorld()
	// The sandbox's clock runs ahead of the SDK's signing clock by every
	// step; AWS allows 5 minutes of skew, so the rollout stays within it.
	w.ECS = &sandbox.ECSSettings{TaskStartSeconds: 190, TaskStopSeconds: 1}
	w.Accounts[account].Clusters[cluster].Services["worker-service"].RolloutSeconds = 0
	e, clock := startSteppedSandbox(t, w)
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	runner, logs := newRunner(t)

	req := e.request(digest, "worker-service")
	req.WaitTimeout = 2 * time.Minute // real time: the stepped watch needs seconds
	req.Clock = clock
	started := clock.Now()
	results, err := deploy.Run(context.Background(), e.ecs, req, runner)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	r := results[0]
	if r.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("outcome %s, want succeeded", r.Outcome)
	}
	if simulated := clock.Now().Sub(started); simulated < 3*time.Minute {
		t.Fatalf("the rollout took %s of the stepped clock, want over 3 minutes", simulated)
	}
	if !r.Deployment.End.After(r.Deployment.Start) || r.Deployment.End.Sub(r.Deployment.Start) < 3*time.Minute {
		t.Errorf("deployment span %s..%s, want the 3 simulated minutes", r.Deployment.Start, r.Deployment.End)
	}
	beat := regexp.MustCompile(`Still watching deployment ecs-svc/\S+ \((\d+m\d+s) so far\): IN_PROGRESS, 0/2 running, 2 pending[^;]*; no change for (\d+m\d+s)`)
	var beats []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "Still watching") {
			m := beat.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("heartbeat without the deployment's counts: %q", line)
				continue
			}
			beats = append(beats, m[2])
		}
	}
	// Nothing changes from the tasks' launch to their start, 190 s later:
	// a heartbeat after each quiet minute, and none more often.
	if n := len(beats); n < 2 || n > 3 {
		t.Errorf("%d heartbeats in about 3 quiet minutes, want 2 or 3: %v\n%s", n, beats, logs.String())
	}
	for i, quiet := range beats {
		d, _ := time.ParseDuration(quiet)
		if d < time.Duration(i+1)*time.Minute {
			t.Errorf("heartbeat %d after %s of quiet, want at least %d minute(s)", i+1, d, i+1)
		}
	}
}

// TestStagesOfABlueGreenDeployment: the result lists the lifecycle stages
// the watch saw, in ECS's order, each from when it was seen; the
// registration and the deployment have their times.
func TestStagesOfABlueGreenDeployment(t *testing.T) {
	t.Parallel()
	w := sandbox.DemoWorld()
	w.ECS = &sandbox.ECSSettings{MinuteSeconds: 1}
	svc := w.Accounts[account].Clusters[cluster].Services["api-service"]
	svc.Strategy, svc.BakeTimeInMinutes = "BLUE_GREEN", intp(3)
	e, clock := startSteppedSandbox(t, w)
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	runner, logs := newRunner(t)
	req := e.request(digest)
	req.Clock = clock
	results, err := deploy.Run(context.Background(), e.ecs, req, runner)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	r := results[0]
	order := []string{"RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT",
		"PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP"}
	var names []string
	last := r.Deployment.Start
	for _, s := range r.Stages {
		names = append(names, s.Name)
		if s.At.Before(last) || s.At.After(r.Deployment.End) {
			t.Errorf("stage %s at %s, out of order or outside the deployment %s..%s", s.Name, s.At, r.Deployment.Start, r.Deployment.End)
		}
		last = s.At
	}
	if len(names) < 3 || !slices.IsSortedFunc(names, func(a, b string) int { return slices.Index(order, a) - slices.Index(order, b) }) {
		t.Errorf("stages %v, want several in ECS's order\n%s", names, logs.String())
	}
	t.Logf("stages: %v", names)
	if !slices.Contains(names, "BAKE_TIME") {
		t.Errorf("stages %v lack the 3-minute BAKE_TIME", names)
	}
	if reg := r.Registration; reg.Start.IsZero() || reg.End.Before(reg.Start) || reg.End.After(r.Deployment.Start) {
		t.Errorf("registration %s..%s, want it done before the deployment started at %s", reg.Start, reg.End, r.Deployment.Start)
	}
}

func intp(n int) *int { return &n }
