package ecs

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/sim"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/taskdef"
)

// The ECS API actions. Each runs under Service.mu with the simulation
// already caught up to now.

func (e *Service) registerTaskDefinition(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	body, in, apiErr := taskdef.Parse(c.Body, e.where())
	if apiErr != nil {
		return nil, apiErr
	}
	e.qualifyRoles(a, body, in)
	next := e.arn(a.id, fmt.Sprintf("task-definition/%s:%d", in.Family, len(a.families[in.Family])+1))
	if apiErr := e.authorize(c, "ecs:RegisterTaskDefinition", next, nil); apiErr != nil {
		return nil, apiErr
	}
	if len(in.Tags) > 0 {
		// Tagging on create is authorized as its own action, as in ECS,
		// with ecs:CreateAction naming the call that creates the resource.
		if apiErr := e.authorize(c, "ecs:TagResource", next, map[string]string{"ecs:CreateAction": "RegisterTaskDefinition"}); apiErr != nil {
			return nil, apiErr
		}
	}
	if apiErr := e.passRoles(c, in.TaskRoleArn, in.ExecutionRoleArn); apiErr != nil {
		return nil, apiErr
	}
	td := e.register(a, body, in, c.Caller.AssumedRoleARN(), now)
	return map[string]any{"taskDefinition": td.JSON(), "tags": tagsOrEmpty(td.Tags)}, nil
}

// passRoles authorizes passing the roles named (empty ones aside) to ECS
// tasks: naming a task role or an execution role in a task definition, or
// starting a task that has them, needs iam:PassRole on each, as in IAM.
func (e *Service) passRoles(c *awsproto.Call, roles ...string) *awsproto.Error {
	for _, role := range roles {
		if role == "" {
			continue
		}
		keys := map[string]string{"iam:PassedToService": "ecs-tasks.amazonaws.com"} //nolint:gosec // G101: a condition key, not a password
		if apiErr := e.authorize(c, "iam:PassRole", role, keys); apiErr != nil {
			return apiErr
		}
	}
	return nil
}

func tagsOrEmpty(tags []taskdef.Tag) []taskdef.Tag {
	if tags == nil {
		return []taskdef.Tag{}
	}
	return tags
}

func (e *Service) describeTaskDefinition(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		TaskDefinition string   `json:"taskDefinition"`
		Include        []string `json:"include"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	if in.TaskDefinition == "" {
		return nil, taskdef.ClientError("Task Definition can not be blank.")
	}
	ref, td, apiErr := e.taskDefRef(a, in.TaskDefinition)
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := e.authorize(c, "ecs:DescribeTaskDefinition", ref.arn, nil); apiErr != nil {
		return nil, apiErr
	}
	if td == nil {
		return nil, taskdef.ClientError("Unable to describe task definition.")
	}
	out := map[string]any{"taskDefinition": td.JSON()}
	if slices.Contains(in.Include, "TAGS") {
		out["tags"] = tagsOrEmpty(td.Tags)
	}
	return out, nil
}

func (e *Service) deregisterTaskDefinition(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		TaskDefinition string `json:"taskDefinition"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	ref, td, apiErr := e.taskDefRef(a, in.TaskDefinition)
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := e.authorize(c, "ecs:DeregisterTaskDefinition", ref.arn, nil); apiErr != nil {
		return nil, apiErr
	}
	if !strings.Contains(ref.name, ":") {
		return nil, taskdef.ClientError("The specified task definition identifier is invalid. Specify a valid revision.")
	}
	if td == nil {
		return nil, taskdef.ClientError("The specified task definition does not exist.")
	}
	if td.Status == "ACTIVE" {
		td.Status, td.DeregisteredAt = "INACTIVE", now
	}
	return map[string]any{"taskDefinition": td.JSON()}, nil
}

func (e *Service) listTaskDefinitions(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		FamilyPrefix string `json:"familyPrefix"`
		Status       string `json:"status"`
		Sort         string `json:"sort"`
		NextToken    string `json:"nextToken"`
		MaxResults   *int   `json:"maxResults"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	if apiErr := e.authorize(c, "ecs:ListTaskDefinitions", "*", nil); apiErr != nil {
		return nil, apiErr
	}
	status := in.Status
	switch status {
	case "":
		status = "ACTIVE"
	case "ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS":
	default:
		return nil, taskdef.InvalidParameter("status must be one of ACTIVE, INACTIVE, DELETE_IN_PROGRESS.")
	}
	if in.Sort != "" && in.Sort != "ASC" && in.Sort != "DESC" {
		return nil, taskdef.InvalidParameter("sort must be one of ASC, DESC.")
	}
	var arns []string
	// Despite its name, familyPrefix names a whole family: web-api does
	// not list web-api-worker's revisions.
	families := make([]string, 0, len(a.families))
	for f := range a.families {
		if in.FamilyPrefix == "" || f == in.FamilyPrefix {
			families = append(families, f)
		}
	}
	slices.Sort(families)
	for _, f := range families {
		for _, td := range a.families[f] {
			if td.Status == status {
				arns = append(arns, td.ARN)
			}
		}
	}
	if in.Sort == "DESC" {
		slices.Reverse(arns)
	}
	page, next, apiErr := paginate(arns, in.NextToken, in.MaxResults, 100)
	if apiErr != nil {
		return nil, apiErr
	}
	return map[string]any{"taskDefinitionArns": page, "nextToken": next}, nil
}

// paginate cuts one page out of items; tokens are opaque offsets.
func paginate[T any](items []T, token string, maxResults *int, def int) ([]T, string, *awsproto.Error) {
	n := def
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > def {
			return nil, "", taskdef.InvalidParameter("maxResults must be between 1 and %d.", def)
		}
		n = *maxResults
	}
	from := 0
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		off, ok := strings.CutPrefix(string(raw), "offset:")
		if err != nil || !ok {
			return nil, "", taskdef.InvalidParameter("Invalid nextToken.")
		}
		if from, err = strconv.Atoi(off); err != nil || from < 0 || from > len(items) {
			return nil, "", taskdef.InvalidParameter("Invalid nextToken.")
		}
	}
	to := min(len(items), from+n)
	next := ""
	if to < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(to)))
	}
	page := items[from:to]
	if page == nil {
		page = []T{}
	}
	return page, next, nil
}

func (e *Service) describeClusters(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		Clusters []string `json:"clusters"`
		Include  []string `json:"include"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	if len(in.Clusters) == 0 {
		in.Clusters = []string{"default"}
	}
	if len(in.Clusters) > 100 {
		return nil, taskdef.InvalidParameter("clusters can have at most 100 items.")
	}
	clusters, failures := []clusterJSON{}, []failure{}
	for _, param := range in.Clusters {
		ref, apiErr := e.clusterRef(a, param)
		if apiErr != nil {
			return nil, apiErr
		}
		if apiErr := e.authorize(c, "ecs:DescribeClusters", ref.arn, nil); apiErr != nil {
			return nil, apiErr
		}
		cl, apiErr := e.clusterOf(a, ref)
		if apiErr != nil {
			failures = append(failures, failure{Arn: ref.arn, Reason: "MISSING"})
			continue
		}
		out := clusterJSON{
			ClusterArn: cl.ARN, ClusterName: cl.Name, Status: "ACTIVE",
			Statistics: []any{}, Tags: []taskdef.Tag{}, CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"},
			DefaultCapacityProviderStrategy: []any{},
			Settings:                        []taskdef.Attribute{{Name: "containerInsights", Value: "disabled"}},
		}
		for _, svc := range cl.Services {
			if svc.Status == "ACTIVE" {
				out.ActiveServicesCount++
			}
			for _, t := range svc.Live {
				if t.LastStatus == "RUNNING" {
					out.RunningTasksCount++
				} else if t.DesiredStatus == "RUNNING" {
					out.PendingTasksCount++
				}
			}
		}
		clusters = append(clusters, out)
	}
	return map[string]any{"clusters": clusters, "failures": failures}, nil
}

func serviceNotFound() *awsproto.Error {
	return &awsproto.Error{Status: 400, Code: "ServiceNotFoundException", Message: "Service not found."}
}

func (e *Service) describeServices(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		Cluster  string   `json:"cluster"`
		Services []string `json:"services"`
		Include  []string `json:"include"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	if len(in.Services) == 0 {
		return nil, taskdef.InvalidParameter("Services cannot be empty.")
	}
	if len(in.Services) > 10 {
		return nil, taskdef.InvalidParameter("services can have at most 10 items.")
	}
	cref, apiErr := e.clusterRef(a, in.Cluster)
	if apiErr != nil {
		return nil, apiErr
	}
	refs := make([]resourceRef, len(in.Services))
	for i, param := range in.Services {
		if refs[i], apiErr = e.inCluster(a, cref, param, "service"); apiErr != nil {
			return nil, apiErr
		}
		if apiErr := e.authorize(c, "ecs:DescribeServices", refs[i].arn, nil); apiErr != nil {
			return nil, apiErr
		}
	}
	cl, apiErr := e.clusterOf(a, cref)
	if apiErr != nil {
		return nil, apiErr
	}
	services, failures := []serviceJSON{}, []failure{}
	for _, ref := range refs {
		svc := cl.Services[ref.name]
		if svc == nil || !ref.ours {
			failures = append(failures, failure{Arn: ref.arn, Reason: "MISSING"})
			continue
		}
		services = append(services, e.serviceJSON(a, svc, slices.Contains(in.Include, "TAGS")))
	}
	return map[string]any{"services": services, "failures": failures}, nil
}

func (e *Service) serviceJSON(a *account, svc *sim.Service, tags bool) serviceJSON {
	p := svc.Primary()
	maxPct, minPct := svc.MaxPercent, svc.MinPercent
	out := serviceJSON{
		ServiceArn:        svc.ARN,
		ServiceName:       svc.Name,
		ClusterArn:        svc.Cluster.ARN,
		LoadBalancers:     slices.Clone(a.loadBalancers[svc]),
		ServiceRegistries: []any{},
		Status:            svc.Status,
		DesiredCount:      svc.Desired,
		LaunchType:        svc.LaunchType,
		TaskDefinition:    p.TaskDef.ARN,
		DeploymentConfiguration: deploymentConfiguration{
			DeploymentCircuitBreaker: &circuitBreakerConfig{Enable: svc.CircuitBreaker.Enable, Rollback: svc.CircuitBreaker.Rollback},
			MaximumPercent:           &maxPct,
			MinimumHealthyPercent:    &minPct,
		},
		Deployments:                 []deploymentJSON{},
		Events:                      eventsJSON(svc.Events),
		CreatedAt:                   awsproto.At(svc.CreatedAt),
		PlacementConstraints:        []any{},
		PlacementStrategy:           []any{},
		NetworkConfiguration:        networkConfigurationFor(p.TaskDef),
		SchedulingStrategy:          "REPLICA",
		DeploymentController:        deploymentController{Type: svc.Controller},
		CreatedBy:                   svc.CreatedBy,
		PropagateTags:               "NONE",
		AvailabilityZoneRebalancing: "ENABLED",
	}
	if out.LoadBalancers == nil {
		out.LoadBalancers = []LoadBalancer{}
	}
	if svc.LaunchType == "FARGATE" {
		out.PlatformVersion, out.PlatformFamily = "LATEST", "Linux"
	}
	deploymentConfigurationOf(svc.Strategy, &out.DeploymentConfiguration)
	if len(svc.ServiceDeployments) > 0 && !svc.TaskSets() {
		out.CurrentServiceDeployment = svc.ServiceDeployments[0].ARN
	}
	if tags {
		out.Tags = []taskdef.Tag{}
	}
	for _, t := range svc.Live {
		if t.LastStatus == "RUNNING" && t.DesiredStatus == "RUNNING" {
			out.RunningCount++
		} else if t.DesiredStatus == "RUNNING" {
			out.PendingCount++
		}
	}
	if svc.TaskSets() {
		// A CODE_DEPLOY service shows task sets, not deployments.
		out.TaskSets = e.taskSetsJSON(a, svc)
		return out
	}
	for _, d := range svc.Deployments {
		c := svc.CountsOf(d)
		out.Deployments = append(out.Deployments, deploymentJSON{
			ID:                   d.ID,
			Status:               d.Status,
			TaskDefinition:       d.TaskDef.ARN,
			DesiredCount:         d.Desired,
			PendingCount:         c.Pending,
			RunningCount:         c.Running,
			FailedTasks:          d.FailedTasks,
			CreatedAt:            awsproto.At(d.CreatedAt),
			UpdatedAt:            awsproto.At(d.UpdatedAt),
			LaunchType:           svc.LaunchType,
			PlatformVersion:      fargateOnly(svc.LaunchType, "1.4.0"),
			PlatformFamily:       fargateOnly(svc.LaunchType, "Linux"),
			NetworkConfiguration: networkConfigurationFor(d.TaskDef),
			RolloutState:         d.RolloutState,
			RolloutStateReason:   d.RolloutReason,
		})
	}
	return out
}

// fargateOnly is value on Fargate, where ECS reports platform versions and
// families, and empty elsewhere.
func fargateOnly(launchType, value string) string {
	if launchType != "FARGATE" {
		return ""
	}
	return value
}

func networkConfigurationFor(td *taskdef.Revision) *networkConfiguration {
	if td.Body["networkMode"] != "awsvpc" {
		return nil
	}
	return &networkConfiguration{AwsvpcConfiguration: &awsVpcConfiguration{
		Subnets: []string{"subnet-0a1b2c3d4e5f60718"}, SecurityGroups: []string{"sg-0a1b2c3d4e5f60718"}, AssignPublicIP: "DISABLED",
	}}
}

func (e *Service) updateService(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		Cluster                 string                   `json:"cluster"`
		Service                 string                   `json:"service"`
		DesiredCount            *int                     `json:"desiredCount"`
		TaskDefinition          string                   `json:"taskDefinition"`
		ForceNewDeployment      bool                     `json:"forceNewDeployment"`
		DeploymentConfiguration *deploymentConfiguration `json:"deploymentConfiguration"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	if in.Service == "" {
		return nil, taskdef.InvalidParameter("Service cannot be empty.")
	}
	svc, apiErr := e.serviceFor(c, a, "ecs:UpdateService", in.Cluster, in.Service)
	if apiErr != nil {
		return nil, apiErr
	}
	if svc.Status != "ACTIVE" {
		return nil, &awsproto.Error{Status: 400, Code: "ServiceNotActiveException", Message: "Service was not ACTIVE."}
	}
	if in.DesiredCount != nil && *in.DesiredCount < 0 {
		return nil, taskdef.InvalidParameter("Desired count must be greater than or equal to 0.")
	}
	var td *taskdef.Revision
	if in.TaskDefinition != "" {
		if _, td, apiErr = e.taskDefRef(a, in.TaskDefinition); apiErr != nil {
			return nil, apiErr
		}
		if td == nil {
			return nil, taskdef.ClientError("TaskDefinition not found.")
		}
		if td.Status != "ACTIVE" {
			return nil, taskdef.ClientError("TaskDefinition is inactive")
		}
		if apiErr := runsOn(svc, td); apiErr != nil {
			return nil, apiErr
		}
	}
	p := svc.Primary()
	if svc.Controller == controllerCodeDeploy {
		if td != nil && td != p.TaskDef {
			return nil, taskdef.InvalidParameter("Unable to update task definition on services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a new deployment.")
		}
		if in.ForceNewDeployment {
			return nil, taskdef.InvalidParameter("Unable to force a new deployment on services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a new deployment.")
		}
	}
	strategy, apiErr := applyStrategy(svc.Strategy, in.DeploymentConfiguration, a.loadBalancers[svc], svc.Controller)
	if apiErr != nil {
		return nil, apiErr
	}
	maxPct, minPct, cbEnable, cbRollback := svc.MaxPercent, svc.MinPercent, svc.CircuitBreaker.Enable, svc.CircuitBreaker.Rollback
	if dc := in.DeploymentConfiguration; dc != nil {
		if dc.MaximumPercent != nil {
			maxPct = *dc.MaximumPercent
		}
		if dc.MinimumHealthyPercent != nil {
			minPct = *dc.MinimumHealthyPercent
		}
		if cb := dc.DeploymentCircuitBreaker; cb != nil {
			cbEnable, cbRollback = cb.Enable, cb.Rollback
		}
		if maxPct < 100 || maxPct > 2147483647 {
			return nil, taskdef.InvalidParameter("maximumPercent must be at least 100 for a service using the rolling update (ECS) deployment type.")
		}
		if minPct < 0 || minPct > 100 {
			return nil, taskdef.InvalidParameter("minimumHealthyPercent must be between 0 and 100.")
		}
	}
	svc.MaxPercent, svc.MinPercent, svc.CircuitBreaker.Enable, svc.CircuitBreaker.Rollback = maxPct, minPct, cbEnable, cbRollback
	svc.Strategy = strategy
	if in.DesiredCount != nil {
		svc.Desired = *in.DesiredCount
	}
	if in.ForceNewDeployment || (td != nil && td != p.TaskDef) {
		if td == nil {
			td = p.TaskDef
		}
		e.scheduler.Deploy(svc, td, now)
	} else {
		p.Desired, p.UpdatedAt = svc.Desired, now
	}
	return map[string]any{"service": e.serviceJSON(a, svc, false)}, nil
}

// runsOn checks that a service can run a task definition, as UpdateService
// does: the task definition must be compatible with the service's launch
// type ("Task definition does not support launch_type FARGATE.",
// sil-org/ecs-deploy#134, aws/aws-cli#3983: registered without
// requiresCompatibilities FARGATE, a revision cannot run on Fargate,
// whatever its shape), and its network mode must match the service's
// network configuration (boltops-tools/ufo#112 and
// aws-actions/amazon-ecs-deploy-task-definition#802 quote both refusals).
func runsOn(svc *sim.Service, td *taskdef.Revision) *awsproto.Error {
	if !slices.Contains(td.Compatibilities, svc.LaunchType) {
		return taskdef.InvalidParameter("Task definition does not support launch_type %s.", svc.LaunchType)
	}
	awsvpc := td.Body["networkMode"] == "awsvpc"
	switch {
	case awsvpc && !svc.Awsvpc:
		return taskdef.InvalidParameter("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
	case !awsvpc && svc.Awsvpc:
		return taskdef.InvalidParameter("Network Configuration is not valid for the given networkMode of this task definition.")
	}
	return nil
}

// serviceFor finds the service a cluster and service parameter name,
// authorizing action on it first.
func (e *Service) serviceFor(c *awsproto.Call, a *account, action, cluster, service string) (*sim.Service, *awsproto.Error) {
	if service == "" {
		return nil, taskdef.InvalidParameter("Service cannot be empty.")
	}
	cref, apiErr := e.clusterRef(a, cluster)
	if apiErr != nil {
		return nil, apiErr
	}
	ref, apiErr := e.inCluster(a, cref, service, "service")
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := e.authorize(c, action, ref.arn, nil); apiErr != nil {
		return nil, apiErr
	}
	cl, apiErr := e.clusterOf(a, cref)
	if apiErr != nil {
		return nil, apiErr
	}
	svc := cl.Services[ref.name]
	if svc == nil || !ref.ours {
		return nil, serviceNotFound()
	}
	return svc, nil
}

func (e *Service) listServiceDeployments(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		Cluster   string   `json:"cluster"`
		Service   string   `json:"service"`
		Status    []string `json:"status"`
		CreatedAt *struct {
			Before *awsproto.Timestamp `json:"before"`
			After  *awsproto.Timestamp `json:"after"`
		} `json:"createdAt"`
		NextToken  string `json:"nextToken"`
		MaxResults *int   `json:"maxResults"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	svc, apiErr := e.serviceFor(c, a, "ecs:ListServiceDeployments", in.Cluster, in.Service)
	if apiErr != nil {
		return nil, apiErr
	}
	var briefs []serviceDeploymentBrief
	for _, sd := range svc.ServiceDeployments {
		if len(in.Status) > 0 && !slices.Contains(in.Status, sd.Status) {
			continue
		}
		if ca := in.CreatedAt; ca != nil {
			if ca.Before != nil && !sd.CreatedAt.Before(ca.Before.Time) {
				continue
			}
			if ca.After != nil && !sd.CreatedAt.After(ca.After.Time) {
				continue
			}
		}
		briefs = append(briefs, serviceDeploymentBrief{
			ServiceDeploymentArn:     sd.ARN,
			ServiceArn:               svc.ARN,
			ClusterArn:               svc.Cluster.ARN,
			StartedAt:                awsproto.At(sd.StartedAt),
			CreatedAt:                awsproto.At(sd.CreatedAt),
			FinishedAt:               awsproto.At(sd.FinishedAt),
			TargetServiceRevisionArn: sd.Target.RevisionARN,
			Status:                   sd.Status,
			StatusReason:             sd.StatusReason,
		})
	}
	page, next, apiErr := paginate(briefs, in.NextToken, in.MaxResults, 100)
	if apiErr != nil {
		return nil, apiErr
	}
	return map[string]any{"serviceDeployments": page, "nextToken": next}, nil
}

func (e *Service) describeServiceDeployments(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		ServiceDeploymentArns []string `json:"serviceDeploymentArns"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	if len(in.ServiceDeploymentArns) == 0 || len(in.ServiceDeploymentArns) > 20 {
		return nil, taskdef.InvalidParameter("serviceDeploymentArns must hold between 1 and 20 ARNs.")
	}
	out, failures := []serviceDeploymentJSON{}, []failure{}
	for _, arn := range in.ServiceDeploymentArns {
		svc, found, apiErr := e.serviceDeploymentRef(c, a, "ecs:DescribeServiceDeployments", arn)
		if apiErr != nil {
			return nil, apiErr
		}
		if found == nil {
			failures = append(failures, failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		out = append(out, e.lagging(found, e.serviceDeploymentJSON(svc, found), now))
	}
	return map[string]any{"serviceDeployments": out, "failures": failures}, nil
}

// eventsJSON renders service events, newest first.
func eventsJSON(events []sim.Event) []eventJSON {
	out := make([]eventJSON, len(events))
	for i, ev := range events {
		out[i] = eventJSON{ID: ev.ID, CreatedAt: awsproto.At(ev.CreatedAt), Message: ev.Message}
	}
	return out
}

// alarmsOf renders how a service deployment watched its alarms.
func alarmsOf(sd *sim.ServiceDeployment) *serviceDeploymentAlarms {
	a := sd.Strategy.Alarms
	if !a.Enable {
		return &serviceDeploymentAlarms{Status: "DISABLED"}
	}
	out := &serviceDeploymentAlarms{Status: "MONITORING", AlarmNames: slices.Clone(a.Names), TriggeredAlarmNames: slices.Clone(sd.AlarmsTriggered)}
	switch {
	case len(sd.AlarmsTriggered) > 0:
		out.Status = "TRIGGERED"
	case !sd.FinishedAt.IsZero() || !sd.StoppedAt.IsZero() || sd.Rollback != nil:
		out.Status = "MONITORING_COMPLETE"
	}
	return out
}

// rollbackOf renders a service deployment's rollback; nil when it has none.
func rollbackOf(r *sim.Rollback) *rollbackJSON {
	if r == nil {
		return nil
	}
	return &rollbackJSON{Reason: r.Reason, StartedAt: awsproto.At(r.StartedAt), ServiceRevisionArn: r.ServiceRevisionARN}
}

func (e *Service) serviceDeploymentJSON(svc *sim.Service, sd *sim.ServiceDeployment) serviceDeploymentJSON {
	summary := func(d *sim.Deployment, production, test float64) serviceRevisionSummary {
		c := svc.CountsOf(d)
		s := serviceRevisionSummary{Arn: d.RevisionARN, RequestedTaskCount: d.Desired, RunningTaskCount: c.Running, PendingTaskCount: c.Pending}
		if sd.Lifecycle != nil {
			s.RequestedProductionTrafficWeight, s.RequestedTestTrafficWeight = &production, &test
		}
		return s
	}
	maxPct, minPct := sd.MaxPercent, sd.MinPercent
	out := serviceDeploymentJSON{
		ServiceDeploymentArn:   sd.ARN,
		ServiceArn:             svc.ARN,
		ClusterArn:             svc.Cluster.ARN,
		CreatedAt:              awsproto.At(sd.CreatedAt),
		StartedAt:              awsproto.At(sd.StartedAt),
		FinishedAt:             awsproto.At(sd.FinishedAt),
		StoppedAt:              awsproto.At(sd.StoppedAt),
		UpdatedAt:              awsproto.At(sd.UpdatedAt),
		SourceServiceRevisions: []serviceRevisionSummary{},
		Status:                 sd.Status,
		StatusReason:           sd.StatusReason,
		DeploymentConfiguration: deploymentConfiguration{
			DeploymentCircuitBreaker: &circuitBreakerConfig{Enable: sd.CircuitBreaker.Enable, Rollback: sd.CircuitBreaker.Rollback},
			MaximumPercent:           &maxPct,
			MinimumHealthyPercent:    &minPct,
		},
		Rollback: rollbackOf(sd.Rollback),
		DeploymentCircuitBreaker: &serviceDeploymentCircuitBreaker{
			Status: sd.CircuitBreakerStatus, FailureCount: sd.Target.FailedTasks, Threshold: sd.Threshold,
		},
		Alarms: alarmsOf(sd),
	}
	deploymentConfigurationOf(sd.Strategy, &out.DeploymentConfiguration)
	var green, greenTest float64
	if lc := sd.Lifecycle; lc != nil {
		green, greenTest = lc.ProductionWeight, lc.TestWeight
		out.LifecycleStage = lc.Stage
		for _, h := range lc.Hooks {
			out.LifecycleHookDetails = append(out.LifecycleHookDetails, lifecycleHookDetail{
				HookID: h.ID, TargetType: h.Hook.TargetType, TargetArn: h.Hook.TargetARN, Status: h.Status,
				ExpiresAt: awsproto.At(h.ExpiresAt), TimeoutAction: h.TimeoutAction,
			})
		}
	}
	for _, d := range sd.Sources {
		out.SourceServiceRevisions = append(out.SourceServiceRevisions, summary(d, 100-green, 100-greenTest))
	}
	target := summary(sd.Target, green, greenTest)
	out.TargetServiceRevision = &target
	return out
}

func (e *Service) listTasks(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		Cluster       string `json:"cluster"`
		Family        string `json:"family"`
		StartedBy     string `json:"startedBy"`
		ServiceName   string `json:"serviceName"`
		DesiredStatus string `json:"desiredStatus"`
		LaunchType    string `json:"launchType"`
		NextToken     string `json:"nextToken"`
		MaxResults    *int   `json:"maxResults"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	cref, apiErr := e.clusterRef(a, in.Cluster)
	if apiErr != nil {
		return nil, apiErr
	}
	var service resourceRef
	if in.ServiceName != "" {
		if service, apiErr = e.inCluster(a, cref, in.ServiceName, "service"); apiErr != nil {
			return nil, apiErr
		}
	}
	// ListTasks names no resource in IAM ("*"); policies narrow it to a
	// cluster with the ecs:cluster condition key.
	if apiErr := e.authorize(c, "ecs:ListTasks", "*", map[string]string{"ecs:cluster": cref.arn}); apiErr != nil {
		return nil, apiErr
	}
	cl, apiErr := e.clusterOf(a, cref)
	if apiErr != nil {
		return nil, apiErr
	}
	if in.ServiceName != "" && (!service.ours || cl.Services[service.name] == nil) {
		return nil, serviceNotFound()
	}
	desired := in.DesiredStatus
	if desired == "" {
		desired = "RUNNING"
	}
	if desired != "RUNNING" && desired != "PENDING" && desired != "STOPPED" {
		return nil, taskdef.InvalidParameter("desiredStatus must be one of RUNNING, PENDING, STOPPED.")
	}
	tasks := make([]*sim.Task, 0, len(cl.Tasks))
	for _, t := range cl.Tasks {
		tasks = append(tasks, t)
	}
	slices.SortFunc(tasks, func(x, y *sim.Task) int { return x.CreatedAt.Compare(y.CreatedAt) })
	var arns []string
	for _, t := range tasks {
		switch {
		case in.ServiceName != "" && (t.Service == nil || t.Service.Name != service.name):
		case in.StartedBy != "" && t.StartedBy != in.StartedBy:
		case in.LaunchType != "" && t.LaunchType != in.LaunchType:
		case in.Family != "" && t.TaskDef.Family != in.Family:
		case desired == "PENDING" && (t.DesiredStatus != "RUNNING" || t.LastStatus == "RUNNING"):
		case desired != "PENDING" && t.DesiredStatus != desired:
		default:
			arns = append(arns, t.ARN)
		}
	}
	page, next, apiErr := paginate(arns, in.NextToken, in.MaxResults, 100)
	if apiErr != nil {
		return nil, apiErr
	}
	return map[string]any{"taskArns": page, "nextToken": next}, nil
}

func (e *Service) describeTasks(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		Cluster string   `json:"cluster"`
		Tasks   []string `json:"tasks"`
		Include []string `json:"include"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	if len(in.Tasks) == 0 {
		return nil, taskdef.InvalidParameter("Tasks cannot be empty.")
	}
	if len(in.Tasks) > 100 {
		return nil, taskdef.InvalidParameter("tasks can have at most 100 items.")
	}
	cref, apiErr := e.clusterRef(a, in.Cluster)
	if apiErr != nil {
		return nil, apiErr
	}
	refs := make([]resourceRef, len(in.Tasks))
	for i, param := range in.Tasks {
		if refs[i], apiErr = e.inCluster(a, cref, param, "task"); apiErr != nil {
			return nil, apiErr
		}
		if apiErr := e.authorize(c, "ecs:DescribeTasks", refs[i].arn, map[string]string{"ecs:cluster": cref.arn}); apiErr != nil {
			return nil, apiErr
		}
	}
	cl, apiErr := e.clusterOf(a, cref)
	if apiErr != nil {
		return nil, apiErr
	}
	tasks, failures := []taskJSON{}, []failure{}
	for _, ref := range refs {
		t := cl.Tasks[ref.name]
		if t == nil || !ref.ours {
			failures = append(failures, failure{Arn: ref.arn, Reason: "MISSING"})
			continue
		}
		tasks = append(tasks, e.taskJSON(t))
	}
	return map[string]any{"tasks": tasks, "failures": failures}, nil
}

func (e *Service) taskJSON(t *sim.Task) taskJSON {
	out := taskJSON{
		AvailabilityZone:   e.cfg.Region + "a",
		ClusterArn:         t.Cluster.ARN,
		Containers:         []containerJSON{},
		CPU:                t.TaskDef.CPU,
		CreatedAt:          awsproto.At(t.CreatedAt),
		DesiredStatus:      t.DesiredStatus,
		ExecutionStoppedAt: awsproto.At(t.StoppedAt),
		Group:              t.Group,
		HealthStatus:       "UNKNOWN",
		LastStatus:         t.LastStatus,
		LaunchType:         t.LaunchType,
		Memory:             t.TaskDef.Memory,
		Overrides:          t.Overrides,
		PlatformVersion:    fargateOnly(t.LaunchType, "1.4.0"),
		PlatformFamily:     fargateOnly(t.LaunchType, "Linux"),
		PullStartedAt:      awsproto.At(t.PullStartedAt),
		PullStoppedAt:      awsproto.At(t.PullStoppedAt),
		StartedAt:          awsproto.At(t.StartedAt),
		StartedBy:          t.StartedBy,
		StopCode:           t.StopCode,
		StoppedAt:          awsproto.At(t.StoppedAt),
		StoppedReason:      t.StoppedReason,
		StoppingAt:         awsproto.At(t.StoppingAt),
		Tags:               []taskdef.Tag{},
		TaskArn:            t.ARN,
		TaskDefinitionArn:  t.TaskDef.ARN,
		Version:            t.Version,
	}
	out.CapacityProviderName = t.CapacityProvider
	if !t.PullStartedAt.IsZero() {
		out.Connectivity, out.ConnectivityAt = "CONNECTED", awsproto.At(t.PullStartedAt)
	}
	for _, c := range t.Containers {
		out.Containers = append(out.Containers, containerJSON{
			ContainerArn: c.ARN,
			TaskArn:      t.ARN,
			Name:         c.Spec.Name,
			Image:        c.Spec.Image,
			ImageDigest:  c.Digest,
			RuntimeID:    c.RuntimeID,
			LastStatus:   c.LastStatus,
			ExitCode:     c.ExitCode,
			Reason:       c.Reason,
			HealthStatus: "UNKNOWN",
		})
	}
	return out
}
