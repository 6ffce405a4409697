package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
)

// policyArgs are the README's example inputs as flags.
func policyArgs(extra ...string) []string {
	return append([]string{
		"--github-repository", "acme/web-api", "--environment", "production",
		"--role-to-assume", "arn:aws:iam::111122223333:role/gha-deploy",
		"--aws-region", "us-east-1", "--repository", "web-api",
		"--cluster", "prod-cluster", "--service", "api-service",
	}, extra...)
}

func runMain(tb testing.TB, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, getenvOf(), &out, &errOut)
	return code, out.String(), errOut.String()
}

// planOutput is the policy command's JSON.
type planOutput struct {
	Roles []struct {
		RoleARN           string           `json:"roleArn"`
		TrustPolicy       policy.Document  `json:"trustPolicy"`
		PermissionsPolicy *policy.Document `json:"permissionsPolicy"`
	} `json:"roles"`
	Notes []string `json:"notes"`
}

func sids(d *policy.Document) []string {
	var out []string
	for _, st := range d.Statement {
		out = append(out, st.Sid)
	}
	return out
}

func TestPolicyCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tdFile := filepath.Join(dir, "task-definition.json")
	if err := os.WriteFile(tdFile, []byte(`{"family": "web-api", "taskRoleArn": "arn:aws:iam::111122223333:role/web-api-task",
		"executionRoleArn": "arn:aws:iam::111122223333:role/ecsTaskExecutionRole",
		"containerDefinitions": [{"name": "web", "image": "web-api:latest"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		wantSids  []string
		wantRoles int
		wantNote  string
	}{
		{name: "default", args: policyArgs("--task-role-arn", "arn:aws:iam::111122223333:role/web-api-task"),
			wantSids: []string{"LogInToTheRegistry", "OptionalFindTheRepositoryByName", "OptionalReadTheTagsBeforePushing", "PushTheImage",
				"ReadAndUpdateTheServices", "CopyTheCurrentTaskDefinition", "RegisterTheNewRevision", "OptionalKeepTheBaseRevisionTags",
				"PassTheTaskRolesToEcs", "OptionalWatchOurServiceDeployment", "OptionalListTheStoppedTasks", "OptionalReadWhyTasksStopped"},
			wantRoles: 1},
		{name: "default_without_roles", args: policyArgs(),
			wantSids: []string{"LogInToTheRegistry", "OptionalFindTheRepositoryByName", "OptionalReadTheTagsBeforePushing", "PushTheImage",
				"ReadAndUpdateTheServices", "CopyTheCurrentTaskDefinition", "RegisterTheNewRevision", "OptionalKeepTheBaseRevisionTags",
				"OptionalWatchOurServiceDeployment", "OptionalListTheStoppedTasks", "OptionalReadWhyTasksStopped"},
			wantRoles: 1, wantNote: "--task-role-arn"},
		{name: "force_with_uri_no_wait", args: append(policyArgs("--force-new-deployment", "--wait-for-service-stability=false"),
			"--repository", "111122223333.dkr.ecr.us-east-1.amazonaws.com/web-api"),
			wantSids:  []string{"LogInToTheRegistry", "OptionalReadTheTagsBeforePushing", "PushTheImage", "ReadAndUpdateTheServices", "OptionalCheckTheTaskDefinitionUsesThePushedTag"},
			wantRoles: 1},
		{name: "task_definition_file", args: policyArgs("--task-definition", tdFile, "--image", "web-api:latest"),
			wantSids: []string{"LogInToTheRegistry", "OptionalFindTheRepositoryByName", "OptionalReadTheTagsBeforePushing", "PushTheImage",
				"ReadAndUpdateTheServices", "RegisterTheNewRevision", "PassTheTaskRolesToEcs",
				"OptionalWatchOurServiceDeployment", "OptionalListTheStoppedTasks", "OptionalReadWhyTasksStopped"},
			wantRoles: 1},
		{name: "role_chain", args: policyArgs("--force-new-deployment", "--role-chain", "arn:aws:iam::444455556666:role/prod-deploy external-id=acme-prod-7f3c"),
			wantSids:  []string{"LogInToTheRegistry", "OptionalFindTheRepositoryByName", "OptionalReadTheTagsBeforePushing", "PushTheImage", "ReadAndUpdateTheServices", "OptionalCheckTheTaskDefinitionUsesThePushedTag", "OptionalWatchOurServiceDeployment", "OptionalListTheStoppedTasks", "OptionalReadWhyTasksStopped"},
			wantRoles: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runMain(t, append([]string{"policy"}, tt.args...)...)
			if code != ExitOK {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			var got planOutput
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, stdout)
			}
			if len(got.Roles) != tt.wantRoles {
				t.Fatalf("%d roles, want %d", len(got.Roles), tt.wantRoles)
			}
			deployer := got.Roles[len(got.Roles)-1]
			if diff := cmp.Diff(tt.wantSids, sids(deployer.PermissionsPolicy)); diff != "" {
				t.Errorf("statements (-want +got):\n%s", diff)
			}
			if tt.wantNote != "" && !strings.Contains(stderr, tt.wantNote) {
				t.Errorf("stderr %q lacks the note %q", stderr, tt.wantNote)
			}
		})
	}
}

func TestPolicyCommandFormats(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"cloudformation", "terraform"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runMain(t, append([]string{"policy", "--format", format}, policyArgs()...)...)
			if code != ExitOK || !strings.Contains(stdout, "gha-deploy") {
				t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			chain := policyArgs("--format", format, "--role-chain", "arn:aws:iam::444455556666:role/prod-deploy")
			code, _, stderr = runMain(t, append([]string{"policy"}, chain...)...)
			if code != ExitUsage || !strings.Contains(stderr, "run once per account with --account") {
				t.Errorf("chain across accounts without --account: exit %d, stderr %q", code, stderr)
			}
			code, stdout, stderr = runMain(t, append([]string{"policy", "--account", "444455556666"}, chain...)...)
			if code != ExitOK || !strings.Contains(stdout, "prod-deploy") || strings.Contains(stdout, "OIDCProvider") || strings.Contains(stdout, "openid_connect") {
				t.Errorf("--account 444455556666: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
			}
		})
	}
}

func TestPolicyCommandBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no_scope", []string{"--role-to-assume", "arn:aws:iam::111122223333:role/gha-deploy", "--aws-region", "us-east-1", "--repository", "web-api", "--github-repository", "acme/web-api"},
			ExitUsage, "exactly one of environment, branch or tag"},
		{"bad_role", policyArgs("--role-to-assume", "gha-deploy"), ExitUsage, "input role-to-assume"},
		{"long_session", policyArgs("--role-duration-seconds", "7200"), ExitUsage, "above the 3600-second maximum"},
		{"bad_format", policyArgs("--format", "pulumi"), ExitUsage, "want json, cloudformation or terraform"},
		{"unknown_flag", policyArgs("--nope", "x"), ExitUsage, "flag provided but not defined: -nope"},
		{"missing_file", policyArgs("--task-definition", "/nonexistent/td.json"), ExitUsage, "input task-definition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runMain(t, append([]string{"policy"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, tt.code, tt.want)
			}
		})
	}
	code, stdout, _ := runMain(t, "policy", "--help")
	if code != ExitOK || !strings.Contains(stdout, "--github-repository") || !strings.Contains(stdout, "--role-to-assume") {
		t.Errorf("policy --help: exit %d:\n%s", code, stdout)
	}
}
