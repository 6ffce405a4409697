package ecs

import (
	"strings"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/sim"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/taskdef"
)

// The actions on one service deployment, named by its ARN.

// serviceDeploymentRef reads a service deployment ARN
// (...:service-deployment/CLUSTER/SERVICE/ID) and authorizes action on it,
// IAM naming the service deployment as the resource with its cluster and
// service as condition keys. It returns the service and the deployment;
// both are nil when the ARN names none.
func (e *Service) serviceDeploymentRef(c *awsproto.Call, a *account, action, arn string) (*sim.Service, *sim.ServiceDeployment, *awsproto.Error) {
	if !strings.HasPrefix(arn, "arn:") {
		return nil, nil, taskdef.InvalidParameter("Invalid service deployment ARN: %s", arn)
	}
	ref, apiErr := e.readRef(a, arn, "service-deployment")
	if apiErr != nil {
		return nil, nil, apiErr
	}
	parts := strings.Split(ref.name, "/")
	if len(parts) != 3 {
		return nil, nil, taskdef.InvalidParameter("Invalid service deployment ARN: %s", arn)
	}
	if apiErr := e.authorize(c, action, arn,
		map[string]string{"ecs:cluster": ref.prefix + "cluster/" + parts[0], "ecs:service": ref.prefix + "service/" + parts[0] + "/" + parts[1]}); apiErr != nil {
		return nil, nil, apiErr
	}
	cl := a.clusters[parts[0]]
	if cl == nil || !ref.ours {
		return nil, nil, nil
	}
	svc := cl.Services[parts[1]]
	if svc == nil {
		return nil, nil, nil
	}
	for _, sd := range svc.ServiceDeployments {
		if sd.ARN == arn {
			return svc, sd, nil
		}
	}
	return nil, nil, nil
}

func serviceDeploymentNotFound() *awsproto.Error {
	return &awsproto.Error{Status: 400, Code: "ServiceDeploymentNotFoundException", Message: "The service deployment does not exist."}
}

func conflict(msg string) *awsproto.Error {
	return &awsproto.Error{Status: 400, Code: "ConflictException", Message: msg}
}

func (e *Service) continueServiceDeployment(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		ServiceDeploymentArn string `json:"serviceDeploymentArn"`
		HookID               string `json:"hookId"`
		Action               string `json:"action"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	if in.ServiceDeploymentArn == "" || in.HookID == "" {
		return nil, taskdef.InvalidParameter("serviceDeploymentArn and hookId are required.")
	}
	action := in.Action
	if action == "" {
		action = sim.ActionContinue
	}
	if action != sim.ActionContinue && action != sim.ActionRollback {
		return nil, taskdef.InvalidParameter("Invalid action %s. Valid values are CONTINUE and ROLLBACK.", in.Action)
	}
	svc, sd, apiErr := e.serviceDeploymentRef(c, a, "ecs:ContinueServiceDeployment", in.ServiceDeploymentArn)
	if apiErr != nil {
		return nil, apiErr
	}
	if sd == nil {
		return nil, serviceDeploymentNotFound()
	}
	if problem, isConflict := e.scheduler.ContinueHook(svc, sd, in.HookID, action, now); problem != "" {
		if isConflict {
			return nil, conflict(problem)
		}
		return nil, taskdef.InvalidParameter("%s", problem)
	}
	return map[string]any{"serviceDeploymentArn": sd.ARN}, nil
}

func (e *Service) stopServiceDeployment(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		ServiceDeploymentArn string `json:"serviceDeploymentArn"`
		StopType             string `json:"stopType"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	if in.ServiceDeploymentArn == "" {
		return nil, taskdef.InvalidParameter("serviceDeploymentArn is required.")
	}
	switch in.StopType {
	case "", "ROLLBACK":
	case "ABORT":
		return nil, &awsproto.Error{Status: 400, Code: "UnsupportedFeatureException", Message: "The stop type ABORT is not supported. The valid value is ROLLBACK."}
	default:
		return nil, taskdef.InvalidParameter("Invalid stopType %s. The valid value is ROLLBACK.", in.StopType)
	}
	svc, sd, apiErr := e.serviceDeploymentRef(c, a, "ecs:StopServiceDeployment", in.ServiceDeploymentArn)
	if apiErr != nil {
		return nil, apiErr
	}
	if sd == nil {
		return nil, serviceDeploymentNotFound()
	}
	if problem := e.scheduler.StopDeployment(svc, sd, now); problem != "" {
		return nil, conflict(problem)
	}
	e.scheduler.Run(svc, now)
	return map[string]any{"serviceDeploymentArn": sd.ARN}, nil
}
