package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// asWorldDocument turns a generated document into the world's form.
func asWorldDocument(tb testing.TB, d policy.Document) sandbox.PolicyDocument {
	tb.Helper()
	var out sandbox.PolicyDocument
	if err := json.Unmarshal([]byte(d.JSON()), &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// setUpWorld makes the demo account what setup makes of it: the provider,
// and the role with the generated trust policy and permissions.
func setUpWorld(tb testing.TB, w *sandbox.World) {
	tb.Helper()
	plan := readPlan(tb, setupArgs()...)
	a := w.Accounts[demoAccount]
	a.OIDCProviders = []sandbox.OIDCProvider{{URL: "token.actions.githubusercontent.com", ClientIDs: []string{"sts.amazonaws.com"}}}
	a.Roles = map[string]*sandbox.Role{"gha-deploy": {
		TrustPolicy:        asWorldDocument(tb, plan.Roles[0].TrustPolicy),
		Policies:           map[string]sandbox.PolicyDocument{policy.InlinePolicyName: asWorldDocument(tb, *plan.Roles[0].PermissionsPolicy)},
		MaxSessionDuration: policy.MaxSessionSeconds,
	}}
}

// trustCondition replaces the condition of the role's trust statement.
func trustCondition(cond map[string]map[string]sandbox.StringList) func(*sandbox.World) {
	return func(w *sandbox.World) {
		w.Accounts[demoAccount].Roles["gha-deploy"].TrustPolicy.Statement[0].Condition = cond
	}
}

type doctorReport struct {
	OK     bool `json:"ok"`
	Checks []struct {
		ID     string `json:"id"`
		OK     bool   `json:"ok"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Fix    string `json:"fix"`
	} `json:"checks"`
	Skipped []string `json:"skipped"`
}

// TestDoctorFailures breaks a set-up account, or the example workflow, one
// way at a time: doctor exits non-zero, failing the one item at fault with
// its fix.
func TestDoctorFailures(t *testing.T) {
	t.Parallel()
	const (
		aud = "token.actions.githubusercontent.com:aud"
		sub = "token.actions.githubusercontent.com:sub"
	)
	example, err := os.ReadFile("../../docs/examples/deploy.yml")
	if err != nil {
		t.Fatal(err)
	}
	noEnvironment := func(s string) string {
		return strings.Replace(s, "    environment:\n      name: production\n      url: https://api.example.com\n", "", 1)
	}
	tests := []struct {
		name     string
		world    func(*sandbox.World)
		workflow func(string) string
		// also is an item that fails too, as it must, for the same cause.
		also string
		// fromBranch: the job deploys from main without an environment, so
		// the scope comes from the workflow rather than --environment.
		fromBranch bool
		failID     string
		detail     string
		fix        string
	}{
		{name: "no_provider", world: func(w *sandbox.World) { w.Accounts[demoAccount].OIDCProviders = nil },
			failID: "account.provider", detail: "account 111122223333 has no IAM OIDC provider for https://token.actions.githubusercontent.com",
			fix: "aws iam create-open-id-connect-provider --url https://token.actions.githubusercontent.com --client-id-list sts.amazonaws.com"},
		{name: "provider_without_the_audience", world: func(w *sandbox.World) { w.Accounts[demoAccount].OIDCProviders[0].ClientIDs = []string{"api://other"} },
			failID: "account.provider", detail: "accepts the audiences api://other, not sts.amazonaws.com",
			fix: "aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com --client-id sts.amazonaws.com"},
		{name: "sub_owner_wildcard", world: trustCondition(map[string]map[string]sandbox.StringList{"StringEquals": {aud: {"sts.amazonaws.com"}}, "StringLike": {sub: {"repo:acme/*"}}}),
			failID: "account.trust-sub", detail: "admits repo:acme/*: every job of every repository of acme",
			fix: `"token.actions.githubusercontent.com:sub": "repo:acme/web-api:environment:production"`},
		{name: "no_sub_condition", world: trustCondition(map[string]map[string]sandbox.StringList{"StringEquals": {aud: {"sts.amazonaws.com"}}}),
			failID: "account.trust-sub", detail: "has no sub condition: it admits a job of any repository on GitHub",
			fix: `"token.actions.githubusercontent.com:sub": "repo:acme/web-api:environment:production"`},
		{name: "aud_missing", world: trustCondition(map[string]map[string]sandbox.StringList{"StringEquals": {sub: {"repo:acme/web-api:environment:production"}}}),
			failID: "account.trust-aud", detail: "has no aud condition",
			fix: `"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"`},
		{name: "trust_names_another_branch", workflow: noEnvironment, also: "workflow.environment", fromBranch: true,
			world:  trustCondition(map[string]map[string]sandbox.StringList{"StringEquals": {aud: {"sts.amazonaws.com"}, sub: {"repo:acme/web-api:ref:refs/heads/develop"}}}),
			failID: "account.trust-sub", detail: "the job's sub repo:acme/web-api:ref:refs/heads/main (a push to branch main) is not admitted (the trust policy admits repo:acme/web-api:ref:refs/heads/develop)",
			fix: `"token.actions.githubusercontent.com:sub": "repo:acme/web-api:ref:refs/heads/main"`},
		{name: "ecs_star_permission", world: func(w *sandbox.World) {
			p := w.Accounts[demoAccount].Roles["gha-deploy"].Policies[policy.InlinePolicyName]
			p.Statement = append(p.Statement, sandbox.Statement{Effect: "Allow", Action: sandbox.StringList{"ecs:*"}, Resource: sandbox.StringList{"*"}})
			w.Accounts[demoAccount].Roles["gha-deploy"].Policies[policy.InlinePolicyName] = p
		}, failID: "account.permissions", detail: "allows ecs:*: every action it matches, where the run calls only ecs:DescribeServices, ecs:UpdateService, ecs:DescribeTaskDefinition",
			fix: `"Sid": "ReadAndUpdateTheServices"`},
		{name: "max_session_43200", world: func(w *sandbox.World) { w.Accounts[demoAccount].Roles["gha-deploy"].MaxSessionDuration = 43200 },
			failID: "account.session", detail: "MaxSessionDuration is 43200 s",
			fix: "aws iam update-role --role-name gha-deploy --max-session-duration 3600"},
		{name: "workflow_without_id_token_write", workflow: func(s string) string {
			return strings.Replace(s, "      id-token: write # lets the job request its OIDC token\n", "", 1)
		}, failID: "workflow.id-token", detail: "the job's permissions do not include id-token", fix: "id-token: write"},
		{name: "workflow_write_all", workflow: func(s string) string {
			return strings.Replace(s, "    permissions:\n      id-token: write # lets the job request its OIDC token\n      contents: read # lets actions/checkout read the repository\n", "    permissions: write-all\n", 1)
		}, failID: "workflow.id-token", detail: "permissions: write-all", fix: "replace permissions: write-all (line 35) by exactly what the job needs"},
		{name: "workflow_without_environment", workflow: noEnvironment, fromBranch: true, world: trustCondition(map[string]map[string]sandbox.StringList{"StringEquals": {aud: {"sts.amazonaws.com"}, sub: {"repo:acme/web-api:ref:refs/heads/main"}}}),
			failID: "workflow.environment", detail: "the job has no environment:", fix: "environment: production"},
		{name: "workflow_action_pinned_by_tag", workflow: func(s string) string {
			return strings.Replace(s, "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2", "actions/checkout@v4", 1)
		}, failID: "workflow.pinned", detail: "line 39: actions/checkout@v4", fix: "uses: actions/checkout@<40-hex commit SHA> # v4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sb := sandboxtest.Start(t, func(w *sandbox.World) {
				setUpWorld(t, w)
				if tt.world != nil {
					tt.world(w)
				}
			})
			text := string(example)
			if tt.workflow != nil {
				text = tt.workflow(text)
			}
			wf := filepath.Join(t.TempDir(), "deploy.yml")
			if err := os.WriteFile(wf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			args := setupArgs("--workflow", wf)
			if tt.fromBranch {
				args = slices.Concat(setupArgs()[4:], []string{"--github-repository", "acme/web-api", "--workflow", wf})
			}
			env := adminEnv(t, sb)
			code, stdout, stderr := runMainEnv(t, env, append([]string{"doctor"}, args...)...)
			jsonCode, jsonOut, _ := runMainEnv(t, env, append([]string{"doctor", "--format", "json"}, args...)...)
			if code != ExitFailure || jsonCode != ExitFailure {
				t.Fatalf("doctor: exit %d (json %d), want %d; stderr %q:\n%s", code, jsonCode, ExitFailure, stderr, stdout)
			}
			var report doctorReport
			if err := json.Unmarshal([]byte(jsonOut), &report); err != nil {
				t.Fatal(err)
			}
			var failed []string
			found := false
			for _, c := range report.Checks {
				if c.OK {
					continue
				}
				failed = append(failed, c.ID)
				if c.ID == tt.failID {
					found = true
					if !strings.Contains(c.Detail, tt.detail) {
						t.Errorf("%s: detail %q lacks %q", c.ID, c.Detail, tt.detail)
					}
					if !strings.Contains(c.Fix, tt.fix) {
						t.Errorf("%s: fix %q lacks %q", c.ID, c.Fix, tt.fix)
					}
				}
			}
			want := 1
			if tt.also != "" {
				want = 2
			}
			if !found || len(failed) != want || tt.also != "" && !strings.Contains(strings.Join(failed, " "), tt.also) {
				t.Errorf("failed items %v, want %s%s once\n%s", failed, tt.failID, map[bool]string{true: " and " + tt.also}[tt.also != ""], stdout)
			}
			if len(report.Skipped) > 0 {
				t.Errorf("not checked: %v", report.Skipped)
			}
			if strings.Count(stdout, "✗") != want || strings.Count(stdout, "fix: ") != want {
				t.Errorf("the text report does not show each ✗ once with its fix:\n%s", stdout)
			}
		})
	}
}
