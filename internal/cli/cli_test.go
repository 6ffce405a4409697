package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/endpoint"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/oidc"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/retry"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/testenv"
)

// getenvOf reads the first map that has the key.
func getenvOf(maps ...map[string]string) func(string) string {
	return func(k string) string {
		for _, m := range maps {
			if v, ok := m[k]; ok {
				return v
			}
		}
		return ""
	}
}

func demoConfig() config.Config {
	c := config.Default()
	c.RoleToAssume = "arn:aws:iam::111122223333:role/gha-deploy"
	c.AWSRegion = "us-east-1"
	c.RoleSessionName = "acme-web-api-9876543210-1"
	return c
}

// fastRetry keeps retries short in tests.
var fastRetry = retry.Options{BaseDelay: time.Millisecond, ThrottleDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}

func TestRunAuthenticates(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	dir := t.TempDir()
	files := map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary.md"),
	}
	getenv := getenvOf(files, sb.Env())
	var out sandboxtest.SyncBuffer
	cfg := demoConfig()
	cfg.RoleChain = []config.ChainRole{{RoleARN: "arn:aws:iam::444455556666:role/prod-deploy", ExternalID: "acme-prod-7f3c"}}
	res, err := Run(context.Background(), cfg, Deps{Getenv: getenv, Runner: ghaction.New(&out, getenv), Retry: fastRetry})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	wantARN := "arn:aws:sts::444455556666:assumed-role/prod-deploy/acme-web-api-9876543210-1"
	if res.AssumedRoleARN != wantARN || res.AccountID != "444455556666" || res.RoleSessionName != cfg.RoleSessionName {
		t.Errorf("Result = %+v, want role %s in 444455556666", res, wantARN)
	}
	if d := time.Until(res.CredentialsExpire); d < 10*time.Minute || d > time.Hour {
		t.Errorf("credentials expire in %v, want 15 minutes", d)
	}
	log := out.String()
	for _, want := range []string{"::group::Authenticate", "Assumed role:      " + wantARN, "::endgroup::"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if _, err := os.Stat(files["GITHUB_OUTPUT"]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("authentication alone wrote step outputs (%v); action.yml declares none for it", err)
	}
	summary, err := os.ReadFile(files["GITHUB_STEP_SUMMARY"])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"succeeded", "| Role session name | `acme-web-api-9876543210-1` |", wantARN} {
		if !strings.Contains(string(summary), want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	assertNoSecrets(t, sb, log+string(summary))
}

// assertNoSecrets fails if printed holds any secret the sandbox handed out,
// outside the ::add-mask:: commands that tell the runner to hide them.
func assertNoSecrets(tb testing.TB, sb *sandbox.Sandbox, printed string) {
	tb.Helper()
	printed = withoutMaskCommands(printed)
	secrets := sb.Secrets()
	if len(secrets) == 0 {
		tb.Fatalf("the sandbox handed out %d secrets; the check would prove nothing", len(secrets))
	}
	for _, s := range secrets {
		if strings.Contains(printed, s) {
			tb.Errorf("the output contains a secret (%d characters, starting %.4s...)", len(s), s)
		}
	}
}

func TestDemoPrintsNoSecret(t *testing.T) {
	t.Parallel()
	for _, sc := range Scenarios() {
		for _, inActions := range []bool{false, true} {
			name := sc.Name
			if inActions {
				name += "_in_actions"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				env := map[string]string{}
				if inActions {
					env["GITHUB_ACTIONS"] = "true"
				}
				var stdout, stderr sandboxtest.SyncBuffer
				var sb *sandbox.Sandbox
				code := runDemo(context.Background(), []string{"--scenario", sc.Name}, getenvOf(env), &stdout, &stderr, demoHooks{
					world: func(w *sandbox.World) {
						if w.ECS == nil {
							w.ECS = &sandbox.ECSSettings{}
						}
						w.ECS.TimeScale = 0.2
					},
					started: func(s *sandbox.Sandbox) { sb = s },
				})
				printed := stdout.String() + stderr.String()
				wantCode := ExitOK
				if sc.Fails {
					wantCode = ExitFailure
				}
				if code != wantCode {
					t.Errorf("exit code %d, want %d:\n%s", code, wantCode, printed)
				}
				if sb == nil {
					t.Fatal("the demo did not start a sandbox")
				}
				if sc.Name != "no-id-token-permission" && sb.TokenRequests() == 0 {
					t.Error("the demo fetched no ID token, so the check would prove nothing")
				}
				if wantCode == ExitOK && len(sb.Secrets()) < 4 {
					t.Errorf("a successful run handed out %d secrets, want the request token, an ID token, a secret key and a session token", len(sb.Secrets()))
				}
				assertNoSecrets(t, sb, printed)
				if inActions && wantCode != ExitOK && !strings.Contains(printed, "::error::") {
					t.Errorf("a failing run left no ::error:: annotation:\n%s", printed)
				}
			})
		}
	}
}

func TestDemoScenarioMessages(t *testing.T) {
	t.Parallel()
	tests := map[string][]string{
		"success":                {"Assumed role:      arn:aws:sts::111122223333:assumed-role/gha-deploy/acme-web-api-9876543210-1", "Credentials expire"},
		"role-chain":             {"Assumed role:      arn:aws:sts::444455556666:assumed-role/prod-deploy/"},
		"access-denied":          {"AccessDenied", "sub:              repo:acme/web-api:ref:refs/heads/feature-x", `"token.actions.githubusercontent.com:sub": "repo:acme/web-api:ref:refs/heads/feature-x"`},
		"no-id-token-permission": {"id-token: write", "ACTIONS_ID_TOKEN_REQUEST_URL"},
		"wrong-audience":         {"Incorrect token audience", `audience "api://acme-deploy"`},
		"expired-token":          {"ExpiredTokenException", "clock"},
		"unknown-issuer":         {"no IAM OIDC identity provider", "https://token.example.invalid"},
		"wrong-external-id":      {"role-chain hop 1", "arn:aws:iam::444455556666:role/prod-deploy", "sts:ExternalId"},
		"two-services":           {"[api-service] Deployment", "[worker-service] Deployment", `"service":"worker-service"`},
		"crash-loop":             {"circuit breaker", "rolled", "Essential container in task exited"},
		"missing-image":          {"CannotPullContainerError", "metrics-sidecar:2.1"},
		"canary":                 {"Lifecycle stage PRODUCTION_TRAFFIC_SHIFT", "production traffic 10% new, 90% old", "Lifecycle stage BAKE_TIME: bake time 2m0s", "Lifecycle stage CLEAN_UP", "succeeded in"},
		"blue-green-rolled-back": {"is paused at POST_TEST_TRAFFIC_SHIFT by a PAUSE lifecycle hook: checking the new revision at http://127.0.0.1:", "503 Service Unavailable", "stopped with a rollback at lifecycle stage POST_TEST_TRAFFIC_SHIFT"},
		"codedeploy":             {"Started CodeDeploy deployment d-", "CodeDeploy lifecycle event AllowTraffic: Succeeded", "CodeDeploy deployment d-", ": Succeeded"},
		"migration":              {"migrate: applied 1 migration", "One-off task arn:aws:ecs:us-east-1:111122223333:task/prod-cluster/", "Started deployment"},
		"failing-migration":      {"container web exited with code 3", `relation "orders_customer_idx" already exists`, "Nothing was deployed"},
	}
	for name, wants := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr sandboxtest.SyncBuffer
			Main(context.Background(), []string{"demo", "--scenario", name}, getenvOf(), &stdout, &stderr)
			for _, want := range wants {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, stdout.String())
				}
			}
		})
	}
}

// failingTransport fails the test on any request.
type failingTransport struct{ tb testing.TB }

func (f failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.tb.Errorf("unexpected network call to %s", r.URL)
	return nil, errors.New("no network call was expected")
}

func TestNoIDTokenPermissionBeforeAnyCall(t *testing.T) {
	t.Parallel()
	getenv := getenvOf(map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:1"})
	var out sandboxtest.SyncBuffer
	_, err := Run(context.Background(), demoConfig(), Deps{
		Getenv:     getenv,
		HTTPClient: &http.Client{Transport: failingTransport{t}},
		Runner:     ghaction.New(&out, getenv),
	})
	if !errors.Is(err, oidc.ErrNoIDTokenPermission) {
		t.Fatalf("Run = %v, want ErrNoIDTokenPermission", err)
	}
	if code := report(context.Background(), ghaction.New(&out, getenv), err); code != ExitFailure {
		t.Errorf("exit code %d, want %d", code, ExitFailure)
	}
	if !strings.Contains(out.String(), "id-token: write") {
		t.Errorf("output does not say what to add:\n%s", out.String())
	}
}

func TestDeployCommandBadInputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want []string
	}{
		{"flags", []string{"deploy", "--role-to-assume", "arn:aws:iam::1:role/x", "--aws-region", "Mars-1", "--role-duration-seconds", "100"}, nil, ExitUsage,
			[]string{"error: input role-to-assume:", "error: input aws-region:", "error: input role-duration-seconds:"}},
		{"action_inputs", nil, map[string]string{"GITHUB_ACTIONS": "true", "INPUT_ROLE-TO-ASSUME": "gha-deploy", "INPUT_AWS-REGION": "us-east-1"}, ExitUsage,
			[]string{"::error title=input role-to-assume::\"gha-deploy\" is not an IAM role ARN"}},
		{"unknown_flag", []string{"deploy", "--role", "x"}, nil, ExitUsage, nil},
		{"unknown_command", []string{"deploi"}, nil, ExitUsage, nil},
		{"no_arguments_outside_actions", nil, nil, ExitUsage, nil},
		{"help", []string{"help"}, nil, ExitOK, []string{"oidc-ecs-deploy deploy [flags]"}},
		{"deploy_help", []string{"deploy", "--help"}, nil, ExitOK, []string{"--role-to-assume value  (required)", "--role-chain list"}},
		{"version", []string{"version"}, nil, ExitOK, []string{"oidc-ecs-deploy dev"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr sandboxtest.SyncBuffer
			code := Main(context.Background(), tt.args, getenvOf(tt.env), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout.String(), stderr.String())
			}
			for _, want := range tt.want {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
		})
	}
}

func TestActionMode(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	dir := t.TempDir()
	env := map[string]string{
		"GITHUB_ACTIONS":       "true",
		"GITHUB_OUTPUT":        filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY":  filepath.Join(dir, "summary.md"),
		"INPUT_ROLE-TO-ASSUME": "arn:aws:iam::111122223333:role/gha-deploy",
		"INPUT_AWS-REGION":     sb.Region(),
		"INPUT_AUDIENCE":       "",
	}
	var stdout, stderr sandboxtest.SyncBuffer
	code := Main(context.Background(), nil, getenvOf(env, sb.Env()), &stdout, &stderr)
	if code != ExitOK {
		t.Fatalf("exit code %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if want := "Assumed role:      arn:aws:sts::111122223333:assumed-role/gha-deploy/acme-web-api-9876543210-1"; !strings.Contains(stdout.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, stdout.String())
	}
	if !strings.Contains(stdout.String(), "::add-mask::") {
		t.Error("no ::add-mask:: command in Actions mode")
	}
	summary, _ := os.ReadFile(env["GITHUB_STEP_SUMMARY"])
	assertNoSecrets(t, sb, stdout.String()+stderr.String()+string(summary))
}

func TestInterruptedIsNotAnAWSFailure(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	sb.InjectFault(sandbox.Fault{Service: "github", Operation: "token", LatencyMillis: 10000})
	getenv := getenvOf(sb.Env())
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	var out sandboxtest.SyncBuffer
	runner := ghaction.New(&out, getenv)
	start := time.Now()
	_, err := Run(ctx, demoConfig(), Deps{Getenv: getenv, Runner: runner, Retry: fastRetry})
	code := report(ctx, runner, err)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the run took %v to notice the interrupt", took)
	}
	if code != ExitInterrupted || !strings.Contains(out.String(), "error: interrupted") {
		t.Errorf("exit code %d, output:\n%s\nwant %d and \"interrupted\"", code, out.String(), ExitInterrupted)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "error:") && strings.Contains(line, "STS") {
			t.Errorf("an interrupt was reported as an STS failure:\n%s", out.String())
		}
	}
}

func TestSandboxCommandServesItsEnvFile(t *testing.T) {
	t.Parallel()
	envFile := filepath.Join(t.TempDir(), "sandbox.env")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr sandboxtest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"sandbox", "--env-file", envFile, "--quiet"}, getenvOf(), &stdout, &stderr)
	}()

	var data []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if data, err = os.ReadFile(envFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no environment file after 10s; stderr:\n%s", stderr.String())
		}
		select {
		case code := <-done:
			t.Fatalf("sandbox exited with %d:\n%s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	info, err := os.Stat(envFile)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("environment file mode %v, want 0600: it holds the request token", perm)
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("line %q is not KEY=VALUE", line)
		}
		env[k] = v
	}
	for _, k := range []string{"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION", "GITHUB_REPOSITORY", "GITHUB_SHA"} {
		if env[k] == "" {
			t.Errorf("environment file lacks %s", k)
		}
	}

	// A client that knows only the file gets credentials through the SDK.
	getenv := getenvOf(env)
	var out sandboxtest.SyncBuffer
	cfg := demoConfig()
	cfg.AWSRegion = env["AWS_REGION"]
	runner := ghaction.New(&out, getenv)
	run, err := runner.Context()
	if err != nil {
		t.Fatal(err)
	}
	cfg.RoleSessionName = config.DefaultSessionName(run)
	res, err := Run(ctx, cfg, Deps{Getenv: getenv, Runner: runner, Retry: fastRetry})
	if err != nil {
		t.Fatalf("Run against the standalone sandbox: %v\n%s", err, out.String())
	}
	if !strings.HasPrefix(res.AssumedRoleARN, "arn:aws:sts::111122223333:assumed-role/gha-deploy/") {
		t.Errorf("assumed role %q", res.AssumedRoleARN)
	}

	// A client we did not write, the AWS CLI, accepts the standalone
	// sandbox too: web identity, then a signed call with what it got.
	awsCLIAgainstStandalone(t, env)

	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("sandbox exit code %d after interrupt, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sandbox did not stop after its context ended")
	}
}

// awsCLIAgainstStandalone runs the AWS CLI against a standalone sandbox
// described by env: assume-role-with-web-identity with a token fetched from
// the token service, then get-caller-identity with the credentials it got.
func awsCLIAgainstStandalone(t *testing.T, env map[string]string) {
	t.Helper()
	bin := testenv.Command(t, "aws")
	var identity struct {
		Arn string `json:"Arn"`
	}
	awsCLI(t, bin, env["AWS_ENDPOINT_URL"], env["AWS_REGION"], webIdentityWithCLI(t, bin, env))(&identity, "sts", "get-caller-identity")
	if want := "arn:aws:sts::111122223333:assumed-role/gha-deploy/aws-cli-check"; identity.Arn != want {
		t.Errorf("aws sts get-caller-identity = %q, want %q", identity.Arn, want)
	}
}

// webIdentityWithCLI has the AWS CLI bin assume the demo's deploy role of
// the standalone sandbox described by env with a token fetched from its
// token service (session aws-cli-check), and returns the credentials as
// environment variables for the CLI.
func webIdentityWithCLI(t *testing.T, bin string, env map[string]string) []string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, env["ACTIONS_ID_TOKEN_REQUEST_URL"]+"&audience=sts.amazonaws.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var token struct {
		Value string `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&token); err != nil || token.Value == "" {
		t.Fatalf("token service answered %s: %v", resp.Status, err)
	}

	aws := func(extraEnv []string, out any, args ...string) {
		t.Helper()
		awsCLI(t, bin, env["AWS_ENDPOINT_URL"], env["AWS_REGION"], extraEnv)(out, args...)
	}
	var assumed struct {
		Credentials struct {
			AccessKeyID     string `json:"AccessKeyId"`
			SecretAccessKey string `json:"SecretAccessKey"`
			SessionToken    string `json:"SessionToken"`
		} `json:"Credentials"`
	}
	aws(nil, &assumed, "sts", "assume-role-with-web-identity",
		"--role-arn", "arn:aws:iam::111122223333:role/gha-deploy",
		"--role-session-name", "aws-cli-check", "--web-identity-token", token.Value)
	c := assumed.Credentials
	return []string{"AWS_ACCESS_KEY_ID=" + c.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + c.SecretAccessKey, "AWS_SESSION_TOKEN=" + c.SessionToken}
}

// awsCLI returns a function that runs the AWS CLI bin against endpoint and
// region, isolated from the machine's configuration, with extraEnv, and
// decodes its JSON output into out.
func awsCLI(tb testing.TB, bin, endpoint, region string, extraEnv []string) func(out any, args ...string) {
	tb.Helper()
	home := tb.TempDir()
	empty := filepath.Join(home, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		tb.Fatal(err)
	}
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "AWS_CONFIG_FILE=" + empty,
		"AWS_SHARED_CREDENTIALS_FILE=" + empty, "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER="}
	if root := os.Getenv("PYENV_ROOT"); root != "" {
		env = append(env, "PYENV_ROOT="+root)
	}
	env = append(env, extraEnv...)
	return func(out any, args ...string) {
		tb.Helper()
		// Debian's CLI (2.9) does not read AWS_ENDPOINT_URL.
		args = append(args, "--endpoint-url", endpoint, "--region", region, "--output", "json")
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			tb.Fatalf("aws %s: %v\n%s", strings.Join(args[:2], " "), err, stderr.String())
		}
		if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
			tb.Fatalf("aws %s printed %q: %v", strings.Join(args[:2], " "), stdout.String(), err)
		}
	}
}

// TestRepositoryOnAnotherRegistry: a repository on a host that is not an
// ECR registry of aws-region is an input error before any network call,
// so the ECR password can never be sent there. The loopback registry must
// see no connection, and no request leaves through the HTTP client.
func TestRepositoryOnAnotherRegistry(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	var accepted atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	sb := sandboxtest.Start(t, nil)
	for _, repo := range []string{l.Addr().String() + "/web-api", "ghcr.io/acme/web", "localhost/web-api"} {
		host, _, _ := strings.Cut(repo, "/")
		want := []string{`::error title=input repository::"` + repo + `" names the registry "` + host + `", which is not an Amazon ECR registry`,
			"for example: web-api (or 123456789012.dkr.ecr.us-east-1.amazonaws.com/web-api)"}

		// As the runner starts the action: INPUT_* variables.
		env := map[string]string{
			"GITHUB_ACTIONS":       "true",
			"INPUT_ROLE-TO-ASSUME": "arn:aws:iam::111122223333:role/gha-deploy",
			"INPUT_AWS-REGION":     sb.Region(),
			"INPUT_IMAGE":          "web-api:demo",
			"INPUT_REPOSITORY":     repo,
		}
		var stdout, stderr sandboxtest.SyncBuffer
		if code := Main(context.Background(), nil, getenvOf(env, sb.Env()), &stdout, &stderr); code != ExitUsage {
			t.Errorf("repository %s: exit code %d, want %d (bad input)\n%s", repo, code, ExitUsage, stdout.String())
		}
		for _, w := range want {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("repository %s: log lacks %q:\n%s", repo, w, stdout.String())
			}
		}

		// A literal Config through Run gets the same check, and its HTTP
		// client sees nothing.
		cfg := demoConfig()
		cfg.Image, cfg.Repository, cfg.Tags = "web-api:demo", repo, []string{"v1"}
		getenv := getenvOf(sb.Env())
		_, err := Run(context.Background(), cfg, Deps{
			Getenv:     getenv,
			HTTPClient: &http.Client{Transport: failingTransport{t}},
			Runner:     ghaction.New(&stdout, getenv),
		})
		var ie *config.InputError
		if !errors.As(err, &ie) || ie.Input != config.InputRepository {
			t.Errorf("Run with repository %s = %v, want an input error on repository", repo, err)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the loopback registry accepted %d connections, want none", n)
	}
	if n := sb.TokenRequests(); n != 0 {
		t.Errorf("%d ID tokens were fetched, want none: the input is refused before any network call", n)
	}
}

// TestEndpointOverridesRefused: an endpoint the ID token or signed requests
// would reach over plain http, off this machine, is refused before the
// token is fetched: the token service sees nothing, nor does the network.
func TestEndpointOverridesRefused(t *testing.T) {
	t.Parallel()
	tests := []struct{ variable, value string }{
		{"AWS_ENDPOINT_URL", "http://sts.example.invalid"},
		{"AWS_ENDPOINT_URL_STS", "http://sts.example.invalid"},
		{"AWS_ENDPOINT_URL_ECR", "http://192.0.2.1:4566"},
		{"ACTIONS_ID_TOKEN_REQUEST_URL", "http://token.example.invalid/_apis/token?api-version=2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.variable, func(t *testing.T) {
			t.Parallel()
			sb := sandboxtest.Start(t, nil)
			getenv := getenvOf(map[string]string{tt.variable: tt.value, "GITHUB_ACTIONS": "true"}, sb.Env())
			var out sandboxtest.SyncBuffer
			runner := ghaction.New(&out, getenv)
			_, err := Run(context.Background(), demoConfig(), Deps{
				Getenv:     getenv,
				HTTPClient: &http.Client{Transport: failingTransport{t}},
				Runner:     runner,
			})
			var ee *endpoint.Error
			if !errors.As(err, &ee) || ee.Variable != tt.variable {
				t.Fatalf("Run = %v, want an endpoint error naming %s", err, tt.variable)
			}
			if code := report(context.Background(), runner, err); code != ExitUsage {
				t.Errorf("exit code %d, want %d: nothing was attempted", code, ExitUsage)
			}
			for _, want := range []string{"::error::", tt.variable, strconv.Quote(tt.value), "https"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, out.String())
				}
			}
			if n := sb.TokenRequests(); n != 0 {
				t.Errorf("the token service served %d requests, want none", n)
			}
		})
	}
}

// TestEndpointOverrideInTheLog: the log says which endpoints replace AWS's.
func TestEndpointOverrideInTheLog(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	getenv := getenvOf(sb.Env())
	var out sandboxtest.SyncBuffer
	if _, err := Run(context.Background(), demoConfig(), Deps{Getenv: getenv, Runner: ghaction.New(&out, getenv), Retry: fastRetry}); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if want := "AWS endpoint override in effect: AWS_ENDPOINT_URL=" + sb.AWSEndpoint() + " (STS, ECR, ECS, CloudWatch Logs, CodeDeploy)"; !strings.Contains(out.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, out.String())
	}
}
