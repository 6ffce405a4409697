package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction/ghactiontest"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// alarmedBlueGreen makes api-service a BLUE_GREEN service whose deployment
// alarm goes off during its bake time, and worker-service a rolling one.
func alarmedBlueGreen(w *sandbox.World) {
	fastWorld(w)
	w.ECS.MinuteSeconds = 1
	svc := w.Accounts["111122223333"].Clusters["prod-cluster"].Services["api-service"]
	bake := 1
	svc.Strategy, svc.BakeTimeInMinutes = "BLUE_GREEN", &bake
	svc.Alarms = &sandbox.DeploymentAlarms{AlarmNames: []string{"api-5xx"}, Enable: true, Rollback: true}
}

// inChina moves the world to cn-north-1: every ARN of its roles, policies
// and providers to the aws-cn partition.
func inChina(w *sandbox.World) {
	data, err := json.Marshal(w)
	if err != nil {
		panic(err)
	}
	data = []byte(strings.NewReplacer("arn:aws:", "arn:aws-cn:", "us-east-1", "cn-north-1").Replace(string(data)))
	*w = sandbox.World{}
	if err := json.Unmarshal(data, w); err != nil {
		panic(err)
	}
}

// summaryChart reads the summary's one Mermaid chart as Mermaid does.
func summaryChart(tb testing.TB, summary string) *ghactiontest.Gantt {
	tb.Helper()
	charts := ghactiontest.CodeBlocks(summary, "mermaid")
	if len(charts) != 1 {
		tb.Fatalf("%d mermaid charts in the summary, want 1:\n%s", len(charts), summary)
	}
	g, err := ghactiontest.ParseGantt(charts[0])
	if err != nil {
		tb.Fatalf("the chart is not a well-formed gantt: %v\n%s", err, charts[0])
	}
	return g
}

// TestSummaryOfTwoServicesOneFailing runs two services, one of which
// ECS rolls back when its alarm goes off in the bake time: the summary
// renders, its timeline holds every phase in order with the failed ones
// marked, its links are the region's console pages, and the audit trail
// names the session and the token's claims.
func TestSummaryOfTwoServicesOneFailing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		world   func(*sandbox.World)
		region  string
		partARN string
		console string
	}{
		{"aws", alarmedBlueGreen, "us-east-1", "arn:aws:", "https://us-east-1.console.aws.amazon.com/"},
		{"aws_cn", func(w *sandbox.World) { alarmedBlueGreen(w); inChina(w) }, "cn-north-1", "arn:aws-cn:", "https://cn-north-1.console.amazonaws.cn/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sb := sandboxtest.Start(t, tt.world)
			sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "alarm", Stage: "BAKE_TIME", Times: 1})
			run := runInActions(t, sb, func(rc *runConfig) {
				rc.cfg.RoleToAssume = tt.partARN + "iam::111122223333:role/gha-deploy"
				rc.cfg.AWSRegion = tt.region
				rc.cfg.Services = []string{"api-service", "worker-service"}
			})
			if run.err == nil {
				t.Fatalf("the run succeeded, want api-service rolled back:\n%s", run.log)
			}
			t.Logf("summary:\n%s", run.summary)
			byService := map[string]ServiceResult{}
			for _, s := range run.res.Services {
				byService[s.Service] = s
			}
			if byService["api-service"].Failure == "" || byService["worker-service"].Failure != "" {
				t.Fatalf("results %+v, want api-service failed and worker-service succeeded", run.res.Services)
			}

			// The markdown renders; the only links are the console's.
			html, err := ghactiontest.HTML(run.summary)
			if err != nil {
				t.Fatal(err)
			}
			for _, href := range strings.Split(html, `<a href="`)[1:] {
				if !strings.HasPrefix(href, tt.console) {
					t.Errorf("a link elsewhere than %s: %s", tt.console, href[:min(len(href), 120)])
				}
			}
			digest := run.res.ImageDigest
			for _, want := range []string{
				tt.console + "cloudtrailv2/home?region=" + tt.region + "#/events?Username=acme-web-api-9876543210-1",
				tt.console + "ecr/repositories/private/111122223333/web-api/_/image/" + digest + "/details?region=" + tt.region,
				tt.console + "ecs/v2/clusters/prod-cluster/services/api-service/deployments?region=" + tt.region,
				tt.console + "ecs/v2/clusters/prod-cluster/services/worker-service/deployments?region=" + tt.region,
				tt.console + "ecs/v2/task-definitions/web-api/2/containers?region=" + tt.region,
				tt.console + "ecs/v2/task-definitions/web-worker/2/containers?region=" + tt.region,
			} {
				if !strings.Contains(html, `<a href="`+strings.ReplaceAll(want, "&", "&amp;")+`">`) {
					t.Errorf("the summary lacks a link to %s", want)
				}
			}
			for _, want := range []string{
				"aws cloudtrail lookup-events --region " + tt.region + " --lookup-attributes AttributeKey=Username,AttributeValue=acme-web-api-9876543210-1",
				"aws ecs describe-service-deployments --region " + tt.region + " --service-deployment-arns " + byService["api-service"].ServiceDeploymentARN,
				"aws ecs describe-service-deployments --region " + tt.region + " --service-deployment-arns " + byService["worker-service"].ServiceDeploymentARN,
				"| Token sub | `repo:acme/web-api:environment:production` |",
				"| Token job\\_workflow\\_ref | `acme/web-api/.github/workflows/deploy.yml@refs/heads/main` |",
				"| Token environment | `production` |",
				"| Session | `" + tt.partARN + "sts::111122223333:assumed-role/gha-deploy/acme-web-api-9876543210-1` |",
				"| Credentials expire | ",
				"| `111122223333` | role\\-to\\-assume",
			} {
				if !strings.Contains(run.summary, want) {
					t.Errorf("the summary lacks %q", want)
				}
			}
			if got, want := run.outputs[OutputCloudTrailURL], tt.console+"cloudtrailv2/home?region="+tt.region+"#/events?Username=acme-web-api-9876543210-1"; got != want {
				t.Errorf("cloudtrail-url = %q, want %q", got, want)
			}
			if got := run.outputs[OutputDeploymentURL]; got != byService["api-service"].DeploymentURL || !strings.HasPrefix(got, tt.console) {
				t.Errorf("deployment-url = %q, want api-service's deployments page", got)
			}

			// The timeline: a well-formed gantt with every phase, in order.
			g := summaryChart(t, run.summary)
			var names []string
			for _, task := range g.Tasks {
				names = append(names, task.Section+"/"+task.Name)
				if task.End.Before(task.Start) {
					t.Errorf("%s/%s ends before it starts", task.Section, task.Name)
				}
			}
			find := func(prefix string) ghactiontest.GanttTask {
				t.Helper()
				for _, task := range g.Tasks {
					if strings.HasPrefix(task.Section+"/"+task.Name, prefix) {
						return task
					}
				}
				t.Fatalf("the timeline has no %s: %v", prefix, names)
				return ghactiontest.GanttTask{}
			}
			token, creds := find("Authenticate/ID token"), find("Authenticate/credentials")
			prep, tags := find("Push/image, login, tags read"), find("Push/manifest and tags")
			layer := find("Push/layer")
			reg := find("Register/register web-api")
			apiRollout, workerRollout := find("api-service/rollout failed"), find("worker-service/rollout succeeded")
			bake := find("api-service/BAKE_TIME")
			steps := []ghactiontest.GanttTask{token, creds, prep, layer, tags, reg, apiRollout}
			for i := 1; i < len(steps); i++ {
				if steps[i].Start.Before(steps[i-1].Start) {
					t.Errorf("%s starts at %s, before %s at %s", steps[i].Name, steps[i].Start, steps[i-1].Name, steps[i-1].Start)
				}
			}
			// Each service's revision is registered at once, in parallel:
			// the worker's rollout follows its own registration, which may
			// come before the api's.
			if workerReg := find("Register/register web-worker"); workerRollout.Start.Before(workerReg.End) {
				t.Errorf("worker-service's rollout starts at %s, before its revision's registration ended at %s", workerRollout.Start, workerReg.End)
			}
			if !slices.Contains(apiRollout.Tags, "crit") || !slices.Contains(bake.Tags, "crit") || slices.Contains(workerRollout.Tags, "crit") {
				t.Errorf("tags: api rollout %v, BAKE_TIME %v, worker rollout %v; want the failed ones crit", apiRollout.Tags, bake.Tags, workerRollout.Tags)
			}
			var stages []ghactiontest.GanttTask
			for _, task := range g.Tasks {
				if task.Section == "api-service" && task.Name != apiRollout.Name {
					stages = append(stages, task)
				}
			}
			if len(stages) < 3 {
				t.Errorf("api-service shows %d lifecycle stages, want its stages: %v", len(stages), names)
			}
			for i := 1; i < len(stages); i++ {
				if stages[i].Start.Before(stages[i-1].Start) || stages[i].Start.Before(apiRollout.Start) || stages[i].End.After(apiRollout.End) {
					t.Errorf("stage %s at %s..%s is out of order or outside the rollout", stages[i].Name, stages[i].Start, stages[i].End)
				}
			}
		})
	}
}

// hostileName is text a name, a status or a stage could hold if it came
// from elsewhere than ECS: Mermaid statements, markdown, HTML, commands.
const hostileName = "x :crit, t1, 0, 1\nsection evil\nclick t1 call alert(1) %%{init}%% # ; | <img src=x> `` ::error::INJECTED"

// TestTimelineOfManyServicesIsFoldedAndSafe: a run of 20 services, some
// failed, with hostile names everywhere, gives a chart of a bounded number
// of bars that Mermaid reads as intended, the failed services shown alone.
func TestTimelineOfManyServicesIsFoldedAndSafe(t *testing.T) {
	t.Parallel()
	base := time.UnixMilli(1_800_000_000_000)
	var services []ServiceResult
	for i := range 20 {
		s := ServiceResult{ServiceResult: deploy.ServiceResult{
			Service:           fmt.Sprintf("svc-%02d %s", i, hostileName),
			TaskDefinitionARN: fmt.Sprintf("arn:aws:ecs:us-east-1:111122223333:task-definition/fam-%d:%d", i%5, i),
			Outcome:           deploy.Outcome("succeeded " + hostileName),
			Registration:      deploy.Span{Start: base, End: base.Add(time.Second)},
			Deployment:        deploy.Span{Start: base.Add(2 * time.Second), End: base.Add(time.Duration(30+i) * time.Second)},
			Stages:            []deploy.Stage{{Name: "SCALE_UP " + hostileName, At: base.Add(3 * time.Second)}},
		}}
		if i%7 == 3 {
			s.Outcome, s.Failure = deploy.OutcomeFailed, "rolled back: "+hostileName
		}
		services = append(services, s)
	}
	spans := append([]span{{section: "Authenticate " + hostileName, name: "ID token " + hostileName, start: base.Add(-time.Second), end: base}},
		deploySpans(services, base.Add(time.Minute))...)
	r := ghaction.New(&strings.Builder{}, func(string) string { return "" })
	sum := r.NewSummary()
	sum.Gantt("run "+hostileName, ganttTasks(spans))
	g := summaryChart(t, sum.String())
	if n := len(g.Tasks); n > 1+timelineRevisionBars+timelineServiceBars {
		t.Errorf("%d bars for 20 services, want at most %d", n, 1+timelineRevisionBars+timelineServiceBars)
	}
	var failed, folded int
	sections := map[string]bool{}
	for _, task := range g.Tasks {
		sections[task.Section] = true
		if !strings.HasPrefix(task.Section, "Authenticate x") && task.Section != "Register" && task.Section != "Rollouts" {
			t.Errorf("a hostile name made a section of its own: %+v", task)
		}
		if task.Section == "Rollouts" && strings.HasPrefix(task.Name, "svc") && slices.Contains(task.Tags, "crit") {
			failed++
		}
		if strings.HasSuffix(task.Name, "failed") && strings.Contains(task.Name, "more services") {
			folded++
		}
	}
	if len(sections) != 3 {
		t.Errorf("sections %v, want Authenticate, Register and Rollouts", sections)
	}
	if failed != 3 {
		t.Errorf("%d failed services shown alone, want all 3:\n%s", failed, sum.String())
	}
	if folded != 1 {
		t.Errorf("no bar folds the services beyond the limit:\n%s", sum.String())
	}
	html, err := ghactiontest.HTML(sum.String())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, "<img") || strings.Count(html, "<pre>") != 1 {
		t.Errorf("the chart's text became markup:\n%s", html)
	}
}
