package sandbox

import (
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/codedeploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs"
)

// codeDeployECS is the sandbox's ECS as CodeDeploy drives it: the task
// sets of CODE_DEPLOY services, with the service role of a deployment
// group.
type codeDeployECS struct{ ecs *ecs.Service }

var _ codedeploy.ECS = codeDeployECS{}

func (c codeDeployECS) Service(account, cluster, service string) (codedeploy.ECSService, *awsproto.Error) {
	svc, apiErr := c.ecs.DescribeTaskSetService(account, cluster, service)
	if apiErr != nil {
		return codedeploy.ECSService{}, apiErr
	}
	out := codedeploy.ECSService{ARN: svc.ARN, CodeDeploy: svc.Controller == "CODE_DEPLOY", TaskDefinition: svc.TaskDefinition, PrimaryTaskSet: svc.PrimaryTaskSet}
	if len(svc.LoadBalancers) > 0 {
		out.Container, out.Port = svc.LoadBalancers[0].ContainerName, svc.LoadBalancers[0].ContainerPort
	}
	return out, nil
}

func (c codeDeployECS) CreateTaskSet(account, cluster, service, taskDefinition, container string, port int, deploymentID string) (codedeploy.TaskSet, *awsproto.Error) {
	ts, apiErr := c.ecs.CreateTaskSet(account, cluster, service, taskDefinition, container, port, deploymentID)
	return taskSetOf(ts), apiErr
}

func (c codeDeployECS) TaskSet(account, cluster, service, id string) (codedeploy.TaskSet, *awsproto.Error) {
	ts, apiErr := c.ecs.DescribeTaskSet(account, cluster, service, id)
	return taskSetOf(ts), apiErr
}

func (c codeDeployECS) SetPrimaryTaskSet(account, cluster, service, id string) *awsproto.Error {
	return c.ecs.SetPrimaryTaskSet(account, cluster, service, id)
}

func (c codeDeployECS) DeleteTaskSet(account, cluster, service, id string) *awsproto.Error {
	return c.ecs.DeleteTaskSet(account, cluster, service, id)
}

func taskSetOf(ts ecs.TaskSetState) codedeploy.TaskSet {
	return codedeploy.TaskSet{
		ID: ts.ID, Status: ts.Status, Desired: ts.Desired, Running: ts.Running, Pending: ts.Pending,
		FailedTasks: ts.FailedTasks, Steady: ts.Steady, Gone: ts.Gone,
	}
}
