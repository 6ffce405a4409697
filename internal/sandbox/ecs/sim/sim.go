// Package sim simulates ECS services: deployments rolling out in simulated
// time, tasks pulling their images from the sandbox's ECR and starting,
// crashing or draining, the service scheduler within minimumHealthyPercent
// and maximumPercent, the deployment circuit breaker with rollback, the
// lifecycle stages of BLUE_GREEN, LINEAR and CANARY deployments with their
// hooks, traffic shifts, bake time, alarms and rollbacks, and the task sets
// of services whose deployments CodeDeploy controls.
package sim

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/taskdef"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/faults"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/randid"
)

// Scheduler runs ECS services' rollouts in simulated time: the service
// scheduler, the tasks' lifecycles, the deployment circuit breaker. Its
// state lives in the Clusters and Services it is handed; the caller holds
// one lock over all of it while calling the Scheduler.
type Scheduler struct {
	cfg Config
	// bootImages are the images the world's services run when the sandbox
	// starts. Their tasks are running, so the images were pulled once: they
	// are taken to exist even when the registry backend does not hold them,
	// so that a rollback to the world's revision can start tasks again.
	bootImages map[string]bool
}

// Registry is where tasks pull their images from.
type Registry interface {
	// Hosts reports whether the image's registry is one the sandbox
	// serves; images elsewhere (public registries, AWS's own ECR
	// registries in other accounts) are pullable unless the world marks
	// them missing.
	Hosts(ref string) bool
	// ResolveImage resolves an image the sandbox hosts to its manifest
	// digest.
	ResolveImage(ctx context.Context, ref string) (digest string, found bool, err error)
}

// Faults hands out the injected faults the simulation acts on: "task-crash"
// (a container crashes as it starts), "service-event" (an event with the
// fault's message when a deployment starts), "lifecycle-hook" (a Lambda
// lifecycle hook answers FAILED) and "alarm" (a deployment's alarm goes
// off).
type Faults interface {
	TakeMatching(service, operation string, match func(faults.Fault) bool) (faults.Fault, bool)
}

// Config is what the scheduler needs.
type Config struct {
	// Region is the region of every ARN it makes, Partition its partition.
	Region    string
	Partition partition.Partition
	// Registry is where tasks pull images from.
	Registry Registry
	// MissingImages are images no registry holds, although the sandbox
	// does not serve their registry: each is a reference (host/repo:tag,
	// host/repo@digest) or a repository (host/repo, any tag or digest).
	MissingImages []string
	// Faults decides which containers crash as they start, which events
	// deployments add, which Lambda hooks fail and which alarms go off.
	Faults Faults
	// InactiveLinger is how long a drained deployment stays in a service's
	// deployments as INACTIVE.
	InactiveLinger time.Duration
	// Context bounds image pulls; it ends when the sandbox closes.
	Context context.Context
	// Logs receives what the containers of standalone tasks write through
	// the awslogs driver; nil drops it.
	Logs LogSink
}

// New returns a scheduler.
func New(cfg Config) *Scheduler {
	return &Scheduler{cfg: cfg, bootImages: map[string]bool{}}
}

// Timing is how fast one service's tasks and deployments move: Start,
// Stop and Crash are a task's; Stage is how long a lifecycle stage with
// nothing to wait for takes (a traffic shift, a Lambda hook's run); Minute
// is a simulated minute, the unit of bake times and hook timeouts.
type Timing struct {
	Start, Stop, Crash time.Duration
	Stage, Minute      time.Duration
}

// CircuitBreaker is a deployment circuit breaker's configuration.
type CircuitBreaker struct {
	Enable, Rollback bool
}

// Cluster is a cluster, its services and every task it has run.
type Cluster struct {
	Name     string
	ARN      string
	Services map[string]*Service
	Tasks    map[string]*Task // by task ID
	// Standalone are the tasks RunTask started that have not STOPPED.
	Standalone []*Task
	stopped    []*Task // oldest first, trimmed to maxStoppedTasks
}

// NewCluster returns an empty cluster.
func NewCluster(name, arn string) *Cluster {
	return &Cluster{Name: name, ARN: arn, Services: map[string]*Service{}, Tasks: map[string]*Task{}}
}

// Service is a service and its rollout state.
type Service struct {
	Account   string
	Cluster   *Cluster
	Name      string
	ARN       string
	Status    string // ACTIVE, DRAINING or INACTIVE
	Desired   int
	CreatedAt time.Time
	CreatedBy string

	CircuitBreaker         CircuitBreaker
	MaxPercent, MinPercent int
	Timing                 Timing
	// Strategy is deploymentConfiguration's strategy and its settings;
	// each new deployment takes a copy.
	Strategy Strategy
	// Controller is the deployment controller: ECS, or CODE_DEPLOY for a
	// service of task sets.
	Controller string
	// LaunchType is where the service's tasks run: FARGATE, EC2 or
	// EXTERNAL. Its task definitions must be compatible with it.
	LaunchType string
	// Awsvpc is set when the service has an awsvpc network configuration,
	// which the network mode of its task definitions must match.
	Awsvpc bool

	// Deployments are newest first: the PRIMARY, then ACTIVE ones still
	// running tasks, then drained INACTIVE ones until they are dropped.
	Deployments []*Deployment
	// ServiceDeployments are newest first and kept for good.
	ServiceDeployments []*ServiceDeployment
	// Live are the tasks not yet STOPPED.
	Live []*Task
	// Events are newest first.
	Events []Event
	// clock is the time up to which the simulation has run.
	clock time.Time
}

// Event is a service event.
type Event struct {
	ID        string
	CreatedAt time.Time
	Message   string
}

// Deployment is one entry of a service's deployments[].
type Deployment struct {
	ID            string
	Status        string // PRIMARY, ACTIVE, INACTIVE
	TaskDef       *taskdef.Revision
	Desired       int
	CreatedAt     time.Time
	UpdatedAt     time.Time
	RolloutState  string // IN_PROGRESS, COMPLETED, FAILED
	RolloutReason string
	FailedTasks   int
	RevisionARN   string
	// ServiceDeployment is the service deployment this deployment carries
	// out; for a rollback, the one being rolled back.
	ServiceDeployment *ServiceDeployment
	// RollsBack is set on the deployment a circuit breaker rolls back with.
	RollsBack bool
	// Scale, for a task set of a CODE_DEPLOY service, is its share of the
	// service's desired count in percent; ExternalID the CodeDeploy
	// deployment that made it; TaskSetARN its ARN.
	Scale      float64
	ExternalID string
	TaskSetARN string
	// removeAt is when an INACTIVE deployment leaves deployments[].
	removeAt time.Time
	// settleAt is, for a rollback, the earliest it completes: ECS drains
	// the failed deployment and sees the service steady first, however many
	// of the old revision's tasks still run.
	settleAt time.Time
	// warnedUnstable is set once the service has said it cannot start
	// this deployment's tasks consistently.
	warnedUnstable bool
}

// ServiceDeployment is a deployment as the ServiceDeployment API shows it.
type ServiceDeployment struct {
	ARN          string
	CreatedAt    time.Time
	StartedAt    time.Time
	FinishedAt   time.Time
	StoppedAt    time.Time
	UpdatedAt    time.Time
	Status       string
	StatusReason string
	Target       *Deployment
	Sources      []*Deployment
	// CircuitBreakerStatus is DISABLED, MONITORING, MONITORING_COMPLETE or
	// TRIGGERED; Threshold the failures that trip it.
	CircuitBreakerStatus   string
	Threshold              int
	MaxPercent, MinPercent int
	CircuitBreaker         CircuitBreaker
	// Strategy is the service's strategy when the deployment started.
	Strategy Strategy
	// Lifecycle is a staged deployment's progress; nil for ROLLING.
	Lifecycle *Lifecycle
	// AlarmsTriggered are the alarms that rolled it back.
	AlarmsTriggered []string
	// Rollback is set once the deployment is rolled back.
	Rollback *Rollback
	// stopRequested is set by StopServiceDeployment until the scheduler
	// starts the rollback.
	stopRequested bool
}

// Rollback is the rollback of a service deployment.
type Rollback struct {
	Reason             string
	StartedAt          time.Time
	ServiceRevisionARN string
}

// Task is one task a service or RunTask started.
type Task struct {
	ID, ARN string
	Cluster *Cluster
	// Service and Deployment are the service's and deployment's that
	// started the task; nil for a standalone task (RunTask).
	Service    *Service
	Deployment *Deployment
	// Group, StartedBy and LaunchType are as DescribeTasks shows them;
	// CapacityProvider is the capacity provider the task runs on, if any.
	Group, StartedBy, LaunchType, CapacityProvider string
	// Overrides are RunTask's, echoed by DescribeTasks; nil for none.
	Overrides     any
	TaskDef       *taskdef.Revision
	LastStatus    string
	DesiredStatus string
	Containers    []*Container
	CreatedAt     time.Time
	PullStartedAt time.Time
	PullStoppedAt time.Time
	StartedAt     time.Time
	StoppingAt    time.Time
	StoppedAt     time.Time
	StoppedReason string
	StopCode      string
	Version       int
	// next is when the task next changes by itself; zero when it will not.
	next time.Time
}

// Container is one container of a task.
type Container struct {
	Spec       taskdef.Container
	ARN        string
	RuntimeID  string
	LastStatus string
	Digest     string
	ExitCode   *int
	Reason     string
	crashes    bool
	// crashReason is what the container runtime will say about the crash:
	// the task-crash fault's message, if any.
	crashReason string
	// run is what the container of a standalone task does once it runs.
	run *containerRun
}

const (
	maxServiceEvents = 100
	maxStoppedTasks  = 1000
	// BootstrapAge is how long before the sandbox started its world's
	// services and their deployments are said to have been created.
	BootstrapAge = 24 * time.Hour
)

// Primary is the service's PRIMARY deployment.
func (svc *Service) Primary() *Deployment { return svc.Deployments[0] }

// AddEvent adds a service event at t, newest first, keeping ECS's last 100.
func (svc *Service) AddEvent(t time.Time, format string, args ...any) {
	// Events that happen together still get distinct times, a millisecond
	// apart (the precision of the wire), so that a client printing the
	// events newer than the last it saw misses none.
	if len(svc.Events) > 0 {
		if last := svc.Events[0].CreatedAt; !t.After(last.Add(time.Millisecond - 1)) {
			t = last.Add(time.Millisecond)
		}
	}
	t = t.Truncate(time.Millisecond)
	ev := Event{ID: randid.UUID(), CreatedAt: t, Message: fmt.Sprintf(format, args...)}
	svc.Events = append([]Event{ev}, svc.Events...)
	if len(svc.Events) > maxServiceEvents {
		svc.Events = svc.Events[:maxServiceEvents]
	}
}

// CircuitBreakerThreshold is ECS's: half the desired count, at least 3 and
// at most 200.
func CircuitBreakerThreshold(desired int) int {
	return min(200, max(3, (desired+1)/2))
}

// arn is the ARN of an ECS resource of account.
func (e *Scheduler) arn(account, resource string) string {
	return e.cfg.Partition.ARN("ecs", e.cfg.Region, account, resource)
}

// Deploy makes a new deployment of td the service's PRIMARY, with a
// service deployment of its own; the deployments before it become ACTIVE
// and one still rolling out is superseded.
func (e *Scheduler) Deploy(svc *Service, td *taskdef.Revision, now time.Time) *Deployment {
	return e.deploy(svc, td, now, true)
}

// deploy is Deploy; a staged deployment goes through its lifecycle only
// when staged is set (Bootstrap's has long finished).
func (e *Scheduler) deploy(svc *Service, td *taskdef.Revision, now time.Time, staged bool) *Deployment {
	d := &Deployment{
		ID:           "ecs-svc/" + randid.Digits(19),
		Status:       "PRIMARY",
		TaskDef:      td,
		Desired:      svc.Desired,
		CreatedAt:    now,
		UpdatedAt:    now,
		RolloutState: "IN_PROGRESS",
		RevisionARN:  e.arn(svc.Account, "service-revision/"+svc.Cluster.Name+"/"+svc.Name+"/"+randid.Digits(19)),
	}
	sd := &ServiceDeployment{
		ARN:                  e.arn(svc.Account, "service-deployment/"+svc.Cluster.Name+"/"+svc.Name+"/"+randid.Base62(21)),
		CreatedAt:            now,
		StartedAt:            now,
		UpdatedAt:            now,
		Status:               "IN_PROGRESS",
		Target:               d,
		Threshold:            CircuitBreakerThreshold(svc.Desired),
		MaxPercent:           svc.MaxPercent,
		MinPercent:           svc.MinPercent,
		CircuitBreaker:       svc.CircuitBreaker,
		CircuitBreakerStatus: "DISABLED",
		Strategy:             svc.Strategy,
	}
	if svc.CircuitBreaker.Enable {
		sd.CircuitBreakerStatus = "MONITORING"
	}
	// Events may carry text ECS relays from elsewhere (a load balancer, the
	// container runtime); a "service-event" fault injects such an event.
	if f, ok := e.cfg.Faults.TakeMatching("ecs", "service-event", func(f faults.Fault) bool { return f.Message != "" }); ok {
		svc.AddEvent(now, "%s", f.Message)
	}
	for _, old := range svc.Deployments {
		if old.Status == "INACTIVE" {
			continue
		}
		old.Status = "ACTIVE"
		old.UpdatedAt = now
		sd.Sources = append(sd.Sources, old)
		if osd := old.ServiceDeployment; osd != nil && osd.FinishedAt.IsZero() && osd.StoppedAt.IsZero() {
			// A deployment still rolling out is superseded by this one.
			osd.Status = "STOPPED"
			osd.StatusReason = "Service deployment stopped because a newer service deployment started."
			osd.StoppedAt, osd.UpdatedAt = now, now
			if osd.CircuitBreakerStatus == "MONITORING" {
				osd.CircuitBreakerStatus = "MONITORING_COMPLETE"
			}
		}
	}
	d.ServiceDeployment = sd
	svc.Deployments = append([]*Deployment{d}, svc.Deployments...)
	svc.ServiceDeployments = append([]*ServiceDeployment{sd}, svc.ServiceDeployments...)
	if staged && sd.Strategy.Staged() {
		e.startLifecycle(svc, sd, now)
	}
	return d
}

// Bootstrap puts a service the world describes at steady state on td at
// now, as if created, deployed and settled BootstrapAge before: one
// completed deployment and, unless the service is INACTIVE, its desired
// tasks running.
func (e *Scheduler) Bootstrap(svc *Service, td *taskdef.Revision, now time.Time) {
	created := now.Add(-BootstrapAge)
	svc.CreatedAt, svc.clock = created, now
	d := e.deploy(svc, td, created, false)
	d.RolloutState, d.RolloutReason = "COMPLETED", "ECS deployment "+d.ID+" completed."
	sd := d.ServiceDeployment
	if sd.Strategy.Staged() {
		sd.Lifecycle = &Lifecycle{Stages: stagesFor(0), Stage: StageCleanUp, StageStartedAt: created, ProductionWeight: 100, TestWeight: 100}
	}
	sd.Status = "SUCCESSFUL"
	sd.FinishedAt, sd.UpdatedAt = created.Add(time.Minute), created.Add(time.Minute)
	sd.CircuitBreakerStatus = "MONITORING_COMPLETE"
	if svc.TaskSets() {
		d.Scale, d.TaskSetARN, d.RolloutState, d.RolloutReason = 100, e.taskSetARN(svc, d.ID), "", ""
	}
	if svc.Status == "ACTIVE" || svc.Status == "DRAINING" {
		for _, c := range td.Containers {
			e.bootImages[c.Image] = true
		}
		for range svc.Desired {
			t := e.newTask(svc, d, created)
			t.LastStatus = "RUNNING"
			t.PullStartedAt, t.PullStoppedAt, t.StartedAt = created, created, created
			t.next = time.Time{}
			for _, c := range t.Containers {
				c.LastStatus = "RUNNING"
			}
		}
	}
	svc.AddEvent(created.Add(time.Minute), "(service %s) has reached a steady state.", svc.Name)
}

// newTask launches a task for deployment d.
func (e *Scheduler) newTask(svc *Service, d *Deployment, now time.Time) *Task {
	id := randid.Hex(32)
	t := &Task{
		ID:            id,
		ARN:           e.arn(svc.Account, "task/"+svc.Cluster.Name+"/"+id),
		Cluster:       svc.Cluster,
		Service:       svc,
		Deployment:    d,
		Group:         "service:" + svc.Name,
		StartedBy:     d.ID,
		LaunchType:    svc.LaunchType,
		TaskDef:       d.TaskDef,
		LastStatus:    "PROVISIONING",
		DesiredStatus: "RUNNING",
		CreatedAt:     now,
		Version:       1,
		next:          now.Add(svc.Timing.Start / 2),
	}
	for _, c := range d.TaskDef.Containers {
		t.Containers = append(t.Containers, &Container{
			Spec:       c,
			ARN:        e.arn(svc.Account, "container/"+svc.Cluster.Name+"/"+id+"/"+randid.UUID()),
			LastStatus: "PENDING",
		})
	}
	svc.Live = append(svc.Live, t)
	svc.Cluster.Tasks[id] = t
	return t
}

// Run replays a service's rollout event by event up to now, so that every
// change carries the time it happened at, however rarely anyone looks.
func (e *Scheduler) Run(svc *Service, now time.Time) {
	if now.Before(svc.clock) {
		return
	}
	t := svc.clock
	for range 1_000_000 {
		e.schedule(svc, t)
		// Every task due at the earliest moment changes before the
		// scheduler looks again, as tasks launched together start together.
		var next time.Time
		if due := svc.lifecycleDue(t); !due.IsZero() && !due.After(now) {
			next = due
		}
		if settle := svc.Primary().settleAt; settle.After(t) && !settle.After(now) && (next.IsZero() || settle.Before(next)) {
			next = settle
		}
		for _, task := range svc.Live {
			if !task.next.IsZero() && !task.next.After(now) && (next.IsZero() || task.next.Before(next)) {
				next = task.next
			}
		}
		if next.IsZero() {
			break
		}
		t = next
		for _, task := range slices.Clone(svc.Live) {
			if task.next.Equal(t) {
				e.step(task, t)
			}
		}
	}
	e.schedule(svc, now)
	svc.clock = now
}

// Counts are a deployment's tasks by state.
type Counts struct{ Pending, Running, Stopping int }

// CountsOf counts deployment d's live tasks.
func (svc *Service) CountsOf(d *Deployment) Counts {
	var c Counts
	for _, t := range svc.Live {
		if t.Deployment != d {
			continue
		}
		switch {
		case t.DesiredStatus == "STOPPED":
			c.Stopping++
		case t.LastStatus == "RUNNING":
			c.Running++
		default:
			c.Pending++
		}
	}
	return c
}

// schedule is the service scheduler: it launches tasks for the PRIMARY
// deployment within maximumPercent, stops old tasks within
// minimumHealthyPercent, trips the circuit breaker, and settles deployments.
func (e *Scheduler) schedule(svc *Service, t time.Time) {
	if svc.TaskSets() {
		e.scheduleTaskSets(svc, t)
		return
	}
	kept := svc.Deployments[:0]
	for i, d := range svc.Deployments {
		if i > 0 && d.Status == "INACTIVE" && !d.removeAt.After(t) {
			continue
		}
		kept = append(kept, d)
	}
	svc.Deployments = kept
	if svc.Status != "ACTIVE" {
		return
	}
	p := svc.Primary()
	p.Desired = svc.Desired
	if sd := p.ServiceDeployment; sd != nil && sd.stopRequested && !p.RollsBack {
		sd.stopRequested = false
		e.rollBack(svc, p, t, "Service deployment rolled back because of a StopServiceDeployment request.", false)
		p = svc.Primary()
	}
	if p.RolloutState == "IN_PROGRESS" && svc.CircuitBreaker.Enable && p.ServiceDeployment != nil && p.FailedTasks >= p.ServiceDeployment.Threshold {
		e.tripCircuitBreaker(svc, p, t)
		p = svc.Primary()
	}
	// staged is a BLUE_GREEN, LINEAR or CANARY deployment going forward:
	// green starts in SCALE_UP beside blue, whatever maximumPercent says,
	// and blue stops only in CLEAN_UP.
	staged := false
	if sd := p.ServiceDeployment; sd != nil && sd.Lifecycle != nil && !p.RollsBack && p.RolloutState == "IN_PROGRESS" {
		e.runLifecycle(svc, p, t)
		p = svc.Primary()
		staged = p.ServiceDeployment.Lifecycle != nil && !p.RollsBack && p.RolloutState == "IN_PROGRESS"
	}
	scaledUp, cleaningUp := true, true
	if staged {
		lc := p.ServiceDeployment.Lifecycle
		scaledUp = slices.Index(lc.Stages, lc.Stage) >= slices.Index(lc.Stages, StageScaleUp)
		cleaningUp = lc.Stage == StageCleanUp
	}
	if p.RolloutState == "IN_PROGRESS" && !svc.CircuitBreaker.Enable && !p.warnedUnstable && p.FailedTasks >= CircuitBreakerThreshold(svc.Desired) {
		p.warnedUnstable = true
		svc.AddEvent(t, "(service %s) is unable to consistently start tasks successfully. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.", svc.Name)
	}

	pc := svc.CountsOf(p)
	active := 0
	for _, task := range svc.Live {
		if task.DesiredStatus == "RUNNING" {
			active++
		}
	}
	// Launch the PRIMARY's missing tasks, unless its rollout failed for good.
	if p.RolloutState != "FAILED" && scaledUp {
		maxTotal := max(1, svc.Desired*svc.MaxPercent/100)
		if staged {
			maxTotal = active + svc.Desired
		}
		if n := min(svc.Desired-pc.Running-pc.Pending, maxTotal-active); n > 0 {
			ids := make([]string, 0, n)
			for range n {
				task := e.newTask(svc, p, t)
				ids = append(ids, "(task "+task.ID+")")
			}
			p.UpdatedAt = t
			svc.AddEvent(t, "(service %s) has started %d tasks: %s.", svc.Name, n, strings.Join(ids, " "))
			pc = svc.CountsOf(p)
		}
	}

	// Tasks of older deployments that have not started yet are stopped at
	// once; running ones as far as minimumHealthyPercent allows.
	var pendingOld, runningOld []*Task
	runningAll := 0
	for _, task := range svc.Live {
		if task.DesiredStatus != "RUNNING" {
			continue
		}
		if task.LastStatus == "RUNNING" {
			runningAll++
		}
		if task.Deployment == p {
			continue
		}
		if task.LastStatus == "RUNNING" {
			runningOld = append(runningOld, task)
		} else {
			pendingOld = append(pendingOld, task)
		}
	}
	// Surplus tasks of the PRIMARY itself (the desired count went down).
	if extra := pc.Running + pc.Pending - svc.Desired; extra > 0 {
		for i := len(svc.Live) - 1; i >= 0 && extra > 0; i-- {
			if task := svc.Live[i]; task.Deployment == p && task.DesiredStatus == "RUNNING" {
				if task.LastStatus == "RUNNING" {
					runningOld = append(runningOld, task)
				} else {
					pendingOld = append(pendingOld, task)
				}
				extra--
			}
		}
	}
	for _, task := range pendingOld {
		e.stopTask(task, t, "ServiceSchedulerInitiated", "Scaling activity initiated by (deployment "+p.ID+")", true)
	}
	minHealthy := (svc.Desired*svc.MinPercent + 99) / 100
	if n := min(len(runningOld), runningAll-minHealthy); n > 0 && p.RolloutState != "FAILED" && cleaningUp {
		ids := make([]string, 0, n)
		for _, task := range runningOld[:n] {
			e.stopTask(task, t, "ServiceSchedulerInitiated", "Scaling activity initiated by (deployment "+p.ID+")", false)
			ids = append(ids, "(task "+task.ID+")")
		}
		svc.AddEvent(t, "(service %s) has stopped %d running tasks: %s.", svc.Name, n, strings.Join(ids, " "))
	}

	othersLive := e.drain(svc, p, t)
	pc = svc.CountsOf(p)
	if p.RolloutState == "IN_PROGRESS" && !othersLive && pc.Running == svc.Desired && pc.Pending == 0 && pc.Stopping == 0 && cleaningUp && !t.Before(p.settleAt) {
		e.completeDeployment(svc, p, t)
		// A rollback done lets the deployment it rolled back go.
		e.drain(svc, p, t)
	}
}

// drain retires the older deployments without tasks: they turn INACTIVE
// and leave deployments[] once they have lingered. The one a rollback in
// progress rolls back stays, FAILED, until the rollback is done, as in
// ECS's deployments[]. It reports whether an older deployment still has
// tasks.
func (e *Scheduler) drain(svc *Service, p *Deployment, t time.Time) (othersLive bool) {
	var rollingBack *ServiceDeployment
	if p.RollsBack && p.RolloutState == "IN_PROGRESS" {
		rollingBack = p.ServiceDeployment
	}
	for _, d := range svc.Deployments[1:] {
		c := svc.CountsOf(d)
		if rollingBack != nil && d.ServiceDeployment == rollingBack && c.Pending+c.Running+c.Stopping == 0 {
			continue
		}
		if d.Status == "ACTIVE" && c.Pending+c.Running+c.Stopping == 0 {
			d.Status, d.UpdatedAt, d.Desired = "INACTIVE", t, 0
			d.removeAt = t.Add(e.cfg.InactiveLinger)
		}
		if d.Status == "ACTIVE" {
			othersLive = true
			d.Desired = c.Pending + c.Running
		}
	}
	svc.Deployments = slices.DeleteFunc(svc.Deployments, func(d *Deployment) bool {
		return d != p && d.Status == "INACTIVE" && !d.removeAt.After(t)
	})
	return othersLive
}

func (e *Scheduler) completeDeployment(svc *Service, p *Deployment, t time.Time) {
	p.RolloutState, p.RolloutReason, p.UpdatedAt = "COMPLETED", "ECS deployment "+p.ID+" completed.", t
	if sd := p.ServiceDeployment; sd != nil {
		if p.RollsBack {
			sd.Status = "ROLLBACK_SUCCESSFUL"
			sd.StatusReason = sd.Rollback.Reason
		} else {
			sd.Status = "SUCCESSFUL"
			sd.StatusReason = ""
			if sd.CircuitBreakerStatus == "MONITORING" {
				sd.CircuitBreakerStatus = "MONITORING_COMPLETE"
			}
		}
		sd.FinishedAt, sd.UpdatedAt = t, t
	}
	svc.AddEvent(t, "(service %s) (deployment %s) deployment completed.", svc.Name, p.ID)
	svc.AddEvent(t, "(service %s) has reached a steady state.", svc.Name)
}

// tripCircuitBreaker fails the PRIMARY deployment and, when rollback is on,
// rolls back to the deployment it replaced.
func (e *Scheduler) tripCircuitBreaker(svc *Service, p *Deployment, t time.Time) {
	const reason = "ECS deployment circuit breaker: tasks failed to start."
	p.RolloutState, p.RolloutReason, p.UpdatedAt = "FAILED", reason, t
	sd := p.ServiceDeployment
	svc.AddEvent(t, "(service %s) (deployment %s) deployment failed: tasks failed to start.", svc.Name, p.ID)
	if p.RollsBack {
		// The rollback itself failed: nothing older to go back to.
		sd.Status, sd.StatusReason = "ROLLBACK_FAILED", "Service deployment rollback failed because the circuit breaker threshold was exceeded."
		sd.FinishedAt, sd.UpdatedAt = t, t
		return
	}
	sd.CircuitBreakerStatus = "TRIGGERED"
	sd.UpdatedAt = t
	if !svc.CircuitBreaker.Rollback {
		sd.Status, sd.StatusReason = "STOPPED", reason
		sd.StoppedAt = t
		return
	}
	e.rollBack(svc, p, t, "Service deployment rolled back because the circuit breaker threshold was exceeded.", true)
}

// rollBack fails the PRIMARY deployment p for reason and rolls the service
// back to the last deployment that completed; with no such deployment, p
// stops where it is. A staged deployment's traffic returns to the blue
// revision at once.
func (e *Scheduler) rollBack(svc *Service, p *Deployment, t time.Time, reason string, byCircuitBreaker bool) {
	sd := p.ServiceDeployment
	p.RolloutState, p.UpdatedAt = "FAILED", t
	if p.RolloutReason == "" {
		p.RolloutReason = reason
	}
	sd.UpdatedAt = t
	if !byCircuitBreaker && sd.CircuitBreakerStatus == "MONITORING" {
		sd.CircuitBreakerStatus = "MONITORING_COMPLETE"
	}
	if lc := sd.Lifecycle; lc != nil {
		lc.ProductionWeight, lc.TestWeight, lc.shifts, lc.alarmAt = 0, 0, nil, time.Time{}
		for _, h := range lc.Hooks {
			if h.Status == HookInProgress || h.Status == HookAwaitingAction {
				h.Status = HookFailed
			}
		}
	}
	var target *Deployment
	for _, d := range svc.Deployments[1:] {
		if d.RolloutState == "COMPLETED" {
			target = d
			break
		}
	}
	if target == nil {
		sd.Status, sd.StatusReason = "STOPPED", reason
		sd.StoppedAt = t
		return
	}
	sd.Status = "ROLLBACK_IN_PROGRESS"
	sd.StatusReason = strings.Replace(reason, "rolled back", "rolling back", 1)
	sd.Rollback = &Rollback{
		Reason:             reason,
		StartedAt:          t,
		ServiceRevisionARN: target.RevisionARN,
	}
	// The rollback is a new PRIMARY deployment of the old revision; it adopts
	// the old revision's tasks that still run.
	p.Status = "ACTIVE"
	r := &Deployment{
		ID:                "ecs-svc/" + randid.Digits(19),
		Status:            "PRIMARY",
		TaskDef:           target.TaskDef,
		Desired:           svc.Desired,
		CreatedAt:         t,
		UpdatedAt:         t,
		RolloutState:      "IN_PROGRESS",
		RevisionARN:       target.RevisionARN,
		ServiceDeployment: sd,
		RollsBack:         true,
		settleAt:          t.Add(svc.Timing.Stop),
	}
	for _, task := range svc.Live {
		if task.Deployment != p && task.TaskDef == target.TaskDef && task.DesiredStatus == "RUNNING" && task.LastStatus == "RUNNING" {
			task.Deployment = r
			task.Version++
		}
	}
	svc.Deployments = append([]*Deployment{r}, svc.Deployments...)
	svc.AddEvent(t, "(service %s) rolling back to deployment %s.", svc.Name, target.ID)
}

// step applies the change a task makes by itself at time t.
func (e *Scheduler) step(task *Task, t time.Time) {
	switch {
	case task.DesiredStatus == "STOPPED":
		e.finishStop(task, t, 0)
	case task.LastStatus == "PROVISIONING":
		task.LastStatus, task.PullStartedAt, task.Version = "PENDING", t, task.Version+1
		task.next = task.CreatedAt.Add(task.Service.Timing.Start)
	case task.LastStatus == "PENDING":
		e.pull(task, t)
	case task.LastStatus == "RUNNING":
		e.crash(task, t)
	default:
		task.next = time.Time{}
	}
}

// pull "pulls" every container image of a task: an image on an ECR front
// must resolve there, or the task fails to start as ECS's would.
func (e *Scheduler) pull(task *Task, t time.Time) {
	if reason := e.pullImages(task, t); reason != "" {
		e.failTask(task, t, "TaskFailedToStart", reason)
		return
	}
	task.LastStatus, task.StartedAt, task.Version = "RUNNING", t, task.Version+1
	task.next = time.Time{}
	for _, c := range task.Containers {
		c.LastStatus = "RUNNING"
		c.RuntimeID = task.ID + "-" + randid.Digits(10)
		if c.Spec.Essential && e.takeCrashFault(c) {
			c.crashes = true
			task.next = t.Add(task.Service.Timing.Crash)
		}
	}
}

// pullImages resolves every container image of a task at t, recording the
// digests; it returns why the task cannot start when an image on an ECR
// front does not resolve, and "" when every image was pulled.
func (e *Scheduler) pullImages(task *Task, t time.Time) string {
	task.PullStoppedAt = t
	for _, c := range task.Containers {
		ref := c.Spec.Image
		if _, digest, ok := strings.Cut(ref, "@"); ok {
			c.Digest = digest
		}
		var (
			digest string
			found  bool
			err    error
		)
		switch {
		case e.missing(ref):
			found = false
		case !e.cfg.Registry.Hosts(ref) || e.bootImages[ref]:
			// A registry the sandbox does not serve holds what tasks pull
			// from it, as AWS's own images in its other accounts' ECR
			// registries (the FireLens log router, the App Mesh Envoy)
			// are there for any execution role.
			continue
		default:
			ctx, cancel := context.WithTimeout(e.cfg.Context, 10*time.Second)
			digest, found, err = e.cfg.Registry.ResolveImage(ctx, ref)
			cancel()
		}
		if err != nil || !found {
			cause := "not found"
			if err != nil {
				cause = err.Error()
			}
			reason := fmt.Sprintf("CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref %s: %s", ref, cause)
			c.Reason = reason
			return reason
		}
		c.Digest = digest
	}
	return ""
}

// missing reports whether the world marks an image missing.
func (e *Scheduler) missing(ref string) bool {
	for _, m := range e.cfg.MissingImages {
		if ref == m || strings.HasPrefix(ref, m+":") || strings.HasPrefix(ref, m+"@") {
			return true
		}
	}
	return false
}

// takeCrashFault reports whether an injected "task-crash" fault matches the
// container's image, consuming one of its Times.
func (e *Scheduler) takeCrashFault(c *Container) bool {
	ref := c.Spec.Image
	f, ok := e.cfg.Faults.TakeMatching("ecs", "task-crash", func(f faults.Fault) bool { return imageMatches(f.Image, ref, c.Digest) })
	c.crashReason = f.Message
	return ok
}

// crash ends a running task whose essential container exits with code 1.
func (e *Scheduler) crash(task *Task, t time.Time) {
	one := 1
	for _, c := range task.Containers {
		if c.crashes {
			c.ExitCode = &one
			c.Reason = c.crashReason
		}
	}
	e.failTask(task, t, "EssentialContainerExited", "Essential container in task exited")
}

// failTask stops a task that failed and counts the failure against its
// deployment.
func (e *Scheduler) failTask(task *Task, t time.Time, code, reason string) {
	task.Deployment.FailedTasks++
	task.Deployment.UpdatedAt = t
	task.StoppingAt = t
	task.DesiredStatus = "STOPPED"
	task.StopCode, task.StoppedReason = code, reason
	e.finishStop(task, t, 137)
}

// stopTask has the scheduler stop a task: one that has not started stops at
// once, a running one drains first.
func (e *Scheduler) stopTask(task *Task, t time.Time, code, reason string, now bool) {
	task.DesiredStatus = "STOPPED"
	task.StopCode, task.StoppedReason = code, reason
	task.StoppingAt = t
	task.Version++
	if now || task.LastStatus != "RUNNING" {
		e.finishStop(task, t, 0)
		return
	}
	task.LastStatus = "DEACTIVATING"
	task.next = t.Add(task.Service.Timing.Stop)
}

// finishStop marks a task STOPPED; containers still running exit with
// exitCode (0 after a graceful stop, 137 when killed).
func (e *Scheduler) finishStop(task *Task, t time.Time, exitCode int) {
	task.LastStatus, task.StoppedAt, task.next = "STOPPED", t, time.Time{}
	task.Version++
	for _, c := range task.Containers {
		if c.LastStatus == "RUNNING" && c.ExitCode == nil {
			code := exitCode
			c.ExitCode = &code
		}
		c.LastStatus = "STOPPED"
	}
	svc := task.Service
	svc.Live = slices.DeleteFunc(svc.Live, func(x *Task) bool { return x == task })
	svc.Cluster.retire(task)
}

// retire keeps a STOPPED task describable for a while, as ECS keeps
// stopped tasks for about an hour, dropping the oldest beyond
// maxStoppedTasks.
func (cl *Cluster) retire(task *Task) {
	cl.stopped = append(cl.stopped, task)
	if len(cl.stopped) > maxStoppedTasks {
		delete(cl.Tasks, cl.stopped[0].ID)
		cl.stopped = cl.stopped[1:]
	}
}
