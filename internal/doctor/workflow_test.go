package doctor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// exampleWorkflow is the README's example, which every check passes.
func exampleWorkflow(tb testing.TB) string {
	tb.Helper()
	data, err := os.ReadFile("../../docs/examples/deploy.yml")
	if err != nil {
		tb.Fatal(err)
	}
	return string(data)
}

func checkText(tb testing.TB, text string, opts WorkflowOptions) *Report {
	tb.Helper()
	w, err := ParseWorkflow("deploy.yml", []byte(text))
	if err != nil {
		tb.Fatal(err)
	}
	r := &Report{}
	CheckWorkflow(r, w, opts)
	return r
}

func TestExampleWorkflowPasses(t *testing.T) {
	t.Parallel()
	r := checkText(t, exampleWorkflow(t), WorkflowOptions{Repository: "acme/web-api"})
	if !r.OK() {
		t.Errorf("the example workflow fails:\n%s", strings.Join(r.Lines(), "\n"))
	}
	if got, want := len(r.Checks), 3; got != want {
		t.Errorf("%d checks, want %d", got, want)
	}
	want := []Subject{{Value: "repo:acme/web-api:environment:production", Why: "the job runs in environment production"}}
	if diff := cmp.Diff(want, r.Subjects); diff != "" {
		t.Errorf("subjects (-want +got):\n%s", diff)
	}
	if r.Job != "deploy" {
		t.Errorf("job %q, want deploy", r.Job)
	}
}

// TestWorkflowFailures breaks the example workflow one way at a time: each
// fails exactly one item, with a fix that says what to write.
func TestWorkflowFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(string) string
		wantID  string
		wantFix []string
	}{
		{name: "no_id_token_write",
			edit: func(s string) string {
				return strings.Replace(s, "      id-token: write # lets the job request its OIDC token\n", "", 1)
			},
			wantID:  "workflow.id-token",
			wantFix: []string{"add under the job's permissions (line 35):", "id-token: write"}},
		{name: "id_token_read",
			edit:    func(s string) string { return strings.Replace(s, "id-token: write", "id-token: read", 1) },
			wantID:  "workflow.id-token",
			wantFix: []string{"change id-token: read (line 36) to id-token: write"}},
		{name: "job_write_all",
			edit: func(s string) string {
				return strings.Replace(s, "    permissions:\n      id-token: write # lets the job request its OIDC token\n      contents: read # lets actions/checkout read the repository\n",
					"    permissions: write-all\n", 1)
			},
			wantID:  "workflow.id-token",
			wantFix: []string{"replace permissions: write-all (line 35)", "id-token: write", "contents: read"}},
		{name: "workflow_write_all",
			edit: func(s string) string {
				s = strings.Replace(s, "permissions: {}", "permissions: write-all", 1)
				return strings.Replace(s, "    permissions:\n      id-token: write # lets the job request its OIDC token\n      contents: read # lets actions/checkout read the repository\n", "", 1)
			},
			wantID:  "workflow.id-token",
			wantFix: []string{"set the workflow's permissions (line 21) to {} and give the job deploy (line 29) its own", "id-token: write"}},
		{name: "id_token_at_workflow_level",
			edit: func(s string) string {
				s = strings.Replace(s, "permissions: {}", "permissions:\n  id-token: write", 1)
				return strings.Replace(s, "    permissions:\n      id-token: write # lets the job request its OIDC token\n      contents: read # lets actions/checkout read the repository\n", "", 1)
			},
			wantID:  "workflow.id-token",
			wantFix: []string{"move id-token: write from the workflow's permissions (line 21) to the job deploy"}},
		{name: "no_environment",
			edit: func(s string) string {
				return strings.Replace(s, "    environment:\n      name: production\n      url: https://api.example.com\n", "", 1)
			},
			wantID:  "workflow.environment",
			wantFix: []string{"add to the job deploy (line 29):", "environment: production", "repo:acme/web-api:environment:production"}},
		{name: "action_pinned_by_tag",
			edit: func(s string) string {
				return strings.Replace(s, "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2", "actions/checkout@v4.2.2", 1)
			},
			wantID:  "workflow.pinned",
			wantFix: []string{"line 39: actions/checkout@v4.2.2: pin it to the commit v4.2.2 points at", "uses: actions/checkout@<40-hex commit SHA> # v4.2.2", "git ls-remote https://github.com/actions/checkout v4.2.2"}},
		{name: "image_pinned_by_tag",
			edit: func(s string) string {
				return strings.Replace(s, "uses: oidc-ecs-deploy/oidc-ecs-deploy@0000000000000000000000000000000000000000", "uses: docker://ghcr.io/oidc-ecs-deploy/oidc-ecs-deploy:v1", 1)
			},
			wantID:  "workflow.pinned",
			wantFix: []string{"docker://ghcr.io/oidc-ecs-deploy/oidc-ecs-deploy@sha256:<digest>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			text := tt.edit(exampleWorkflow(t))
			if text == exampleWorkflow(t) {
				t.Fatal("the edit changed nothing")
			}
			r := checkText(t, text, WorkflowOptions{Repository: "acme/web-api"})
			failed := r.Failed()
			if len(failed) != 1 || failed[0].ID != tt.wantID {
				t.Fatalf("failed items %+v, want exactly %s\n%s", failed, tt.wantID, strings.Join(r.Lines(), "\n"))
			}
			for _, want := range tt.wantFix {
				if !strings.Contains(failed[0].Fix, want) {
					t.Errorf("fix %q lacks %q", failed[0].Fix, want)
				}
			}
			lines := strings.Join(r.Lines(), "\n")
			if strings.Count(lines, "✗") != 1 || !strings.Contains(lines, "fix: ") {
				t.Errorf("report does not show one ✗ with its fix:\n%s", lines)
			}
		})
	}
}

func TestSubjects(t *testing.T) {
	t.Parallel()
	const job = `
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: oidc-ecs-deploy/oidc-ecs-deploy@0000000000000000000000000000000000000000
`
	tests := []struct {
		name string
		on   string
		want []string
	}{
		{"push_branch", "on:\n  push:\n    branches: [main]\n", []string{"repo:acme/web-api:ref:refs/heads/main"}},
		{"push_branch_pattern", "on:\n  push:\n    branches: ['release/**', '!release/old']\n", []string{"repo:acme/web-api:ref:refs/heads/release/*"}},
		{"push_tags", "on:\n  push:\n    tags: ['v*']\n", []string{"repo:acme/web-api:ref:refs/tags/v*"}},
		{"push_anything", "on: push\n", []string{"repo:acme/web-api:ref:refs/heads/*", "repo:acme/web-api:ref:refs/tags/*"}},
		{"pull_request", "on: [pull_request]\n", []string{"repo:acme/web-api:pull_request"}},
		{"dispatch", "on:\n  workflow_dispatch:\n", []string{"repo:acme/web-api:ref:refs/heads/*"}},
		{"release", "on:\n  release:\n    types: [published]\n", []string{"repo:acme/web-api:ref:refs/tags/*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := checkText(t, tt.on+job, WorkflowOptions{Repository: "acme/web-api"})
			var got []string
			for _, s := range r.Subjects {
				got = append(got, s.Value)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("subjects (-want +got):\n%s", diff)
			}
		})
	}
	// An environment decides the sub whatever the trigger.
	r := checkText(t, "on: [pull_request]\njobs:\n  deploy:\n    environment: staging\n    steps:\n      - uses: oidc-ecs-deploy/oidc-ecs-deploy@v1\n", WorkflowOptions{Repository: "acme/web-api"})
	if len(r.Subjects) != 1 || r.Subjects[0].Value != "repo:acme/web-api:environment:staging" || !r.Subjects[0].Exact() {
		t.Errorf("subjects %+v, want the environment's alone", r.Subjects)
	}
}

func TestDeployJobs(t *testing.T) {
	t.Parallel()
	text := "on: push\njobs:\n  build:\n    steps:\n      - run: make\n  ship:\n    steps:\n      - uses: docker://ghcr.io/oidc-ecs-deploy/oidc-ecs-deploy@sha256:" + strings.Repeat("a", 64) + "\n"
	r := checkText(t, text, WorkflowOptions{})
	if r.Job != "ship" {
		t.Errorf("job %q, want ship (the one running the action by image)", r.Job)
	}
	r = checkText(t, text, WorkflowOptions{Job: "nope"})
	if f := r.Failed(); len(f) != 1 || !strings.Contains(f[0].Detail, `no job "nope"; its jobs are build, ship`) {
		t.Errorf("failed %+v, want the missing job named with the ones there are", f)
	}
	r = checkText(t, "on: push\njobs:\n  build:\n    steps:\n      - run: make\n", WorkflowOptions{})
	if f := r.Failed(); len(f) != 1 || f[0].ID != "workflow.deploy-job" {
		t.Errorf("failed %+v, want workflow.deploy-job", f)
	}
}

func TestParseWorkflowRejects(t *testing.T) {
	t.Parallel()
	for name, text := range map[string]string{
		"not_yaml":    "jobs: [",
		"a_list":      "- a\n- b\n",
		"no_jobs":     "on: push\n",
		"jobs_a_list": "jobs: [a]\n",
	} {
		if _, err := ParseWorkflow("x.yml", []byte(text)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestRepositoryOf(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wf := filepath.Join(dir, ".github", "workflows", "deploy.yml")
	files := map[string]string{}
	read := func(p string) ([]byte, error) {
		if v, ok := files[p]; ok {
			return []byte(v), nil
		}
		return nil, errors.New("absent")
	}
	if got := RepositoryOf(wf, read); got != "" {
		t.Errorf("without a checkout: %q", got)
	}
	for url, want := range map[string]string{
		"https://github.com/acme/web-api.git": "acme/web-api",
		"git@github.com:acme/web-api.git":     "acme/web-api",
		"https://github.com/acme/web.api":     "acme/web.api",
		"https://gitlab.example/acme/web-api": "",
	} {
		files[filepath.Join(dir, ".git", "config")] = "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://github.com/other/fork.git\n[remote \"origin\"]\n\turl = " + url + "\n"
		if got := RepositoryOf(wf, read); got != want {
			t.Errorf("origin %s: %q, want %q", url, got, want)
		}
	}
}
