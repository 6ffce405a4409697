package sim

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/faults"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/randid"
)

// The deployment strategies of deploymentConfiguration.strategy.
const (
	Rolling   = "ROLLING"
	BlueGreen = "BLUE_GREEN"
	Linear    = "LINEAR"
	Canary    = "CANARY"
)

// The lifecycle stages of a BLUE_GREEN, LINEAR or CANARY deployment, in
// the order ECS goes through them.
const (
	StageReconcileService           = "RECONCILE_SERVICE"
	StagePreScaleUp                 = "PRE_SCALE_UP"
	StageScaleUp                    = "SCALE_UP"
	StagePostScaleUp                = "POST_SCALE_UP"
	StageTestTrafficShift           = "TEST_TRAFFIC_SHIFT"
	StagePostTestTrafficShift       = "POST_TEST_TRAFFIC_SHIFT"
	StageProductionTrafficShift     = "PRODUCTION_TRAFFIC_SHIFT"
	StagePostProductionTrafficShift = "POST_PRODUCTION_TRAFFIC_SHIFT"
	StageBakeTime                   = "BAKE_TIME"
	StageCleanUp                    = "CLEAN_UP"
)

// HookStages are the stages a lifecycle hook may run at; SCALE_UP,
// BAKE_TIME and CLEAN_UP take none.
var HookStages = []string{
	StageReconcileService, StagePreScaleUp, StagePostScaleUp, StageTestTrafficShift, StagePostTestTrafficShift,
	StageProductionTrafficShift, StagePostProductionTrafficShift,
}

// The target types of a lifecycle hook.
const (
	HookLambda = "AWS_LAMBDA"
	HookPause  = "PAUSE"
)

// The states of a lifecycle hook of a deployment.
const (
	HookAwaitingAction = "AWAITING_ACTION"
	HookInProgress     = "IN_PROGRESS"
	HookSucceeded      = "SUCCEEDED"
	HookFailed         = "FAILED"
	HookTimedOut       = "TIMED_OUT"
)

// The actions on a paused hook, and on a hook that timed out.
const (
	ActionContinue = "CONTINUE"
	ActionRollback = "ROLLBACK"
)

// Strategy is how a service deploys: deploymentConfiguration's strategy
// and the settings that go with it. The zero value is ROLLING.
type Strategy struct {
	// Name is ROLLING, BLUE_GREEN, LINEAR or CANARY; ROLLING when empty.
	Name string
	// BakeTimeMinutes is how long blue and green both run after the
	// production traffic has shifted.
	BakeTimeMinutes int
	// CanaryPercent and CanaryBakeMinutes are a CANARY deployment's first
	// production traffic step and how long it stays there.
	CanaryPercent     float64
	CanaryBakeMinutes int
	// StepPercent and StepBakeMinutes are a LINEAR deployment's steps.
	StepPercent     float64
	StepBakeMinutes int
	// Hooks are the lifecycle hooks.
	Hooks []Hook
	// Alarms are the CloudWatch alarms watched during the deployment.
	Alarms Alarms
}

// Staged reports whether deployments go through the lifecycle stages.
func (s Strategy) Staged() bool { return s.Name != "" && s.Name != Rolling }

// Hook is a deployment lifecycle hook.
type Hook struct {
	// TargetType is AWS_LAMBDA or PAUSE; TargetARN the Lambda function.
	TargetType, TargetARN, RoleARN string
	// Stages are the lifecycle stages it runs at.
	Stages []string
	// TimeoutMinutes is how long ECS waits for it, and TimeoutAction
	// (CONTINUE or ROLLBACK) what it does then.
	TimeoutMinutes int
	TimeoutAction  string
}

// Alarms are a deployment's CloudWatch alarms.
type Alarms struct {
	Names            []string
	Enable, Rollback bool
}

// Lifecycle is a staged deployment's progress through ECS's lifecycle
// stages.
type Lifecycle struct {
	// Stages are the stages the deployment goes through, in order.
	Stages []string
	// Stage is the current stage; during a rollback, the stage it rolled
	// back from.
	Stage          string
	StageStartedAt time.Time
	// Hooks are the hooks of the current stage.
	Hooks []*HookRun
	// ProductionWeight and TestWeight are the target revision's share of
	// the traffic, in percent.
	ProductionWeight, TestWeight float64
	// shifts are the production traffic steps still to take, and
	// shiftedAt when the last has settled.
	shifts    []shift
	shiftedAt time.Time
	// alarmAt is when an injected alarm goes off in this stage.
	alarmAt time.Time
}

// shift is one production traffic step.
type shift struct {
	at     time.Time
	weight float64
}

// HookRun is one run of a lifecycle hook at a stage.
type HookRun struct {
	ID            string
	Hook          Hook
	Status        string
	ExpiresAt     time.Time
	TimeoutAction string
	// doneAt is when a Lambda hook answers; fails says how.
	doneAt time.Time
	fails  bool
}

// stagesFor lists the stages of a deployment; RECONCILE_SERVICE comes
// first only when more than one revision was active when it started.
func stagesFor(sources int) []string {
	stages := []string{
		StagePreScaleUp, StageScaleUp, StagePostScaleUp, StageTestTrafficShift, StagePostTestTrafficShift,
		StageProductionTrafficShift, StagePostProductionTrafficShift, StageBakeTime, StageCleanUp,
	}
	if sources > 1 {
		stages = append([]string{StageReconcileService}, stages...)
	}
	return stages
}

// TrafficSteps are the production traffic weights a strategy shifts
// through, ending at 100.
func (s Strategy) TrafficSteps() []float64 {
	switch s.Name {
	case Canary:
		if s.CanaryPercent < 100 {
			return []float64{s.CanaryPercent, 100}
		}
	case Linear:
		var steps []float64
		// Whole tenths keep 10 steps of 10.0 from ending at 99.99999.
		for w := s.StepPercent; w < 100; w = math.Round((w+s.StepPercent)*10) / 10 {
			steps = append(steps, w)
		}
		return append(steps, 100)
	}
	return []float64{100}
}

// startLifecycle puts a new staged deployment in its first stage.
func (e *Scheduler) startLifecycle(svc *Service, sd *ServiceDeployment, now time.Time) {
	sd.Lifecycle = &Lifecycle{Stages: stagesFor(len(sd.Sources))}
	e.enterStage(svc, sd, sd.Lifecycle.Stages[0], now)
}

// enterStage starts a stage: its hooks run, an injected alarm is armed.
func (e *Scheduler) enterStage(svc *Service, sd *ServiceDeployment, stage string, t time.Time) {
	lc := sd.Lifecycle
	lc.Stage, lc.StageStartedAt, lc.Hooks, lc.alarmAt = stage, t, nil, time.Time{}
	sd.UpdatedAt = t
	for _, h := range sd.Strategy.Hooks {
		if !slices.Contains(h.Stages, stage) {
			continue
		}
		run := &HookRun{ID: randid.UUID(), Hook: h, TimeoutAction: h.TimeoutAction,
			ExpiresAt: t.Add(time.Duration(h.TimeoutMinutes) * svc.Timing.Minute)}
		if h.TargetType == HookPause {
			run.Status = HookAwaitingAction
		} else {
			run.Status, run.doneAt = HookInProgress, t.Add(svc.Timing.Stage)
			_, run.fails = e.cfg.Faults.TakeMatching("ecs", "lifecycle-hook", stageFault(stage))
		}
		lc.Hooks = append(lc.Hooks, run)
	}
	duration := svc.Timing.Stage
	switch stage {
	case StageProductionTrafficShift:
		at := t.Add(svc.Timing.Stage)
		bake := time.Duration(sd.Strategy.CanaryBakeMinutes) * svc.Timing.Minute
		if sd.Strategy.Name == Linear {
			bake = time.Duration(sd.Strategy.StepBakeMinutes) * svc.Timing.Minute
		}
		for _, w := range sd.Strategy.TrafficSteps() {
			lc.shifts = append(lc.shifts, shift{at: at, weight: w})
			at = at.Add(bake)
		}
		lc.shiftedAt = lc.shifts[len(lc.shifts)-1].at.Add(svc.Timing.Stage)
		duration = lc.shiftedAt.Sub(t)
	case StageBakeTime:
		duration = time.Duration(sd.Strategy.BakeTimeMinutes) * svc.Timing.Minute
	}
	if a := sd.Strategy.Alarms; a.Enable && a.Rollback && len(a.Names) > 0 {
		if _, ok := e.cfg.Faults.TakeMatching("ecs", "alarm", stageFault(stage)); ok {
			// The alarm goes off halfway through the stage.
			lc.alarmAt = t.Add(max(time.Millisecond, duration/2))
		}
	}
}

// stageFault matches a fault naming stage, or no stage.
func stageFault(stage string) func(faults.Fault) bool {
	return func(f faults.Fault) bool { return f.Stage == "" || f.Stage == stage }
}

// stageDone reports whether the current stage's own work is done at t.
func (svc *Service) stageDone(sd *ServiceDeployment, t time.Time) bool {
	lc := sd.Lifecycle
	switch lc.Stage {
	case StageScaleUp:
		// Green is up once its tasks have run for a stage's time: the
		// load balancer's health checks passed.
		healthy, pending := 0, 0
		for _, task := range svc.Live {
			switch {
			case task.Deployment != sd.Target || task.DesiredStatus != "RUNNING":
			case task.LastStatus == "RUNNING" && !t.Before(task.StartedAt.Add(svc.Timing.Stage)):
				healthy++
			default:
				pending++
			}
		}
		return healthy >= svc.Desired && pending == 0
	case StageProductionTrafficShift:
		return len(lc.shifts) == 0 && !t.Before(lc.shiftedAt)
	case StageBakeTime:
		return !t.Before(lc.StageStartedAt.Add(time.Duration(sd.Strategy.BakeTimeMinutes) * svc.Timing.Minute))
	case StageCleanUp:
		return false // the scheduler completes the deployment
	}
	return !t.Before(lc.StageStartedAt.Add(svc.Timing.Stage))
}

// runLifecycle moves the PRIMARY's staged deployment through its stages
// up to t. It rolls back when a hook fails, a paused hook is rolled back or
// times out into a rollback, an alarm goes off, or someone stops it.
func (e *Scheduler) runLifecycle(svc *Service, p *Deployment, t time.Time) {
	sd := p.ServiceDeployment
	lc := sd.Lifecycle
	for range len(lc.Stages) + 1 {
		if !lc.alarmAt.IsZero() && !t.Before(lc.alarmAt) {
			sd.AlarmsTriggered = sd.Strategy.Alarms.Names[:1]
			e.rollBack(svc, p, t, fmt.Sprintf("Service deployment rolled back because the CloudWatch alarm %s went into ALARM state during %s.", sd.AlarmsTriggered[0], lc.Stage), false)
			return
		}
		for len(lc.shifts) > 0 && !t.Before(lc.shifts[0].at) {
			lc.ProductionWeight = lc.shifts[0].weight
			sd.UpdatedAt = lc.shifts[0].at
			lc.shifts = lc.shifts[1:]
		}
		hooksDone := true
		for _, h := range lc.Hooks {
			switch {
			case h.Status == HookInProgress && !t.Before(h.doneAt):
				h.Status = HookSucceeded
				if h.fails {
					h.Status = HookFailed
					e.rollBack(svc, p, t, fmt.Sprintf("Service deployment rolled back because the lifecycle hook %s returned FAILED at %s.", h.Hook.TargetARN, lc.Stage), false)
					return
				}
			case (h.Status == HookInProgress || h.Status == HookAwaitingAction) && !t.Before(h.ExpiresAt):
				h.Status = HookTimedOut
				if h.TimeoutAction != ActionContinue {
					e.rollBack(svc, p, t, fmt.Sprintf("Service deployment rolled back because the lifecycle hook %s timed out at %s.", h.ID, lc.Stage), false)
					return
				}
			}
			if h.Status == HookInProgress || h.Status == HookAwaitingAction {
				hooksDone = false
			}
		}
		if lc.Stage == StageTestTrafficShift && svc.stageDone(sd, t) {
			lc.TestWeight = 100
		}
		if !hooksDone || !svc.stageDone(sd, t) {
			return
		}
		i := slices.Index(lc.Stages, lc.Stage)
		e.enterStage(svc, sd, lc.Stages[i+1], t)
	}
}

// lifecycleDue is when the PRIMARY's staged deployment next changes by
// itself after t; zero when only tasks can move it.
func (svc *Service) lifecycleDue(t time.Time) time.Time {
	p := svc.Primary()
	sd := p.ServiceDeployment
	if sd == nil || sd.Lifecycle == nil || p.RollsBack || p.RolloutState != "IN_PROGRESS" {
		return time.Time{}
	}
	lc := sd.Lifecycle
	var due time.Time
	at := func(when time.Time) {
		if when.After(t) && (due.IsZero() || when.Before(due)) {
			due = when
		}
	}
	at(lc.alarmAt)
	if len(lc.shifts) > 0 {
		at(lc.shifts[0].at)
	}
	for _, h := range lc.Hooks {
		switch h.Status {
		case HookInProgress:
			at(h.doneAt)
			at(h.ExpiresAt)
		case HookAwaitingAction:
			at(h.ExpiresAt)
		}
	}
	switch lc.Stage {
	case StageScaleUp:
		for _, task := range svc.Live {
			if task.Deployment == p && task.LastStatus == "RUNNING" {
				at(task.StartedAt.Add(svc.Timing.Stage))
			}
		}
	case StageProductionTrafficShift:
		at(lc.shiftedAt)
	case StageCleanUp:
	case StageBakeTime:
		at(lc.StageStartedAt.Add(time.Duration(sd.Strategy.BakeTimeMinutes) * svc.Timing.Minute))
	default:
		at(lc.StageStartedAt.Add(svc.Timing.Stage))
	}
	return due
}

// ContinueHook acts on a paused hook of the service deployment: CONTINUE
// lets the deployment go on, ROLLBACK rolls it back. It returns why it
// cannot, as ECS would refuse: the deployment is not in progress, or the
// hook is not one of the current stage's or is not waiting.
func (e *Scheduler) ContinueHook(svc *Service, sd *ServiceDeployment, hookID, action string, t time.Time) (problem string, conflict bool) {
	if sd.Lifecycle == nil {
		return "The service deployment has no lifecycle hooks.", false
	}
	var run *HookRun
	for _, h := range sd.Lifecycle.Hooks {
		if h.ID == hookID {
			run = h
		}
	}
	if run == nil {
		return fmt.Sprintf("The lifecycle hook %s was not found in the service deployment's current lifecycle stage.", hookID), false
	}
	if sd.Status != "IN_PROGRESS" {
		return fmt.Sprintf("The service deployment is %s, not IN_PROGRESS.", sd.Status), true
	}
	if run.Status != HookAwaitingAction {
		return fmt.Sprintf("The lifecycle hook %s is %s, not AWAITING_ACTION.", hookID, run.Status), true
	}
	p := sd.Target
	if action == ActionRollback {
		run.Status = HookFailed
		e.rollBack(svc, p, t, fmt.Sprintf("Service deployment rolled back because the lifecycle hook %s at %s was continued with action ROLLBACK.", hookID, sd.Lifecycle.Stage), false)
		return "", false
	}
	run.Status = HookSucceeded
	sd.UpdatedAt = t
	e.runLifecycle(svc, p, t)
	return "", false
}

// StopDeployment asks for a service deployment to be stopped and rolled
// back, as StopServiceDeployment with ROLLBACK does. It returns why it
// cannot: the deployment has ended.
func (e *Scheduler) StopDeployment(svc *Service, sd *ServiceDeployment, t time.Time) string {
	switch sd.Status {
	case "PENDING", "IN_PROGRESS":
	case "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS":
		return "" // already on its way back
	default:
		return fmt.Sprintf("The service deployment is %s and can no longer be stopped.", sd.Status)
	}
	if sd.Lifecycle != nil && sd.Lifecycle.Stage == StageCleanUp {
		return "The service deployment is cleaning up the previous service revision and can no longer be rolled back."
	}
	sd.Status, sd.StatusReason, sd.UpdatedAt = "ROLLBACK_REQUESTED", "Service deployment rollback requested by StopServiceDeployment.", t
	sd.stopRequested = true
	return ""
}
