package sandbox

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The ECS API actions. Each runs under ecsService.mu with the simulation
// already caught up to now.

func (e *ecsService) registerTaskDefinition(c *Call, a *ecsAccount, now time.Time) (any, *APIError) {
	body, in, apiErr := ecsParseTaskDefinition(c.Body)
	if apiErr != nil {
		return nil, apiErr
	}
	next := e.arn(a.id, fmt.Sprintf("task-definition/%s:%d", in.Family, len(a.families[in.Family])+1))
	if apiErr := e.s.authorize(c, "ecs:RegisterTaskDefinition", next); apiErr != nil {
		return nil, apiErr
	}
	if len(in.Tags) > 0 {
		// Tagging on create is authorized as its own action, as in ECS,
		// with ecs:CreateAction naming the call that creates the resource.
		if apiErr := e.s.authorizeWith(c, "ecs:TagResource", next, map[string]string{"ecs:CreateAction": "RegisterTaskDefinition"}); apiErr != nil {
			return nil, apiErr
		}
	}
	// Naming a task role or an execution role passes it to ECS tasks: the
	// caller needs iam:PassRole on it, as in IAM.
	for _, role := range []string{in.TaskRoleArn, in.ExecutionRoleArn} {
		if role == "" {
			continue
		}
		if apiErr := e.s.authorizeWith(c, "iam:PassRole", role, map[string]string{"iam:PassedToService": "ecs-tasks.amazonaws.com"}); apiErr != nil {
			return nil, apiErr
		}
	}
	td := e.register(a, body, in, c.Caller.AssumedRoleARN(), now)
	return map[string]any{"taskDefinition": td.json(), "tags": ecsTagsOrEmpty(td.tags)}, nil
}

func ecsTagsOrEmpty(tags []ecsTag) []ecsTag {
	if tags == nil {
		return []ecsTag{}
	}
	return tags
}

func (e *ecsService) describeTaskDefinition(c *Call, a *ecsAccount, now time.Time) (any, *APIError) {
	var in struct {
		TaskDefinition string   `json:"taskDefinition"`
		Include        []string `json:"include"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	if in.TaskDefinition == "" {
		return nil, ecsClientError("Task Definition can not be blank.")
	}
	td := e.lookupTaskDef(a, in.TaskDefinition)
	resource := e.arn(a.id, "task-definition/"+ecsTaskDefRefName(in.TaskDefinition))
	if td != nil {
		resource = td.arn
	}
	if apiErr := e.s.authorize(c, "ecs:DescribeTaskDefinition", resource); apiErr != nil {
		return nil, apiErr
	}
	if td == nil {
		return nil, ecsClientError("Unable to describe task definition.")
	}
	out := map[string]any{"taskDefinition": td.json()}
	if slices.Contains(in.Include, "TAGS") {
		out["tags"] = ecsTagsOrEmpty(td.tags)
	}
	return out, nil
}

// ecsTaskDefRefName is the family[:revision] part of a task definition reference.
func ecsTaskDefRefName(ref string) string {
	if i := strings.Index(ref, ":task-definition/"); i >= 0 {
		return ref[i+len(":task-definition/"):]
	}
	return ref
}

func (e *ecsService) deregisterTaskDefinition(c *Call, a *ecsAccount, now time.Time) (any, *APIError) {
	var in struct {
		TaskDefinition string `json:"taskDefinition"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	name := ecsTaskDefRefName(in.TaskDefinition)
	if apiErr := e.s.authorize(c, "ecs:DeregisterTaskDefinition", e.arn(a.id, "task-definition/"+name)); apiErr != nil {
		return nil, apiErr
	}
	if !strings.Contains(name, ":") {
		return nil, ecsClientError("The specified task definition identifier is invalid. Specify a valid revision.")
	}
	td := e.lookupTaskDef(a, name)
	if td == nil {
		return nil, ecsClientError("The specified task definition does not exist.")
	}
	if td.status == "ACTIVE" {
		td.status, td.deregisteredAt = "INACTIVE", now
	}
	return map[string]any{"taskDefinition": td.json()}, nil
}

func (e *ecsService) listTaskDefinitions(c *Call, a *ecsAccount, now time.Time) (any, *APIError) {
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
	if apiErr := e.s.authorize(c, "ecs:ListTaskDefinitions", "*"); apiErr != nil {
		return nil, apiErr
	}
	status := in.Status
	if status == "" {
		status = "ACTIVE"
	}
	var arns []string
	families := make([]string, 0, len(a.families))
	for f := range a.families {
		if strings.HasPrefix(f, in.FamilyPrefix) {
			families = append(families, f)
		}
	}
	slices.Sort(families)
	for _, f := range families {
		for _, td := range a.families[f] {
			if status == "ALL" || td.status == status {
				arns = append(arns, td.arn)
			}
		}
	}
	if in.Sort == "DESC" {
		slices.Reverse(arns)
	}
	page, next, apiErr := ecsPaginate(arns, in.NextToken, in.MaxResults, 100)
	if apiErr != nil {
		return nil, apiErr
	}
	return map[string]any{"taskDefinitionArns": page, "nextToken": next}, nil
}

// ecsPaginate cuts one page out of items; tokens are opaque offsets.
func ecsPaginate[T any](items []T, token string, maxResults *int, def int) ([]T, string, *APIError) {
	n := def
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > def {
			return nil, "", ecsInvalidParameter("maxResults must be between 1 and %d.", def)
		}
		n = *maxResults
	}
	from := 0
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		off, ok := strings.CutPrefix(string(raw), "offset:")
		if err != nil || !ok {
			return nil, "", ecsInvalidParameter("Invalid nextToken.")
		}
		if from, err = strconv.Atoi(off); err != nil || from < 0 || from > len(items) {
			return nil, "", ecsInvalidParameter("Invalid nextToken.")
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

func (e *ecsService) describeClusters(c *Call, a *ecsAccount, now time.Time) (any, *APIError) {
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
		return nil, ecsInvalidParameter("clusters can have at most 100 items.")
	}
	clusters, failures := []ecsClusterJSON{}, []ecsFailure{}
	for _, ref := range in.Clusters {
		name := ecsClusterName(ref)
		arn := e.arn(a.id, "cluster/"+name)
		if apiErr := e.s.authorize(c, "ecs:DescribeClusters", arn); apiErr != nil {
			return nil, apiErr
		}
		cl := a.clusters[name]
		if cl == nil {
			failures = append(failures, ecsFailure{Arn: arn, Reason: "MISSING"})
			continue
		}
		out := ecsClusterJSON{
			ClusterArn: cl.arn, ClusterName: cl.name, Status: "ACTIVE",
			Statistics: []any{}, Tags: []ecsTag{}, CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"},
			DefaultCapacityProviderStrategy: []any{},
			Settings:                        []ecsAttribute{{Name: "containerInsights", Value: "disabled"}},
		}
		for _, svc := range cl.services {
			if svc.status == "ACTIVE" {
				out.ActiveServicesCount++
			}
			for _, t := range svc.live {
				if t.lastStatus == "RUNNING" {
					out.RunningTasksCount++
				} else if t.desiredStatus == "RUNNING" {
					out.PendingTasksCount++
				}
			}
		}
		clusters = append(clusters, out)
	}
	return map[string]any{"clusters": clusters, "failures": failures}, nil
}

func ecsServiceNotFound() *APIError {
	return &APIError{Status: 400, Code: "ServiceNotFoundException", Message: "Service not found."}
}

func (e *ecsService) describeServices(c *Call, a *ecsAccount, now time.Time) (any, *APIError) {
	var in struct {
		Cluster  string   `json:"cluster"`
		Services []string `json:"services"`
		Include  []string `json:"include"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	if len(in.Services) == 0 {
		return nil, ecsInvalidParameter("Services cannot be empty.")
	}
	if len(in.Services) > 10 {
		return nil, ecsInvalidParameter("services can have at most 10 items.")
	}
	cname := ecsClusterName(in.Cluster)
	for _, ref := range in.Services {
		if apiErr := e.s.authorize(c, "ecs:DescribeServices", e.arn(a.id, "service/"+cname+"/"+ecsServiceName(ref))); apiErr != nil {
			return nil, apiErr
		}
	}
	cl, apiErr := e.cluster(a, in.Cluster)
	if apiErr != nil {
		return nil, apiErr
	}
	services, failures := []ecsServiceJSON{}, []ecsFailure{}
	for _, ref := range in.Services {
		svc := cl.services[ecsServiceName(ref)]
		if svc == nil {
			failures = append(failures, ecsFailure{Arn: e.arn(a.id, "service/"+cl.name+"/"+ecsServiceName(ref)), Reason: "MISSING"})
			continue
		}
		services = append(services, e.serviceJSON(svc, slices.Contains(in.Include, "TAGS")))
	}
	return map[string]any{"services": services, "failures": failures}, nil
}

func (e *ecsService) serviceJSON(svc *ecsSvc, tags bool) ecsServiceJSON {
	p := svc.primary()
	maxPct, minPct := svc.maxPct, svc.minPct
	out := ecsServiceJSON{
		ServiceArn:        svc.arn,
		ServiceName:       svc.name,
		ClusterArn:        svc.cluster.arn,
		LoadBalancers:     []any{},
		ServiceRegistries: []any{},
		Status:            svc.status,
		DesiredCount:      svc.desired,
		LaunchType:        "FARGATE",
		PlatformVersion:   "LATEST",
		PlatformFamily:    "Linux",
		TaskDefinition:    p.td.arn,
		DeploymentConfiguration: ecsDeploymentConfiguration{
			DeploymentCircuitBreaker: &ecsCircuitBreakerConfig{Enable: svc.cbEnable, Rollback: svc.cbRollback},
			MaximumPercent:           &maxPct,
			MinimumHealthyPercent:    &minPct,
		},
		Deployments:                 []ecsDeploymentJSON{},
		Events:                      slices.Clone(svc.events),
		CreatedAt:                   ecsAt(svc.createdAt),
		PlacementConstraints:        []any{},
		PlacementStrategy:           []any{},
		NetworkConfiguration:        ecsNetworkConfigurationFor(p.td),
		SchedulingStrategy:          "REPLICA",
		DeploymentController:        ecsDeploymentController{Type: "ECS"},
		CreatedBy:                   svc.createdBy,
		PropagateTags:               "NONE",
		AvailabilityZoneRebalancing: "ENABLED",
	}
	if len(svc.serviceDeployments) > 0 {
		out.CurrentServiceDeployment = svc.serviceDeployments[0].arn
	}
	if tags {
		out.Tags = []ecsTag{}
	}
	for _, t := range svc.live {
		if t.lastStatus == "RUNNING" && t.desiredStatus == "RUNNING" {
			out.RunningCount++
		} else if t.desiredStatus == "RUNNING" {
			out.PendingCount++
		}
	}
	for _, d := range svc.deployments {
		c := svc.countsOf(d)
		out.Deployments = append(out.Deployments, ecsDeploymentJSON{
			ID:                   d.id,
			Status:               d.status,
			TaskDefinition:       d.td.arn,
			DesiredCount:         d.desired,
			PendingCount:         c.pending,
			RunningCount:         c.running,
			FailedTasks:          d.failedTasks,
			CreatedAt:            ecsAt(d.createdAt),
			UpdatedAt:            ecsAt(d.updatedAt),
			LaunchType:           "FARGATE",
			PlatformVersion:      "1.4.0",
			PlatformFamily:       "Linux",
			NetworkConfiguration: ecsNetworkConfigurationFor(d.td),
			RolloutState:         d.rolloutState,
			RolloutStateReason:   d.rolloutReason,
		})
	}
	return out
}

func ecsNetworkConfigurationFor(td *ecsTaskDef) *ecsNetworkConfiguration {
	if td.body["networkMode"] != "awsvpc" {
		return nil
	}
	return &ecsNetworkConfiguration{AwsvpcConfiguration: &ecsAwsVpcConfiguration{
		Subnets: []string{"subnet-0a1b2c3d4e5f60718"}, SecurityGroups: []string{"sg-0a1b2c3d4e5f60718"}, AssignPublicIP: "DISABLED",
	}}
}

func (e *ecsService) updateService(c *Call, a *ecsAccount, now time.Time) (any, *APIError) {
	var in struct {
		Cluster                 string                      `json:"cluster"`
		Service                 string                      `json:"service"`
		DesiredCount            *int                        `json:"desiredCount"`
		TaskDefinition          string                      `json:"taskDefinition"`
		ForceNewDeployment      bool                        `json:"forceNewDeployment"`
		DeploymentConfiguration *ecsDeploymentConfiguration `json:"deploymentConfiguration"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	if in.Service == "" {
		return nil, ecsInvalidParameter("Service cannot be empty.")
	}
	cname := ecsClusterName(in.Cluster)
	if apiErr := e.s.authorize(c, "ecs:UpdateService", e.arn(a.id, "service/"+cname+"/"+ecsServiceName(in.Service))); apiErr != nil {
		return nil, apiErr
	}
	cl, apiErr := e.cluster(a, in.Cluster)
	if apiErr != nil {
		return nil, apiErr
	}
	svc := cl.services[ecsServiceName(in.Service)]
	if svc == nil {
		return nil, ecsServiceNotFound()
	}
	if svc.status != "ACTIVE" {
		return nil, &APIError{Status: 400, Code: "ServiceNotActiveException", Message: "Service was not ACTIVE."}
	}
	if in.DesiredCount != nil && *in.DesiredCount < 0 {
		return nil, ecsInvalidParameter("Desired count must be greater than or equal to 0.")
	}
	var td *ecsTaskDef
	if in.TaskDefinition != "" {
		if td = e.lookupTaskDef(a, in.TaskDefinition); td == nil {
			return nil, ecsClientError("TaskDefinition not found.")
		}
		if td.status != "ACTIVE" {
			return nil, ecsClientError("TaskDefinition is inactive")
		}
	}
	maxPct, minPct, cbEnable, cbRollback := svc.maxPct, svc.minPct, svc.cbEnable, svc.cbRollback
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
			return nil, ecsInvalidParameter("maximumPercent must be at least 100 for a service using the rolling update (ECS) deployment type.")
		}
		if minPct < 0 || minPct > 100 {
			return nil, ecsInvalidParameter("minimumHealthyPercent must be between 0 and 100.")
		}
	}
	svc.maxPct, svc.minPct, svc.cbEnable, svc.cbRollback = maxPct, minPct, cbEnable, cbRollback
	if in.DesiredCount != nil {
		svc.desired = *in.DesiredCount
	}
	p := svc.primary()
	if in.ForceNewDeployment || (td != nil && td != p.td) {
		if td == nil {
			td = p.td
		}
		e.newDeployment(svc, td, now)
	} else {
		p.desired, p.updatedAt = svc.desired, now
	}
	return map[string]any{"service": e.serviceJSON(svc, false)}, nil
}

// serviceFor finds the service a cluster and service parameter name,
// authorizing action on it first.
func (e *ecsService) serviceFor(c *Call, a *ecsAccount, action, cluster, service string) (*ecsSvc, *APIError) {
	if service == "" {
		return nil, ecsInvalidParameter("Service cannot be empty.")
	}
	cname := ecsClusterName(cluster)
	if apiErr := e.s.authorize(c, action, e.arn(a.id, "service/"+cname+"/"+ecsServiceName(service))); apiErr != nil {
		return nil, apiErr
	}
	cl, apiErr := e.cluster(a, cluster)
	if apiErr != nil {
		return nil, apiErr
	}
	svc := cl.services[ecsServiceName(service)]
	if svc == nil {
		return nil, ecsServiceNotFound()
	}
	return svc, nil
}

func (e *ecsService) listServiceDeployments(c *Call, a *ecsAccount, now time.Time) (any, *APIError) {
	var in struct {
		Cluster   string   `json:"cluster"`
		Service   string   `json:"service"`
		Status    []string `json:"status"`
		CreatedAt *struct {
			Before *ecsEpoch `json:"before"`
			After  *ecsEpoch `json:"after"`
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
	var briefs []ecsServiceDeploymentBrief
	for _, sd := range svc.serviceDeployments {
		if len(in.Status) > 0 && !slices.Contains(in.Status, sd.status) {
			continue
		}
		if ca := in.CreatedAt; ca != nil {
			if ca.Before != nil && !sd.createdAt.Before(ca.Before.Time) {
				continue
			}
			if ca.After != nil && !sd.createdAt.After(ca.After.Time) {
				continue
			}
		}
		briefs = append(briefs, ecsServiceDeploymentBrief{
			ServiceDeploymentArn:     sd.arn,
			ServiceArn:               svc.arn,
			ClusterArn:               svc.cluster.arn,
			StartedAt:                ecsAt(sd.startedAt),
			CreatedAt:                ecsAt(sd.createdAt),
			FinishedAt:               ecsAt(sd.finishedAt),
			TargetServiceRevisionArn: sd.target.revisionArn,
			Status:                   sd.status,
			StatusReason:             sd.statusReason,
		})
	}
	page, next, apiErr := ecsPaginate(briefs, in.NextToken, in.MaxResults, 100)
	if apiErr != nil {
		return nil, apiErr
	}
	return map[string]any{"serviceDeployments": page, "nextToken": next}, nil
}

func (e *ecsService) describeServiceDeployments(c *Call, a *ecsAccount, now time.Time) (any, *APIError) {
	var in struct {
		ServiceDeploymentArns []string `json:"serviceDeploymentArns"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	if len(in.ServiceDeploymentArns) == 0 || len(in.ServiceDeploymentArns) > 20 {
		return nil, ecsInvalidParameter("serviceDeploymentArns must hold between 1 and 20 ARNs.")
	}
	out, failures := []ecsServiceDeploymentJSON{}, []ecsFailure{}
	for _, arn := range in.ServiceDeploymentArns {
		_, path, _ := strings.Cut(arn, ":service-deployment/")
		parts := strings.Split(path, "/")
		if !strings.HasPrefix(arn, "arn:") || len(parts) != 3 {
			return nil, ecsInvalidParameter("Invalid service deployment ARN: %s", arn)
		}
		// IAM names the service deployment itself as the resource.
		if apiErr := e.s.authorizeWith(c, "ecs:DescribeServiceDeployments", e.arn(a.id, "service-deployment/"+path),
			map[string]string{"ecs:cluster": e.arn(a.id, "cluster/"+parts[0]), "ecs:service": e.arn(a.id, "service/"+parts[0]+"/"+parts[1])}); apiErr != nil {
			return nil, apiErr
		}
		var found *ecsServiceDeployment
		var svc *ecsSvc
		if cl := a.clusters[parts[0]]; cl != nil {
			if svc = cl.services[parts[1]]; svc != nil {
				for _, sd := range svc.serviceDeployments {
					if sd.arn == arn {
						found = sd
					}
				}
			}
		}
		if found == nil {
			failures = append(failures, ecsFailure{Arn: arn, Reason: "MISSING"})
			continue
		}
		out = append(out, e.serviceDeploymentJSON(svc, found))
	}
	return map[string]any{"serviceDeployments": out, "failures": failures}, nil
}

func (e *ecsService) serviceDeploymentJSON(svc *ecsSvc, sd *ecsServiceDeployment) ecsServiceDeploymentJSON {
	summary := func(d *ecsDeployment) ecsServiceRevisionSummary {
		c := svc.countsOf(d)
		return ecsServiceRevisionSummary{Arn: d.revisionArn, RequestedTaskCount: d.desired, RunningTaskCount: c.running, PendingTaskCount: c.pending}
	}
	maxPct, minPct := sd.maxPct, sd.minPct
	out := ecsServiceDeploymentJSON{
		ServiceDeploymentArn:   sd.arn,
		ServiceArn:             svc.arn,
		ClusterArn:             svc.cluster.arn,
		CreatedAt:              ecsAt(sd.createdAt),
		StartedAt:              ecsAt(sd.startedAt),
		FinishedAt:             ecsAt(sd.finishedAt),
		StoppedAt:              ecsAt(sd.stoppedAt),
		UpdatedAt:              ecsAt(sd.updatedAt),
		SourceServiceRevisions: []ecsServiceRevisionSummary{},
		Status:                 sd.status,
		StatusReason:           sd.statusReason,
		DeploymentConfiguration: ecsDeploymentConfiguration{
			DeploymentCircuitBreaker: &ecsCircuitBreakerConfig{Enable: sd.cbEnable, Rollback: sd.cbRollback},
			MaximumPercent:           &maxPct,
			MinimumHealthyPercent:    &minPct,
		},
		Rollback: sd.rollback,
		DeploymentCircuitBreaker: &ecsServiceDeploymentCircuitBreaker{
			Status: sd.cbStatus, FailureCount: sd.target.failedTasks, Threshold: sd.cbThreshold,
		},
		Alarms: &ecsServiceDeploymentAlarms{Status: "DISABLED"},
	}
	for _, d := range sd.sources {
		out.SourceServiceRevisions = append(out.SourceServiceRevisions, summary(d))
	}
	target := summary(sd.target)
	out.TargetServiceRevision = &target
	return out
}

func (e *ecsService) listTasks(c *Call, a *ecsAccount, now time.Time) (any, *APIError) {
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
	cname := ecsClusterName(in.Cluster)
	// ListTasks names no resource in IAM ("*"); policies narrow it to a
	// cluster with the ecs:cluster condition key.
	if apiErr := e.s.authorizeWith(c, "ecs:ListTasks", "*", map[string]string{"ecs:cluster": e.arn(a.id, "cluster/"+cname)}); apiErr != nil {
		return nil, apiErr
	}
	cl, apiErr := e.cluster(a, in.Cluster)
	if apiErr != nil {
		return nil, apiErr
	}
	if in.ServiceName != "" && cl.services[ecsServiceName(in.ServiceName)] == nil {
		return nil, ecsServiceNotFound()
	}
	desired := in.DesiredStatus
	if desired == "" {
		desired = "RUNNING"
	}
	if desired != "RUNNING" && desired != "PENDING" && desired != "STOPPED" {
		return nil, ecsInvalidParameter("desiredStatus must be one of RUNNING, PENDING, STOPPED.")
	}
	tasks := make([]*ecsTask, 0, len(cl.tasks))
	for _, t := range cl.tasks {
		tasks = append(tasks, t)
	}
	slices.SortFunc(tasks, func(x, y *ecsTask) int { return x.createdAt.Compare(y.createdAt) })
	var arns []string
	for _, t := range tasks {
		switch {
		case in.ServiceName != "" && t.svc.name != ecsServiceName(in.ServiceName):
		case in.StartedBy != "" && t.dep.id != in.StartedBy:
		case in.Family != "" && t.td.family != in.Family:
		case desired == "PENDING" && (t.desiredStatus != "RUNNING" || t.lastStatus == "RUNNING"):
		case desired != "PENDING" && t.desiredStatus != desired:
		default:
			arns = append(arns, t.arn)
		}
	}
	page, next, apiErr := ecsPaginate(arns, in.NextToken, in.MaxResults, 100)
	if apiErr != nil {
		return nil, apiErr
	}
	return map[string]any{"taskArns": page, "nextToken": next}, nil
}

func (e *ecsService) describeTasks(c *Call, a *ecsAccount, now time.Time) (any, *APIError) {
	var in struct {
		Cluster string   `json:"cluster"`
		Tasks   []string `json:"tasks"`
		Include []string `json:"include"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	if len(in.Tasks) == 0 {
		return nil, ecsInvalidParameter("Tasks cannot be empty.")
	}
	if len(in.Tasks) > 100 {
		return nil, ecsInvalidParameter("tasks can have at most 100 items.")
	}
	cname := ecsClusterName(in.Cluster)
	for _, ref := range in.Tasks {
		if apiErr := e.s.authorizeWith(c, "ecs:DescribeTasks", e.arn(a.id, "task/"+cname+"/"+ecsTaskID(ref)),
			map[string]string{"ecs:cluster": e.arn(a.id, "cluster/"+cname)}); apiErr != nil {
			return nil, apiErr
		}
	}
	cl, apiErr := e.cluster(a, in.Cluster)
	if apiErr != nil {
		return nil, apiErr
	}
	tasks, failures := []ecsTaskJSON{}, []ecsFailure{}
	for _, ref := range in.Tasks {
		t := cl.tasks[ecsTaskID(ref)]
		if t == nil {
			failures = append(failures, ecsFailure{Arn: e.arn(a.id, "task/"+cl.name+"/"+ecsTaskID(ref)), Reason: "MISSING"})
			continue
		}
		tasks = append(tasks, e.taskJSON(t))
	}
	return map[string]any{"tasks": tasks, "failures": failures}, nil
}

// ecsTaskID reads a task parameter: an ID or an ARN.
func ecsTaskID(ref string) string { return ref[strings.LastIndex(ref, "/")+1:] }

func (e *ecsService) taskJSON(t *ecsTask) ecsTaskJSON {
	out := ecsTaskJSON{
		AvailabilityZone:   e.s.world.Region + "a",
		ClusterArn:         t.svc.cluster.arn,
		Containers:         []ecsContainerJSON{},
		CPU:                t.td.cpu,
		CreatedAt:          ecsAt(t.createdAt),
		DesiredStatus:      t.desiredStatus,
		ExecutionStoppedAt: ecsAt(t.stoppedAt),
		Group:              "service:" + t.svc.name,
		HealthStatus:       "UNKNOWN",
		LastStatus:         t.lastStatus,
		LaunchType:         "FARGATE",
		Memory:             t.td.memory,
		PlatformVersion:    "1.4.0",
		PlatformFamily:     "Linux",
		PullStartedAt:      ecsAt(t.pullStartedAt),
		PullStoppedAt:      ecsAt(t.pullStoppedAt),
		StartedAt:          ecsAt(t.startedAt),
		StartedBy:          t.dep.id,
		StopCode:           t.stopCode,
		StoppedAt:          ecsAt(t.stoppedAt),
		StoppedReason:      t.stoppedReason,
		StoppingAt:         ecsAt(t.stoppingAt),
		Tags:               []ecsTag{},
		TaskArn:            t.arn,
		TaskDefinitionArn:  t.td.arn,
		Version:            t.version,
	}
	if !t.pullStartedAt.IsZero() {
		out.Connectivity, out.ConnectivityAt = "CONNECTED", ecsAt(t.pullStartedAt)
	}
	for _, c := range t.containers {
		out.Containers = append(out.Containers, ecsContainerJSON{
			ContainerArn: c.arn,
			TaskArn:      t.arn,
			Name:         c.spec.Name,
			Image:        c.spec.Image,
			ImageDigest:  c.digest,
			RuntimeID:    c.runtimeID,
			LastStatus:   c.lastStatus,
			ExitCode:     c.exitCode,
			Reason:       c.reason,
			HealthStatus: "UNKNOWN",
		})
	}
	return out
}
