package sim

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/taskdef"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/faults"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/randid"
)

// Program is what a container of a standalone task does once it runs:
// it writes Logs, evenly spread over RunFor, then exits with ExitCode.
type Program struct {
	ExitCode int
	RunFor   time.Duration
	Logs     []string
}

// LogSink receives what containers write through the awslogs driver;
// the CloudWatch Logs stand-in is one.
type LogSink interface {
	// CreateStream creates a log stream as the driver does when a
	// container starts; it fails when the log group does not exist and
	// createGroup is not set.
	CreateStream(account, group, stream string, createGroup bool, t time.Time) error
	// Put appends one event at t to a stream.
	Put(account, group, stream, message string, t time.Time)
}

// AWSLogs is a container's awslogs log configuration: the log group, the
// stream prefix (the stream is PREFIX/CONTAINER/TASK-ID, or the container's
// runtime ID without one), and awslogs-create-group.
type AWSLogs struct {
	Group, StreamPrefix string
	CreateGroup         bool
}

// StandaloneContainer is one container of a task RunTask starts.
type StandaloneContainer struct {
	Spec taskdef.Container
	// Program is what it does once it runs.
	Program Program
	// Logs is its awslogs configuration; nil when its output goes nowhere
	// the sandbox keeps.
	Logs *AWSLogs
}

// StandaloneSpec is a task RunTask starts, as the simulation needs it.
type StandaloneSpec struct {
	Account string
	Cluster *Cluster
	TaskDef *taskdef.Revision
	// Containers follow the task definition's order.
	Containers                                     []StandaloneContainer
	Group, StartedBy, LaunchType, CapacityProvider string
	Overrides                                      any
	// Timing is how fast the task starts and stops.
	Timing Timing
}

// containerRun is the progress of a standalone task's container.
type containerRun struct {
	program Program
	logs    *AWSLogs
	stream  string
	timing  Timing
	// written is how many of the program's log lines are out.
	written int
}

// RunTask starts a standalone task at now: it provisions, pulls its images
// (failing to start as ECS's tasks do when one is missing), creates its
// log streams, runs each container's program and stops when an essential
// container exits. An "ecs" fault "task-exit" whose Image matches an
// essential container makes it exit with the fault's ExitCode instead.
func (e *Scheduler) RunTask(spec StandaloneSpec, now time.Time) *Task {
	id := randid.Hex(32)
	cl := spec.Cluster
	t := &Task{
		ID:               id,
		ARN:              e.arn(spec.Account, "task/"+cl.Name+"/"+id),
		Cluster:          cl,
		TaskDef:          spec.TaskDef,
		Group:            spec.Group,
		StartedBy:        spec.StartedBy,
		LaunchType:       spec.LaunchType,
		CapacityProvider: spec.CapacityProvider,
		Overrides:        spec.Overrides,
		LastStatus:       "PROVISIONING",
		DesiredStatus:    "RUNNING",
		CreatedAt:        now,
		Version:          1,
		next:             now.Add(spec.Timing.Start / 2),
	}
	for _, sc := range spec.Containers {
		program := sc.Program
		if sc.Spec.Essential {
			if f, ok := e.cfg.Faults.TakeMatching("ecs", "task-exit", func(f faults.Fault) bool { return imageMatches(f.Image, sc.Spec.Image, "") }); ok {
				program.ExitCode = f.ExitCode
			}
		}
		t.Containers = append(t.Containers, &Container{
			Spec:       sc.Spec,
			ARN:        e.arn(spec.Account, "container/"+cl.Name+"/"+id+"/"+randid.UUID()),
			LastStatus: "PENDING",
			run:        &containerRun{program: program, logs: sc.Logs, timing: spec.Timing},
		})
	}
	cl.Tasks[id] = t
	cl.Standalone = append(cl.Standalone, t)
	return t
}

// imageMatches reports whether a fault's image names ref (or its digest):
// empty matches every image.
func imageMatches(img, ref, digest string) bool {
	return img == "" || img == ref || strings.HasSuffix(ref, "/"+img) || (digest != "" && img == digest)
}

// RunStandalone replays the cluster's standalone tasks up to now, change by
// change, in the order they happen.
func (e *Scheduler) RunStandalone(account string, cl *Cluster, now time.Time) {
	for range 1_000_000 {
		var next *Task
		for _, t := range cl.Standalone {
			if !t.next.IsZero() && !t.next.After(now) && (next == nil || t.next.Before(next.next)) {
				next = t
			}
		}
		if next == nil {
			return
		}
		e.stepStandalone(account, next, next.next)
	}
}

// stepStandalone applies the change a standalone task makes by itself at t.
func (e *Scheduler) stepStandalone(account string, task *Task, t time.Time) {
	timing := task.Containers[0].run.timing
	switch task.LastStatus {
	case "PROVISIONING":
		task.LastStatus, task.PullStartedAt, task.Version = "PENDING", t, task.Version+1
		task.next = task.CreatedAt.Add(timing.Start)
	case "PENDING":
		if reason := e.pullImages(task, t); reason != "" {
			e.stopStandalone(task, t, "TaskFailedToStart", reason)
			return
		}
		if reason := e.createLogStreams(account, task, t); reason != "" {
			e.stopStandalone(task, t, "TaskFailedToStart", reason)
			return
		}
		task.LastStatus, task.StartedAt, task.Version = "RUNNING", t, task.Version+1
		for _, c := range task.Containers {
			c.LastStatus = "RUNNING"
		}
		task.next = e.nextOfStandalone(task)
	case "RUNNING":
		e.runPrograms(account, task, t)
	default:
		task.next = time.Time{}
	}
}

// createLogStreams creates the awslogs streams of a task's containers, as
// the driver does before they start; it returns why the task cannot start
// when a log group is missing.
func (e *Scheduler) createLogStreams(account string, task *Task, t time.Time) string {
	for _, c := range task.Containers {
		c.RuntimeID = task.ID + "-" + randid.Digits(10)
		l := c.run.logs
		if l == nil || e.cfg.Logs == nil {
			continue
		}
		c.run.stream = c.RuntimeID
		if l.StreamPrefix != "" {
			c.run.stream = l.StreamPrefix + "/" + c.Spec.Name + "/" + task.ID
		}
		if err := e.cfg.Logs.CreateStream(account, l.Group, c.run.stream, l.CreateGroup, t); err != nil {
			return fmt.Sprintf("ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: %v : exit status 1", err)
		}
	}
	return ""
}

// lineAt is when a program writes its i-th of n log lines: evenly spread,
// the last one before it exits.
func (r *containerRun) lineAt(start time.Time, i int) time.Time {
	n := len(r.program.Logs)
	return start.Add(r.program.RunFor * time.Duration(i+1) / time.Duration(n+1))
}

// nextOfStandalone is when a running standalone task next changes: a
// container writes a line or exits.
func (e *Scheduler) nextOfStandalone(task *Task) time.Time {
	var next time.Time
	earliest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, c := range task.Containers {
		if c.LastStatus != "RUNNING" {
			continue
		}
		r := c.run
		if r.written < len(r.program.Logs) {
			earliest(r.lineAt(task.StartedAt, r.written))
		} else {
			earliest(task.StartedAt.Add(r.program.RunFor))
		}
	}
	return next
}

// runPrograms writes the lines that are due at t and ends the containers
// whose program is done; an essential container's exit stops the task.
func (e *Scheduler) runPrograms(account string, task *Task, t time.Time) {
	essentialExited := false
	for _, c := range task.Containers {
		if c.LastStatus != "RUNNING" {
			continue
		}
		r := c.run
		for r.written < len(r.program.Logs) && !r.lineAt(task.StartedAt, r.written).After(t) {
			if r.stream != "" {
				e.cfg.Logs.Put(account, r.logs.Group, r.stream, r.program.Logs[r.written], r.lineAt(task.StartedAt, r.written))
			}
			r.written++
		}
		if r.written == len(r.program.Logs) && !task.StartedAt.Add(r.program.RunFor).After(t) {
			code := r.program.ExitCode
			c.ExitCode, c.LastStatus = &code, "STOPPED"
			essentialExited = essentialExited || c.Spec.Essential
		}
	}
	task.Version++
	if essentialExited {
		e.stopStandalone(task, t, "EssentialContainerExited", "Essential container in task exited")
		return
	}
	task.next = e.nextOfStandalone(task)
}

// StopTask stops a task as StopTask does: a standalone task's containers
// get SIGTERM and exit with 143; a service's task drains, and its service
// starts another.
func (e *Scheduler) StopTask(task *Task, t time.Time, reason string) {
	if task.DesiredStatus == "STOPPED" {
		return
	}
	if reason == "" {
		reason = "Task stopped by user"
	}
	if task.Service != nil {
		e.stopTask(task, t, "UserInitiated", reason, false)
		return
	}
	for _, c := range task.Containers {
		if c.LastStatus == "RUNNING" {
			code := 143
			c.ExitCode = &code
		}
	}
	e.stopStandalone(task, t, "UserInitiated", reason)
}

// stopStandalone stops a standalone task at t; containers still running
// exit with 0, as after a graceful SIGTERM.
func (e *Scheduler) stopStandalone(task *Task, t time.Time, code, reason string) {
	task.DesiredStatus, task.StopCode, task.StoppedReason = "STOPPED", code, reason
	task.StoppingAt, task.StoppedAt, task.LastStatus, task.next = t, t, "STOPPED", time.Time{}
	// A container that never ran has no exit code.
	for _, c := range task.Containers {
		if c.LastStatus == "RUNNING" && c.ExitCode == nil {
			zero := 0
			c.ExitCode = &zero
		}
		c.LastStatus = "STOPPED"
	}
	task.Version++
	cl := task.Cluster
	cl.Standalone = slices.DeleteFunc(cl.Standalone, func(x *Task) bool { return x == task })
	cl.retire(task)
}
