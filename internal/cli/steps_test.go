package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction/ghactiontest"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// actionRun runs the flow as the runner would, with outputs and summary
// files, and reports its end as the deploy command does; it returns the
// log, the outputs, the summary and the exit code.
type actionRun struct {
	log     string
	outputs map[string]string
	summary string
	err     error
	code    int
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
	rc := &runConfig{cfg: demoConfig(), env: map[string]string{}}
	rc.cfg.Image, rc.cfg.Repository, rc.cfg.Tags = "web-api:demo", "web-api", []string{sb.Env()["GITHUB_SHA"], "latest"}
	rc.cfg.Cluster, rc.cfg.Services = "prod-cluster", []string{"api-service"}
	if edit != nil {
		edit(rc)
	}
	getenv := getenvOf(files, rc.env, sb.Env())
	image, err := demoImage(sb.Env()["GITHUB_SHA"])
	if err != nil {
		t.Fatal(err)
	}
	var out sandboxtest.SyncBuffer
	deps := Deps{Getenv: getenv, Runner: ghaction.New(&out, getenv), Retry: fastRetry, ImageSource: image, HTTPClient: rc.httpClient}
	if rc.deps != nil {
		rc.deps(&deps)
	}
	if deps.HTTPClient == nil {
		// The run's own client, with its timeouts, reaching the sandbox's
		// ECR registry hosts by name.
		deps.HTTPClient = sandboxtest.HTTPClient(sb, deps.Timeouts)
	}
	ctx := rc.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	res, runErr := Run(ctx, rc.cfg, deps)
	code := report(ctx, deps.Runner, runErr)
	run := actionRun{log: out.String(), err: runErr, code: code, res: res, outputs: readOutputs(t, files["GITHUB_OUTPUT"])}
	summary, _ := os.ReadFile(files["GITHUB_STEP_SUMMARY"])
	run.summary = string(summary)
	assertNoSecrets(t, sb, run.log+run.summary+strings.Join(mapValues(run.outputs), "\n"))
	return run
}

// demoDigest is the digest of the image runInActions pushes to sb.
func demoDigest(tb testing.TB, sb *sandbox.Sandbox) string {
	tb.Helper()
	image, err := demoImage(sb.Env()["GITHUB_SHA"])
	if err != nil {
		tb.Fatal(err)
	}
	digest, err := image.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return digest.String()
}

// runConfig lets a test change the job's configuration, its environment
// (over the sandbox's), the HTTP client every request goes through (the
// run's, mapped to the sandbox, when nil), the run's other dependencies,
// and its context.
type runConfig struct {
	cfg        config.Config
	env        map[string]string
	httpClient *http.Client
	deps       func(*Deps)
	ctx        context.Context
}

// requestRecorder passes requests on to inner and records, for each, what
// it was for: "AWS <X-Amz-Target>" for ECR and ECS, "STS <Action>", or the
// path.
type requestRecorder struct {
	inner    http.RoundTripper
	mu       sync.Mutex
	requests []string
}

func (rr *requestRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	what := req.URL.Path
	switch {
	case req.Header.Get("X-Amz-Target") != "":
		what = "AWS " + req.Header.Get("X-Amz-Target")
	case req.Method == http.MethodPost && req.URL.Path == "/" && req.Body != nil:
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		what = "STS " + form.Get("Action")
	}
	rr.mu.Lock()
	rr.requests = append(rr.requests, what)
	rr.mu.Unlock()
	return rr.inner.RoundTrip(req)
}

func (rr *requestRecorder) recorded() []string {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return slices.Clone(rr.requests)
}

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
	for _, want := range []string{"| Digest | `" + digest + "` |", "| [api\\-service](<https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/prod-cluster/services/api-service/deployments?region=us-east-1>) | [web\\-api\\:2](<https://us-east-1.console.aws.amazon.com/ecs/v2/task-definitions/web-api/2/containers?region=us-east-1>) |"} {
		if !strings.Contains(run.summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, run.summary)
		}
	}
}

func TestRunFailedRolloutAnnotatesOnceAndSummarizes(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, fastWorld)
	digest := demoDigest(t, sb)
	sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "task-crash", Image: digest})
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
	if got := run.outputs[OutputImageDigest]; got != digest {
		t.Errorf("image-digest output = %q, want %q: the push succeeded and must say so", got, digest)
	}
}

// TestRunPushDeniedNamesThePermission: a push denied a permission it needs
// fails naming the permission and the resource; one denied an optional
// permission goes on and says, in one notice, what it did without it.
func TestRunPushDeniedNamesThePermission(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		denied  string
		wantErr string // empty: the run succeeds
	}{
		{"required", "ecr:InitiateLayerUpload", "allow ecr:InitiateLayerUpload on arn:aws:ecr:us-east-1:111122223333:repository/web-api"},
		{"optional", "ecr:DescribeRepositories", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sb := sandboxtest.Start(t, func(w *sandbox.World) {
				fastWorld(w)
				role := w.Accounts["111122223333"].Roles["gha-deploy"]
				role.Permissions.Statement = append(role.Permissions.Statement, sandbox.Statement{
					Effect: "Deny", Action: sandbox.StringList{tt.denied}, Resource: sandbox.StringList{"*"},
				})
			})
			run := runInActions(t, sb, nil)
			if tt.wantErr == "" {
				if run.err != nil {
					t.Fatalf("Run without %s: %v\n%s", tt.denied, run.err, run.log)
				}
				if strings.Count(run.log, "::notice::"+tt.denied+" is not allowed on") != 1 {
					t.Errorf("the run without %s gives not one notice naming it:\n%s", tt.denied, run.log)
				}
				return
			}
			if run.err == nil {
				t.Fatalf("Run succeeded without %s:\n%s", tt.denied, run.log)
			}
			if !strings.Contains(run.err.Error(), tt.wantErr) {
				t.Errorf("error = %v\nwant it to say %q", run.err, tt.wantErr)
			}
			if len(run.outputs) != 0 {
				t.Errorf("a run that pushed nothing set outputs %v", run.outputs)
			}
		})
	}
}

// TestAllowedAccountIDs: the account guard checks the final role of the
// chain right after authentication. Without its account the run stops
// before the first ECR, registry or ECS request; with it, it deploys.
func TestAllowedAccountIDs(t *testing.T) {
	t.Parallel()
	const prodAccount = "444455556666"
	tests := []struct {
		name    string
		allowed []string
		wantErr bool
	}{
		{"only_the_first_roles_account", []string{"111122223333"}, true},
		{"another_account", []string{"999988887777"}, true},
		{"the_final_account", []string{"111122223333", prodAccount}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sb := sandboxtest.Start(t, fastWorld)
			rec := &requestRecorder{inner: sb.Transport(nil)}
			run := runInActions(t, sb, func(rc *runConfig) {
				rc.cfg.RoleChain = []config.ChainRole{{RoleARN: "arn:aws:iam::" + prodAccount + ":role/prod-deploy", ExternalID: "acme-prod-7f3c"}}
				rc.cfg.AllowedAccountIDs = tt.allowed
				rc.httpClient = &http.Client{Transport: rec}
			})
			if !tt.wantErr {
				if run.err != nil {
					t.Fatalf("Run: %v\n%s", run.err, run.log)
				}
				if !strings.Contains(run.res.Repository, sb.RegistryHost(prodAccount)) || len(run.res.Services) != 1 {
					t.Errorf("pushed to %q, deployed %+v; want the push and deploy in %s", run.res.Repository, run.res.Services, prodAccount)
				}
				return
			}
			if run.err == nil {
				t.Fatalf("Run succeeded with allowed-account-ids %v, want the account guard to stop it\n%s", tt.allowed, run.log)
			}
			for _, want := range append([]string{"account " + prodAccount, "allowed-account-ids", "role-chain", "before anything was pushed or changed"}, tt.allowed...) {
				if !strings.Contains(run.err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, run.err)
				}
			}
			if !strings.Contains(run.summary, "failed") || !strings.Contains(run.summary, "allowed-account-ids") {
				t.Errorf("the summary does not say why the run stopped:\n%s", run.summary)
			}
			requests := rec.recorded()
			for _, r := range requests {
				if !strings.HasPrefix(r, "STS ") && !strings.Contains(r, "token") {
					t.Errorf("request %q after the guard refused the account; all requests: %q", r, requests)
				}
			}
			if !slices.Contains(requests, "STS GetCallerIdentity") {
				t.Errorf("requests %q: the guard did not ask STS who the credentials are", requests)
			}
			if len(run.outputs) != 0 {
				t.Errorf("outputs %v after the guard refused the account", run.outputs)
			}
		})
	}
}

// TestMaskAWSAccountID: every account of the run is masked in the log and
// the summary, from the first line on, while outputs keep the real values.
func TestMaskAWSAccountID(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, fastWorld)
	const prodAccount = "444455556666"
	run := runInActions(t, sb, func(rc *runConfig) {
		rc.cfg.RoleChain = []config.ChainRole{{RoleARN: "arn:aws:iam::" + prodAccount + ":role/prod-deploy", ExternalID: "acme-prod-7f3c"}}
		rc.cfg.AllowedAccountIDs = []string{prodAccount}
		rc.cfg.MaskAWSAccountID = true
	})
	if run.err != nil {
		t.Fatalf("Run: %v\n%s", run.err, run.log)
	}
	for _, account := range []string{"111122223333", prodAccount} {
		if !strings.Contains(run.log, "::add-mask::"+account+"\n") {
			t.Errorf("account %s was not masked:\n%s", account, run.log)
		}
		first := strings.Index(run.log, "::add-mask::"+account)
		if i := strings.Index(run.log, account); i < first {
			t.Errorf("account %s printed before it was masked:\n%s", account, run.log)
		}
		for where, text := range map[string]string{"log": withoutMaskCommands(run.log), "summary": run.summary} {
			if strings.Contains(text, account) {
				t.Errorf("the %s shows account %s:\n%s", where, account, text)
			}
		}
	}
	if got := run.outputs[OutputImage]; !strings.HasPrefix(got, sb.RegistryHost(prodAccount)+"/") {
		t.Errorf("output image = %q; want the real repository of account %s", got, prodAccount)
	}
	if run.outputs[OutputTaskDefinitionARN] == "" || !strings.Contains(run.outputs[OutputTaskDefinitionARN], prodAccount) {
		t.Errorf("output task-definition-arn = %q, want the real ARN in %s", run.outputs[OutputTaskDefinitionARN], prodAccount)
	}
}

// withoutMaskCommands drops the ::add-mask:: lines, which the runner consumes.
func withoutMaskCommands(log string) string {
	var keep []string
	for _, line := range strings.Split(log, "\n") {
		if !strings.HasPrefix(line, "::add-mask::") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// TestTaskDefinitionFileErrorAnnotatedAtItsLine: a mistake in the
// task-definition file is an error annotation at the file, relative to the
// workspace, and the line and column of the mistake.
func TestTaskDefinitionFileErrorAnnotatedAtItsLine(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, fastWorld)
	workspace := t.TempDir()
	file := filepath.Join(workspace, "deploy", "task-definition.json")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	td := "{\n  \"family\": \"web-api\",\n  \"containerDefinitions\": [\n    {\n      \"name\": \"web\",\n      \"image\": \"web-api\",\n      \"memoryy\": 512\n    }\n  ]\n}\n"
	if err := os.WriteFile(file, []byte(td), 0o644); err != nil {
		t.Fatal(err)
	}
	run := runInActions(t, sb, func(rc *runConfig) {
		rc.cfg.TaskDefinition = file
		rc.env["GITHUB_WORKSPACE"] = workspace
	})
	if run.err == nil {
		t.Fatalf("the run succeeded with an unknown key in the task definition file:\n%s", run.log)
	}
	var found []string
	for _, c := range ghactiontest.Commands(run.log) {
		if c.Name == "error" {
			found = append(found, c.Line)
			if c.Properties["file"] == "deploy/task-definition.json" && c.Properties["line"] == "7" && c.Properties["col"] == "7" &&
				c.Properties["title"] == "task definition file" && strings.Contains(c.Data, "containerDefinitions[0].memoryy") {
				return
			}
		}
	}
	t.Errorf("no error annotation at deploy/task-definition.json line 7, column 7; the error annotations:\n%s", strings.Join(found, "\n"))
}
