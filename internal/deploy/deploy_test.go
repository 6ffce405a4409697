package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
)

const cluster = "prod-cluster"

// request is a default-mode request for the demo world's api-service.
func (e *testEnv) request(digest string, services ...string) deploy.Request {
	if len(services) == 0 {
		services = []string{"api-service"}
	}
	return deploy.Request{
		Cluster:     cluster,
		Services:    services,
		Image:       deploy.Image{RepositoryURI: e.repoURI, Digest: digest, Tags: []string{"sha-4f2c8e1"}},
		Wait:        true,
		WaitTimeout: time.Minute,
	}
}

// describeService reads a service as it stands.
func (e *testEnv) describeService(tb testing.TB, name string) types.Service {
	tb.Helper()
	out, err := e.ecs.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}})
	if err != nil || len(out.Services) != 1 {
		tb.Fatalf("DescribeServices %s: %v %v", name, err, out)
	}
	return out.Services[0]
}

// latestRevision is the family's latest revision number.
func (e *testEnv) latestRevision(tb testing.TB, family string) int32 {
	tb.Helper()
	out, err := e.ecs.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(family)})
	if err != nil {
		tb.Fatalf("DescribeTaskDefinition %s: %v", family, err)
	}
	return out.TaskDefinition.Revision
}

// allowEverywhere lets the demo role read and update services of any
// cluster, so that a missing cluster answers as ECS answers a caller who may
// look, rather than with AccessDenied.
func allowEverywhere(w *sandbox.World) {
	role := w.Accounts[account].Roles["gha-deploy"]
	role.Permissions.Statement = append(role.Permissions.Statement, sandbox.Statement{
		Effect:   "Allow",
		Action:   sandbox.StringList{"ecs:DescribeServices", "ecs:UpdateService", "ecs:ListServiceDeployments", "ecs:DescribeServiceDeployments"},
		Resource: sandbox.StringList{"*"},
	})
}

// addTaskDefinition appends a task definition to the account, as the next
// revision of its family.
func addTaskDefinition(tb testing.TB, w *sandbox.World, td map[string]any) {
	tb.Helper()
	raw, err := json.Marshal(td)
	if err != nil {
		tb.Fatal(err)
	}
	w.Accounts[account].TaskDefinitions = append(w.Accounts[account].TaskDefinitions, raw)
}

// tagMap is tags as key: value.
func tagMap(tags []types.Tag) map[string]string {
	out := map[string]string{}
	for _, tag := range tags {
		out[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return out
}

func TestDeploySucceeds(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, fastWorld(t))
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	runner, logs := newRunner(t)

	results, err := deploy.Run(context.Background(), e.ecs, e.request(digest), runner)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(results) != 1 {
		t.Fatalf("Run returned %d results, want 1", len(results))
	}
	r := results[0]
	wantARN := "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:2"
	if r.Outcome != deploy.OutcomeSucceeded || r.TaskDefinitionARN != wantARN || !strings.HasPrefix(r.DeploymentID, "ecs-svc/") ||
		!strings.Contains(r.ServiceDeploymentARN, ":service-deployment/prod-cluster/api-service/") || r.Duration <= 0 || r.Failure != "" {
		t.Errorf("result = %+v, want succeeded on %s with a deployment id and ARN", r, wantARN)
	}

	svc := e.describeService(t, "api-service")
	if got := aws.ToString(svc.TaskDefinition); got != wantARN {
		t.Errorf("service runs %s, want %s", got, wantARN)
	}
	if d := svc.Deployments[0]; aws.ToString(d.Id) != r.DeploymentID || d.RolloutState != types.DeploymentRolloutStateCompleted || d.RunningCount != 3 {
		t.Errorf("primary deployment = %s %s %d running, want ours completed with 3", aws.ToString(d.Id), d.RolloutState, d.RunningCount)
	}

	td, err := e.ecs.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(wantARN), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags},
	})
	if err != nil {
		t.Fatalf("DescribeTaskDefinition: %v", err)
	}
	images := map[string]string{}
	for _, c := range td.TaskDefinition.ContainerDefinitions {
		images[aws.ToString(c.Name)] = aws.ToString(c.Image)
	}
	wantImages := map[string]string{
		"web":        e.repoURI + "@" + digest,
		"log-router": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
	}
	if diff := cmp.Diff(wantImages, images); diff != "" {
		t.Errorf("new revision's images (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"team": "payments"}, tagMap(td.Tags)); diff != "" {
		t.Errorf("new revision's tags (-want +got):\n%s", diff)
	}
	if got := aws.ToString(td.TaskDefinition.TaskRoleArn); got != "arn:aws:iam::111122223333:role/web-api-task" {
		t.Errorf("new revision's task role = %q, want the base's", got)
	}

	out := logs.String()
	for _, want := range []string{"Registered task definition " + wantARN, "deployment completed", "has reached a steady state", "succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	// The steady-state event of the world's bootstrap happened before the
	// deployment: it must not be printed again.
	if n := strings.Count(out, "has reached a steady state"); n != 1 {
		t.Errorf("log shows %d steady-state events, want the new one only", n)
	}
	for _, secret := range e.sb.Secrets() {
		if strings.Contains(out, secret) {
			t.Errorf("log contains a secret the sandbox issued")
		}
	}
}

func TestCrashLoopRolledBackFails(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, fastWorld(t))
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	e.sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "task-crash", Image: digest})
	runner, logs := newRunner(t)

	results, err := deploy.Run(context.Background(), e.ecs, e.request(digest), runner)
	if err == nil {
		t.Fatalf("Run succeeded after a crash loop; want a failure")
	}
	r := results[0]
	if r.Outcome != deploy.OutcomeFailed {
		t.Errorf("outcome = %q, want failed", r.Outcome)
	}
	if !strings.Contains(err.Error(), "rolling back") && !strings.Contains(err.Error(), "rolled the service back") {
		t.Errorf("error %q does not say the deployment was rolled back", err)
	}
	if !strings.Contains(strings.Join(r.StoppedReasons, "\n"), "Essential container in task exited") ||
		!strings.Contains(strings.Join(r.StoppedReasons, "\n"), "exit code 1") {
		t.Errorf("stopped reasons = %q, want the essential container's exit", r.StoppedReasons)
	}
	if len(r.LastEvents) == 0 {
		t.Errorf("no last events in the result")
	}
	out := logs.String()
	if !strings.Contains(out, "error: ") || !strings.Contains(out, "Stopped tasks:") || !strings.Contains(out, "Essential container in task exited") {
		t.Errorf("log lacks an error annotation quoting the stopped reason:\n%s", out)
	}
	if strings.Contains(out, "succeeded") {
		t.Errorf("log claims success after a rollback")
	}
}

func TestDistinctFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup changes the world; prepare changes the request.
		setup   func(w *sandbox.World)
		prepare func(e *testEnv, req *deploy.Request)
		// push says whether the image is pushed before the run.
		push          bool
		wantOutcome   deploy.Outcome
		wantErr       []string
		beforeChanges bool
	}{
		{
			name:        "missing_image",
			push:        false,
			wantOutcome: deploy.OutcomeFailed,
			wantErr:     []string{"api-service", "failed and ECS"},
		},
		{
			name: "timeout",
			push: true,
			setup: func(w *sandbox.World) {
				w.Accounts[account].Clusters[cluster].Services["api-service"].RolloutSeconds = 600
			},
			prepare:     func(e *testEnv, req *deploy.Request) { req.WaitTimeout = 3 * time.Second },
			wantOutcome: deploy.OutcomeTimedOut,
			wantErr:     []string{"did not finish within 3s", "running"},
		},
		{
			name:          "missing_service",
			push:          true,
			prepare:       func(e *testEnv, req *deploy.Request) { req.Services = []string{"api-servic"} },
			wantOutcome:   deploy.OutcomeFailed,
			wantErr:       []string{`service "api-servic" not found in cluster "prod-cluster"`, "MISSING"},
			beforeChanges: true,
		},
		{
			name:          "missing_cluster",
			push:          true,
			setup:         allowEverywhere,
			prepare:       func(e *testEnv, req *deploy.Request) { req.Cluster = "prod-clustr" },
			wantOutcome:   deploy.OutcomeNotStarted,
			wantErr:       []string{`cluster "prod-clustr" not found`, "ClusterNotFoundException"},
			beforeChanges: true,
		},
		{
			name: "draining_service",
			push: true,
			setup: func(w *sandbox.World) {
				w.Accounts[account].Clusters[cluster].Services["api-service"].Status = "DRAINING"
			},
			wantOutcome:   deploy.OutcomeFailed,
			wantErr:       []string{`service "api-service" in cluster "prod-cluster" is DRAINING, not ACTIVE`},
			beforeChanges: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := fastWorld(t)
			if tt.setup != nil {
				tt.setup(w)
			}
			e := startSandbox(t, w)
			digest := "sha256:" + strings.Repeat("5e", 32)
			if tt.push {
				digest = e.pushRandomImage(t, "sha-4f2c8e1")
			}
			req := e.request(digest)
			if tt.prepare != nil {
				tt.prepare(e, &req)
			}
			runner, logs := newRunner(t)
			results, err := deploy.Run(context.Background(), e.ecs, req, runner)
			if err == nil {
				t.Fatalf("Run succeeded; want a failure")
			}
			if n := strings.Count(logs.String(), "error: "); n != 1 {
				t.Errorf("the failure was reported %d times as an error annotation, want once", n)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if len(results) != 1 || results[0].Outcome != tt.wantOutcome {
				t.Errorf("results = %+v, want one %q", results, tt.wantOutcome)
			}
			if tt.beforeChanges {
				if rev := e.latestRevision(t, "web-api"); rev != 1 {
					t.Errorf("web-api is at revision %d after a failure that should precede any change", rev)
				}
				if results[0].DeploymentID != "" {
					t.Errorf("a deployment was started: %s", results[0].DeploymentID)
				}
			}
		})
	}
}

func TestMissingImageQuotesPullError(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, fastWorld(t))
	runner, _ := newRunner(t)
	results, err := deploy.Run(context.Background(), e.ecs, e.request("sha256:"+strings.Repeat("5e", 32)), runner)
	if err == nil {
		t.Fatal("Run succeeded with an image that is not in the registry")
	}
	if got := strings.Join(results[0].StoppedReasons, "\n"); !strings.Contains(got, "CannotPullContainerError") {
		t.Errorf("stopped reasons = %q, want CannotPullContainerError", got)
	}
}

func TestForceNewDeployment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tags []string
		// wantFailure is what the failure says; empty for a success.
		wantFailure []string
	}{
		{"tag_pushed", []string{"bootstrap"}, nil},
		{"tag_not_referenced", []string{"sha-4f2c8e1"}, []string{
			`service "api-service": force-new-deployment would restart`, "none of its containers uses a tag just pushed",
			"/web-api:sha-4f2c8e1", "drop force-new-deployment", "push the tag the task definition names (tags: bootstrap)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := startSandbox(t, fastWorld(t))
			for _, tag := range tt.tags {
				e.pushRandomImage(t, tag)
			}
			if !slices.Contains(tt.tags, "bootstrap") {
				// The service's own tag must resolve for its new tasks to start.
				e.pushRandomImage(t, "bootstrap")
			}
			before := e.describeService(t, "api-service")
			runner, _ := newRunner(t)
			results, err := deploy.Run(context.Background(), e.ecs, e.forceRequest(tt.tags), runner)
			if rev := e.latestRevision(t, "web-api"); rev != 1 {
				t.Errorf("force-new-deployment registered revision %d", rev)
			}
			const wantARN = "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:1"
			if tt.wantFailure == nil {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if r := results[0]; r.Outcome != deploy.OutcomeSucceeded || r.TaskDefinitionARN != wantARN || r.DeploymentID == "" {
					t.Errorf("result = %+v, want a new deployment of %s that succeeded", r, wantARN)
				}
				return
			}
			if err == nil {
				t.Fatal("Run succeeded although the new tasks would not run the pushed image")
			}
			for _, want := range tt.wantFailure {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			if r := results[0]; r.Outcome != deploy.OutcomeFailed || r.DeploymentID != "" {
				t.Errorf("result = %+v, want failed with no deployment started", r)
			}
			after := e.describeService(t, "api-service")
			if got, want := aws.ToString(primaryID(after)), aws.ToString(primaryID(before)); got != want {
				t.Errorf("the service's primary deployment changed from %s to %s: the failed check changed the service", want, got)
			}
		})
	}
}

// forceRequest is a force-new-deployment request for api-service after a
// push of tags.
func (e *testEnv) forceRequest(tags []string) deploy.Request {
	return deploy.Request{
		Cluster:            cluster,
		Services:           []string{"api-service"},
		Image:              deploy.Image{RepositoryURI: e.repoURI, Tags: tags},
		ForceNewDeployment: true,
		Wait:               true,
		WaitTimeout:        time.Minute,
	}
}

func primaryID(svc types.Service) *string {
	for _, d := range svc.Deployments {
		if aws.ToString(d.Status) == "PRIMARY" {
			return d.Id
		}
	}
	return nil
}

// TestForceWithoutReadingTheTaskDefinition: forcing a deployment needs
// ecs:DescribeTaskDefinition only for the pushed-tag check; without it the
// run warns that the check could not run and deploys.
func TestForceWithoutReadingTheTaskDefinition(t *testing.T) {
	t.Parallel()
	w := fastWorld(t)
	role := w.Accounts[account].Roles["gha-deploy"]
	role.Permissions.Statement = append(role.Permissions.Statement, sandbox.Statement{
		Effect: "Deny", Action: sandbox.StringList{"ecs:DescribeTaskDefinition"}, Resource: sandbox.StringList{"*"},
	})
	e := startSandbox(t, w)
	e.pushRandomImage(t, "bootstrap")
	runner, logs := newRunner(t)
	results, err := deploy.Run(context.Background(), e.ecs, e.forceRequest([]string{"bootstrap"}), runner)
	if err != nil || results[0].Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("Run without ecs:DescribeTaskDefinition = %v, %+v; want success", err, results)
	}
	if out := logs.String(); strings.Count(out, "notice: ecs:DescribeTaskDefinition is not allowed on") != 1 || !strings.Contains(out, "the check that a pushed tag is used cannot run") {
		t.Errorf("log does not warn that the check could not run:\n%s", out)
	}
}

// TestDesiredCountZeroWarns: a service scaled to zero completes its
// deployment with no task: the run says that nothing ran the image.
func TestDesiredCountZeroWarns(t *testing.T) {
	t.Parallel()
	w := fastWorld(t)
	w.Accounts[account].Clusters[cluster].Services["api-service"].DesiredCount = 0
	e := startSandbox(t, w)
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	runner, logs := newRunner(t)
	results, err := deploy.Run(context.Background(), e.ecs, e.request(digest), runner)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if results[0].Outcome != deploy.OutcomeSucceeded {
		t.Errorf("outcome = %q, want succeeded", results[0].Outcome)
	}
	if out := logs.String(); !strings.Contains(out, `warning: service "api-service" has desiredCount 0`) || !strings.Contains(out, "no task ran the new image") {
		t.Errorf("log lacks the desiredCount 0 warning:\n%s", out)
	}
}

func TestParallelServicesOneFails(t *testing.T) {
	t.Parallel()
	w := fastWorld(t)
	// The worker's revision has a sidecar whose container crashes as it
	// starts, so the worker's deployment fails; the API's does not.
	addTaskDefinition(t, w, map[string]any{
		"family":                  "web-worker",
		"networkMode":             "awsvpc",
		"requiresCompatibilities": []string{"FARGATE"},
		"cpu":                     "256",
		"memory":                  "512",
		"executionRoleArn":        "arn:aws:iam::111122223333:role/ecsTaskExecutionRole",
		"containerDefinitions": []map[string]any{
			{"name": "worker", "image": "{{ecr:111122223333}}/web-api:bootstrap", "essential": true},
			{"name": "sidecar", "image": "{{ecr:111122223333}}/sidecars:v1", "essential": true},
		},
	})
	w.Accounts[account].Repositories["sidecars"] = &sandbox.Repository{}
	worker := w.Accounts[account].Clusters[cluster].Services["worker-service"]
	worker.TaskDefinition = "web-worker:2"
	// As many tasks as the circuit breaker's threshold, so that the first
	// batch trips it.
	worker.DesiredCount = 3
	w.Faults = append(w.Faults, sandbox.Fault{Service: "ecs", Operation: "task-crash", Image: "sidecars:v1"})
	e := startSandbox(t, w)
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	runner, logs := newRunner(t)

	results, err := deploy.Run(context.Background(), e.ecs, e.request(digest, "api-service", "worker-service"), runner)
	if err == nil {
		t.Fatal("Run succeeded although worker-service failed")
	}
	if !strings.Contains(err.Error(), "worker-service") || strings.Contains(err.Error(), `"api-service"`) {
		t.Errorf("error %q should name worker-service only", err)
	}
	got := map[string]deploy.Outcome{}
	for _, r := range results {
		got[r.Service] = r.Outcome
	}
	want := map[string]deploy.Outcome{"api-service": deploy.OutcomeSucceeded, "worker-service": deploy.OutcomeFailed}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if results[0].Service != "api-service" || results[1].Service != "worker-service" {
		t.Errorf("results are not in request order: %s, %s", results[0].Service, results[1].Service)
	}
	if !strings.Contains(strings.Join(results[1].StoppedReasons, "\n"), "container sidecar: exit code 1") {
		t.Errorf("worker stopped reasons = %q, want the sidecar's exit", results[1].StoppedReasons)
	}
	out := logs.String()
	for _, want := range []string{"[api-service] ", "[worker-service] ", "error: [worker-service] "} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestThrottlingDuringWatchSurvived(t *testing.T) {
	t.Parallel()
	w := fastWorld(t)
	// ECS's own token buckets, made small, and bursts of injected throttling
	// on top: the watch must slow down and carry on.
	w.ECS.Throttle = map[string]sandbox.ECSThrottle{
		"DescribeServices":           {Rate: 1, Burst: 3},
		"DescribeServiceDeployments": {Rate: 1, Burst: 3},
	}
	e := startSandbox(t, w)
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	runner, logs := newRunner(t)

	plan, err := deploy.Prepare(context.Background(), e.ecs, e.request(digest), runner)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	e.sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "DescribeServiceDeployments", Code: "ThrottlingException", Times: 5})
	e.sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "DescribeServices", Code: "ThrottlingException", Times: 5})
	results, err := plan.Deploy(context.Background(), deploy.Image{RepositoryURI: e.repoURI, Digest: digest})
	if err != nil {
		t.Fatalf("Deploy under throttling: %v", err)
	}
	if results[0].Outcome != deploy.OutcomeSucceeded {
		t.Errorf("outcome = %q, want succeeded", results[0].Outcome)
	}
	if !strings.Contains(logs.String(), "ThrottlingException") {
		t.Errorf("log does not mention the throttling it survived")
	}
}

func TestCredentialsExpireMidWatch(t *testing.T) {
	t.Parallel()
	w := fastWorld(t)
	w.CredentialLifetimeSeconds = 3
	w.Accounts[account].Clusters[cluster].Services["api-service"].RolloutSeconds = 36 // 9 s at the test's time scale
	e := startSandbox(t, w)
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	issuedBefore := e.sb.IssuedCredentials()
	runner, _ := newRunner(t)

	results, err := deploy.Run(context.Background(), e.ecs, e.request(digest), runner)
	if err != nil {
		t.Fatalf("Run with short-lived credentials: %v", err)
	}
	if results[0].Outcome != deploy.OutcomeSucceeded {
		t.Errorf("outcome = %q, want succeeded", results[0].Outcome)
	}
	if got := e.sb.IssuedCredentials() - issuedBefore; got < 2 {
		t.Errorf("STS issued %d credentials during a 9 s watch with 3 s credentials; want refreshes", got)
	}
}

func TestTaskDefinitionFile(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, fastWorld(t))
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	dir := t.TempDir()

	// A file as `aws ecs describe-task-definition --include TAGS` writes it,
	// with a misspelt key.
	bad := filepath.Join(dir, "bad.json")
	writeFile(t, bad, `{"taskDefinition": {"family": "web-api", "taskDefinitionArn": "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:1",
		"revision": 1, "status": "ACTIVE", "networkMode": "awsvpc", "cpu": "256", "memory": "512", "requiresCompatibilities": ["FARGATE"],
		"executionRoleArn": "arn:aws:iam::111122223333:role/ecsTaskExecutionRole",
		"containerDefinitions": [{"name": "web", "image": "`+e.repoURI+`:bootstrap", "essential": true, "memoryReservaton": 128}]},
		"tags": [{"key": "team", "value": "payments"}]}`)
	req := e.request(digest)
	req.TaskDefinitionFile = bad
	runner, _ := newRunner(t)
	results, err := deploy.Run(context.Background(), e.ecs, req, runner)
	if err == nil || !strings.Contains(err.Error(), "containerDefinitions[0].memoryReservaton") || !strings.Contains(err.Error(), bad) {
		t.Fatalf("Run with an unknown key = %v, want an error naming the file and containerDefinitions[0].memoryReservaton", err)
	}
	if results[0].Outcome != deploy.OutcomeNotStarted {
		t.Errorf("outcome = %q, want not started", results[0].Outcome)
	}
	if rev := e.latestRevision(t, "web-api"); rev != 1 {
		t.Errorf("a revision was registered from a bad file")
	}

	good := filepath.Join(dir, "good.json")
	writeFile(t, good, strings.Replace(readFile(t, bad), "memoryReservaton", "memoryReservation", 1))
	req.TaskDefinitionFile = good
	results, err = deploy.Run(context.Background(), e.ecs, req, runner)
	if err != nil {
		t.Fatalf("Run with the corrected file: %v", err)
	}
	td, err := e.ecs.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(results[0].TaskDefinitionARN), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags},
	})
	if err != nil {
		t.Fatalf("DescribeTaskDefinition: %v", err)
	}
	c := td.TaskDefinition.ContainerDefinitions
	if len(c) != 1 || aws.ToString(c[0].Image) != e.repoURI+"@"+digest || aws.ToInt32(c[0].MemoryReservation) != 128 || len(td.Tags) != 1 {
		t.Errorf("registered from the file: %+v tags %v; want the file's container pinned to the digest, and its tags", c, td.Tags)
	}
}

func TestNotWaiting(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, fastWorld(t))
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	req := e.request(digest)
	req.Wait = false
	runner, _ := newRunner(t)
	results, err := deploy.Run(context.Background(), e.ecs, req, runner)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if r := results[0]; r.Outcome != deploy.OutcomeNotWaited || r.DeploymentID == "" || !strings.HasSuffix(r.TaskDefinitionARN, ":2") {
		t.Errorf("result = %+v, want a started, unwatched deployment of revision 2", r)
	}
}

func TestInterruptedWatchSaysWhereItStands(t *testing.T) {
	t.Parallel()
	w := fastWorld(t)
	w.Accounts[account].Clusters[cluster].Services["api-service"].RolloutSeconds = 600
	e := startSandbox(t, w)
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	runner, logs := newRunner(t)
	req := e.request(digest)
	req.Region = "us-east-1"
	results, err := deploy.Run(ctx, e.ecs, req, runner)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("Run interrupted = %v, want an error wrapping the context's", err)
	}
	r := results[0]
	if r.Outcome != deploy.OutcomeInterrupted || r.DeploymentID == "" {
		t.Fatalf("result = %+v, want interrupted with its deployment", r)
	}
	out := logs.String()
	for _, want := range []string{
		"Interrupted: where each service stands",
		"api-service: deployment " + r.DeploymentID + " of " + r.TaskDefinitionARN + " was started; ECS reports IN_PROGRESS",
		"ECS goes on with the rollout by itself and, should its circuit breaker trip, rolls the service back by itself",
		"aws ecs describe-service-deployments --service-deployment-arns " + r.ServiceDeploymentARN + " --region us-east-1",
		"aws ecs describe-services --cluster prod-cluster --services api-service --region us-east-1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "error:") {
		t.Errorf("an interrupt was reported as a failure:\n%s", out)
	}
}

// cutOff cancels a context as soon as a request for the ECS operation op
// has been sent, as a signal arriving while the call is in flight would.
type cutOff struct {
	op     string
	cancel context.CancelFunc
}

func (c cutOff) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.Header.Get("X-Amz-Target"), "."+c.op) {
		time.AfterFunc(100*time.Millisecond, c.cancel)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestUpdateServiceCutOffIsUnknownThenSettled: the run is interrupted while
// UpdateService is in flight, so its answer is lost: the service is
// "unknown" until one DescribeServices settles it.
func TestUpdateServiceCutOffIsUnknownThenSettled(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, fastWorld(t))
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	// ECS takes its time to answer; the interrupt comes first.
	e.sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "UpdateService", LatencyMillis: 30000, Times: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := e.cfg.Copy()
	cfg.HTTPClient = &http.Client{Transport: cutOff{op: "UpdateService", cancel: cancel}}
	runner, logs := newRunner(t)
	results, err := deploy.Run(ctx, ecs.NewFromConfig(cfg), e.request(digest), runner)
	if err == nil {
		t.Fatal("Run succeeded although it was interrupted")
	}
	out := logs.String()
	if want := "api-service: UpdateService was sent, but the run was interrupted before ECS answered; ECS had not applied it when the run looked"; !strings.Contains(out, want) {
		t.Errorf("log lacks %q:\n%s", want, out)
	}
	if !strings.Contains(out, "aws ecs describe-services --cluster prod-cluster --services api-service") {
		t.Errorf("log lacks the command to check the service:\n%s", out)
	}
	if r := results[0]; r.Outcome != deploy.OutcomeNotStarted || r.DeploymentID != "" {
		t.Errorf("result = %+v, want settled as not started", r)
	}
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func readFile(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestReplacedByAnotherDeploymentFails(t *testing.T) {
	t.Parallel()
	w := fastWorld(t)
	w.Accounts[account].Clusters[cluster].Services["api-service"].RolloutSeconds = 600
	e := startSandbox(t, w)
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	runner, _ := newRunner(t)

	type outcome struct {
		results []deploy.ServiceResult
		err     error
	}
	done := make(chan outcome, 1)
	go func() {
		results, err := deploy.Run(context.Background(), e.ecs, e.request(digest), runner)
		done <- outcome{results, err}
	}()
	// Someone else deploys while ours rolls out.
	deadline := time.Now().Add(10 * time.Second)
	for aws.ToString(e.describeService(t, "api-service").TaskDefinition) != "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:2" {
		if time.Now().After(deadline) {
			t.Fatal("our deployment never started")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := e.ecs.UpdateService(context.Background(), &ecs.UpdateServiceInput{
		Cluster: aws.String(cluster), Service: aws.String("api-service"),
		TaskDefinition: aws.String("web-api:1"),
	}); err != nil {
		t.Fatalf("the other UpdateService: %v", err)
	}
	got := <-done
	if got.err == nil || got.results[0].Outcome != deploy.OutcomeFailed {
		t.Fatalf("Run = %v, %+v; want a failure once another deployment took over", got.err, got.results)
	}
	if !strings.Contains(got.err.Error(), "stopped") && !strings.Contains(got.err.Error(), "replaced") {
		t.Errorf("error %q does not say our deployment was stopped or replaced", got.err)
	}
}

// TestWithoutServiceDeploymentAPI watches a role that may not use the
// ServiceDeployment API: the service's deployments[] entry with our id tells
// success from a rollback just as well.
func TestWithoutServiceDeploymentAPI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		crash bool
	}{
		{"succeeds", false},
		{"rolled_back_fails", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := fastWorld(t)
			role := w.Accounts[account].Roles["gha-deploy"]
			role.Permissions.Statement = append(role.Permissions.Statement, sandbox.Statement{
				Effect:   "Deny",
				Action:   sandbox.StringList{"ecs:DescribeServiceDeployments"},
				Resource: sandbox.StringList{"*"},
			})
			e := startSandbox(t, w)
			digest := e.pushRandomImage(t, "sha-4f2c8e1")
			if tt.crash {
				e.sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "task-crash", Image: digest})
			}
			runner, logs := newRunner(t)
			results, err := deploy.Run(context.Background(), e.ecs, e.request(digest), runner)
			if strings.Count(logs.String(), "notice: ecs:DescribeServiceDeployments is not allowed on") != 1 {
				t.Errorf("log does not say the watch fell back to deployments[]")
			}
			if tt.crash {
				if err == nil || results[0].Outcome != deploy.OutcomeFailed || !strings.Contains(err.Error(), "failed") {
					t.Errorf("Run = %v, %q; want a failure saying the deployment failed", err, results[0].Outcome)
				}
				if !strings.Contains(strings.Join(results[0].StoppedReasons, "\n"), "Essential container in task exited") {
					t.Errorf("stopped reasons = %q, want the crash", results[0].StoppedReasons)
				}
				return
			}
			if err != nil || results[0].Outcome != deploy.OutcomeSucceeded {
				t.Errorf("Run = %v, %q; want success", err, results[0].Outcome)
			}
		})
	}
}
