package ecs

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/sim"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/taskdef"
)

// What CodeDeploy does to the task sets of a CODE_DEPLOY service, with the
// service role its deployment group names. The sandbox wires CodeDeploy to
// these; they are not calls of ECS's API.

// TaskSetService is a service as CodeDeploy reads it.
type TaskSetService struct {
	ARN, Controller string
	// TaskDefinition is the ARN of the PRIMARY task set's revision, and
	// PrimaryTaskSet its ID.
	TaskDefinition, PrimaryTaskSet string
	LoadBalancers                  []LoadBalancer
	DesiredCount                   int
}

// TaskSetState is one task set as CodeDeploy reads it.
type TaskSetState struct {
	ID, ARN, Status, TaskDefinition string
	Desired, Running, Pending       int
	// FailedTasks counts its tasks that failed to start or crashed.
	FailedTasks int
	// Steady is set when it runs its desired count and nothing else.
	Steady bool
	// Gone is set once a drained task set has no tasks left.
	Gone bool
}

// taskSetService finds a service for CodeDeploy, with the simulation
// caught up to now. The caller holds e.mu.
func (e *Service) taskSetService(account, cluster, service string) (*account, *sim.Service, *awsproto.Error) {
	e.advance(e.cfg.Now())
	a := e.accounts[account]
	if a == nil || a.clusters[cluster] == nil {
		return nil, nil, awsproto.Errorf("ClusterNotFoundException", "Cluster not found.")
	}
	svc := a.clusters[cluster].Services[service]
	if svc == nil {
		return nil, nil, serviceNotFound()
	}
	return a, svc, nil
}

// DescribeTaskSetService reads a service for CodeDeploy.
func (e *Service) DescribeTaskSetService(account, cluster, service string) (TaskSetService, *awsproto.Error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, svc, apiErr := e.taskSetService(account, cluster, service)
	if apiErr != nil {
		return TaskSetService{}, apiErr
	}
	p := svc.Primary()
	return TaskSetService{
		ARN: svc.ARN, Controller: svc.Controller, TaskDefinition: p.TaskDef.ARN, PrimaryTaskSet: p.ID,
		LoadBalancers: slices.Clone(a.loadBalancers[svc]), DesiredCount: svc.Desired,
	}, nil
}

// CreateTaskSet starts a task set of taskDefinition beside the service's,
// at its full desired count, marked with externalID, as CreateTaskSet with
// the service's load balancer on containerName:containerPort does. ECS's
// checks apply: the revision must exist and be ACTIVE, and it must have
// that container with that port.
func (e *Service) CreateTaskSet(account, cluster, service, taskDefinition, containerName string, containerPort int, externalID string) (TaskSetState, *awsproto.Error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, svc, apiErr := e.taskSetService(account, cluster, service)
	if apiErr != nil {
		return TaskSetState{}, apiErr
	}
	if !svc.TaskSets() {
		return TaskSetState{}, taskdef.InvalidParameter("Amazon ECS only supports task sets on services configured to use the CODE_DEPLOY or EXTERNAL deployment controller types.")
	}
	_, td, apiErr := e.taskDefRef(a, taskDefinition)
	if apiErr != nil {
		return TaskSetState{}, apiErr
	}
	if td == nil {
		return TaskSetState{}, taskdef.ClientError("TaskDefinition not found.")
	}
	if td.Status != "ACTIVE" {
		return TaskSetState{}, taskdef.ClientError("TaskDefinition is inactive")
	}
	if problem := containerPortProblem(td, containerName, containerPort); problem != "" {
		return TaskSetState{}, taskdef.InvalidParameter("%s", problem)
	}
	d := e.scheduler.CreateTaskSet(svc, td, externalID, 100, e.cfg.Now())
	return taskSetState(svc, d, e.cfg.Now()), nil
}

// containerPortProblem says why a load balancer cannot send traffic to the
// container and port of a revision; empty when it can.
func containerPortProblem(td *taskdef.Revision, name string, port int) string {
	defs, _ := td.Body["containerDefinitions"].([]any)
	for _, raw := range defs {
		c, _ := raw.(map[string]any)
		if c["name"] != name {
			continue
		}
		mappings, _ := c["portMappings"].([]any)
		for _, m := range mappings {
			if pm, _ := m.(map[string]any); pm != nil && fmt.Sprint(pm["containerPort"]) == fmt.Sprint(port) {
				return ""
			}
		}
		return fmt.Sprintf("The container %s did not have a container port %d defined.", name, port)
	}
	var names []string
	for _, raw := range defs {
		if c, _ := raw.(map[string]any); c != nil {
			names = append(names, fmt.Sprint(c["name"]))
		}
	}
	return fmt.Sprintf("The container %s does not exist in the task definition (its containers: %s).", name, strings.Join(names, ", "))
}

// DescribeTaskSet reads a task set; Gone is set once it has drained away.
func (e *Service) DescribeTaskSet(account, cluster, service, id string) (TaskSetState, *awsproto.Error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, svc, apiErr := e.taskSetService(account, cluster, service)
	if apiErr != nil {
		return TaskSetState{}, apiErr
	}
	d := svc.TaskSet(id)
	if d == nil {
		return TaskSetState{ID: id, Status: sim.TaskSetDraining, Gone: true}, nil
	}
	return taskSetState(svc, d, e.cfg.Now()), nil
}

// SetPrimaryTaskSet makes a task set the service's PRIMARY, as
// UpdateServicePrimaryTaskSet does.
func (e *Service) SetPrimaryTaskSet(account, cluster, service, id string) *awsproto.Error {
	e.mu.Lock()
	defer e.mu.Unlock()
	svc, d, apiErr := e.taskSet(account, cluster, service, id)
	if apiErr != nil {
		return apiErr
	}
	e.scheduler.SetPrimaryTaskSet(svc, d, e.cfg.Now())
	return nil
}

// taskSet finds a task set of a service for CodeDeploy. The caller holds
// e.mu.
func (e *Service) taskSet(account, cluster, service, id string) (*sim.Service, *sim.Deployment, *awsproto.Error) {
	_, svc, apiErr := e.taskSetService(account, cluster, service)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	d := svc.TaskSet(id)
	if d == nil {
		return nil, nil, taskSetNotFound()
	}
	return svc, d, nil
}

// DeleteTaskSet drains a task set, as DeleteTaskSet does.
func (e *Service) DeleteTaskSet(account, cluster, service, id string) *awsproto.Error {
	e.mu.Lock()
	defer e.mu.Unlock()
	svc, d, apiErr := e.taskSet(account, cluster, service, id)
	if apiErr != nil {
		return apiErr
	}
	if d.Status == sim.TaskSetPrimary {
		return taskdef.InvalidParameter("The specified task set is the primary task set of the service and cannot be deleted.")
	}
	e.scheduler.DeleteTaskSet(svc, d, e.cfg.Now())
	return nil
}

func taskSetNotFound() *awsproto.Error {
	return &awsproto.Error{Status: 400, Code: "TaskSetNotFoundException", Message: "The specified task set could not be found."}
}

func taskSetState(svc *sim.Service, d *sim.Deployment, now time.Time) TaskSetState {
	c := svc.CountsOf(d)
	return TaskSetState{
		ID: d.ID, ARN: d.TaskSetARN, Status: d.Status, TaskDefinition: d.TaskDef.ARN,
		Desired: d.Desired, Running: c.Running, Pending: c.Pending, FailedTasks: d.FailedTasks, Steady: svc.Steady(d, now),
	}
}

// taskSetsJSON renders a CODE_DEPLOY service's task sets.
func (e *Service) taskSetsJSON(a *account, svc *sim.Service) []taskSetJSON {
	out := []taskSetJSON{}
	for _, d := range svc.Deployments {
		c := svc.CountsOf(d)
		stability := "STABILIZING"
		if svc.Steady(d, e.cfg.Now()) {
			stability = "STEADY_STATE"
		}
		lbs := slices.Clone(a.loadBalancers[svc])
		if lbs == nil {
			lbs = []LoadBalancer{}
		}
		out = append(out, taskSetJSON{
			ID: d.ID, TaskSetArn: d.TaskSetARN, ServiceArn: svc.ARN, ClusterArn: svc.Cluster.ARN,
			StartedBy: startedBy(d), ExternalID: d.ExternalID, Status: d.Status, TaskDefinition: d.TaskDef.ARN,
			ComputedDesiredCount: d.Desired, PendingCount: c.Pending, RunningCount: c.Running,
			CreatedAt: awsproto.At(d.CreatedAt), UpdatedAt: awsproto.At(d.UpdatedAt),
			LaunchType: "FARGATE", PlatformVersion: "1.4.0", PlatformFamily: "Linux",
			NetworkConfiguration: networkConfigurationFor(d.TaskDef), LoadBalancers: lbs,
			Scale: taskSetScale{Value: d.Scale, Unit: "PERCENT"}, StabilityStatus: stability, StabilityStatusAt: awsproto.At(d.UpdatedAt),
		})
	}
	return out
}

// startedBy is who created a task set: CodeDeploy, for one with an
// external ID.
func startedBy(d *sim.Deployment) string {
	if d.ExternalID != "" {
		return "CodeDeploy"
	}
	return ""
}
