package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// The minimality proof: for each mode, the generated policy runs the whole
// flow with no denial, every action it grants is used, and without any one
// of them the run fails naming it (a call the mode needs) or goes on with
// one notice naming it (a call it can do without).

const chainRole = "arn:aws:iam::444455556666:role/prod-deploy"

// proofMode is one mode: the policy command's flags, and the run of the
// action with the same inputs.
type proofMode struct {
	name string
	args func(dir string) []string
	edit func(rc *runConfig, sb *sandbox.Sandbox, dir string)
	// crashes names the image whose tasks crash in the run whose
	// deployment fails: the pushed image's digest when empty.
	crashes string
	// world edits the mode's world, when it needs more than the demo's.
	world func(w *sandbox.World)
	// outlasts, for a mode with a one-off task, is the command of a
	// one-off task that outlasts wait-for-minutes: the scenario in which
	// the run stops it.
	outlasts []string
}

// proofScenario is how a run of a mode ends.
type proofScenario int

const (
	// deploys: the run deploys, and succeeds.
	deploys proofScenario = iota
	// deploymentFails: the new revision's tasks crash, so the deployment
	// fails and its stopped tasks are read.
	deploymentFails
	// oneOffOutlasts: the one-off task runs past wait-for-minutes, and the
	// run stops it.
	oneOffOutlasts
)

func (s proofScenario) String() string {
	return [...]string{"deploys", "the deployment fails", "the one-off task outlasts the wait"}[s]
}

// scenarios are the ways a run of m ends that the proof runs.
func (m proofMode) scenarios() []proofScenario {
	if m.outlasts != nil {
		return []proofScenario{deploys, deploymentFails, oneOffOutlasts}
	}
	return []proofScenario{deploys, deploymentFails}
}

// withoutPassRoles is setupArgs less its task and execution roles.
func withoutPassRoles() []string { return setupArgs()[:len(setupArgs())-4] }

// demoRegistry is the demo account's ECR registry host, as the sandbox
// serves it and ECR names it.
const demoRegistry = "111122223333.dkr.ecr.us-east-1.amazonaws.com"

// withRepository is args with the repository input replaced.
func withRepository(args []string, repository string) []string {
	out := slices.Clone(args)
	if i := slices.Index(out, "--repository"); i >= 0 && i+1 < len(out) {
		out[i+1] = repository
	}
	return out
}

func proofModes() []proofMode {
	return []proofMode{
		{name: "default",
			args: func(string) []string { return setupArgs() },
			edit: func(*runConfig, *sandbox.Sandbox, string) {}},
		// Force mode names the repository by its URI, as the usual shell
		// job does: ecr:DescribeRepositories is not in its plan.
		{name: "force-new-deployment",
			args: func(string) []string {
				return append(withRepository(withoutPassRoles(), demoRegistry+"/web-api"), "--force-new-deployment")
			},
			edit: func(rc *runConfig, sb *sandbox.Sandbox, _ string) {
				// The service runs web-api:bootstrap: the tag pushed is the
				// one it runs, which the forced deployment pulls again.
				rc.cfg.ForceNewDeployment, rc.cfg.Tags = true, []string{"bootstrap"}
				rc.cfg.Repository = sb.RegistryHost(demoAccount) + "/web-api"
			},
			crashes: "web-api:bootstrap"},
		{name: "task-definition file",
			args: func(dir string) []string {
				return append(withoutPassRoles(), "--task-definition", proofTaskDefinition(dir, demoRegistry))
			},
			edit: func(rc *runConfig, sb *sandbox.Sandbox, dir string) {
				rc.cfg.TaskDefinition = proofTaskDefinition(dir, sb.RegistryHost(demoAccount))
			}},
		{name: "role chain",
			args: func(string) []string {
				return append(withoutPassRoles(), "--role-chain", chainRole+" external-id=acme-prod-7f3c",
					"--task-role-arn", "arn:aws:iam::444455556666:role/web-api-task",
					"--execution-role-arn", "arn:aws:iam::444455556666:role/ecsTaskExecutionRole")
			},
			edit: func(rc *runConfig, _ *sandbox.Sandbox, _ string) {
				rc.cfg.RoleChain = []config.ChainRole{{RoleARN: chainRole, ExternalID: "acme-prod-7f3c"}}
			}},
		// A migration before the deploy, in the service's network, its
		// log lines read from its awslogs group.
		{name: "run-task",
			args: func(string) []string {
				return append(setupArgs(), "--run-task", "--run-task-command", "bin/migrate up")
			},
			edit: func(rc *runConfig, _ *sandbox.Sandbox, _ string) {
				rc.cfg.RunTask, rc.cfg.RunTaskOptions.Command = true, []string{"bin/migrate", "up"}
			},
			world: func(w *sandbox.World) {
				w.Accounts[demoAccount].Commands = append(w.Accounts[demoAccount].Commands, sandbox.ECSCommand{
					Command: []string{"bin/migrate", "up", "--slow"}, Seconds: 3600, Logs: []string{"migrate: waiting for the lock"},
				})
			},
			outlasts: []string{"bin/migrate", "up", "--slow"}},
		// Housekeeping: the family has an old revision nothing runs, and
		// another service of the cluster runs the first.
		{name: "keep-revisions",
			args: func(string) []string { return append(setupArgs(), "--keep-revisions", "1") },
			edit: func(rc *runConfig, _ *sandbox.Sandbox, _ string) { rc.cfg.KeepRevisions = 1 },
			world: func(w *sandbox.World) {
				acct := w.Accounts[demoAccount]
				acct.TaskDefinitions = append(acct.TaskDefinitions, acct.TaskDefinitions[0])
				acct.Clusters["prod-cluster"].Services["admin-service"] = &sandbox.ServiceSpec{
					TaskDefinition: "web-api:1", DesiredCount: 1, LaunchType: "FARGATE",
				}
			}},
	}
}

// proofTaskDefinition writes the task definition file of the file mode,
// with tags (which ecs:TagResource keeps), images on host.
func proofTaskDefinition(dir, host string) string {
	td := map[string]any{
		"family": "web-api", "networkMode": "awsvpc", "requiresCompatibilities": []string{"FARGATE"}, "cpu": "256", "memory": "512",
		"executionRoleArn": "arn:aws:iam::111122223333:role/ecsTaskExecutionRole",
		"taskRoleArn":      "arn:aws:iam::111122223333:role/web-api-task",
		"containerDefinitions": []map[string]any{
			{"name": "web", "image": host + "/web-api:bootstrap", "essential": true,
				"portMappings": []map[string]any{{"containerPort": 8080, "protocol": "tcp"}}},
		},
		"tags": []map[string]string{{"key": "team", "value": "payments"}},
	}
	data, err := json.Marshal(td)
	if err != nil {
		panic(err)
	}
	path := filepath.Join(dir, "task-definition-"+strings.NewReplacer(".", "-", ":", "-").Replace(host)+".json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		panic(err)
	}
	return path
}

// proofGrant is one action of the generated policy: the role it is granted
// to and the call it is for.
type proofGrant struct {
	role string
	call policy.Call
}

// grantsOf lists the plan's grants, reading each statement's Sid back to
// its call.
func grantsOf(tb testing.TB, plan *planOutput) []proofGrant {
	tb.Helper()
	var out []proofGrant
	for _, r := range plan.Roles {
		if r.PermissionsPolicy == nil {
			continue
		}
		for _, st := range r.PermissionsPolicy.Statement {
			for _, a := range st.Action {
				i := slices.IndexFunc(policy.Calls(), func(c policy.Call) bool { return c.Sid == st.Sid && c.Action == a })
				if i < 0 {
					tb.Fatalf("statement %s grants %s, which no call makes", st.Sid, a)
				}
				out = append(out, proofGrant{role: r.RoleARN, call: policy.Calls()[i]})
			}
		}
	}
	return out
}

var roleARNParts = regexp.MustCompile(`^arn:aws:iam::(\d{12}):role/(?:.*/)?([^/]+)$`)

// installPlan gives the world's roles exactly the plan's trust policies and
// permissions, less the grant without (on the role withoutRole): its action
// in its statement.
func installPlan(tb testing.TB, w *sandbox.World, plan *planOutput, withoutRole string, without policy.Call) {
	tb.Helper()
	for _, r := range plan.Roles {
		m := roleARNParts.FindStringSubmatch(r.RoleARN)
		role := &sandbox.Role{TrustPolicy: asWorldDocument(tb, r.TrustPolicy)}
		if r.PermissionsPolicy != nil {
			doc := *r.PermissionsPolicy
			doc.Statement = nil
			for _, st := range r.PermissionsPolicy.Statement {
				if r.RoleARN == withoutRole && st.Sid == without.Sid {
					st.Action = slices.DeleteFunc(slices.Clone(st.Action), func(a string) bool { return a == without.Action })
				}
				if len(st.Action) > 0 {
					doc.Statement = append(doc.Statement, st)
				}
			}
			if len(doc.Statement) > 0 {
				role.Policies = map[string]sandbox.PolicyDocument{policy.InlinePolicyName: asWorldDocument(tb, doc)}
			}
		}
		w.Accounts[m[1]].Roles[m[2]] = role
	}
}

// proofRun is one run of a mode and what the sandbox decided on the way.
type proofRun struct {
	actionRun
	// allowed are the actions the plan's roles were allowed, denied those
	// they were refused.
	allowed, denied []string
}

// runProof runs a mode with the plan installed less one grant, to end as
// the scenario says.
func runProof(t *testing.T, m proofMode, plan *planOutput, withoutRole string, without policy.Call, scenario proofScenario) proofRun {
	t.Helper()
	dir := t.TempDir()
	w := sandbox.DemoWorld()
	fastWorld(w)
	if m.world != nil {
		m.world(w)
	}
	installPlan(t, w, plan, withoutRole, without)
	sb := sandboxtest.StartWorld(t, w, sandbox.Options{})
	if scenario == deploymentFails {
		image, err := demoImage(sb.Env()["GITHUB_SHA"])
		if err != nil {
			t.Fatal(err)
		}
		digest, err := image.Digest()
		if err != nil {
			t.Fatal(err)
		}
		crashes := m.crashes
		if crashes == "" {
			crashes = digest.String()
		}
		sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "task-crash", Image: crashes})
	}
	run := runInActions(t, sb, func(rc *runConfig) {
		m.edit(rc, sb, dir)
		if scenario == oneOffOutlasts {
			rc.cfg.RunTaskOptions.Command, rc.cfg.WaitForMinutes = m.outlasts, 1
		}
	})
	pr := proofRun{actionRun: run}
	var roles []string
	for _, r := range plan.Roles {
		roles = append(roles, "/"+roleARNParts.FindStringSubmatch(r.RoleARN)[2]+"/")
	}
	for _, d := range sb.Decisions() {
		if d.Trust || !slices.ContainsFunc(roles, func(r string) bool { return strings.Contains(d.Caller, ":assumed-role"+r) }) {
			continue
		}
		if d.Allowed {
			pr.allowed = append(pr.allowed, d.Action)
		} else {
			pr.denied = append(pr.denied, d.Action+" on "+d.Resource)
		}
	}
	return pr
}

// TestGeneratedPoliciesAreSufficientAndMinimal is the proof, for every mode.
// It prints the table of what each action is needed for, by mode.
func TestGeneratedPoliciesAreSufficientAndMinimal(t *testing.T) {
	t.Parallel()
	modes := proofModes()
	var mu sync.Mutex
	// results[action+" "+sid][mode] is what removing the action did.
	results := map[string]map[string]string{}
	record := func(g proofGrant, mode, what string) {
		mu.Lock()
		defer mu.Unlock()
		key := g.call.Action + "\x00" + g.call.Sid
		if results[key] == nil {
			results[key] = map[string]string{}
		}
		results[key][mode] = what
	}
	t.Cleanup(func() {
		t.Logf("what each action of the generated policy is needed for, by mode:\n%s", proofTable(modes, results))
	})

	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			plan := readPlan(t, m.args(t.TempDir())...)
			grants := grantsOf(t, plan)

			// The whole flow, with the generated policy: no denial in any
			// scenario, and every grant used in one of them.
			runs := map[proofScenario]proofRun{}
			for _, sc := range m.scenarios() {
				run := runProof(t, m, plan, "", policy.Call{}, sc)
				if (run.err != nil) != (sc != deploys) || len(run.denied) > 0 || (run.err != nil && strings.Contains(run.err.Error(), "what to change")) {
					t.Fatalf("with the generated policy, when %s: %v; denied %v\n%s", sc, run.err, run.denied, run.log)
				}
				runs[sc] = run
			}
			// usedIn is the first scenario whose run calls the grant's action.
			usedIn := func(g proofGrant) (proofScenario, bool) {
				for _, sc := range m.scenarios() {
					if slices.Contains(runs[sc].allowed, g.call.Action) {
						return sc, true
					}
				}
				return 0, false
			}
			for _, g := range grants {
				if _, ok := usedIn(g); !ok {
					t.Errorf("%s (%s) is granted but never called", g.call.Action, g.call.Sid)
				}
			}

			for _, g := range grants {
				t.Run(g.call.Action+"_"+g.call.Sid, func(t *testing.T) {
					t.Parallel()
					scenario, _ := usedIn(g)
					run := runProof(t, m, plan, g.role, g.call, scenario)
					notices := strings.Count(run.log, "::notice::"+g.call.Action+" is not allowed on")
					for _, d := range run.denied {
						if !strings.HasPrefix(d, g.call.Action+" on ") {
							t.Errorf("without %s (%s), %s was denied too", g.call.Action, g.call.Sid, d)
						}
					}
					if len(run.denied) == 0 {
						t.Fatalf("without %s (%s) nothing was denied: it is not needed", g.call.Action, g.call.Sid)
					}
					if g.call.Required() {
						if run.err == nil || !strings.Contains(run.err.Error()+run.log, g.call.Action) {
							t.Fatalf("without %s: %v, want a failure naming it\n%s", g.call.Action, run.err, run.log)
						}
						record(g, m.name, "required: the run fails, naming it")
						return
					}
					if notices != 1 {
						t.Errorf("without %s: %d notices naming it, want 1\n%s", g.call.Action, notices, run.log)
					}
					if (run.err != nil) != (scenario != deploys) {
						t.Errorf("without %s: %v, want the run to end as it does with the permission (%s)", g.call.Action, run.err, scenario)
					}
					record(g, m.name, "optional: one notice")
				})
			}
		})
	}
}

// proofTable is the mode × action table of what removing each action did.
func proofTable(modes []proofMode, results map[string]map[string]string) string {
	var b strings.Builder
	b.WriteString("| action | needed for |")
	for _, m := range modes {
		b.WriteString(" " + m.name + " |")
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(modes)) + "\n")
	printed := map[string]bool{}
	for _, c := range policy.Calls() {
		key := c.Action + "\x00" + c.Sid
		row, ok := results[key]
		if !ok || printed[key] {
			continue
		}
		printed[key] = true
		fmt.Fprintf(&b, "| %s | %s |", c.Action, c.For)
		for _, m := range modes {
			cell := row[m.name]
			if cell == "" {
				cell = "—"
			}
			b.WriteString(" " + cell + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestTheGuidesPolicyInForceMode: a role with the policy of the usual
// docker push and aws ecs update-service job deploys in force mode and
// watches to the end, with one notice per optional permission it lacks and
// no error. With the repository's URI (how that job and most workflows
// name it) the run reaches for three optional permissions; with a bare
// name, for ecr:DescribeRepositories too.
func TestTheGuidesPolicyInForceMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		repository func(sb *sandbox.Sandbox) string
		optional   []string
	}{
		{"repository_uri", func(sb *sandbox.Sandbox) string { return sb.RegistryHost(demoAccount) + "/web-api" },
			[]string{"ecr:BatchGetImage", "ecs:DescribeTaskDefinition", "ecs:DescribeServiceDeployments"}},
		{"repository_name", func(*sandbox.Sandbox) string { return "web-api" },
			[]string{"ecr:DescribeRepositories", "ecr:BatchGetImage", "ecs:DescribeTaskDefinition", "ecs:DescribeServiceDeployments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := sandbox.DemoWorld()
			fastWorld(w)
			w.Accounts[demoAccount].Roles["gha-deploy"].Permissions = sandbox.PolicyDocument{Version: "2012-10-17", Statement: []sandbox.Statement{
				{Effect: "Allow", Resource: sandbox.StringList{"*"}, Action: sandbox.StringList{
					"ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
					"ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"}},
				{Effect: "Allow", Resource: sandbox.StringList{"arn:aws:ecs:us-east-1:111122223333:service/prod-cluster/api-service"},
					Action: sandbox.StringList{"ecs:DescribeServices", "ecs:UpdateService"}},
			}}
			sb := sandboxtest.StartWorld(t, w, sandbox.Options{})
			repository := tt.repository(sb)
			run := runInActions(t, sb, func(rc *runConfig) {
				rc.cfg.ForceNewDeployment, rc.cfg.Tags = true, []string{"bootstrap"}
				rc.cfg.Repository = repository
			})
			t.Logf("log:\n%s", run.log)
			if run.err != nil || len(run.res.Services) != 1 || run.res.Services[0].Outcome != deploy.OutcomeSucceeded {
				t.Fatalf("the guide's policy, force mode, repository %s: %v, %+v", repository, run.err, run.res.Services)
			}
			if strings.Contains(run.log, "::error") || strings.Contains(run.log, "::warning") {
				t.Errorf("the log has an error or a warning")
			}
			if got, want := run.outputs["image-uri"], demoRegistry+"/web-api:bootstrap"; got != want {
				t.Errorf("image-uri = %q, want %q", got, want)
			}
			for _, action := range tt.optional {
				if n := strings.Count(run.log, "::notice::"+action+" is not allowed on"); n != 1 {
					t.Errorf("%d notices naming %s, want 1", n, action)
				}
			}
			if n := strings.Count(run.log, "::notice::"); n != len(tt.optional) {
				t.Errorf("%d notices, want %d (one per optional permission the run reached for)", n, len(tt.optional))
			}
			// No call the guide's policy lacks was made but these.
			var denied []string
			for _, d := range sb.Decisions() {
				if !d.Allowed && !d.Trust {
					denied = append(denied, d.Action)
				}
			}
			slices.Sort(denied)
			want := slices.Sorted(slices.Values(tt.optional))
			if diff := cmp.Diff(want, slices.Compact(denied)); diff != "" {
				t.Errorf("the actions denied (-want +got):\n%s", diff)
			}
		})
	}
}
