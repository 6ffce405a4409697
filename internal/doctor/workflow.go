package doctor

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Workflow is a GitHub Actions workflow file, read for what doctor checks.
type Workflow struct {
	// Path is the file, as given.
	Path string
	// permissions is the workflow-level permissions node, nil when absent,
	// and permissionsLine the line of its key.
	permissions     *yaml.Node
	permissionsLine int
	// on is the triggers node.
	on *yaml.Node
	// Jobs in file order.
	Jobs []*Job
}

// Job is one job of a workflow.
type Job struct {
	// ID is the job's key under jobs:.
	ID   string
	Line int
	// permissions is the job-level permissions node, nil when absent,
	// and permissionsLine the line of its key.
	permissions     *yaml.Node
	permissionsLine int
	// environment is the environment node (a name, or a map with name).
	environment *yaml.Node
	// Uses is a reusable workflow the job calls, when it does.
	Uses *Use
	// Steps are the job's steps that use an action.
	Steps []Use
}

// Use is one uses: of a workflow: an action a step runs or a reusable
// workflow a job calls.
type Use struct {
	// Ref is what uses: says, e.g. actions/checkout@v4.
	Ref  string
	Line int
	// With are the step's inputs whose values are plain text (those with
	// expressions are left out: their value is known only in the run).
	With map[string]string
}

// ParseWorkflow reads a workflow file.
func ParseWorkflow(path string, data []byte) (*Workflow, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s is not YAML: %w", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s is not a workflow: it is not a YAML mapping", path)
	}
	root := doc.Content[0]
	w := &Workflow{Path: path, on: mapValue(root, "on")}
	w.permissions, w.permissionsLine = mapEntry(root, "permissions")
	jobs := mapValue(root, "jobs")
	if jobs == nil || jobs.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s is not a workflow: it has no jobs:", path)
	}
	for i := 0; i+1 < len(jobs.Content); i += 2 {
		key, body := jobs.Content[i], jobs.Content[i+1]
		j := &Job{ID: key.Value, Line: key.Line, environment: mapValue(body, "environment")}
		j.permissions, j.permissionsLine = mapEntry(body, "permissions")
		if u := mapValue(body, "uses"); u != nil {
			j.Uses = &Use{Ref: u.Value, Line: u.Line}
		}
		if steps := mapValue(body, "steps"); steps != nil {
			for _, st := range steps.Content {
				u := mapValue(st, "uses")
				if u == nil {
					continue
				}
				use := Use{Ref: u.Value, Line: u.Line, With: map[string]string{}}
				if with := mapValue(st, "with"); with != nil && with.Kind == yaml.MappingNode {
					for k := 0; k+1 < len(with.Content); k += 2 {
						if v := with.Content[k+1]; v.Kind == yaml.ScalarNode && !strings.Contains(v.Value, "${{") {
							use.With[with.Content[k].Value] = v.Value
						}
					}
				}
				j.Steps = append(j.Steps, use)
			}
		}
		w.Jobs = append(w.Jobs, j)
	}
	return w, nil
}

// mapValue returns the value of key in a mapping node, nil when absent.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	v, _ := mapEntry(n, key)
	return v
}

// mapEntry returns the value of key in a mapping node and the key's line;
// nil when absent.
func mapEntry(n *yaml.Node, key string) (*yaml.Node, int) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1], n.Content[i].Line
		}
	}
	return nil, 0
}

// actionPattern recognises a step that runs this action: by repository
// (OWNER/oidc-ecs-deploy@REF) or by image (docker://.../oidc-ecs-deploy...).
var actionPattern = regexp.MustCompile(`(?:^|/)oidc-ecs-deploy(?:@|:|/|$)`)

// DeployStep is the job's step that runs this action, nil when none does.
func (j *Job) DeployStep() *Use {
	for i := range j.Steps {
		if actionPattern.MatchString(j.Steps[i].Ref) {
			return &j.Steps[i]
		}
	}
	return nil
}

// DeployJobs are the jobs that run this action, or the one named.
func (w *Workflow) DeployJobs(name string) ([]*Job, error) {
	var out []*Job
	for _, j := range w.Jobs {
		if name != "" && j.ID == name || name == "" && j.DeployStep() != nil {
			out = append(out, j)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	if name != "" {
		ids := make([]string, len(w.Jobs))
		for i, j := range w.Jobs {
			ids[i] = j.ID
		}
		return nil, fmt.Errorf("%s has no job %q; its jobs are %s", w.Path, name, strings.Join(ids, ", "))
	}
	return nil, errors.New("no job of " + w.Path + " runs oidc-ecs-deploy: name the deploy job with --job")
}

// Environment is the job's environment name; expr is set when it is an
// expression, known only in the run.
func (j *Job) Environment() (name string, expr bool) {
	n := j.environment
	if n == nil {
		return "", false
	}
	if n.Kind == yaml.MappingNode {
		n = mapValue(n, "name")
		if n == nil {
			return "", false
		}
	}
	return n.Value, strings.Contains(n.Value, "${{")
}

// Subject is a sub claim the deploy job's token may carry.
type Subject struct {
	// Value is the claim; a * stands for what the workflow does not fix
	// (a branch pattern, the branch a manual run is started on).
	Value string `json:"value"`
	// Why says what gives it: the environment or a trigger.
	Why string `json:"why"`
}

// Exact reports whether the subject is one value, not a pattern.
func (s Subject) Exact() bool { return !strings.ContainsAny(s.Value, "*?") }

// Subjects are the sub claims the job's token may carry under GitHub's
// default subject template: the environment's when the job has one;
// otherwise one per trigger (the branches and tags a push runs for, pull
// requests, and any branch for manual, scheduled and other runs).
func (w *Workflow) Subjects(j *Job, repository string) []Subject {
	prefix := "repo:" + repository + ":"
	if env, expr := j.Environment(); env != "" {
		if expr {
			return []Subject{{Value: prefix + "environment:*", Why: "the environment is an expression, known only in the run"}}
		}
		return []Subject{{Value: prefix + "environment:" + env, Why: "the job runs in environment " + env}}
	}
	var out []Subject
	add := func(value, why string) {
		for _, s := range out {
			if s.Value == value {
				return
			}
		}
		out = append(out, Subject{Value: value, Why: why})
	}
	for _, ev := range events(w.on) {
		switch ev.name {
		case "push":
			branches, tags := filters(ev.node, "branches"), filters(ev.node, "tags")
			ignoresBranches, ignoresTags := mapValue(ev.node, "branches-ignore") != nil, mapValue(ev.node, "tags-ignore") != nil
			anyFilter := branches != nil || tags != nil || ignoresBranches || ignoresTags
			for _, b := range branches {
				add(prefix+"ref:refs/heads/"+b, "a push to branch "+b)
			}
			if ignoresBranches || !anyFilter {
				add(prefix+"ref:refs/heads/*", "a push to any branch")
			}
			for _, t := range tags {
				add(prefix+"ref:refs/tags/"+t, "a push of tag "+t)
			}
			if ignoresTags || !anyFilter {
				add(prefix+"ref:refs/tags/*", "a push of any tag")
			}
		case "pull_request", "pull_request_target":
			add(prefix+"pull_request", "a "+ev.name+" event")
		case "release", "create":
			add(prefix+"ref:refs/tags/*", "a "+ev.name+" event, for its tag")
		default:
			add(prefix+"ref:refs/heads/*", "a "+ev.name+" event, on the branch it runs for")
		}
	}
	return out
}

// event is one trigger under on:.
type event struct {
	name string
	node *yaml.Node
}

func events(on *yaml.Node) []event {
	if on == nil {
		return nil
	}
	switch on.Kind {
	case yaml.ScalarNode:
		return []event{{name: on.Value}}
	case yaml.SequenceNode:
		var out []event
		for _, n := range on.Content {
			out = append(out, event{name: n.Value})
		}
		return out
	case yaml.MappingNode:
		var out []event
		for i := 0; i+1 < len(on.Content); i += 2 {
			out = append(out, event{name: on.Content[i].Value, node: on.Content[i+1]})
		}
		return out
	}
	return nil
}

// filters reads a push filter (branches, tags) as IAM patterns: GitHub's
// ** and * both become *, character classes and + become *, and negated
// patterns (which only narrow) are left out. nil when the filter is absent.
func filters(n *yaml.Node, key string) []string {
	f := mapValue(n, key)
	if f == nil {
		return nil
	}
	var values []string
	if f.Kind == yaml.ScalarNode {
		values = []string{f.Value}
	}
	for _, c := range f.Content {
		values = append(values, c.Value)
	}
	out := []string{}
	for _, v := range values {
		if strings.HasPrefix(v, "!") {
			continue
		}
		v = strings.ReplaceAll(v, "**", "*")
		v = filterClass.ReplaceAllString(v, "*")
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

var (
	shaPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)
	// filterClass is a character class or a +, in a branch or tag filter.
	filterClass = regexp.MustCompile(`\[[^\]]*\]|\+`)
)

// unpinned reports whether a uses: reference is not pinned to something
// immutable: a commit SHA for actions and reusable workflows, a digest for
// docker:// images. Actions of the same repository (./path) are pinned by
// the run's own commit.
func unpinned(ref string) bool {
	if strings.HasPrefix(ref, "./") {
		return false
	}
	if img, ok := strings.CutPrefix(ref, "docker://"); ok {
		return !strings.Contains(img, "@sha256:")
	}
	_, version, ok := strings.Cut(ref, "@")
	return !ok || !shaPattern.MatchString(version)
}

// pinFix says how to pin one reference.
func pinFix(u Use) string {
	if img, ok := strings.CutPrefix(u.Ref, "docker://"); ok {
		return fmt.Sprintf("line %d: %s: pin the image by digest, docker://%s@sha256:<digest> (`docker buildx imagetools inspect %s` prints it)", u.Line, u.Ref, strings.SplitN(img, ":", 2)[0], img)
	}
	repo, version, _ := strings.Cut(u.Ref, "@")
	owner, name, _ := strings.Cut(repo, "/")
	name, _, _ = strings.Cut(name, "/")
	if version == "" {
		version = "HEAD"
	}
	return fmt.Sprintf("line %d: %s: pin it to the commit %s points at, keeping the version as a comment: uses: %s@<40-hex commit SHA> # %s (`git ls-remote https://github.com/%s/%s %s` prints the SHA)",
		u.Line, u.Ref, version, repo, version, owner, name, version)
}

// WorkflowOptions say what to check in a workflow.
type WorkflowOptions struct {
	// Job names the deploy job; empty: the jobs that run oidc-ecs-deploy.
	Job string
	// Repository is OWNER/REPO, for the sub; OWNER/REPO when unknown.
	Repository string
}

// CheckWorkflow checks the deploy job of a workflow: it may request an OIDC
// token at job level (id-token: write, not write-all), it runs in an
// environment, and every action of the workflow is pinned by commit SHA.
// It returns the deploy jobs found.
func CheckWorkflow(r *Report, w *Workflow, opts WorkflowOptions) []*Job {
	r.Workflow = w.Path
	jobs, err := w.DeployJobs(opts.Job)
	if err != nil {
		r.add(Check{ID: "workflow.deploy-job", Title: "a job of the workflow runs oidc-ecs-deploy", Detail: err.Error(),
			Fix: "give --job the name of the job that deploys, or use the action in one of the workflow's jobs"})
		return nil
	}
	repo := opts.Repository
	if repo == "" {
		repo = "OWNER/REPO"
	}
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.ID
		prefix := ""
		if len(jobs) > 1 {
			prefix = "job " + j.ID + ": "
		}
		r.add(checkIDToken(w, j, prefix))
		r.add(checkEnvironment(j, prefix, repo))
		r.Subjects = append(r.Subjects, w.Subjects(j, repo)...)
	}
	r.Job = strings.Join(names, ", ")
	r.add(checkPinned(w))
	return jobs
}

const tokenPermissions = `permissions:
  id-token: write   # lets the job request its OIDC token
  contents: read    # what actions/checkout needs once permissions are set`

// checkIDToken: the job, and only the job, may request an OIDC token.
func checkIDToken(w *Workflow, j *Job, prefix string) Check {
	c := Check{ID: "workflow.id-token", Title: prefix + "the deploy job may request an OIDC token (permissions: id-token: write, at job level)"}
	p, line := j.permissions, j.permissionsLine
	switch {
	case p != nil && p.Kind == yaml.ScalarNode && p.Value == "write-all":
		c.Detail = fmt.Sprintf("line %d: the job has permissions: write-all, which gives its GITHUB_TOKEN every scope", line)
		c.Fix = fmt.Sprintf("replace permissions: write-all (line %d) by exactly what the job needs:\n%s", line, tokenPermissions)
	case p != nil && p.Kind == yaml.MappingNode:
		idToken := mapValue(p, "id-token")
		switch {
		case idToken == nil:
			c.Detail = fmt.Sprintf("line %d: the job's permissions do not include id-token", line)
			c.Fix = fmt.Sprintf("add under the job's permissions (line %d):\n  id-token: write", line)
		case idToken.Value != "write":
			c.Detail = fmt.Sprintf("line %d: id-token: %s", idToken.Line, idToken.Value)
			c.Fix = fmt.Sprintf("change id-token: %s (line %d) to id-token: write", idToken.Value, idToken.Line)
		default:
			c.OK = true
			c.Detail = fmt.Sprintf("line %d: id-token: write", idToken.Line)
		}
	case p != nil:
		c.Detail = fmt.Sprintf("line %d: the job has permissions: %s, which does not include id-token: write", line, p.Value)
		c.Fix = fmt.Sprintf("replace the job's permissions (line %d) by:\n%s", line, tokenPermissions)
	default:
		wp, wline := w.permissions, w.permissionsLine
		switch {
		case wp != nil && wp.Kind == yaml.ScalarNode && wp.Value == "write-all":
			c.Detail = fmt.Sprintf("line %d: the workflow has permissions: write-all, so every job gets every scope, id-token included", wline)
			c.Fix = fmt.Sprintf("set the workflow's permissions (line %d) to {} and give the job %s (line %d) its own:\n%s", wline, j.ID, j.Line, tokenPermissions)
		case wp != nil && mapValue(wp, "id-token") != nil && mapValue(wp, "id-token").Value == "write":
			c.Detail = fmt.Sprintf("line %d: id-token: write is given to the whole workflow, so every job may request a token", mapValue(wp, "id-token").Line)
			c.Fix = fmt.Sprintf("move id-token: write from the workflow's permissions (line %d) to the job %s (line %d):\n%s", wline, j.ID, j.Line, tokenPermissions)
		default:
			c.Detail = "the job has no permissions:, and a job gets no OIDC token unless it asks for id-token: write"
			c.Fix = fmt.Sprintf("add to the job %s (line %d):\n%s", j.ID, j.Line, tokenPermissions)
		}
	}
	return c
}

// checkEnvironment: the job runs in an environment, whose protection rules
// (reviewers, branches) gate who gets credentials.
func checkEnvironment(j *Job, prefix, repo string) Check {
	c := Check{ID: "workflow.environment", Title: prefix + "the deploy job runs in a GitHub environment"}
	name, expr := j.Environment()
	switch {
	case name == "":
		c.Detail = "the job has no environment:, so any run of the workflow gets the role's credentials without an approval"
		c.Fix = fmt.Sprintf("add to the job %s (line %d):\n  environment: production\nand give that environment required reviewers and a deployment branch rule (Settings → Environments); the role's trust policy then names repo:%s:environment:production", j.ID, j.Line, repo)
	case expr:
		c.OK = true
		c.Detail = fmt.Sprintf("line %d: environment: %s (an expression: the sub is known only in the run)", j.environment.Line, name)
	default:
		c.OK = true
		c.Detail = fmt.Sprintf("line %d: environment: %s", j.environment.Line, name)
	}
	return c
}

// checkPinned: every action and reusable workflow is pinned by commit SHA,
// so that what runs with the deploy job's credentials cannot change under it.
func checkPinned(w *Workflow) Check {
	c := Check{ID: "workflow.pinned", Title: "every action the workflow uses is pinned by commit SHA"}
	var all, bad []Use
	for _, j := range w.Jobs {
		if j.Uses != nil {
			all = append(all, *j.Uses)
		}
		all = append(all, j.Steps...)
	}
	for _, u := range all {
		if unpinned(u.Ref) {
			bad = append(bad, u)
		}
	}
	if len(bad) == 0 {
		c.OK = true
		c.Detail = fmt.Sprintf("%d uses:, each pinned", len(all))
		return c
	}
	var detail, fix []string
	for _, u := range bad {
		detail = append(detail, fmt.Sprintf("line %d: %s", u.Line, u.Ref))
		fix = append(fix, pinFix(u))
	}
	c.Detail = fmt.Sprintf("%d of %d uses: can change under the workflow (a tag or branch moves):\n%s", len(bad), len(all), strings.Join(detail, "\n"))
	c.Fix = strings.Join(fix, "\n")
	return c
}

// remoteURL finds a GitHub repository in a git remote URL:
// https://github.com/OWNER/REPO(.git) or git@github.com:OWNER/REPO(.git).
var remoteURL = regexp.MustCompile(`github\.com[:/]([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$`)

// RepositoryOf reads the OWNER/REPO of the checkout a workflow file is in,
// from the origin remote of its git config; "" when there is none.
func RepositoryOf(workflowPath string, readFile func(string) ([]byte, error)) string {
	dir := filepath.Dir(workflowPath)
	for {
		if data, err := readFile(filepath.Join(dir, ".git", "config")); err == nil {
			origin := false
			for _, line := range strings.Split(string(data), "\n") {
				line = strings.TrimSpace(line)
				if strings.HasPrefix(line, "[") {
					origin = line == `[remote "origin"]`
					continue
				}
				if k, v, ok := strings.Cut(line, "="); ok && origin && strings.TrimSpace(k) == "url" {
					if m := remoteURL.FindStringSubmatch(strings.TrimSpace(v)); m != nil {
						return m[1]
					}
				}
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
