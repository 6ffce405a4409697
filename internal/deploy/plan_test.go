package deploy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
)

// errorLines are the lines of a log that start an error annotation.
func errorLines(log string) []string {
	var out []string
	for line := range strings.SplitSeq(log, "\n") {
		if strings.HasPrefix(line, "error: ") || strings.HasPrefix(line, "::error") {
			out = append(out, line)
		}
	}
	return out
}

// TestZeroWaitTimeoutIsTheDefault: a request that leaves the wait timeout
// unset (0) waits the default half hour, not no time at all.
func TestZeroWaitTimeoutIsTheDefault(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, fastWorld(t))
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	runner, logs := newRunner(t)
	req := e.request(digest)
	req.WaitTimeout = 0
	results, err := deploy.Run(context.Background(), e.ecs, req, runner)
	if err != nil || results[0].Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("Run with no wait timeout: %v, %+v; want the default's time to succeed in", err, results)
	}
	if lines := errorLines(logs.String()); len(lines) != 0 {
		t.Errorf("a successful deploy printed error annotations: %q", lines)
	}
}

// TestFailureAnnotatedOnce: a service's failure reaches the log as one
// error annotation, whether the watch explained it or the run's end did.
func TestFailureAnnotatedOnce(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, fastWorld(t))
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	e.sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "task-crash", Image: digest})
	runner, logs := newRunner(t)
	if _, err := deploy.Run(context.Background(), e.ecs, e.request(digest), runner); err == nil {
		t.Fatal("Run succeeded after a crash loop; want a failure")
	}
	if lines := errorLines(logs.String()); len(lines) != 1 || !strings.Contains(lines[0], "api-service") {
		t.Errorf("error annotations %q, want one, naming the service", lines)
	}

	// Not waiting, an UpdateService the service refuses is annotated at the
	// run's end, once.
	e2 := startSandbox(t, fastWorld(t))
	runner2, logs2 := newRunner(t)
	req := e2.request(e2.pushRandomImage(t, "sha-4f2c8e1"))
	req.Wait = false
	e2.sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "UpdateService", Code: "InvalidParameterException", Message: "refused on purpose", Times: 1})
	if _, err := deploy.Run(context.Background(), e2.ecs, req, runner2); err == nil {
		t.Fatal("Run succeeded after UpdateService was refused; want a failure")
	}
	if lines := errorLines(logs2.String()); len(lines) != 1 || !strings.Contains(lines[0], "refused on purpose") {
		t.Errorf("error annotations %q, want one, quoting ECS", lines)
	}
}

// TestPrepareAndDeployRefuse: a plan that cannot find its containers, and
// an image from another repository than the one prepared, are refused
// before anything changes.
func TestPrepareAndDeployRefuse(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, fastWorld(t))
	runner, _ := newRunner(t)
	req := e.request("")
	req.Image.RepositoryURI = ""
	if _, err := deploy.Prepare(context.Background(), e.ecs, req, runner); err == nil || !strings.Contains(err.Error(), "no container name and no repository") {
		t.Errorf("Prepare without container names or a repository: %v, want it refused", err)
	}
	req.ContainerNames = []string{"web"}
	if _, err := deploy.Prepare(context.Background(), e.ecs, req, runner); err != nil {
		t.Errorf("Prepare naming the container: %v, want it accepted", err)
	}

	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	plan, err := deploy.Prepare(context.Background(), e.ecs, e.request(digest), runner)
	if err != nil {
		t.Fatal(err)
	}
	other := deploy.Image{RepositoryURI: e.repoURI + "-other", Digest: digest}
	results, err := plan.Deploy(context.Background(), other)
	if err == nil || !strings.Contains(err.Error(), "is not the prepared one") {
		t.Errorf("Deploy of another repository's image: %v, want it refused", err)
	}
	if len(results) != 1 || results[0].Outcome == deploy.OutcomeSucceeded || e.sb.Calls("ecs", "RegisterTaskDefinition") != 0 {
		t.Errorf("results %+v after %d registrations; want nothing started", results, e.sb.Calls("ecs", "RegisterTaskDefinition"))
	}
}

// TestKeepRevisionsZeroKeepsEverything: without keep-revisions nothing is
// listed or deregistered.
func TestKeepRevisionsZeroKeepsEverything(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, fastWorld(t))
	runner, _ := newRunner(t)
	req := e.request(e.pushRandomImage(t, "sha-4f2c8e1"))
	req.WaitTimeout = time.Minute
	plan, err := deploy.Prepare(context.Background(), e.ecs, req, runner)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Deploy(context.Background(), req.Image); err != nil {
		t.Fatal(err)
	}
	if h := plan.Housekeeping(); h != nil || e.sb.Calls("ecs", "ListTaskDefinitions") != 0 || e.sb.Calls("ecs", "DeregisterTaskDefinition") != 0 {
		t.Errorf("housekeeping %+v, %d ListTaskDefinitions, %d DeregisterTaskDefinition; want none", h, e.sb.Calls("ecs", "ListTaskDefinitions"), e.sb.Calls("ecs", "DeregisterTaskDefinition"))
	}
}

// TestPrepareFindsWhatCannotBeDeployed: a service the run cannot deploy
// as asked is refused by Prepare, before anything changes, saying why, and
// the plan then deploys nothing.
func TestPrepareFindsWhatCannotBeDeployed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		world func(*sandbox.World)
		edit  func(*deploy.Request)
		want  string
	}{
		{name: "no service", edit: func(r *deploy.Request) { r.Services = nil }, want: "deploy: no service named"},
		{name: "a service named twice", edit: func(r *deploy.Request) { r.Services = []string{"api-service", "worker-service", "api-service"} },
			want: `deploy: service "api-service" is named twice`},
		{name: "no cluster: the default, which this account lacks", world: allowEverywhere, edit: func(r *deploy.Request) { r.Cluster = "" },
			want: `cluster "default" not found in this account and region; check the cluster input and aws-region`},
		{name: "a container the task definition lacks", edit: func(r *deploy.Request) { r.ContainerNames = []string{"nope"} },
			want: `service "api-service": task definition web-api has no container named nope; its containers: web (`},
		{name: "no container of the pushed repository", edit: func(r *deploy.Request) { r.Image.RepositoryURI = "111122223333.dkr.ecr.us-east-1.amazonaws.com/other" },
			want: `service "api-service": task definition web-api has no container whose image is in 111122223333.dkr.ecr.us-east-1.amazonaws.com/other (name the containers with container-name)`},
		{name: "an inactive service", world: func(w *sandbox.World) {
			w.Accounts[account].Clusters[cluster].Services["api-service"].Status = "INACTIVE"
		},
			want: `service "api-service" in cluster "prod-cluster" is INACTIVE, not ACTIVE`},
		{name: "CodeDeploy forced", edit: func(r *deploy.Request) {
			r.Services, r.ForceNewDeployment = []string{"checkout-service"}, true
		}, want: "which cannot force a new deployment of the same revision: drop force-new-deployment"},
		{name: "CodeDeploy without a client", edit: func(r *deploy.Request) { r.Services = []string{"checkout-service"} },
			want: "and the run has no CodeDeploy client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := fastWorld(t)
			if tt.world != nil {
				tt.world(w)
			}
			e := startSandbox(t, w)
			runner, _ := newRunner(t)
			req := e.request(e.pushRandomImage(t, "sha-4f2c8e1"))
			if tt.edit != nil {
				tt.edit(&req)
			}
			// Prepare finds it, before an image would be pushed or a tag moved.
			plan, err := deploy.Prepare(context.Background(), e.ecs, req, runner)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Prepare = %v, want %q", err, tt.want)
			}
			results, err := plan.Deploy(context.Background(), req.Image)
			if err == nil {
				t.Error("Deploy of a plan that failed to prepare succeeded")
			}
			for _, r := range results {
				if r.Outcome == deploy.OutcomeSucceeded || r.DeploymentID != "" {
					t.Errorf("service %s: %q, deployment %q; want nothing started", r.Service, r.Outcome, r.DeploymentID)
				}
			}
			if n := e.sb.Calls("ecs", "RegisterTaskDefinition") + e.sb.Calls("ecs", "UpdateService"); n != 0 {
				t.Errorf("%d changes were made; want none", n)
			}
		})
	}
}

// TestWatchStopsOnAnErrorThatDoesNotPass: an error of the watch's own
// reads that no retry mends fails the watch at once, naming the deployment
// and quoting ECS.
func TestWatchStopsOnAnErrorThatDoesNotPass(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, fastWorld(t))
	runner, logs := newRunner(t)
	req := e.request(e.pushRandomImage(t, "sha-4f2c8e1"))
	plan, err := deploy.Prepare(context.Background(), e.ecs, req, runner)
	if err != nil {
		t.Fatal(err)
	}
	// Prepare has read the service: the next DescribeServices is the
	// watch's.
	e.sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "DescribeServices", Code: "InvalidParameterException", Message: "refused on purpose", Times: 1})
	results, err := plan.Deploy(context.Background(), req.Image)
	if err == nil || !strings.Contains(err.Error(), `service "api-service": watch deployment `+results[0].DeploymentID+": describe services: ") ||
		!strings.Contains(err.Error(), "refused on purpose") {
		t.Errorf("Deploy = %v, want the watch's failure quoting ECS", err)
	}
	if r := results[0]; r.Outcome != deploy.OutcomeFailed || r.DeploymentID == "" {
		t.Errorf("result %+v, want the started deployment failed", r)
	}
	if strings.Count(logs.String(), "refused on purpose") != 1 {
		t.Errorf("log tells ECS's message %d times, want once:\n%s", strings.Count(logs.String(), "refused on purpose"), logs.String())
	}
}
