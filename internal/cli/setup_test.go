package cli

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/testenv"
)

const demoAccount = "111122223333"

// setupArgs are the inputs of the demo's deploy (the step runInActions
// runs), for setup, doctor and policy.
func setupArgs(extra ...string) []string {
	return append([]string{
		"--github-repository", "acme/web-api", "--environment", "production",
		"--role-to-assume", "arn:aws:iam::111122223333:role/gha-deploy",
		"--aws-region", "us-east-1", "--repository", "web-api",
		"--cluster", "prod-cluster", "--service", "api-service",
		"--task-role-arn", "arn:aws:iam::111122223333:role/web-api-task",
		"--execution-role-arn", "arn:aws:iam::111122223333:role/ecsTaskExecutionRole",
	}, extra...)
}

// emptyAccount empties the demo account of providers and roles, as an
// account is before anyone sets it up.
func emptyAccount(w *sandbox.World) {
	w.Accounts[demoAccount].OIDCProviders = nil
	w.Accounts[demoAccount].Roles = nil
}

// adminEnv is the environment of a person with the account's administrator
// credentials, and nothing else the SDK's default chain would find.
func adminEnv(tb testing.TB, sb *sandbox.Sandbox) map[string]string {
	tb.Helper()
	env, ok := sb.AdministratorEnv(demoAccount)
	if !ok {
		tb.Fatal("no administrator")
	}
	for k, v := range noAWSCredentials(tb) {
		env[k] = v
	}
	return env
}

func readIAMDocument(tb testing.TB, encoded string) policy.Document {
	tb.Helper()
	text, err := url.QueryUnescape(encoded)
	if err != nil {
		tb.Fatal(err)
	}
	doc, err := policy.ParseDocument([]byte(text))
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

func readPlan(tb testing.TB, args ...string) *planOutput {
	tb.Helper()
	code, stdout, stderr := runMain(tb, append([]string{"policy"}, args...)...)
	if code != ExitOK {
		tb.Fatalf("policy: exit %d: %s", code, stderr)
	}
	var p planOutput
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		tb.Fatal(err)
	}
	return &p
}

// TestSetupFromAnEmptyAccount: setup creates the provider, the role and its
// policy with the real SDK; a second run changes nothing and says so; the
// action then deploys with them; and doctor passes on the account and the
// example workflow.
func TestSetupFromAnEmptyAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sb := sandboxtest.Start(t, emptyAccount)
	env := adminEnv(t, sb)

	code, stdout, stderr := runMainEnv(t, env, append([]string{"setup", "--dry-run"}, setupArgs()...)...)
	if code != ExitOK || !strings.Contains(stdout, "Dry run: 3 change(s) to make; nothing was changed.") {
		t.Fatalf("setup --dry-run: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
	api := iam.NewFromConfig(sandboxtest.AdministratorConfig(t, sb, demoAccount))
	if list, _ := api.ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{}); len(list.OpenIDConnectProviderList) != 0 {
		t.Fatal("--dry-run created a provider")
	}

	code, stdout, stderr = runMainEnv(t, env, append([]string{"setup"}, setupArgs()...)...)
	t.Logf("first setup:\n%s", stdout)
	for _, want := range []string{
		"Account 111122223333, as arn:aws:iam::111122223333:user/administrator",
		"+ create the IAM OIDC provider for https://token.actions.githubusercontent.com, accepting the audience sts.amazonaws.com",
		"+ create the role gha-deploy (path /) with the generated trust policy (admits repo:acme/web-api:environment:production), sessions of at most 3600 s",
		"+ put the generated permissions policy oidc-ecs-deploy on gha-deploy",
		"Done: 3 change(s) made in account 111122223333.",
	} {
		if code != ExitOK || !strings.Contains(stdout, want) {
			t.Fatalf("setup: exit %d, stderr %q; stdout lacks %q:\n%s", code, stderr, want, stdout)
		}
	}

	plan := readPlan(t, setupArgs()...)
	role, err := api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("gha-deploy")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(plan.Roles[0].TrustPolicy, readIAMDocument(t, aws.ToString(role.Role.AssumeRolePolicyDocument))); diff != "" {
		t.Errorf("trust policy (-generated +account):\n%s", diff)
	}
	if got := aws.ToInt32(role.Role.MaxSessionDuration); got != policy.MaxSessionSeconds {
		t.Errorf("MaxSessionDuration %d", got)
	}
	inline, err := api.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("gha-deploy"), PolicyName: aws.String(policy.InlinePolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(*plan.Roles[0].PermissionsPolicy, readIAMDocument(t, aws.ToString(inline.PolicyDocument))); diff != "" {
		t.Errorf("permissions (-generated +account):\n%s", diff)
	}

	code, stdout, _ = runMainEnv(t, env, append([]string{"setup"}, setupArgs()...)...)
	if code != ExitOK || strings.Contains(stdout, "  + ") || !strings.Contains(stdout, "Nothing to change: account 111122223333 is set up as generated.") {
		t.Errorf("second setup: exit %d:\n%s", code, stdout)
	}

	run := runInActions(t, sb, nil)
	if run.err != nil {
		t.Fatalf("the action with the roles setup made: %v\n%s", run.err, run.log)
	}
	if len(run.res.Services) != 1 || run.res.Services[0].Failure != "" {
		t.Errorf("deploy results %+v", run.res.Services)
	}

	code, stdout, stderr = runMainEnv(t, env, append([]string{"doctor", "--workflow", "../../docs/examples/deploy.yml"}, setupArgs()...)...)
	t.Logf("doctor:\n%s", stdout)
	if code != ExitOK || !strings.Contains(stdout, "All 9 items hold.") || strings.Contains(stdout, "not checked") {
		t.Errorf("doctor after setup: exit %d, stderr %q:\n%s", code, stderr, stdout)
	}
}

// TestSetupUpdates changes what differs, showing the difference, and
// nothing else.
func TestSetupUpdates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sb := sandboxtest.Start(t, func(w *sandbox.World) {
		a := w.Accounts[demoAccount]
		a.OIDCProviders[0].ClientIDs = []string{"api://other"}
		a.Roles["gha-deploy"].MaxSessionDuration = 43200
	})
	env := adminEnv(t, sb)
	code, stdout, stderr := runMainEnv(t, env, append([]string{"setup"}, setupArgs()...)...)
	t.Logf("setup:\n%s", stdout)
	for _, want := range []string{
		"+ add the audience sts.amazonaws.com to the IAM OIDC provider for https://token.actions.githubusercontent.com (it accepts api://other)",
		"+ replace the trust policy of gha-deploy by the generated one (admits repo:acme/web-api:environment:production)",
		`+       "Sid": "TrustDeployJobsOfOneGitHubEnvironment",`,
		"+ shorten the longest session of gha-deploy from 43200 s to 3600 s",
		"+ put the generated permissions policy oidc-ecs-deploy on gha-deploy",
		"Done: 4 change(s)",
	} {
		if code != ExitOK || !strings.Contains(stdout, want) {
			t.Errorf("setup: exit %d, stderr %q; stdout lacks %q", code, stderr, want)
		}
	}
	api := iam.NewFromConfig(sandboxtest.AdministratorConfig(t, sb, demoAccount))
	trust := strings.Replace(readPlanTrust(t), "environment:production", "ref:refs/heads/develop", 1)
	if _, err := api.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("gha-deploy"), PolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runMainEnv(t, env, append([]string{"setup"}, setupArgs()...)...)
	for _, want := range []string{
		"+ replace the trust policy of gha-deploy by the generated one",
		`-           "token.actions.githubusercontent.com:sub": "repo:acme/web-api:ref:refs/heads/develop"`,
		`+           "token.actions.githubusercontent.com:sub": "repo:acme/web-api:environment:production"`,
		"= sessions of gha-deploy last at most 3600 s",
		"Done: 1 change(s)",
	} {
		if code != ExitOK || !strings.Contains(stdout, want) {
			t.Errorf("setup after a trust change: exit %d; stdout lacks %q:\n%s", code, want, stdout)
		}
	}
}

func readPlanTrust(tb testing.TB) string {
	tb.Helper()
	return readPlan(tb, setupArgs()...).Roles[0].TrustPolicy.Compact()
}

func TestSetupWithoutCredentials(t *testing.T) {
	t.Parallel()
	code, _, stderr := runMainEnv(t, noAWSCredentials(t), append([]string{"setup"}, setupArgs()...)...)
	if code != ExitFailure || !strings.Contains(stderr, "no AWS credentials: the SDK's default chain") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// standalone runs the sandbox command as a separate server would run,
// with extra flags, until the test ends, and returns the job's environment
// it wrote and the administrator's.
func standalone(tb testing.TB, args ...string) (job, admin map[string]string) {
	tb.Helper()
	dir := tb.TempDir()
	envFile, adminFile := filepath.Join(dir, "sandbox.env"), filepath.Join(dir, "admin.env")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr sandboxtest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, append([]string{"sandbox", "--env-file", envFile, "--admin-env-file", adminFile, "--quiet"}, args...), getenvOf(), &stdout, &stderr)
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(envFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no environment file after 10s; stderr:\n%s", stderr.String())
		}
		select {
		case code := <-done:
			done <- code
			tb.Fatalf("sandbox exited with %d:\n%s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return readEnvFile(tb, envFile), readEnvFile(tb, adminFile)
}

func readEnvFile(tb testing.TB, path string) map[string]string {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			tb.Fatalf("%s: line %q is not KEY=VALUE", path, line)
		}
		env[k] = v
	}
	return env
}

// TestAWSCLIReadsWhatSetupCreated runs setup against the standalone
// sandbox with the administrator's credentials it wrote, then reads the
// provider, the role and its policy with Debian's AWS CLI, field for field.
func TestAWSCLIReadsWhatSetupCreated(t *testing.T) {
	t.Parallel()
	bin := testenv.Command(t, "aws")
	world := sandbox.DemoWorld()
	emptyAccount(world)
	data, err := json.Marshal(world)
	if err != nil {
		t.Fatal(err)
	}
	worldFile := filepath.Join(t.TempDir(), "world.json")
	if err := os.WriteFile(worldFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, admin := standalone(t, "--world", worldFile)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION"} {
		if admin[k] == "" {
			t.Fatalf("the administrator's environment file lacks %s", k)
		}
	}
	env := map[string]string{}
	for k, v := range admin {
		env[k] = v
	}
	for k, v := range noAWSCredentials(t) {
		env[k] = v
	}
	if code, stdout, stderr := runMainEnv(t, env, append([]string{"setup"}, setupArgs()...)...); code != ExitOK {
		t.Fatalf("setup: exit %d, %s\n%s", code, stderr, stdout)
	}
	plan := readPlan(t, setupArgs()...)

	var extra []string
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		extra = append(extra, k+"="+admin[k])
	}
	cli := awsCLI(t, bin, admin["AWS_ENDPOINT_URL"], admin["AWS_REGION"], extra)

	var providers struct {
		OpenIDConnectProviderList []struct{ Arn string }
	}
	cli(&providers, "iam", "list-open-id-connect-providers")
	if len(providers.OpenIDConnectProviderList) != 1 || providers.OpenIDConnectProviderList[0].Arn != "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com" {
		t.Errorf("list-open-id-connect-providers: %+v", providers)
	}

	var role struct {
		Role struct {
			Path                     string
			RoleName                 string
			RoleId                   string
			Arn                      string
			CreateDate               string
			AssumeRolePolicyDocument policy.Document
			Description              string
			MaxSessionDuration       int
		}
	}
	cli(&role, "iam", "get-role", "--role-name", "gha-deploy")
	r := role.Role
	if r.Path != "/" || r.RoleName != "gha-deploy" || r.Arn != "arn:aws:iam::111122223333:role/gha-deploy" || !strings.HasPrefix(r.RoleId, "AROA") ||
		r.MaxSessionDuration != 3600 || r.Description != "Assumed by oidc-ecs-deploy for acme/web-api" || r.CreateDate == "" {
		t.Errorf("get-role: %+v", r)
	}
	if diff := cmp.Diff(plan.Roles[0].TrustPolicy, r.AssumeRolePolicyDocument); diff != "" {
		t.Errorf("get-role's trust policy (-generated +CLI):\n%s", diff)
	}

	var inline struct {
		RoleName       string
		PolicyName     string
		PolicyDocument policy.Document
	}
	cli(&inline, "iam", "get-role-policy", "--role-name", "gha-deploy", "--policy-name", policy.InlinePolicyName)
	if inline.RoleName != "gha-deploy" || inline.PolicyName != policy.InlinePolicyName {
		t.Errorf("get-role-policy: %s %s", inline.RoleName, inline.PolicyName)
	}
	if diff := cmp.Diff(*plan.Roles[0].PermissionsPolicy, inline.PolicyDocument); diff != "" {
		t.Errorf("get-role-policy's document (-generated +CLI):\n%s", diff)
	}
}
