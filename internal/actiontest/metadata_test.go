package actiontest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/testenv"
)

// root returns the module root, failing the test when it cannot be found.
func root(tb testing.TB) string {
	tb.Helper()
	dir, err := ModuleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// loadAction reads the project's action.yml.
func loadAction(tb testing.TB) *Metadata {
	tb.Helper()
	m, err := LoadMetadata(filepath.Join(root(tb), "action.yml"))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

var pinnedImage = regexp.MustCompile(`^docker://ghcr\.io/[a-z0-9-]+/oidc-ecs-deploy@sha256:[0-9a-f]{64}$`)

func TestActionMetadata(t *testing.T) {
	t.Parallel()
	m := loadAction(t)

	if m.Name == "" || m.Description == "" {
		t.Errorf("action.yml: name %q, description %q; the Marketplace needs both", m.Name, m.Description)
	}
	if m.Branding["icon"] == "" || m.Branding["color"] == "" {
		t.Errorf("action.yml: branding = %v, want an icon and a color", m.Branding)
	}
	if got, want := m.Runs.Using, "docker"; got != want {
		t.Errorf("runs.using = %q, want %q", got, want)
	}
	// Between releases action.yml builds from source; a release commit pins
	// the prebuilt image by digest (docs/releasing.md).
	if m.Runs.Image != "Dockerfile" && !pinnedImage.MatchString(m.Runs.Image) {
		t.Errorf("runs.image = %q, want Dockerfile or docker://ghcr.io/OWNER/oidc-ecs-deploy@sha256:DIGEST", m.Runs.Image)
	}
	// The binary decides between action mode and the CLI from its
	// arguments: the runner must start it with none.
	if m.Runs.Entrypoint != "" || len(m.Runs.Args) != 0 {
		t.Errorf("runs.entrypoint = %q, runs.args = %q; want neither, so the image's entrypoint runs with no arguments", m.Runs.Entrypoint, m.Runs.Args)
	}

	for name, in := range m.Inputs {
		if strings.TrimSpace(in.Description) == "" {
			t.Errorf("input %s has no description", name)
		}
		if in.Required == nil {
			t.Errorf("input %s does not say whether it is required", name)
			continue
		}
		if !*in.Required && in.Default == nil {
			t.Errorf("optional input %s has no default; give one (\"\" when the action computes it) so every default is written down", name)
		}
		if *in.Required && in.Default != nil {
			t.Errorf("required input %s has a default %q, which would make it never missing", name, *in.Default)
		}
	}
	for name, out := range m.Outputs {
		if strings.TrimSpace(out.Description) == "" {
			t.Errorf("output %s has no description", name)
		}
	}
}

// TestInputNamesMatchAWSActions keeps the names that aws-actions use for the
// same meaning, so a team switching from them edits few lines.
func TestInputNamesMatchAWSActions(t *testing.T) {
	t.Parallel()
	m := loadAction(t)
	for _, name := range []string{
		"role-to-assume", "aws-region", "audience", "role-session-name", "role-duration-seconds",
		"cluster", "service", "task-definition", "container-name", "force-new-deployment",
		"wait-for-service-stability", "wait-for-minutes", "allowed-account-ids", "mask-aws-account-id",
	} {
		if _, ok := m.Inputs[name]; !ok {
			t.Errorf("action.yml has no input %q", name)
		}
	}
}

func TestInputEnv(t *testing.T) {
	t.Parallel()
	m := loadAction(t)
	env, err := m.InputEnv(map[string]string{"role-to-assume": "arn:aws:iam::111122223333:role/x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, want string }{
		{"INPUT_ROLE-TO-ASSUME", "arn:aws:iam::111122223333:role/x"},
		{"INPUT_AUDIENCE", "sts.amazonaws.com"},
		{"INPUT_WAIT-FOR-MINUTES", "30"},
		{"INPUT_TAGS", ""},
	} {
		got, ok := env[c.name]
		if !ok || got != c.want {
			t.Errorf("InputEnv()[%s] = %q (set %v), want %q", c.name, got, ok, c.want)
		}
	}
	if _, err := m.InputEnv(map[string]string{"no-such-input": "x"}); err == nil {
		t.Error("InputEnv with an undeclared input: no error")
	}
}

// workflowFiles are the workflows of the project and the documented examples.
func workflowFiles(tb testing.TB) []string {
	tb.Helper()
	dir := root(tb)
	files, err := filepath.Glob(filepath.Join(dir, ".github", "workflows", "*.yml"))
	if err != nil {
		tb.Fatal(err)
	}
	examples, err := filepath.Glob(filepath.Join(dir, "docs", "examples", "*.yml"))
	if err != nil {
		tb.Fatal(err)
	}
	files = append(files, examples...)
	for _, f := range []string{"ci.yml", "release.yml"} {
		if !slices.Contains(files, filepath.Join(dir, ".github", "workflows", f)) {
			tb.Errorf("workflow %s is missing", f)
		}
	}
	return files
}

func TestActionlint(t *testing.T) {
	t.Parallel()
	actionlint := testenv.Command(t, "actionlint")
	files := workflowFiles(t)
	cmd := exec.Command(actionlint, append([]string{"-no-color"}, files...)...)
	cmd.Dir = root(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("actionlint %v: %v\n%s", files, err, out)
	}
}

var usesLine = regexp.MustCompile(`(?m)^\s*(?:-\s+)?uses:\s*(\S+)`)
var pinnedUses = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$`)

// TestActionsPinnedBySHA: a tag can be moved to other code; a commit SHA cannot.
func TestActionsPinnedBySHA(t *testing.T) {
	t.Parallel()
	for _, f := range workflowFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		uses := usesLine.FindAllStringSubmatch(string(data), -1)
		if len(uses) == 0 && filepath.Base(f) != "ci.yml" {
			t.Errorf("%s uses no action", filepath.Base(f))
		}
		for _, u := range uses {
			ref := u[1]
			if strings.HasPrefix(ref, "./") || strings.Contains(ref, "${") {
				continue // the repository's own workflow, or text a script prints
			}
			if !pinnedUses.MatchString(ref) {
				t.Errorf("%s: uses %s, want OWNER/REPO@<40-hex commit SHA>", filepath.Base(f), ref)
			}
		}
	}
}

// TestExampleDeployWorkflow checks what the production example must show.
func TestExampleDeployWorkflow(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(root(t), "docs", "examples", "deploy.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"id-token: write", "contents: read", "environment:", "name: production",
		"uses: oidc-ecs-deploy/oidc-ecs-deploy@", "role-to-assume:", "aws-region:",
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("docs/examples/deploy.yml lacks %q", want)
		}
	}
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(root(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	for _, want := range []string{"CGO_ENABLED=0", "-tags " + BuildTags, "-trimpath", `-ldflags="-s -w"`} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile's build does not use %s", want)
		}
	}
	final, err := FinalStage(df)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := final[0], "FROM scratch"; got != want {
		t.Errorf("final stage starts %q, want %q", got, want)
	}
	for _, line := range final {
		if strings.HasPrefix(line, "RUN ") {
			t.Errorf("final stage runs %q; a scratch image has nothing to run it with", line)
		}
		if strings.HasPrefix(line, "USER ") {
			t.Errorf("final stage sets %q; GitHub runs container actions as root", line)
		}
	}
}

// TestInputsMatchConfig keeps action.yml and the program in step: the same
// inputs in the same order, each required or not, with the same default
// and the description that --help prints.
func TestInputsMatchConfig(t *testing.T) {
	t.Parallel()
	m := loadAction(t)
	data, err := os.ReadFile(filepath.Join(root(t), "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Inputs yaml.Node `yaml:"inputs"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var order []string
	for i := 0; i+1 < len(doc.Inputs.Content); i += 2 {
		order = append(order, doc.Inputs.Content[i].Value)
	}

	var want []string
	for _, in := range config.Inputs() {
		want = append(want, in.Name)
		got, ok := m.Inputs[in.Name]
		if !ok {
			t.Errorf("action.yml lacks input %s", in.Name)
			continue
		}
		if got.Required == nil || *got.Required != in.Required {
			t.Errorf("input %s: action.yml required = %v, the program says %v", in.Name, deref(got.Required), in.Required)
		}
		if !in.Required && (got.Default == nil || *got.Default != in.Default) {
			t.Errorf("input %s: action.yml default = %q, the program's default = %q", in.Name, derefString(got.Default), in.Default)
		}
		if g, w := strings.Join(strings.Fields(got.Description), " "), strings.Join(strings.Fields(in.Description), " "); g != w {
			t.Errorf("input %s: action.yml description\n\t%s\nthe program's (config.Inputs)\n\t%s", in.Name, g, w)
		}
	}
	if !slices.Equal(order, want) {
		t.Errorf("action.yml inputs, in order:\n\t%v\nthe program's:\n\t%v", order, want)
	}
}

func deref(b *bool) any {
	if b == nil {
		return "unset"
	}
	return *b
}

func derefString(s *string) string {
	if s == nil {
		return "(unset)"
	}
	return *s
}

// TestREADMEDocumentsEveryInputAndOutput: the README's tables list every
// input and output that action.yml declares, and nothing that it does not.
func TestREADMEDocumentsEveryInputAndOutput(t *testing.T) {
	t.Parallel()
	m := loadAction(t)
	data, err := os.ReadFile(filepath.Join(root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	rows := map[string]bool{}
	for _, r := range regexp.MustCompile("(?m)^\\| `([a-z-]+)` \\|").FindAllStringSubmatch(readme, -1) {
		rows[r[1]] = true
	}
	for name := range m.Inputs {
		if !rows[name] {
			t.Errorf("README.md has no table row for input %s", name)
		}
	}
	for name := range m.Outputs {
		if !rows[name] {
			t.Errorf("README.md has no table row for output %s", name)
		}
	}
	for name := range rows {
		_, in := m.Inputs[name]
		_, out := m.Outputs[name]
		if !in && !out {
			t.Errorf("README.md documents %s, which action.yml does not declare", name)
		}
	}
	for _, want := range []string{"make demo", "make test", "make bench", "id-token: write"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md does not mention %q", want)
		}
	}
}

// workflowDoc is the part of a workflow file the hardening rules read.
type workflowDoc struct {
	Jobs map[string]struct {
		Container any `yaml:"container"`
		Steps     []struct {
			Name string            `yaml:"name"`
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			With map[string]string `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// digestPinned is an image reference pinned by a sha256 digest.
var digestPinned = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)

// TestWorkflowsHardened: no expression is expanded inside a script (values
// reach scripts through env:, so none can inject shell or a workflow
// command), no checkout leaves a token in .git/config, and every container
// image is pinned by digest.
func TestWorkflowsHardened(t *testing.T) {
	t.Parallel()
	for _, f := range workflowFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc workflowDoc
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		name := filepath.Base(f)
		for jobName, job := range doc.Jobs {
			image := ""
			switch c := job.Container.(type) {
			case string:
				image = c
			case map[string]any:
				image, _ = c["image"].(string)
			}
			if image != "" && !digestPinned.MatchString(image) {
				t.Errorf("%s: job %s runs in %s, want it pinned by @sha256:<digest>", name, jobName, image)
			}
			for i, step := range job.Steps {
				if strings.Contains(step.Run, "${{") {
					t.Errorf("%s: job %s, step %d (%s) expands ${{ }} in its script; pass the value through env:", name, jobName, i+1, step.Name)
				}
				if strings.HasPrefix(step.Uses, "actions/checkout@") && step.With["persist-credentials"] != "false" {
					t.Errorf("%s: job %s, step %d checks out without persist-credentials: false", name, jobName, i+1)
				}
			}
		}
	}
}

// TestDockerfileBaseImagesPinned: every FROM that is not scratch or an
// earlier stage names its image by digest.
func TestDockerfileBaseImagesPinned(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(root(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	stages := map[string]bool{"scratch": true}
	froms := 0
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || !strings.EqualFold(fields[0], "FROM") {
			continue
		}
		froms++
		args := fields[1:]
		for len(args) > 0 && strings.HasPrefix(args[0], "--") {
			args = args[1:]
		}
		if len(args) == 0 {
			t.Fatalf("FROM line %q names no image", line)
		}
		if image := args[0]; !stages[image] && !digestPinned.MatchString(image) {
			t.Errorf("the Dockerfile builds FROM %s, want it pinned by @sha256:<digest> (keep the tag: golang:1.26@sha256:...)", image)
		}
		if len(args) == 3 && strings.EqualFold(args[1], "AS") {
			stages[args[2]] = true
		}
	}
	if froms == 0 {
		t.Error("the Dockerfile has no FROM line")
	}
}
