package sim

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/taskdef"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/randid"
)

// A service whose deployment controller is CODE_DEPLOY runs task sets:
// each of its Deployments is one, with a scale of the service's desired
// count, and CodeDeploy moves between them (CreateTaskSet,
// UpdateServicePrimaryTaskSet, DeleteTaskSet) where ECS's own scheduler
// would replace one deployment by the next.

// The task set statuses.
const (
	TaskSetPrimary  = "PRIMARY"
	TaskSetActive   = "ACTIVE"
	TaskSetDraining = "DRAINING"
)

// CodeDeployController is the deployment controller of a service of task
// sets.
const CodeDeployController = "CODE_DEPLOY"

// TaskSets reports whether the service runs task sets.
func (svc *Service) TaskSets() bool { return svc.Controller == CodeDeployController }

// taskSetARN is the ARN of a task set of svc.
func (e *Scheduler) taskSetARN(svc *Service, id string) string {
	return e.arn(svc.Account, "task-set/"+svc.Cluster.Name+"/"+svc.Name+"/"+id)
}

// CreateTaskSet starts a task set of td beside the service's others, at
// scale percent of its desired count, marked with externalID (the
// CodeDeploy deployment that made it).
func (e *Scheduler) CreateTaskSet(svc *Service, td *taskdef.Revision, externalID string, scale float64, now time.Time) *Deployment {
	id := "ecs-svc/" + randid.Digits(19)
	d := &Deployment{
		ID: id, Status: TaskSetActive, TaskDef: td, CreatedAt: now, UpdatedAt: now,
		Scale: scale, ExternalID: externalID, TaskSetARN: e.taskSetARN(svc, id),
	}
	svc.Deployments = append(svc.Deployments, d)
	e.schedule(svc, now)
	return d
}

// SetPrimaryTaskSet makes a task set the service's PRIMARY: the one whose
// task definition the service reports.
func (e *Scheduler) SetPrimaryTaskSet(svc *Service, d *Deployment, now time.Time) {
	for _, other := range svc.Deployments {
		if other.Status == TaskSetPrimary {
			other.Status, other.UpdatedAt = TaskSetActive, now
		}
	}
	d.Status, d.UpdatedAt = TaskSetPrimary, now
	svc.Deployments = append([]*Deployment{d}, slices.DeleteFunc(svc.Deployments, func(x *Deployment) bool { return x == d })...)
}

// DeleteTaskSet drains a task set: its tasks stop, then it is gone.
func (e *Scheduler) DeleteTaskSet(svc *Service, d *Deployment, now time.Time) {
	d.Status, d.Scale, d.UpdatedAt = TaskSetDraining, 0, now
	e.schedule(svc, now)
}

// TaskSet finds a task set by its ID or ARN; nil when the service has none.
func (svc *Service) TaskSet(ref string) *Deployment {
	for _, d := range svc.Deployments {
		if d.ID == ref || d.TaskSetARN == ref || strings.HasSuffix(d.TaskSetARN, "/"+ref) {
			return d
		}
	}
	return nil
}

// Steady reports whether a task set runs its computed desired count and
// nothing else at t, each task for a stage's time at least: its load
// balancer's health checks passed.
func (svc *Service) Steady(d *Deployment, t time.Time) bool {
	c := svc.CountsOf(d)
	if c.Running != d.Desired || c.Pending != 0 || c.Stopping != 0 {
		return false
	}
	for _, task := range svc.Live {
		if task.Deployment == d && t.Before(task.StartedAt.Add(svc.Timing.Stage)) {
			return false
		}
	}
	return true
}

// scheduleTaskSets keeps every task set of the service at its share of the
// desired count: missing tasks start, surplus ones stop, and a drained
// task set without tasks is gone.
func (e *Scheduler) scheduleTaskSets(svc *Service, t time.Time) {
	svc.Deployments = slices.DeleteFunc(svc.Deployments, func(d *Deployment) bool {
		c := svc.CountsOf(d)
		return d.Status == TaskSetDraining && c.Pending+c.Running+c.Stopping == 0
	})
	if svc.Status != "ACTIVE" {
		return
	}
	for _, d := range svc.Deployments {
		d.Desired = int(math.Ceil(d.Scale * float64(svc.Desired) / 100))
		c := svc.CountsOf(d)
		if n := d.Desired - c.Running - c.Pending; n > 0 {
			ids := make([]string, 0, n)
			for range n {
				ids = append(ids, "(task "+e.newTask(svc, d, t).ID+")")
			}
			d.UpdatedAt = t
			svc.AddEvent(t, "(service %s, taskSet %s) has started %d tasks: %s.", svc.Name, d.ID, n, strings.Join(ids, " "))
			continue
		}
		extra := c.Running + c.Pending - d.Desired
		var ids []string
		for i := len(svc.Live) - 1; i >= 0 && extra > 0; i-- {
			if task := svc.Live[i]; task.Deployment == d && task.DesiredStatus == "RUNNING" {
				running := task.LastStatus == "RUNNING"
				e.stopTask(task, t, "ServiceSchedulerInitiated", "Scaling activity initiated by (taskSet "+d.ID+")", !running)
				if running {
					ids = append(ids, "(task "+task.ID+")")
				}
				extra--
			}
		}
		if len(ids) > 0 {
			svc.AddEvent(t, "(service %s, taskSet %s) has stopped %d running tasks: %s.", svc.Name, d.ID, len(ids), strings.Join(ids, " "))
		}
	}
}
