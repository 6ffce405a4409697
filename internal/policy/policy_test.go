package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// actions lists a role's grants as "action need resources condition" lines.
func actions(r Role) []string {
	var out []string
	for _, g := range r.Grants {
		line := g.Action + " " + g.Need() + " " + strings.Join(g.Resources, ",")
		for op, keys := range g.Condition {
			for k, v := range keys {
				line += " " + op + ":" + k + "=" + strings.Join(v, ",")
			}
		}
		out = append(out, line)
	}
	return out
}

const (
	repoARN     = "arn:aws:ecr:us-east-1:111122223333:repository/web-api"
	apiARN      = "arn:aws:ecs:us-east-1:111122223333:service/prod-cluster/api-service"
	apiSD       = "arn:aws:ecs:us-east-1:111122223333:service-deployment/prod-cluster/api-service/*"
	clusterARN  = "arn:aws:ecs:us-east-1:111122223333:cluster/prod-cluster"
	tasksARN    = "arn:aws:ecs:us-east-1:111122223333:task/prod-cluster/*"
	taskRoleARN = "arn:aws:iam::111122223333:role/web-api-task"
)

func oneService(r *Request) {
	r.Services = []string{"api-service"}
	r.PassRoles = []string{taskRoleARN}
}

func TestGrantsPerMode(t *testing.T) {
	t.Parallel()
	push := []string{
		"ecr:GetAuthorizationToken required *",
		"ecr:BatchGetImage optional " + repoARN,
		"ecr:BatchCheckLayerAvailability required " + repoARN,
		"ecr:InitiateLayerUpload required " + repoARN,
		"ecr:UploadLayerPart required " + repoARN,
		"ecr:CompleteLayerUpload required " + repoARN,
		"ecr:PutImage required " + repoARN,
	}
	watch := []string{
		"ecs:DescribeServiceDeployments optional " + apiSD,
		"ecs:ListTasks optional * ArnEquals:ecs:cluster=" + clusterARN,
		"ecs:DescribeTasks optional " + tasksARN,
	}
	services := []string{
		"ecs:DescribeServices required " + apiARN,
		"ecs:UpdateService required " + apiARN,
	}
	register := []string{
		"ecs:RegisterTaskDefinition required *",
		"ecs:TagResource optional * StringEquals:ecs:CreateAction=RegisterTaskDefinition",
		"iam:PassRole required " + taskRoleARN + " StringEquals:iam:PassedToService=ecs-tasks.amazonaws.com",
	}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	byName := []string{"ecr:DescribeRepositories optional " + repoARN}
	tests := []struct {
		name   string
		mutate func(*Request)
		want   []string
	}{
		{name: "default_by_name", mutate: oneService,
			want: cat(push[:1], byName, push[1:], services, []string{"ecs:DescribeTaskDefinition required *"}, register, watch)},
		{name: "default_by_uri", mutate: func(r *Request) {
			oneService(r)
			r.Repository = "111122223333.dkr.ecr.us-east-1.amazonaws.com/web-api"
		}, want: cat(push, services, []string{"ecs:DescribeTaskDefinition required *"}, register, watch)},
		{name: "force_new_deployment_by_uri", mutate: func(r *Request) {
			oneService(r)
			r.Repository = "111122223333.dkr.ecr.us-east-1.amazonaws.com/web-api"
			r.ForceNewDeployment, r.PassRoles = true, nil
		}, want: cat(push, services, []string{"ecs:DescribeTaskDefinition optional *"}, watch)},
		{name: "force_new_deployment_without_push", mutate: func(r *Request) {
			oneService(r)
			r.Repository, r.ForceNewDeployment, r.PassRoles = "", true, nil
		}, want: cat(services, watch)},
		{name: "task_definition_file_without_tags", mutate: func(r *Request) {
			oneService(r)
			r.TaskDefinitionFile, r.BaseTags = true, TagsNone
		}, want: cat(push[:1], byName, push[1:], services, register[:1], register[2:], watch)},
		{name: "no_wait", mutate: func(r *Request) {
			oneService(r)
			r.Wait = false
		}, want: cat(push[:1], byName, push[1:], services, []string{"ecs:DescribeTaskDefinition required *"}, register)},
		{name: "push_only", mutate: func(r *Request) { r.Services = nil },
			want: cat(push[:1], byName, push[1:])},
		{name: "push_from_the_repository_itself", mutate: func(r *Request) {
			r.Services = nil
			r.Image = "docker://111122223333.dkr.ecr.us-east-1.amazonaws.com/web-api:build-7"
		}, want: cat(push[:1], byName, push[1:2], []string{"ecr:BatchGetImage required " + repoARN, "ecr:GetDownloadUrlForLayer required " + repoARN}, push[2:])},
		{name: "push_from_another_account_and_region", mutate: func(r *Request) {
			r.Services = nil
			r.Image = "docker://444455556666.dkr.ecr.eu-west-1.amazonaws.com/builds/web-api@sha256:" + strings.Repeat("ab", 32)
		}, want: cat(push[:1], byName, push[1:2], []string{
			"ecr:BatchGetImage required arn:aws:ecr:eu-west-1:444455556666:repository/builds/web-api",
			"ecr:GetDownloadUrlForLayer required arn:aws:ecr:eu-west-1:444455556666:repository/builds/web-api",
		}, push[2:])},
		{name: "push_from_another_registry", mutate: func(r *Request) {
			r.Services = nil
			r.Image = "docker://ghcr.io/acme/web-api:v1"
		}, want: cat(push[:1], byName, push[1:])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := mustPlan(t, readmeRequest(tt.mutate))
			if diff := cmp.Diff(tt.want, actions(*p.Deployer())); diff != "" {
				t.Errorf("grants (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRepositoryInAnotherAccountAndRegion(t *testing.T) {
	t.Parallel()
	p := mustPlan(t, readmeRequest(func(r *Request) {
		r.Repository = "444455556666.dkr.ecr.eu-west-1.amazonaws.com/shared/web-api"
	}))
	want := "arn:aws:ecr:eu-west-1:444455556666:repository/shared/web-api"
	for _, g := range p.Deployer().Grants {
		if strings.HasPrefix(g.Action, "ecr:") && g.Action != "ecr:GetAuthorizationToken" && !cmp.Equal(g.Resources, []string{want}) {
			t.Errorf("%s on %v, want %s", g.Action, g.Resources, want)
		}
	}
}

func TestClusterAndServiceARNs(t *testing.T) {
	t.Parallel()
	p := mustPlan(t, readmeRequest(func(r *Request) {
		r.Cluster = "arn:aws:ecs:us-east-1:111122223333:cluster/prod-cluster"
		r.Services = []string{"arn:aws:ecs:us-east-1:111122223333:service/prod-cluster/api-service"}
	}))
	doc, _ := p.Deployer().Permissions()
	for _, st := range doc.Statement {
		if st.Sid == "ReadAndUpdateTheServices" && !cmp.Equal(st.Resource, StringList{apiARN}) {
			t.Errorf("services statement on %v, want %s", st.Resource, apiARN)
		}
	}
}

func TestTrustPolicies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		scope Scope
		sub   string
		sid   string
	}{
		{"environment", Scope{Repository: "acme/web-api", Environment: "production"}, "repo:acme/web-api:environment:production", "TrustDeployJobsOfOneGitHubEnvironment"},
		{"branch", Scope{Repository: "acme/web-api", Branch: "main"}, "repo:acme/web-api:ref:refs/heads/main", "TrustDeployJobsOfOneGitHubBranch"},
		{"branch_ref", Scope{Repository: "acme/web-api", Branch: "refs/heads/release/2"}, "repo:acme/web-api:ref:refs/heads/release/2", "TrustDeployJobsOfOneGitHubBranch"},
		{"tag", Scope{Repository: "acme/web-api", Tag: "v1.2.0"}, "repo:acme/web-api:ref:refs/tags/v1.2.0", "TrustDeployJobsOfOneGitHubTag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := mustPlan(t, readmeRequest(func(r *Request) { r.Scope = tt.scope }))
			want := Document{Version: "2012-10-17", Statement: []Statement{{
				Sid:       tt.sid,
				Effect:    "Allow",
				Principal: Principal{"Federated": {"arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"}},
				Action:    StringList{"sts:AssumeRoleWithWebIdentity"},
				Condition: Condition{"StringEquals": {
					"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"},
					"token.actions.githubusercontent.com:sub": {tt.sub},
				}},
			}}}
			if diff := cmp.Diff(want, p.Roles[0].Trust); diff != "" {
				t.Errorf("trust policy (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRoleChain(t *testing.T) {
	t.Parallel()
	const (
		first  = "arn:aws:iam::111122223333:role/gha-deploy"
		second = "arn:aws:iam::444455556666:role/prod-deploy"
		third  = "arn:aws:iam::444455556666:role/prod-deploy-narrow"
	)
	p := mustPlan(t, readmeRequest(func(r *Request) {
		r.RoleARN = first
		r.RoleChain = []Hop{{RoleARN: second, ExternalID: "acme-prod-7f3c"}, {RoleARN: third}}
	}))
	if got, want := len(p.Roles), 3; got != want {
		t.Fatalf("%d roles, want %d", got, want)
	}
	if diff := cmp.Diff([]string{"sts:AssumeRole required " + second}, actions(p.Roles[0])); diff != "" {
		t.Errorf("first role's grants (-want +got):\n%s", diff)
	}
	// The second role assumes the third in its own account: the third's
	// trust policy naming it is enough.
	if got := actions(p.Roles[1]); len(got) != 0 {
		t.Errorf("second role's grants = %v, want none", got)
	}
	if _, ok := p.Roles[1].Permissions(); ok {
		t.Error("second role has a permissions policy, want none")
	}
	if !strings.Contains(strings.Join(p.Notes, "\n"), second+" needs no permission to assume "+third) {
		t.Errorf("notes %q do not explain why the second role needs no permission", p.Notes)
	}
	if p.Deployer().ARN != third || len(p.Deployer().Grants) == 0 {
		t.Errorf("deployer %s with %d grants, want %s with the deploy grants", p.Deployer().ARN, len(p.Deployer().Grants), third)
	}
	wantTrust := Statement{
		Sid:       "TrustThePreviousRoleOfTheChain",
		Effect:    "Allow",
		Principal: Principal{"AWS": {first}},
		Action:    StringList{"sts:AssumeRole"},
		Condition: Condition{"StringEquals": {"sts:ExternalId": {"acme-prod-7f3c"}}},
	}
	if diff := cmp.Diff([]Statement{wantTrust}, p.Roles[1].Trust.Statement); diff != "" {
		t.Errorf("second role's trust (-want +got):\n%s", diff)
	}
	if got := p.Roles[2].Trust.Statement[0]; got.Condition != nil || got.Principal["AWS"][0] != second {
		t.Errorf("third role's trust = %+v, want the second role without condition", got)
	}
	if diff := cmp.Diff([]string{"111122223333", "444455556666"}, p.Accounts()); diff != "" {
		t.Errorf("accounts (-want +got):\n%s", diff)
	}
	// The deploy resources are in the account of the last role.
	for _, g := range p.Deployer().Grants {
		for _, r := range g.Resources {
			if r != "*" && !strings.Contains(r, ":444455556666:") && g.Action != "iam:PassRole" {
				t.Errorf("%s on %s, outside the deploying account", g.Action, r)
			}
		}
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*Request)
		want   string
	}{
		{"no_scope", func(r *Request) { r.Scope = Scope{Repository: "acme/web-api"} }, "exactly one of environment, branch or tag"},
		{"two_scopes", func(r *Request) { r.Scope.Branch = "main" }, "exactly one of environment, branch or tag"},
		{"wildcard", func(r *Request) { r.Scope.Environment = "prod*" }, "without wildcards"},
		{"bad_repository", func(r *Request) { r.Scope.Repository = "web-api" }, "is not OWNER/REPO"},
		{"bad_role", func(r *Request) { r.RoleARN = "gha-deploy" }, `role-to-assume: "gha-deploy" is not an IAM role ARN`},
		{"bad_hop", func(r *Request) { r.RoleChain = []Hop{{RoleARN: "arn:aws:iam::1:role/x"}} }, "role-chain entry 1"},
		{"partitions", func(r *Request) { r.RoleChain = []Hop{{RoleARN: "arn:aws-cn:iam::444455556666:role/x"}} }, "stays in one partition"},
		{"nothing", func(r *Request) { r.Repository, r.Services = "", nil }, "nothing to allow"},
		{"no_region", func(r *Request) { r.Region = "" }, "no region"},
		{"region_of_another_partition", func(r *Request) { r.Region = "cn-north-1" }, `region "cn-north-1" is not in the roles' partition aws`},
		{"unknown_partition", func(r *Request) { r.RoleARN = "arn:aws-mars:iam::111122223333:role/x" }, `names the partition "aws-mars"`},
		{"bad_pass_role", func(r *Request) { r.PassRoles = []string{"web-api-task"} }, "task or execution role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(readmeRequest(tt.mutate))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestPartitions(t *testing.T) {
	t.Parallel()
	p := mustPlan(t, readmeRequest(func(r *Request) {
		r.RoleARN = "arn:aws-cn:iam::111122223333:role/gha-deploy"
		r.Region = "cn-north-1"
		r.PassRoles = nil
	}))
	if got, want := p.ProviderARN, "arn:aws-cn:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"; got != want {
		t.Errorf("provider ARN %s, want %s", got, want)
	}
	for _, g := range p.Deployer().Grants {
		for _, r := range g.Resources {
			if r != "*" && !strings.HasPrefix(r, "arn:aws-cn:") {
				t.Errorf("%s on %s, want an aws-cn ARN", g.Action, r)
			}
		}
	}
}

func TestSidsAreUniqueAndSayOptional(t *testing.T) {
	t.Parallel()
	for _, c := range readmeModes(t) {
		for _, r := range c.Plan.Roles {
			doc, ok := r.Permissions()
			if !ok {
				continue
			}
			seen := map[string]bool{}
			for _, st := range doc.Statement {
				if seen[st.Sid] {
					t.Errorf("%s: Sid %s twice in one policy", c.Name, st.Sid)
				}
				seen[st.Sid] = true
				for _, g := range r.Grants {
					if g.Sid == st.Sid && g.Required() == strings.HasPrefix(st.Sid, "Optional") {
						t.Errorf("%s: %s is %s but its statement is %s", c.Name, g.Action, g.Need(), st.Sid)
					}
				}
			}
		}
	}
}

func TestDocumentJSONRoundTrip(t *testing.T) {
	t.Parallel()
	doc, _ := mustPlan(t, readmeRequest()).Deployer().Permissions()
	back, err := ParseDocument([]byte(doc.JSON()))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(doc, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if strings.Contains(doc.Compact(), "\n") {
		t.Error("Compact() spans lines")
	}
}
