package codedeploy

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
)

// The CodeDeploy API actions. Each runs under Service.mu with the
// deployments caught up to now.

// deploymentIDPattern is the form of a deployment ID.
var deploymentIDPattern = regexp.MustCompile(`^d-[A-Z0-9]{9}$`)

// maxTargetIDs is how many targets one BatchGetDeploymentTargets reads.
const maxTargetIDs = 25

func apiError(code, format string, args ...any) *awsproto.Error {
	return &awsproto.Error{Status: 400, Code: code, Message: fmt.Sprintf(format, args...)}
}

// add records a new deployment.
func (a *account) add(d *deployment) {
	a.deployments[d.id] = d
	a.order = append(a.order, d)
}

func (s *Service) createDeployment(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		ApplicationName           string                     `json:"applicationName"`
		DeploymentGroupName       string                     `json:"deploymentGroupName"`
		Revision                  *revisionLocation          `json:"revision"`
		DeploymentConfigName      string                     `json:"deploymentConfigName"`
		Description               string                     `json:"description"`
		AutoRollbackConfiguration *AutoRollbackConfiguration `json:"autoRollbackConfiguration"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	switch {
	case in.ApplicationName == "":
		return nil, apiError("ApplicationNameRequiredException", "The application name must be specified.")
	case !namePattern.MatchString(in.ApplicationName):
		return nil, apiError("InvalidApplicationNameException", "The application name was specified in an invalid format: %s", in.ApplicationName)
	case in.DeploymentGroupName == "":
		return nil, apiError("DeploymentGroupNameRequiredException", "The deployment group name must be specified.")
	case !namePattern.MatchString(in.DeploymentGroupName):
		return nil, apiError("InvalidDeploymentGroupNameException", "The deployment group name was specified in an invalid format: %s", in.DeploymentGroupName)
	case len(in.Description) > 8192:
		return nil, apiError("DescriptionTooLongException", "The description is too long.")
	}
	if apiErr := s.authorize(c, "codedeploy:CreateDeployment", s.groupARN(a.id, in.ApplicationName, in.DeploymentGroupName)); apiErr != nil {
		return nil, apiErr
	}
	app := a.applications[in.ApplicationName]
	if app == nil {
		return nil, apiError("ApplicationDoesNotExistException", "No application found for name: %s", in.ApplicationName)
	}
	group := app.DeploymentGroups[in.DeploymentGroupName]
	if group == nil {
		return nil, apiError("DeploymentGroupDoesNotExistException", "No Deployment Group found for name: %s", in.DeploymentGroupName)
	}
	config := in.DeploymentConfigName
	if config == "" {
		config = group.DeploymentConfigName
	}
	// CodeDeploy reads the configuration and registers the revision with
	// the application, each authorized as an action of its own.
	if apiErr := s.authorize(c, "codedeploy:GetDeploymentConfig", s.arn(a.id, "deploymentconfig:"+config)); apiErr != nil {
		return nil, apiErr
	}
	if _, ok := deploymentConfigs[config]; !ok {
		return nil, apiError("DeploymentConfigDoesNotExistException", "No deployment configuration found for name: %s", config)
	}
	if apiErr := s.authorize(c, "codedeploy:RegisterApplicationRevision", s.arn(a.id, "application:"+in.ApplicationName)); apiErr != nil {
		return nil, apiErr
	}
	rev := in.Revision
	if rev == nil || rev.RevisionType == "" {
		return nil, apiError("RevisionRequiredException", "The revision ID was not specified.")
	}
	if rev.RevisionType != "AppSpecContent" || rev.AppSpecContent == nil || rev.AppSpecContent.Content == "" {
		return nil, apiError("InvalidRevisionException", "An ECS deployment's revision must be of revisionType AppSpecContent with its content.")
	}
	if !checkSHA256(rev.AppSpecContent.Content, rev.AppSpecContent.Sha256) {
		return nil, apiError("InvalidRevisionException", "The sha256 of the AppSpec content does not match the content.")
	}
	spec, problem := parseAppSpec(rev.AppSpecContent.Content)
	if problem != "" {
		return nil, apiError("InvalidRevisionException", "%s", problem)
	}
	if r := in.AutoRollbackConfiguration; r != nil {
		probe := DeploymentGroup{ECSServices: group.ECSServices, DeploymentConfigName: config, AutoRollbackConfiguration: r}
		if err := probe.normalize(); err != nil {
			return nil, apiError("InvalidAutoRollbackConfigException", "%s", strings.TrimPrefix(err.Error(), "autoRollbackConfiguration "))
		}
	}
	for _, d := range a.order {
		if d.app == in.ApplicationName && d.groupName == in.DeploymentGroupName && d.active() {
			return nil, apiError("DeploymentLimitExceededException", "The deployment group %s already has an active deployment: %s", in.DeploymentGroupName, d.id)
		}
	}
	ref := group.ECSServices[0]
	svc, apiErr := s.cfg.ECS.Service(a.id, ref.ClusterName, ref.ServiceName)
	if apiErr != nil {
		return nil, apiError("InvalidECSServiceException", "The ECS service %s in cluster %s cannot be deployed: %s", ref.ServiceName, ref.ClusterName, apiErr.Message)
	}
	d := &deployment{
		id: newDeploymentID(), app: in.ApplicationName, groupName: in.DeploymentGroupName, group: group, config: config,
		status: statusCreated, creator: "user", description: in.Description, revision: rev, spec: spec,
		autoRollback: in.AutoRollbackConfiguration, createTime: now, updatedAt: now,
		cluster: ref.ClusterName, service: ref.ServiceName, serviceARN: svc.ARN, blue: svc.PrimaryTaskSet, blueTaskDef: svc.TaskDefinition,
	}
	for _, name := range ecsEvents {
		d.events = append(d.events, &lifecycleEvent{name: name, status: eventPending})
	}
	a.add(d)
	return map[string]any{"deploymentId": d.id}, nil
}

// authorize asks the authorizer whether the call's caller may perform
// action on resource.
func (s *Service) authorize(c *awsproto.Call, action, resource string) *awsproto.Error {
	return s.cfg.Authorizer.Authorize(c.Caller, action, resource, nil)
}

// deploymentFor finds the deployment a call names and authorizes action on
// its deployment group.
func (s *Service) deploymentFor(c *awsproto.Call, a *account, action, id string) (*deployment, *awsproto.Error) {
	switch {
	case id == "":
		return nil, apiError("DeploymentIdRequiredException", "At least one deployment ID must be specified.")
	case !deploymentIDPattern.MatchString(id):
		return nil, apiError("InvalidDeploymentIdException", "Specified DeploymentId is not in the valid format: %s", id)
	}
	d := a.deployments[id]
	if d == nil {
		return nil, apiError("DeploymentDoesNotExistException", "The deployment %s could not be found.", id)
	}
	if apiErr := s.authorize(c, action, s.groupARN(a.id, d.app, d.groupName)); apiErr != nil {
		return nil, apiErr
	}
	return d, nil
}

func (s *Service) getDeployment(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		DeploymentID string `json:"deploymentId"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	d, apiErr := s.deploymentFor(c, a, "codedeploy:GetDeployment", in.DeploymentID)
	if apiErr != nil {
		return nil, apiErr
	}
	return map[string]any{"deploymentInfo": s.deploymentInfo(d)}, nil
}

func (s *Service) deploymentInfo(d *deployment) deploymentInfo {
	out := deploymentInfo{
		ApplicationName: d.app, DeploymentGroupName: d.groupName, DeploymentConfigName: d.config, DeploymentID: d.id,
		Revision: d.revision, Status: d.status, ErrorInformation: d.errInfo,
		CreateTime: awsproto.At(d.createTime), StartTime: awsproto.At(d.startTime), CompleteTime: awsproto.At(d.completeTime),
		Description: d.description, Creator: d.creator, AutoRollbackConfiguration: d.group.AutoRollbackConfiguration,
		RollbackInfo:                       d.rollback,
		DeploymentStyle:                    deploymentStyle{DeploymentType: "BLUE_GREEN", DeploymentOption: "WITH_TRAFFIC_CONTROL"},
		InstanceTerminationWaitTimeStarted: d.terminationStarted,
		BlueGreenDeploymentConfiguration:   d.group.BlueGreenDeploymentConfiguration,
		LoadBalancerInfo:                   d.group.LoadBalancerInfo,
		ComputePlatform:                    "ECS",
		DeploymentStatusMessages:           []string{},
	}
	if d.autoRollback != nil {
		out.AutoRollbackConfiguration = d.autoRollback
	}
	switch targetStatus(d) {
	case eventPending:
		out.DeploymentOverview.Pending = 1
	case eventInProgress:
		out.DeploymentOverview.InProgress = 1
	case eventSucceeded:
		out.DeploymentOverview.Succeeded = 1
	case eventFailed:
		out.DeploymentOverview.Failed = 1
	}
	return out
}

// targetStatus is the status of a deployment's one ECS target.
func targetStatus(d *deployment) string {
	switch d.status {
	case statusCreated:
		return eventPending
	case statusInProgress:
		return eventInProgress
	case statusSucceeded:
		return eventSucceeded
	}
	return eventFailed
}

func (s *Service) stopDeployment(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		DeploymentID        string `json:"deploymentId"`
		AutoRollbackEnabled *bool  `json:"autoRollbackEnabled"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	d, apiErr := s.deploymentFor(c, a, "codedeploy:StopDeployment", in.DeploymentID)
	if apiErr != nil {
		return nil, apiErr
	}
	if !d.active() {
		return nil, apiError("DeploymentAlreadyCompletedException", "The deployment %s has already completed.", d.id)
	}
	if d.rollbackOf != nil {
		return nil, apiError("UnsupportedActionForDeploymentTypeException", "A rollback deployment cannot be stopped.")
	}
	rollBack := d.rollsBackOn("DEPLOYMENT_STOP_ON_REQUEST")
	if in.AutoRollbackEnabled != nil {
		rollBack = *in.AutoRollbackEnabled
	}
	s.stop(a, d, rollBack, now)
	if rollBack {
		return map[string]any{"status": "Pending", "statusMessage": "Stopping pending: deployment " + d.rollback.RollbackDeploymentID + " rolls it back."}, nil
	}
	return map[string]any{"status": "Succeeded", "statusMessage": "Deployment " + d.id + " stopped."}, nil
}

// targetID is the ID of a deployment's ECS target: CLUSTER:SERVICE.
func (d *deployment) targetID() string { return d.cluster + ":" + d.service }

func (s *Service) listDeploymentTargets(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		DeploymentID string `json:"deploymentId"`
		NextToken    string `json:"nextToken"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	d, apiErr := s.deploymentFor(c, a, "codedeploy:ListDeploymentTargets", in.DeploymentID)
	if apiErr != nil {
		return nil, apiErr
	}
	if in.NextToken != "" {
		return nil, apiError("InvalidNextTokenException", "The next token was specified in an invalid format.")
	}
	if d.status == statusCreated {
		return nil, apiError("DeploymentNotStartedException", "The deployment %s has not started.", d.id)
	}
	return map[string]any{"targetIds": []string{d.targetID()}}, nil
}

func (s *Service) batchGetDeploymentTargets(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		DeploymentID string   `json:"deploymentId"`
		TargetIDs    []string `json:"targetIds"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	d, apiErr := s.deploymentFor(c, a, "codedeploy:BatchGetDeploymentTargets", in.DeploymentID)
	if apiErr != nil {
		return nil, apiErr
	}
	switch {
	case len(in.TargetIDs) == 0:
		return nil, apiError("DeploymentTargetIdRequiredException", "A deployment target ID was not provided.")
	case len(in.TargetIDs) > maxTargetIDs:
		return nil, apiError("DeploymentTargetListSizeExceededException", "The maximum number of targets that can be associated with an Amazon ECS or AWS Lambda deployment was exceeded.")
	case d.status == statusCreated:
		return nil, apiError("DeploymentNotStartedException", "The deployment %s has not started.", d.id)
	}
	out := []deploymentTargetJSON{}
	for _, id := range in.TargetIDs {
		if !strings.Contains(id, ":") {
			return nil, apiError("InvalidDeploymentTargetIdException", "The target ID provided was not valid: %s", id)
		}
		if id != d.targetID() {
			return nil, apiError("DeploymentTargetDoesNotExistException", "The provided target ID does not belong to the deployment %s: %s", d.id, id)
		}
		out = append(out, deploymentTargetJSON{DeploymentTargetType: "ECSTarget", EcsTarget: s.ecsTarget(a, d)})
	}
	return map[string]any{"deploymentTargets": out}, nil
}

// ecsTarget renders a deployment's ECS target: its lifecycle events and
// its task sets with their share of the traffic.
func (s *Service) ecsTarget(a *account, d *deployment) *ecsTargetJSON {
	t := &ecsTargetJSON{
		DeploymentID: d.id, TargetID: d.targetID(), TargetArn: d.serviceARN, LastUpdatedAt: awsproto.At(d.updatedAt),
		LifecycleEvents: []lifecycleEventJSON{}, Status: targetStatus(d), TaskSetsInfo: []ecsTaskSetJSON{},
	}
	for _, e := range d.events {
		t.LifecycleEvents = append(t.LifecycleEvents, lifecycleEventJSON{
			LifecycleEventName: e.name, Diagnostics: e.diag, StartTime: awsproto.At(e.start), EndTime: awsproto.At(e.end), Status: e.status,
		})
	}
	blueTG, greenTG := d.group.targetGroups()
	for _, set := range []struct {
		id, label, group string
		weight           float64
	}{{d.blue, "Blue", blueTG, 100 - d.weight}, {d.green, "Green", greenTG, d.weight}} {
		if set.id == "" {
			continue
		}
		ts, apiErr := s.cfg.ECS.TaskSet(a.id, d.cluster, d.service, set.id)
		if apiErr != nil || ts.Gone {
			continue
		}
		info := ecsTaskSetJSON{
			Identifer: set.id, DesiredCount: ts.Desired, PendingCount: ts.Pending, RunningCount: ts.Running,
			Status: ts.Status, TrafficWeight: set.weight, TaskSetLabel: set.label,
		}
		if set.group != "" {
			info.TargetGroup = &targetGroupInfo{Name: set.group}
		}
		t.TaskSetsInfo = append(t.TaskSetsInfo, info)
	}
	return t
}
