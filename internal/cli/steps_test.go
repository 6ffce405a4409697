package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// actionRun runs the flow as the runner would, with outputs and summary
// files, and returns the log, the outputs and the summary.
type actionRun struct {
	log     string
	outputs map[string]string
	summary string
	err     error
	res     Result
}

func runInActions(t *testing.T, sb *sandbox.Sandbox, edit func(*runConfig)) actionRun {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary.md"),
	}
	getenv := getenvOf(files, sb.Env())
	rc := &runConfig{cfg: demoConfig()}
	rc.cfg.Image, rc.cfg.Repository, rc.cfg.Tags = "web-api:demo", "web-api", []string{sb.Env()["GITHUB_SHA"], "latest"}
	rc.cfg.Cluster, rc.cfg.Services = "prod-cluster", []string{"api-service"}
	if edit != nil {
		edit(rc)
	}
	image, err := demoImage(sb.Env()["GITHUB_SHA"])
	if err != nil {
		t.Fatal(err)
	}
	var out sandboxtest.SyncBuffer
	res, runErr := Run(context.Background(), rc.cfg, Deps{Getenv: getenv, Runner: ghaction.New(&out, getenv), Auth: fastAuth, ImageSource: image})
	run := actionRun{log: out.String(), err: runErr, res: res, outputs: readOutputs(t, files["GITHUB_OUTPUT"])}
	summary, _ := os.ReadFile(files["GITHUB_STEP_SUMMARY"])
	run.summary = string(summary)
	assertNoSecrets(t, sb, run.log+run.summary+strings.Join(mapValues(run.outputs), "\n"))
	return run
}

// runConfig lets a test change the job's configuration.
type runConfig struct{ cfg config.Config }

// readOutputs reads the GITHUB_OUTPUT file a run left, if any.
func readOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := ghaction.ParseOutputs(data)
	if err != nil {
		t.Fatalf("GITHUB_OUTPUT as the runner reads it: %v\n%s", err, data)
	}
	return out
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func fastWorld(w *sandbox.World) { w.ECS = &sandbox.ECSSettings{TimeScale: 0.2} }

func TestRunPushesAndDeploys(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, fastWorld)
	run := runInActions(t, sb, nil)
	if run.err != nil {
		t.Fatalf("Run: %v\n%s", run.err, run.log)
	}
	digest := run.res.ImageDigest
	if !strings.HasPrefix(digest, "sha256:") || run.res.Image != run.res.Repository+"@"+digest {
		t.Fatalf("Result image = %q, digest %q", run.res.Image, digest)
	}
	want := map[string]string{
		OutputImageURI:          run.res.Repository + ":" + sb.Env()["GITHUB_SHA"],
		OutputImageDigest:       digest,
		OutputImage:             run.res.Image,
		OutputTaskDefinitionARN: "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:2",
	}
	for name, value := range want {
		if got := run.outputs[name]; got != value {
			t.Errorf("output %s = %q, want %q", name, got, value)
		}
	}
	if !strings.HasPrefix(run.outputs[OutputDeploymentID], "ecs-svc/") {
		t.Errorf("output deployment-id = %q", run.outputs[OutputDeploymentID])
	}
	var results []resultJSON
	if err := json.Unmarshal([]byte(run.outputs[OutputResults]), &results); err != nil {
		t.Fatalf("results output %q: %v", run.outputs[OutputResults], err)
	}
	if len(results) != 1 || results[0].Service != "api-service" || results[0].Status != "succeeded" || results[0].DeploymentID != run.outputs[OutputDeploymentID] {
		t.Errorf("results output = %+v", results)
	}
	for _, want := range []string{"::group::Push image", "::group::Deploy", "Registered task definition", "succeeded"} {
		if !strings.Contains(run.log, want) {
			t.Errorf("log lacks %q:\n%s", want, run.log)
		}
	}
	if strings.Contains(run.log, "::error::") {
		t.Errorf("a successful run printed an error annotation:\n%s", run.log)
	}
	for _, want := range []string{"| Digest | `" + digest + "` |", "| api-service | arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:2 |"} {
		if !strings.Contains(run.summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, run.summary)
		}
	}
}

func TestRunFailedRolloutAnnotatesOnceAndSummarizes(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, fastWorld)
	image, err := demoImage(sb.Env()["GITHUB_SHA"])
	if err != nil {
		t.Fatal(err)
	}
	digest, err := image.Digest()
	if err != nil {
		t.Fatal(err)
	}
	sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "task-crash", Image: digest.String()})
	run := runInActions(t, sb, nil)
	if run.err == nil {
		t.Fatalf("Run succeeded after a rollback:\n%s", run.log)
	}
	if n := strings.Count(run.log, "::error::"); n != 1 {
		t.Errorf("%d error annotations, want exactly 1:\n%s", n, run.log)
	}
	for _, want := range []string{"Essential container in task exited", "Last service events", "failed"} {
		if !strings.Contains(run.summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, run.summary)
		}
	}
	if got := run.outputs[OutputImageDigest]; got != digest.String() {
		t.Errorf("image-digest output = %q, want %q: the push succeeded and must say so", got, digest)
	}
}

func TestRunPushDeniedNamesThePermission(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, func(w *sandbox.World) {
		fastWorld(w)
		role := w.Accounts["111122223333"].Roles["gha-deploy"]
		role.Permissions.Statement = append(role.Permissions.Statement, sandbox.Statement{
			Effect: "Deny", Action: sandbox.StringList{"ecr:DescribeRepositories"}, Resource: sandbox.StringList{"*"},
		})
	})
	run := runInActions(t, sb, nil)
	if run.err == nil {
		t.Fatalf("Run succeeded without ecr:DescribeRepositories:\n%s", run.log)
	}
	want := "allow ecr:DescribeRepositories on arn:aws:ecr:us-east-1:111122223333:repository/web-api"
	if !strings.Contains(run.err.Error(), want) {
		t.Errorf("error = %v\nwant it to say %q", run.err, want)
	}
	if len(run.outputs) != 0 {
		t.Errorf("a run that pushed nothing set outputs %v", run.outputs)
	}
}
