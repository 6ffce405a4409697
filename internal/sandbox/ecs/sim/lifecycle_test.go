package sim

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/taskdef"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/faults"
)

// publicImages is a registry of images that need no ECR: every pull works.
type publicImages struct{}

func (publicImages) Hosts(string) bool { return false }
func (publicImages) ResolveImage(context.Context, string) (string, bool, error) {
	return "", false, nil
}

// stagedService is a service of three tasks with strategy, on a scheduler
// whose faults are fs, settled at start on revision 1.
func stagedService(tb testing.TB, strategy Strategy, fs *faults.Set) (*Scheduler, *Service, *taskdef.Revision, time.Time) {
	tb.Helper()
	p, _ := partition.ForRegion("us-east-1")
	if fs == nil {
		fs = faults.NewSet(nil)
	}
	e := New(Config{Region: "us-east-1", Partition: p, Registry: publicImages{}, Faults: fs, Context: context.Background()})
	cl := NewCluster("prod", "arn:aws:ecs:us-east-1:111122223333:cluster/prod")
	svc := &Service{
		Account: "111122223333", Cluster: cl, Name: "api", ARN: "arn:aws:ecs:us-east-1:111122223333:service/prod/api",
		Status: "ACTIVE", Desired: 3, MaxPercent: 200, MinPercent: 100,
		CircuitBreaker: CircuitBreaker{Enable: true, Rollback: true},
		Timing:         Timing{Start: 200 * time.Millisecond, Stop: 200 * time.Millisecond, Crash: 100 * time.Millisecond, Stage: time.Second, Minute: time.Minute},
		Strategy:       strategy,
	}
	cl.Services["api"] = svc
	rev := func(n int) *taskdef.Revision {
		return &taskdef.Revision{Family: "web", Revision: n, Containers: []taskdef.Container{{Name: "web", Image: "public.ecr.aws/web:" + strconv.Itoa(n), Essential: true}}}
	}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e.Bootstrap(svc, rev(1), start)
	return e, svc, rev(2), start
}

// step is what the simulation showed at one moment.
type step struct {
	stage      string
	production float64
}

// runUntilDone runs the simulation in 50 ms steps from t until the
// service deployment ends, recording each change of stage or traffic, and
// calling at on every step (to act on the deployment).
func runUntilDone(tb testing.TB, e *Scheduler, svc *Service, sd *ServiceDeployment, t time.Time, at func(time.Time)) ([]step, time.Time) {
	tb.Helper()
	var seen []step
	for range 200_000 {
		e.Run(svc, t)
		if at != nil {
			at(t)
		}
		if lc := sd.Lifecycle; lc != nil {
			s := step{lc.Stage, lc.ProductionWeight}
			if len(seen) == 0 || seen[len(seen)-1] != s {
				seen = append(seen, s)
			}
		}
		switch sd.Status {
		case "SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED":
			return seen, t
		}
		t = t.Add(50 * time.Millisecond)
	}
	tb.Fatalf("service deployment still %s at %v", sd.Status, sd.Lifecycle.Stage)
	return nil, t
}

func TestStagesInOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		strategy Strategy
		want     []step
		// took is how long the deployment takes in simulated time.
		took time.Duration
	}{
		{"blue_green", Strategy{Name: BlueGreen, BakeTimeMinutes: 5}, []step{
			{StagePreScaleUp, 0}, {StageScaleUp, 0}, {StagePostScaleUp, 0}, {StageTestTrafficShift, 0}, {StagePostTestTrafficShift, 0},
			{StageProductionTrafficShift, 0}, {StageProductionTrafficShift, 100}, {StagePostProductionTrafficShift, 100}, {StageBakeTime, 100}, {StageCleanUp, 100},
		}, 5*time.Minute + 8*time.Second},
		{"canary", Strategy{Name: Canary, BakeTimeMinutes: 5, CanaryPercent: 10, CanaryBakeMinutes: 3}, []step{
			{StagePreScaleUp, 0}, {StageScaleUp, 0}, {StagePostScaleUp, 0}, {StageTestTrafficShift, 0}, {StagePostTestTrafficShift, 0},
			{StageProductionTrafficShift, 0}, {StageProductionTrafficShift, 10}, {StageProductionTrafficShift, 100}, {StagePostProductionTrafficShift, 100},
			{StageBakeTime, 100}, {StageCleanUp, 100},
		}, 8*time.Minute + 8*time.Second},
		{"linear", Strategy{Name: Linear, BakeTimeMinutes: 1, StepPercent: 30, StepBakeMinutes: 2}, []step{
			{StagePreScaleUp, 0}, {StageScaleUp, 0}, {StagePostScaleUp, 0}, {StageTestTrafficShift, 0}, {StagePostTestTrafficShift, 0},
			{StageProductionTrafficShift, 0}, {StageProductionTrafficShift, 30}, {StageProductionTrafficShift, 60}, {StageProductionTrafficShift, 90},
			{StageProductionTrafficShift, 100}, {StagePostProductionTrafficShift, 100}, {StageBakeTime, 100}, {StageCleanUp, 100},
		}, 7*time.Minute + 8*time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, svc, td, start := stagedService(t, tc.strategy, nil)
			d := e.Deploy(svc, td, start)
			seen, end := runUntilDone(t, e, svc, d.ServiceDeployment, start, nil)
			if diff := cmp.Diff(tc.want, seen, cmp.AllowUnexported(step{})); diff != "" {
				t.Errorf("stages and production traffic (-want +got):\n%s", diff)
			}
			sd := d.ServiceDeployment
			if sd.Status != "SUCCESSFUL" || svc.Primary() != d || len(svc.Deployments) != 1 || svc.CountsOf(d).Running != 3 {
				t.Errorf("deployment %s, %d deployments, %d running; want SUCCESSFUL alone with 3 tasks", sd.Status, len(svc.Deployments), svc.CountsOf(d).Running)
			}
			// Six stages of a second, the traffic shifts and bakes, the
			// tasks' start and health check and blue's drain.
			if took := sd.FinishedAt.Sub(start); took < tc.took-time.Second || took > tc.took+time.Second {
				t.Errorf("the deployment took %v in simulated time, want about %v", took, tc.took)
			}
			if end.Sub(sd.FinishedAt) > 50*time.Millisecond || end.Before(sd.FinishedAt) {
				t.Errorf("finished at %v, seen at %v: the time of a change must be when it happened", sd.FinishedAt, end)
			}
		})
	}
}

// TestGreenBesideBlue: during the bake time green and blue both run in
// full; blue stops only in CLEAN_UP.
func TestGreenBesideBlue(t *testing.T) {
	t.Parallel()
	e, svc, td, start := stagedService(t, Strategy{Name: BlueGreen, BakeTimeMinutes: 5}, nil)
	d := e.Deploy(svc, td, start)
	checked := false
	runUntilDone(t, e, svc, d.ServiceDeployment, start, func(now time.Time) {
		if d.ServiceDeployment.Lifecycle.Stage == StageBakeTime && !checked {
			checked = true
			blue := svc.Deployments[1]
			if g, b := svc.CountsOf(d).Running, svc.CountsOf(blue).Running; g != 3 || b != 3 {
				t.Errorf("during BAKE_TIME green runs %d and blue %d, want 3 each", g, b)
			}
		}
	})
	if !checked {
		t.Error("the deployment never baked")
	}
}

func TestRollbacks(t *testing.T) {
	t.Parallel()
	const fn = "arn:aws:lambda:us-east-1:111122223333:function:smoke"
	canary := Strategy{Name: Canary, BakeTimeMinutes: 5, CanaryPercent: 10, CanaryBakeMinutes: 3}
	withHooks := func(s Strategy, hooks ...Hook) Strategy { s.Hooks = hooks; return s }
	withAlarm := func(s Strategy) Strategy {
		s.Alarms = Alarms{Names: []string{"api-5xx"}, Enable: true, Rollback: true}
		return s
	}
	tests := []struct {
		name     string
		strategy Strategy
		faults   []faults.Fault
		// act acts on the deployment during the run.
		act       func(e *Scheduler, svc *Service, sd *ServiceDeployment, now time.Time)
		wantStage string
		reason    string
	}{
		{"lambda_hook_fails_at_test_traffic_shift", withHooks(canary, Hook{TargetType: HookLambda, TargetARN: fn, Stages: []string{StagePreScaleUp, StageTestTrafficShift}, TimeoutMinutes: 60, TimeoutAction: ActionRollback}),
			[]faults.Fault{{Service: "ecs", Operation: "lifecycle-hook", Stage: StageTestTrafficShift}}, nil, StageTestTrafficShift, fn},
		{"alarm_during_bake_time", withAlarm(canary), []faults.Fault{{Service: "ecs", Operation: "alarm", Stage: StageBakeTime}}, nil, StageBakeTime, "api-5xx"},
		{"crash_loop_in_scale_up", canary, []faults.Fault{{Service: "ecs", Operation: "task-crash", Image: "web:2"}}, nil, StageScaleUp, "circuit breaker"},
		{"pause_rolled_back", withHooks(canary, Hook{TargetType: HookPause, Stages: []string{StagePostTestTrafficShift}, TimeoutMinutes: 60, TimeoutAction: ActionRollback}), nil,
			func(e *Scheduler, svc *Service, sd *ServiceDeployment, now time.Time) {
				if h := sd.Lifecycle.Hooks; len(h) == 1 && h[0].Status == HookAwaitingAction {
					if problem, _ := e.ContinueHook(svc, sd, h[0].ID, ActionRollback, now); problem != "" {
						t.Errorf("ContinueHook: %s", problem)
					}
				}
			}, StagePostTestTrafficShift, "ROLLBACK"},
		{"pause_timed_out", withHooks(canary, Hook{TargetType: HookPause, Stages: []string{StagePostScaleUp}, TimeoutMinutes: 2, TimeoutAction: ActionRollback}), nil, nil,
			StagePostScaleUp, "timed out"},
		{"stopped_during_canary", canary, nil, func(e *Scheduler, svc *Service, sd *ServiceDeployment, now time.Time) {
			if sd.Lifecycle.ProductionWeight == 10 && sd.Status == "IN_PROGRESS" {
				if problem := e.StopDeployment(svc, sd, now); problem != "" {
					t.Errorf("StopDeployment: %s", problem)
				}
			}
		}, StageProductionTrafficShift, "StopServiceDeployment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, svc, td, start := stagedService(t, tc.strategy, faults.NewSet(tc.faults))
			d := e.Deploy(svc, td, start)
			sd := d.ServiceDeployment
			var act func(time.Time)
			if tc.act != nil {
				act = func(now time.Time) { tc.act(e, svc, sd, now) }
			}
			seen, _ := runUntilDone(t, e, svc, sd, start, act)
			if sd.Status != "ROLLBACK_SUCCESSFUL" || sd.Lifecycle.Stage != tc.wantStage {
				t.Fatalf("deployment %s at %s, want ROLLBACK_SUCCESSFUL at %s (saw %v)", sd.Status, sd.Lifecycle.Stage, tc.wantStage, seen)
			}
			if sd.Rollback == nil || !strings.Contains(sd.Rollback.Reason, tc.reason) || !strings.Contains(sd.StatusReason, tc.reason) {
				t.Errorf("rollback %+v, status reason %q; want both to mention %q", sd.Rollback, sd.StatusReason, tc.reason)
			}
			if sd.Lifecycle.ProductionWeight != 0 || sd.Lifecycle.TestWeight != 0 {
				t.Errorf("after the rollback green has %v%% of production and %v%% of test traffic, want none", sd.Lifecycle.ProductionWeight, sd.Lifecycle.TestWeight)
			}
			if p := svc.Primary(); p.TaskDef.Revision != 1 || svc.CountsOf(p).Running != 3 || len(svc.Deployments) != 1 {
				t.Errorf("after the rollback the service runs revision %d with %d tasks in %d deployments, want 1 with 3 alone", p.TaskDef.Revision, svc.CountsOf(p).Running, len(svc.Deployments))
			}
			i := slices.IndexFunc(seen, func(s step) bool { return s.stage == tc.wantStage })
			if i < 0 {
				t.Errorf("never saw %s: %v", tc.wantStage, seen)
			}
		})
	}
}

func TestTrafficSteps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    Strategy
		want []float64
	}{
		{Strategy{Name: BlueGreen}, []float64{100}},
		{Strategy{Name: Canary, CanaryPercent: 5}, []float64{5, 100}},
		{Strategy{Name: Canary, CanaryPercent: 100}, []float64{100}},
		{Strategy{Name: Linear, StepPercent: 10}, []float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}},
		{Strategy{Name: Linear, StepPercent: 33.3}, []float64{33.3, 66.6, 99.9, 100}},
		{Strategy{Name: Linear, StepPercent: 100}, []float64{100}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, tc.s.TrafficSteps()); diff != "" {
			t.Errorf("%+v: steps (-want +got):\n%s", tc.s, diff)
		}
	}
}
