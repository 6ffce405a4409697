package doctor

import (
	"strings"
	"testing"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
)

func testPlan(tb testing.TB) *policy.Plan {
	tb.Helper()
	p, err := policy.New(policy.Request{
		RoleARN:    "arn:aws:iam::111122223333:role/gha-deploy",
		Region:     "us-east-1",
		Scope:      policy.Scope{Repository: "acme/web-api", Environment: "production"},
		Repository: "web-api",
		Cluster:    "prod-cluster",
		Services:   []string{"api-service"},
		PassRoles:  []string{"arn:aws:iam::111122223333:role/web-api-task"},
		Wait:       true,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// trustWith is the generated trust policy with its condition replaced.
func trustWith(p *policy.Plan, cond policy.Condition) policy.Document {
	d, _ := policy.ParseDocument([]byte(p.Roles[0].Trust.JSON()))
	d.Statement[0].Condition = cond
	return d
}

const (
	audKey = "token.actions.githubusercontent.com:aud"
	subKey = "token.actions.githubusercontent.com:sub"
)

func TestTrustChecks(t *testing.T) {
	t.Parallel()
	p := testPlan(t)
	env := []Subject{{Value: "repo:acme/web-api:environment:production", Why: "the job runs in environment production"}}
	branch := []Subject{{Value: "repo:acme/web-api:ref:refs/heads/main", Why: "a push to branch main"}}
	tests := []struct {
		name     string
		cond     policy.Condition
		subjects []Subject
		failID   string // the one item that fails; empty when none does
		want     string // in its detail
	}{
		{name: "generated", cond: p.Roles[0].Trust.Statement[0].Condition, subjects: env},
		{name: "owner_wildcard", subjects: env, failID: "account.trust-sub", want: "every job of every repository of acme",
			cond: policy.Condition{"StringEquals": {audKey: {"sts.amazonaws.com"}}, "StringLike": {subKey: {"repo:acme/*"}}}},
		{name: "repository_wildcard", subjects: env, failID: "account.trust-sub", want: "every branch, tag, pull request and environment of acme/web-api",
			cond: policy.Condition{"StringEquals": {audKey: {"sts.amazonaws.com"}}, "StringLike": {subKey: {"repo:acme/web-api:*"}}}},
		{name: "no_sub", subjects: env, failID: "account.trust-sub", want: "no sub condition",
			cond: policy.Condition{"StringEquals": {audKey: {"sts.amazonaws.com"}}}},
		{name: "string_like_without_wildcard", subjects: env, failID: "account.trust-sub", want: "StringLike, which has no wildcard",
			cond: policy.Condition{"StringEquals": {audKey: {"sts.amazonaws.com"}}, "StringLike": {subKey: {"repo:acme/web-api:environment:production"}}}},
		{name: "another_branch", subjects: branch, failID: "account.trust-sub", want: "the job's sub repo:acme/web-api:ref:refs/heads/main (a push to branch main) is not admitted",
			cond: policy.Condition{"StringEquals": {audKey: {"sts.amazonaws.com"}, subKey: {"repo:acme/web-api:ref:refs/heads/develop"}}}},
		{name: "no_aud", subjects: env, failID: "account.trust-aud", want: "no aud condition",
			cond: policy.Condition{"StringEquals": {subKey: {"repo:acme/web-api:environment:production"}}}},
		{name: "aud_string_like", subjects: env, failID: "account.trust-aud", want: "with StringLike, not StringEquals",
			cond: policy.Condition{"StringLike": {audKey: {"sts.*"}}, "StringEquals": {subKey: {"repo:acme/web-api:environment:production"}}}},
		{name: "other_audience", subjects: env, failID: "account.trust-aud", want: "pins aud to api://x, not sts.amazonaws.com",
			cond: policy.Condition{"StringEquals": {audKey: {"api://x"}, subKey: {"repo:acme/web-api:environment:production"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			trust := trustWith(p, tt.cond)
			checks := []Check{checkTrustAudience(p, trust, ""), checkTrustSubject(p, trust, tt.subjects, "")}
			var failed []Check
			for _, c := range checks {
				if !c.OK {
					failed = append(failed, c)
				}
			}
			if tt.failID == "" {
				if len(failed) > 0 {
					t.Errorf("failed %+v, want none", failed)
				}
				return
			}
			if len(failed) != 1 || failed[0].ID != tt.failID {
				t.Fatalf("failed %+v, want exactly %s", failed, tt.failID)
			}
			if !strings.Contains(failed[0].Detail, tt.want) {
				t.Errorf("detail %q lacks %q", failed[0].Detail, tt.want)
			}
			if !strings.Contains(failed[0].Fix, `"token.actions.githubusercontent.com:sub": "repo:acme/web-api:environment:production"`) {
				t.Errorf("fix %q does not give the generated condition", failed[0].Fix)
			}
		})
	}
}

func TestPermissionChecks(t *testing.T) {
	t.Parallel()
	p := testPlan(t)
	role := *p.Deployer()
	generated, _ := role.Permissions()
	with := func(extra ...policy.Statement) []namedDocument {
		d, _ := policy.ParseDocument([]byte(generated.JSON()))
		d.Statement = append(d.Statement, extra...)
		return []namedDocument{{name: "inline policy oidc-ecs-deploy", doc: d}}
	}
	without := func(action string) []namedDocument {
		d, _ := policy.ParseDocument([]byte(generated.JSON()))
		for i := range d.Statement {
			var kept policy.StringList
			for _, a := range d.Statement[i].Action {
				if a != action {
					kept = append(kept, a)
				}
			}
			d.Statement[i].Action = kept
		}
		return []namedDocument{{name: "inline policy oidc-ecs-deploy", doc: d}}
	}
	tests := []struct {
		name   string
		docs   []namedDocument
		failID string
		want   string
	}{
		{name: "generated", docs: with()},
		{name: "ecs_star", docs: with(policy.Statement{Effect: "Allow", Action: policy.StringList{"ecs:*"}, Resource: policy.StringList{"*"}}),
			failID: "account.permissions", want: "allows ecs:*: every action it matches, where the run calls only ecs:DescribeServices, ecs:UpdateService"},
		{name: "star_star", docs: []namedDocument{{name: "managed policy arn:aws:iam::aws:policy/AdministratorAccess", doc: policy.Document{Statement: []policy.Statement{{Effect: "Allow", Action: policy.StringList{"*"}, Resource: policy.StringList{"*"}}}}}},
			failID: "account.permissions", want: "allows *: every action of every service"},
		{name: "extra_action", docs: with(policy.Statement{Effect: "Allow", Action: policy.StringList{"ecs:DeleteService"}, Resource: policy.StringList{"*"}}),
			failID: "account.permissions", want: "allows ecs:DeleteService, which the run never calls"},
		{name: "wildcard_resource", docs: with(policy.Statement{Effect: "Allow", Action: policy.StringList{"ecr:PutImage"}, Resource: policy.StringList{"*"}}),
			failID: "account.permissions", want: "allows ecr:PutImage on *, where the run needs it only on arn:aws:ecr:us-east-1:111122223333:repository/web-api"},
		{name: "pass_role_unconditioned", docs: with(policy.Statement{Effect: "Allow", Action: policy.StringList{"iam:PassRole"}, Resource: policy.StringList{"arn:aws:iam::111122223333:role/web-api-task"}}),
			failID: "account.permissions", want: "without the condition StringEquals iam:PassedToService = ecs-tasks.amazonaws.com"},
		{name: "not_action", docs: with(policy.Statement{Effect: "Allow", NotAction: policy.StringList{"iam:*"}, Resource: policy.StringList{"*"}}),
			failID: "account.permissions", want: "uses NotAction"},
		{name: "required_missing", docs: without("ecs:UpdateService"),
			failID: "account.permissions-required", want: "the run fails without: ecs:UpdateService"},
		{name: "optional_missing", docs: without("ecr:BatchGetImage")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var failed []Check
			for _, c := range []Check{checkWithin(role, tt.docs, ""), checkEnough(role, tt.docs, "")} {
				if !c.OK {
					failed = append(failed, c)
				}
			}
			if tt.failID == "" {
				if len(failed) > 0 {
					t.Errorf("failed %+v, want none", failed)
				}
				return
			}
			if len(failed) != 1 || failed[0].ID != tt.failID {
				t.Fatalf("failed %+v, want exactly %s", failed, tt.failID)
			}
			if !strings.Contains(failed[0].Detail, tt.want) {
				t.Errorf("detail %q lacks %q", failed[0].Detail, tt.want)
			}
			if !strings.Contains(failed[0].Fix, `"Sid": "PushTheImage"`) {
				t.Errorf("fix %q does not give the generated policy", failed[0].Fix)
			}
		})
	}
	c := checkEnough(role, without("ecr:BatchGetImage"), "")
	if !strings.Contains(c.Detail, "optional, the run prints a notice without them: ecr:BatchGetImage") {
		t.Errorf("a missing optional permission is not named: %q", c.Detail)
	}
}

func TestSessionCheck(t *testing.T) {
	t.Parallel()
	role := *testPlan(t).Deployer()
	if c := checkSession(role, 3600, ""); !c.OK {
		t.Errorf("3600 s fails: %+v", c)
	}
	c := checkSession(role, 43200, "")
	if c.OK || !strings.Contains(c.Detail, "12 hours") || !strings.Contains(c.Fix, "aws iam update-role --role-name gha-deploy --max-session-duration 3600") {
		t.Errorf("43200 s: %+v", c)
	}
}
