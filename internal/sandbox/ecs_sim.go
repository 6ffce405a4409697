package sandbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ecsSvc is a service and its rollout state.
type ecsSvc struct {
	account   string
	cluster   *ecsCluster
	name      string
	arn       string
	status    string // ACTIVE, DRAINING or INACTIVE
	desired   int
	createdAt time.Time
	createdBy string

	cbEnable, cbRollback bool
	maxPct, minPct       int
	timing               ecsServiceTiming

	// deployments are newest first: the PRIMARY, then ACTIVE ones still
	// running tasks, then drained INACTIVE ones until they are dropped.
	deployments []*ecsDeployment
	// serviceDeployments are newest first and kept for good.
	serviceDeployments []*ecsServiceDeployment
	// live are the tasks not yet STOPPED.
	live   []*ecsTask
	events []ecsEventJSON // newest first
	// clock is the time up to which the simulation has run.
	clock time.Time
}

// ecsDeployment is one entry of a service's deployments[].
type ecsDeployment struct {
	id            string
	status        string // PRIMARY, ACTIVE, INACTIVE
	td            *ecsTaskDef
	desired       int
	createdAt     time.Time
	updatedAt     time.Time
	rolloutState  string // IN_PROGRESS, COMPLETED, FAILED
	rolloutReason string
	failedTasks   int
	revisionArn   string
	// sd is the service deployment this deployment carries out; for a
	// rollback, the one being rolled back.
	sd       *ecsServiceDeployment
	rollback bool
	// removeAt is when an INACTIVE deployment leaves deployments[].
	removeAt time.Time
	// warnedUnstable is set once the service has said it cannot start
	// this deployment's tasks consistently.
	warnedUnstable bool
}

// ecsServiceDeployment is a deployment as the ServiceDeployment API shows it.
type ecsServiceDeployment struct {
	arn          string
	createdAt    time.Time
	startedAt    time.Time
	finishedAt   time.Time
	stoppedAt    time.Time
	updatedAt    time.Time
	status       string
	statusReason string
	target       *ecsDeployment
	sources      []*ecsDeployment
	cbStatus     string
	cbThreshold  int
	maxPct       int
	minPct       int
	cbEnable     bool
	cbRollback   bool
	rollback     *ecsRollbackJSON
}

// ecsTask is one task a service started.
type ecsTask struct {
	id, arn       string
	svc           *ecsSvc
	dep           *ecsDeployment
	td            *ecsTaskDef
	lastStatus    string
	desiredStatus string
	containers    []*ecsContainer
	createdAt     time.Time
	pullStartedAt time.Time
	pullStoppedAt time.Time
	startedAt     time.Time
	stoppingAt    time.Time
	stoppedAt     time.Time
	stoppedReason string
	stopCode      string
	version       int
	// next is when the task next changes by itself; zero when it will not.
	next time.Time
}

type ecsContainer struct {
	spec       ecsContainerSpec
	arn        string
	runtimeID  string
	lastStatus string
	digest     string
	exitCode   *int
	reason     string
	crashes    bool
}

func (svc *ecsSvc) primary() *ecsDeployment { return svc.deployments[0] }

func (svc *ecsSvc) addEvent(t time.Time, format string, args ...any) {
	// Events that happen together still get distinct times, a millisecond
	// apart (the precision of the wire), so that a client printing the
	// events newer than the last it saw misses none.
	if len(svc.events) > 0 {
		if last := svc.events[0].CreatedAt.Time; !t.After(last.Add(time.Millisecond - 1)) {
			t = last.Add(time.Millisecond)
		}
	}
	t = t.Truncate(time.Millisecond)
	ev := ecsEventJSON{ID: newRequestID(), CreatedAt: ecsAt(t), Message: fmt.Sprintf(format, args...)}
	svc.events = append([]ecsEventJSON{ev}, svc.events...)
	if len(svc.events) > ecsMaxServiceEvents {
		svc.events = svc.events[:ecsMaxServiceEvents]
	}
}

// ecsCircuitBreakerThreshold is ECS's: half the desired count, at least 3 and
// at most 200.
func ecsCircuitBreakerThreshold(desired int) int {
	return min(200, max(3, (desired+1)/2))
}

// newDeployment makes d the service's PRIMARY deployment, with a service
// deployment of its own.
func (e *ecsService) newDeployment(svc *ecsSvc, td *ecsTaskDef, now time.Time) *ecsDeployment {
	d := &ecsDeployment{
		id:           "ecs-svc/" + ecsRandomDigits(19),
		status:       "PRIMARY",
		td:           td,
		desired:      svc.desired,
		createdAt:    now,
		updatedAt:    now,
		rolloutState: "IN_PROGRESS",
		revisionArn:  e.arn(svc.account, "service-revision/"+svc.cluster.name+"/"+svc.name+"/"+ecsRandomDigits(19)),
	}
	sd := &ecsServiceDeployment{
		arn:         e.arn(svc.account, "service-deployment/"+svc.cluster.name+"/"+svc.name+"/"+ecsRandomBase62(21)),
		createdAt:   now,
		startedAt:   now,
		updatedAt:   now,
		status:      "IN_PROGRESS",
		target:      d,
		cbThreshold: ecsCircuitBreakerThreshold(svc.desired),
		maxPct:      svc.maxPct,
		minPct:      svc.minPct,
		cbEnable:    svc.cbEnable,
		cbRollback:  svc.cbRollback,
		cbStatus:    "DISABLED",
	}
	if svc.cbEnable {
		sd.cbStatus = "MONITORING"
	}
	for _, old := range svc.deployments {
		if old.status == "INACTIVE" {
			continue
		}
		old.status = "ACTIVE"
		old.updatedAt = now
		sd.sources = append(sd.sources, old)
		if old.sd != nil && old.sd.finishedAt.IsZero() && old.sd.stoppedAt.IsZero() {
			// A deployment still rolling out is superseded by this one.
			old.sd.status = "STOPPED"
			old.sd.statusReason = "Service deployment stopped because a newer service deployment started."
			old.sd.stoppedAt, old.sd.updatedAt = now, now
			if old.sd.cbStatus == "MONITORING" {
				old.sd.cbStatus = "MONITORING_COMPLETE"
			}
		}
	}
	d.sd = sd
	svc.deployments = append([]*ecsDeployment{d}, svc.deployments...)
	svc.serviceDeployments = append([]*ecsServiceDeployment{sd}, svc.serviceDeployments...)
	return d
}

// newTask launches a task for deployment d.
func (e *ecsService) newTask(svc *ecsSvc, d *ecsDeployment, now time.Time) *ecsTask {
	id := ecsRandomHex(32)
	t := &ecsTask{
		id:            id,
		arn:           e.arn(svc.account, "task/"+svc.cluster.name+"/"+id),
		svc:           svc,
		dep:           d,
		td:            d.td,
		lastStatus:    "PROVISIONING",
		desiredStatus: "RUNNING",
		createdAt:     now,
		version:       1,
		next:          now.Add(svc.timing.start / 2),
	}
	for _, c := range d.td.containers {
		t.containers = append(t.containers, &ecsContainer{
			spec:       c,
			arn:        e.arn(svc.account, "container/"+svc.cluster.name+"/"+id+"/"+newRequestID()),
			lastStatus: "PENDING",
		})
	}
	svc.live = append(svc.live, t)
	svc.cluster.tasks[id] = t
	return t
}

// advance runs every service's simulation up to now.
func (e *ecsService) advance(now time.Time) {
	for _, a := range e.accounts {
		for _, cl := range a.clusters {
			for _, svc := range cl.services {
				e.simulate(svc, now)
			}
		}
	}
}

// simulate replays a service's rollout event by event up to now, so that
// every change carries the time it happened at, however rarely anyone looks.
func (e *ecsService) simulate(svc *ecsSvc, now time.Time) {
	if now.Before(svc.clock) {
		return
	}
	t := svc.clock
	for range 1_000_000 {
		e.schedule(svc, t)
		// Every task due at the earliest moment changes before the
		// scheduler looks again, as tasks launched together start together.
		var next time.Time
		for _, task := range svc.live {
			if !task.next.IsZero() && !task.next.After(now) && (next.IsZero() || task.next.Before(next)) {
				next = task.next
			}
		}
		if next.IsZero() {
			break
		}
		t = next
		for _, task := range slices.Clone(svc.live) {
			if task.next.Equal(t) {
				e.step(task, t)
			}
		}
	}
	e.schedule(svc, now)
	svc.clock = now
}

// ecsCounts are a deployment's tasks by state.
type ecsCounts struct{ pending, running, stopping int }

func (svc *ecsSvc) countsOf(d *ecsDeployment) ecsCounts {
	var c ecsCounts
	for _, t := range svc.live {
		if t.dep != d {
			continue
		}
		switch {
		case t.desiredStatus == "STOPPED":
			c.stopping++
		case t.lastStatus == "RUNNING":
			c.running++
		default:
			c.pending++
		}
	}
	return c
}

// schedule is the service scheduler: it launches tasks for the PRIMARY
// deployment within maximumPercent, stops old tasks within
// minimumHealthyPercent, trips the circuit breaker, and settles deployments.
func (e *ecsService) schedule(svc *ecsSvc, t time.Time) {
	kept := svc.deployments[:0]
	for i, d := range svc.deployments {
		if i > 0 && d.status == "INACTIVE" && !d.removeAt.After(t) {
			continue
		}
		kept = append(kept, d)
	}
	svc.deployments = kept
	if svc.status != "ACTIVE" {
		return
	}
	p := svc.primary()
	p.desired = svc.desired
	if p.rolloutState == "IN_PROGRESS" && svc.cbEnable && p.sd != nil && p.failedTasks >= p.sd.cbThreshold {
		e.tripCircuitBreaker(svc, p, t)
		p = svc.primary()
	}
	if p.rolloutState == "IN_PROGRESS" && !svc.cbEnable && !p.warnedUnstable && p.failedTasks >= ecsCircuitBreakerThreshold(svc.desired) {
		p.warnedUnstable = true
		svc.addEvent(t, "(service %s) is unable to consistently start tasks successfully. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.", svc.name)
	}

	pc := svc.countsOf(p)
	active := 0
	for _, task := range svc.live {
		if task.desiredStatus == "RUNNING" {
			active++
		}
	}
	// Launch the PRIMARY's missing tasks, unless its rollout failed for good.
	if p.rolloutState != "FAILED" {
		maxTotal := max(1, svc.desired*svc.maxPct/100)
		if n := min(svc.desired-pc.running-pc.pending, maxTotal-active); n > 0 {
			ids := make([]string, 0, n)
			for range n {
				task := e.newTask(svc, p, t)
				ids = append(ids, "(task "+task.id+")")
			}
			p.updatedAt = t
			svc.addEvent(t, "(service %s) has started %d tasks: %s.", svc.name, n, strings.Join(ids, " "))
			pc = svc.countsOf(p)
		}
	}

	// Tasks of older deployments that have not started yet are stopped at
	// once; running ones as far as minimumHealthyPercent allows.
	var pendingOld, runningOld []*ecsTask
	runningAll := 0
	for _, task := range svc.live {
		if task.desiredStatus != "RUNNING" {
			continue
		}
		if task.lastStatus == "RUNNING" {
			runningAll++
		}
		if task.dep == p {
			continue
		}
		if task.lastStatus == "RUNNING" {
			runningOld = append(runningOld, task)
		} else {
			pendingOld = append(pendingOld, task)
		}
	}
	// Surplus tasks of the PRIMARY itself (the desired count went down).
	if extra := pc.running + pc.pending - svc.desired; extra > 0 {
		for i := len(svc.live) - 1; i >= 0 && extra > 0; i-- {
			if task := svc.live[i]; task.dep == p && task.desiredStatus == "RUNNING" {
				if task.lastStatus == "RUNNING" {
					runningOld = append(runningOld, task)
				} else {
					pendingOld = append(pendingOld, task)
				}
				extra--
			}
		}
	}
	for _, task := range pendingOld {
		e.stopTask(task, t, "ServiceSchedulerInitiated", "Scaling activity initiated by (deployment "+p.id+")", true)
	}
	minHealthy := (svc.desired*svc.minPct + 99) / 100
	if n := min(len(runningOld), runningAll-minHealthy); n > 0 && p.rolloutState != "FAILED" {
		ids := make([]string, 0, n)
		for _, task := range runningOld[:n] {
			e.stopTask(task, t, "ServiceSchedulerInitiated", "Scaling activity initiated by (deployment "+p.id+")", false)
			ids = append(ids, "(task "+task.id+")")
		}
		svc.addEvent(t, "(service %s) has stopped %d running tasks: %s.", svc.name, n, strings.Join(ids, " "))
	}

	// Older deployments without tasks are drained.
	othersLive := false
	for _, d := range svc.deployments[1:] {
		c := svc.countsOf(d)
		if d.status == "ACTIVE" && c.pending+c.running+c.stopping == 0 {
			d.status, d.updatedAt, d.desired = "INACTIVE", t, 0
			d.removeAt = t.Add(e.settings.inactiveLinger())
		}
		if d.status == "ACTIVE" {
			othersLive = true
			d.desired = c.pending + c.running
		}
	}
	pc = svc.countsOf(p)
	if p.rolloutState == "IN_PROGRESS" && !othersLive && pc.running == svc.desired && pc.pending == 0 && pc.stopping == 0 {
		e.completeDeployment(svc, p, t)
	}
}

func (e *ecsService) completeDeployment(svc *ecsSvc, p *ecsDeployment, t time.Time) {
	p.rolloutState, p.rolloutReason, p.updatedAt = "COMPLETED", "ECS deployment "+p.id+" completed.", t
	if sd := p.sd; sd != nil {
		if p.rollback {
			sd.status = "ROLLBACK_SUCCESSFUL"
			sd.statusReason = "Service deployment rolled back because the circuit breaker threshold was exceeded."
		} else {
			sd.status = "SUCCESSFUL"
			sd.statusReason = ""
			if sd.cbStatus == "MONITORING" {
				sd.cbStatus = "MONITORING_COMPLETE"
			}
		}
		sd.finishedAt, sd.updatedAt = t, t
	}
	svc.addEvent(t, "(service %s) (deployment %s) deployment completed.", svc.name, p.id)
	svc.addEvent(t, "(service %s) has reached a steady state.", svc.name)
}

// tripCircuitBreaker fails the PRIMARY deployment and, when rollback is on,
// rolls back to the deployment it replaced.
func (e *ecsService) tripCircuitBreaker(svc *ecsSvc, p *ecsDeployment, t time.Time) {
	const reason = "ECS deployment circuit breaker: tasks failed to start."
	p.rolloutState, p.rolloutReason, p.updatedAt = "FAILED", reason, t
	sd := p.sd
	svc.addEvent(t, "(service %s) (deployment %s) deployment failed: tasks failed to start.", svc.name, p.id)
	if p.rollback {
		// The rollback itself failed: nothing older to go back to.
		sd.status, sd.statusReason = "ROLLBACK_FAILED", "Service deployment rollback failed because the circuit breaker threshold was exceeded."
		sd.finishedAt, sd.updatedAt = t, t
		return
	}
	sd.cbStatus = "TRIGGERED"
	sd.updatedAt = t
	var target *ecsDeployment
	for _, d := range svc.deployments[1:] {
		if d.rolloutState == "COMPLETED" {
			target = d
			break
		}
	}
	if !svc.cbRollback || target == nil {
		sd.status, sd.statusReason = "STOPPED", reason
		sd.stoppedAt = t
		return
	}
	sd.status = "ROLLBACK_IN_PROGRESS"
	sd.statusReason = "Service deployment rolling back because the circuit breaker threshold was exceeded."
	sd.rollback = &ecsRollbackJSON{
		Reason:             "Service deployment rolled back because the circuit breaker threshold was exceeded.",
		StartedAt:          ecsAt(t),
		ServiceRevisionArn: target.revisionArn,
	}
	// The rollback is a new PRIMARY deployment of the old revision; it adopts
	// the old revision's tasks that still run.
	p.status = "ACTIVE"
	r := &ecsDeployment{
		id:           "ecs-svc/" + ecsRandomDigits(19),
		status:       "PRIMARY",
		td:           target.td,
		desired:      svc.desired,
		createdAt:    t,
		updatedAt:    t,
		rolloutState: "IN_PROGRESS",
		revisionArn:  target.revisionArn,
		sd:           sd,
		rollback:     true,
	}
	for _, task := range svc.live {
		if task.dep != p && task.td == target.td && task.desiredStatus == "RUNNING" && task.lastStatus == "RUNNING" {
			task.dep = r
			task.version++
		}
	}
	svc.deployments = append([]*ecsDeployment{r}, svc.deployments...)
	svc.addEvent(t, "(service %s) rolling back to deployment %s.", svc.name, target.id)
}

// step applies the change a task makes by itself at time t.
func (e *ecsService) step(task *ecsTask, t time.Time) {
	switch {
	case task.desiredStatus == "STOPPED":
		e.finishStop(task, t, 0)
	case task.lastStatus == "PROVISIONING":
		task.lastStatus, task.pullStartedAt, task.version = "PENDING", t, task.version+1
		task.next = task.createdAt.Add(task.svc.timing.start)
	case task.lastStatus == "PENDING":
		e.pull(task, t)
	case task.lastStatus == "RUNNING":
		e.crash(task, t)
	default:
		task.next = time.Time{}
	}
}

// pull "pulls" every container image of a task: an image on an ECR front
// must resolve there, or the task fails to start as ECS's would.
func (e *ecsService) pull(task *ecsTask, t time.Time) {
	task.pullStoppedAt = t
	for _, c := range task.containers {
		ref := c.spec.Image
		if _, digest, ok := strings.Cut(ref, "@"); ok {
			c.digest = digest
		}
		if !e.onECRFront(ref) || e.bootImages[ref] {
			continue
		}
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		digest, found, err := e.s.ecr.imageExists(ctx, ref)
		cancel()
		if err != nil || !found {
			// An ECR host the sandbox does not serve cannot have the image.
			cause := "not found"
			if err != nil && !errors.Is(err, errNotSandboxRegistry) {
				cause = err.Error()
			}
			reason := fmt.Sprintf("CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref %s: %s", ref, cause)
			c.reason = reason
			e.failTask(task, t, "TaskFailedToStart", reason)
			return
		}
		c.digest = digest
	}
	task.lastStatus, task.startedAt, task.version = "RUNNING", t, task.version+1
	task.next = time.Time{}
	for _, c := range task.containers {
		c.lastStatus = "RUNNING"
		c.runtimeID = task.id + "-" + ecsRandomDigits(10)
		if c.spec.Essential && e.takeCrashFault(c) {
			c.crashes = true
			task.next = t.Add(task.svc.timing.crash)
		}
	}
}

// takeCrashFault reports whether an injected "task-crash" fault matches the
// container's image, consuming one of its Times.
func (e *ecsService) takeCrashFault(c *ecsContainer) bool {
	ref := c.spec.Image
	_, ok := e.s.faults.takeMatching("ecs", "task-crash", func(f Fault) bool {
		img := f.Image
		return img == "" || img == ref || strings.HasSuffix(ref, "/"+img) || (c.digest != "" && img == c.digest)
	})
	return ok
}

// crash ends a running task whose essential container exits with code 1.
func (e *ecsService) crash(task *ecsTask, t time.Time) {
	one := 1
	for _, c := range task.containers {
		if c.crashes {
			c.exitCode = &one
		}
	}
	e.failTask(task, t, "EssentialContainerExited", "Essential container in task exited")
}

// failTask stops a task that failed and ecsCounts the failure against its
// deployment.
func (e *ecsService) failTask(task *ecsTask, t time.Time, code, reason string) {
	task.dep.failedTasks++
	task.dep.updatedAt = t
	task.stoppingAt = t
	task.desiredStatus = "STOPPED"
	task.stopCode, task.stoppedReason = code, reason
	e.finishStop(task, t, 137)
}

// stopTask has the scheduler stop a task: one that has not started stops at
// once, a running one drains first.
func (e *ecsService) stopTask(task *ecsTask, t time.Time, code, reason string, now bool) {
	task.desiredStatus = "STOPPED"
	task.stopCode, task.stoppedReason = code, reason
	task.stoppingAt = t
	task.version++
	if now || task.lastStatus != "RUNNING" {
		e.finishStop(task, t, 0)
		return
	}
	task.lastStatus = "DEACTIVATING"
	task.next = t.Add(task.svc.timing.stop)
}

// finishStop marks a task STOPPED; containers still running exit with
// exitCode (0 after a graceful stop, 137 when killed).
func (e *ecsService) finishStop(task *ecsTask, t time.Time, exitCode int) {
	task.lastStatus, task.stoppedAt, task.next = "STOPPED", t, time.Time{}
	task.version++
	for _, c := range task.containers {
		if c.lastStatus == "RUNNING" && c.exitCode == nil {
			code := exitCode
			c.exitCode = &code
		}
		c.lastStatus = "STOPPED"
	}
	svc := task.svc
	svc.live = slices.DeleteFunc(svc.live, func(x *ecsTask) bool { return x == task })
	cl := svc.cluster
	cl.stopped = append(cl.stopped, task)
	if len(cl.stopped) > ecsMaxStoppedTasks {
		delete(cl.tasks, cl.stopped[0].id)
		cl.stopped = cl.stopped[1:]
	}
}

// takeMatching takes the first fault of a service and operation that match
// accepts, consuming one of its Times.
func (fs *faultSet) takeMatching(service, operation string, match func(Fault) bool) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.faults {
		if f.left == 0 || f.Service != service || f.Operation != operation || !match(f.Fault) {
			continue
		}
		if f.left > 0 {
			f.left--
		}
		return f.Fault, true
	}
	return Fault{}, false
}
