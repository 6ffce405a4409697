package policy

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the README's generated blocks")

// The README's examples: account 111122223333, region us-east-1, the GitHub
// repository acme/web-api, the ECR repository web-api, the cluster
// prod-cluster and the services api-service and worker-service.
func readmeRequest(mutate ...func(*Request)) Request {
	r := Request{
		RoleARN:    "arn:aws:iam::111122223333:role/gha-deploy-production",
		Region:     "us-east-1",
		Scope:      Scope{Repository: "acme/web-api", Environment: "production"},
		Repository: "web-api",
		Cluster:    "prod-cluster",
		Services:   []string{"api-service", "worker-service"},
		PassRoles:  []string{"arn:aws:iam::111122223333:role/web-api-task", "arn:aws:iam::111122223333:role/ecsTaskExecutionRole"},
		Wait:       true,
	}
	for _, m := range mutate {
		m(&r)
	}
	return r
}

func mustPlan(tb testing.TB, req Request) *Plan {
	tb.Helper()
	p, err := New(req)
	if err != nil {
		tb.Fatalf("New(%+v): %v", req, err)
	}
	return p
}

// readmeModes are the columns of the README's mode table.
func readmeModes(tb testing.TB) []Column {
	tb.Helper()
	return []Column{
		{Name: "default", Plan: mustPlan(tb, readmeRequest())},
		{Name: "force-new-deployment", Plan: mustPlan(tb, readmeRequest(func(r *Request) { r.ForceNewDeployment, r.PassRoles = true, nil }))},
		{Name: "task-definition file", Plan: mustPlan(tb, readmeRequest(func(r *Request) { r.TaskDefinitionFile, r.BaseTags = true, TagsPresent }))},
		{Name: "role chain", Plan: mustPlan(tb, readmeRequest(func(r *Request) {
			r.RoleChain = []Hop{{RoleARN: "arn:aws:iam::444455556666:role/prod-deploy", ExternalID: "acme-prod-7f3c"}}
		}))},
		{Name: "run-task", Plan: mustPlan(tb, readmeRequest(func(r *Request) { r.RunTask, r.RunTaskLogGroups = true, []string{"/ecs/web-api"} }))},
		{Name: "keep-revisions", Plan: mustPlan(tb, readmeRequest(func(r *Request) { r.KeepRevisions = true }))},
	}
}

// readmeBlocks are the README's generated blocks, by marker name.
func readmeBlocks(tb testing.TB) map[string]string {
	tb.Helper()
	fence := func(doc Document) string { return "```json\n" + doc.JSON() + "```\n" }
	permissions, _ := mustPlan(tb, readmeRequest()).Deployer().Permissions()
	modes := readmeModes(tb)
	plans := make([]*Plan, len(modes))
	for i, m := range modes {
		plans[i] = m.Plan
	}
	return map[string]string{
		"trust-environment": fence(mustPlan(tb, readmeRequest()).Roles[0].Trust),
		"trust-branch": fence(mustPlan(tb, readmeRequest(func(r *Request) {
			r.RoleARN = "arn:aws:iam::111122223333:role/gha-deploy-staging"
			r.Scope = Scope{Repository: "acme/web-api", Branch: "main"}
		})).Roles[0].Trust),
		"permissions": fence(permissions),
		"modes":       ModeTable(modes),
		"calls":       CallTable(plans...),
		"alert-cloudformation": func() string {
			out, err := mustPlan(tb, readmeRequest()).SubjectAlertCloudFormation()
			if err != nil {
				tb.Fatal(err)
			}
			return "```yaml\n" + string(out) + "```\n"
		}(),
		"alert-terraform": func() string {
			out, err := mustPlan(tb, readmeRequest()).SubjectAlertTerraform()
			if err != nil {
				tb.Fatal(err)
			}
			return "```hcl\n" + string(out) + "```\n"
		}(),
	}
}

var readmeMarker = regexp.MustCompile(`(?s)(<!-- policy:([a-z-]+) -->\n)(.*?)(<!-- /policy:([a-z-]+) -->)`)

// TestREADMEPoliciesAreGenerated keeps the README's policies and tables
// equal to what this package generates; go test -run README -update
// rewrites them.
func TestREADMEPoliciesAreGenerated(t *testing.T) {
	const path = "../../README.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := readmeBlocks(t)
	found := map[string]bool{}
	var problems []string
	out := readmeMarker.ReplaceAllStringFunc(string(data), func(m string) string {
		sub := readmeMarker.FindStringSubmatch(m)
		name := sub[2]
		if sub[5] != name {
			problems = append(problems, "block "+name+" is closed by /policy:"+sub[5])
			return m
		}
		found[name] = true
		gen, ok := want[name]
		if !ok {
			problems = append(problems, "the README has a block "+name+" that nothing generates")
			return m
		}
		if diff := cmp.Diff(gen, sub[3]); diff != "" && !*update {
			problems = append(problems, "README block "+name+" differs from the generated one (-generated +README):\n"+diff)
		}
		return sub[1] + gen + sub[4]
	})
	for name := range want {
		if !found[name] {
			problems = append(problems, "the README lacks the generated block "+name+" (<!-- policy:"+name+" --> ... <!-- /policy:"+name+" -->)")
		}
	}
	if *update {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if len(problems) > 0 {
		t.Errorf("%s\nrun: go test ./internal/policy -run README -update", strings.Join(problems, "\n"))
	}
}
