package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// CodeDeployAPI is the part of the AWS CodeDeploy client that deploying a
// service whose deployment controller is CODE_DEPLOY uses;
// *codedeploy.Client implements it.
type CodeDeployAPI interface {
	CreateDeployment(ctx context.Context, in *codedeploy.CreateDeploymentInput, optFns ...func(*codedeploy.Options)) (*codedeploy.CreateDeploymentOutput, error)
	GetDeployment(ctx context.Context, in *codedeploy.GetDeploymentInput, optFns ...func(*codedeploy.Options)) (*codedeploy.GetDeploymentOutput, error)
	ListDeploymentTargets(ctx context.Context, in *codedeploy.ListDeploymentTargetsInput, optFns ...func(*codedeploy.Options)) (*codedeploy.ListDeploymentTargetsOutput, error)
	BatchGetDeploymentTargets(ctx context.Context, in *codedeploy.BatchGetDeploymentTargetsInput, optFns ...func(*codedeploy.Options)) (*codedeploy.BatchGetDeploymentTargetsOutput, error)
	StopDeployment(ctx context.Context, in *codedeploy.StopDeploymentInput, optFns ...func(*codedeploy.Options)) (*codedeploy.StopDeploymentOutput, error)
}

var _ CodeDeployAPI = (*codedeploy.Client)(nil)

// CodeDeployApplicationName and CodeDeployDeploymentGroupName are the
// names the AWS console gives a service's CodeDeploy application and
// deployment group, the defaults of the inputs.
func CodeDeployApplicationName(cluster, service string) string {
	return "AppECS-" + clusterNameOf(cluster) + "-" + serviceNameOf(service)
}

// CodeDeployDeploymentGroupName is the console's deployment group name.
func CodeDeployDeploymentGroupName(cluster, service string) string {
	return "DgpECS-" + clusterNameOf(cluster) + "-" + serviceNameOf(service)
}

// clusterNameOf is a cluster's name, from a name or an ARN.
func clusterNameOf(cluster string) string {
	if cluster == "" {
		return DefaultCluster
	}
	return serviceNameOf(cluster)
}

// codeDeployWatch is what the watch knows of one service's CodeDeploy
// deployment.
type codeDeployWatch struct {
	application, group string
	info               *cdtypes.DeploymentInfo
	target             *cdtypes.ECSTarget
	// targetID is the deployment's ECS target, CLUSTER:SERVICE.
	targetID string
	// events are the lifecycle events' statuses printed so far, status the
	// deployment's, traffic the last traffic split printed, replacement
	// the replacement task set's ID: the ECS task set whose external ID
	// is the CodeDeploy deployment's, as DescribeServices documents it.
	events      map[string]cdtypes.LifecycleEventStatus
	status      cdtypes.DeploymentStatus
	traffic     string
	replacement string
}

// usesCodeDeploy reports whether CodeDeploy deploys the service.
func (s *serviceState) usesCodeDeploy() bool {
	return s.controller == types.DeploymentControllerTypeCodeDeploy
}

// codeDeployProblem says why a CODE_DEPLOY service cannot be deployed as
// asked; empty when it can.
func (p *Plan) codeDeployProblem(s *serviceState) string {
	switch {
	case p.req.ForceNewDeployment:
		return fmt.Sprintf("service %q is deployed by CodeDeploy (deployment controller CODE_DEPLOY), which cannot force a new deployment of the same revision: drop force-new-deployment, so that a new revision is registered and deployed through CodeDeploy", s.name)
	case len(s.loadBalancers) == 0 || aws.ToString(s.loadBalancers[0].ContainerName) == "" || s.loadBalancers[0].ContainerPort == nil:
		return fmt.Sprintf("service %q is deployed by CodeDeploy (deployment controller CODE_DEPLOY) but has no load balancer container and port for the AppSpec's LoadBalancerInfo; CodeDeploy blue/green needs the service's load balancer", s.name)
	case p.req.CodeDeploy == nil:
		return fmt.Sprintf("service %q is deployed by CodeDeploy (deployment controller CODE_DEPLOY), and the run has no CodeDeploy client", s.name)
	}
	return ""
}

// appSpec is the AppSpec of an ECS deployment of taskDefinition behind the
// service's load balancer.
func appSpec(taskDefinition string, lb types.LoadBalancer) (content, sum string) {
	type loadBalancerInfo struct {
		ContainerName string `json:"ContainerName"`
		ContainerPort int32  `json:"ContainerPort"`
	}
	type properties struct {
		TaskDefinition   string           `json:"TaskDefinition"`
		LoadBalancerInfo loadBalancerInfo `json:"LoadBalancerInfo"`
	}
	type resource struct {
		Type       string     `json:"Type"`
		Properties properties `json:"Properties"`
	}
	spec := struct {
		Version   string                `json:"version"`
		Resources []map[string]resource `json:"Resources"`
	}{
		Version: "0.0",
		Resources: []map[string]resource{{"TargetService": {Type: "AWS::ECS::Service", Properties: properties{
			TaskDefinition:   taskDefinition,
			LoadBalancerInfo: loadBalancerInfo{ContainerName: aws.ToString(lb.ContainerName), ContainerPort: aws.ToInt32(lb.ContainerPort)},
		}}}},
	}
	data, _ := json.Marshal(spec) // of strings and numbers: cannot fail
	h := sha256.Sum256(data)
	return string(data), hex.EncodeToString(h[:])
}

// startCodeDeploy starts the CodeDeploy deployment of the new revision.
func (p *Plan) startCodeDeploy(ctx context.Context, s *serviceState) {
	app, group := p.codeDeployNames(s)
	content, sum := appSpec(s.result.TaskDefinitionARN, s.loadBalancers[0])
	s.updatedAt = p.req.Clock.Now()
	s.result.Deployment.Start = s.updatedAt
	s.updateSent = true
	out, err := p.req.CodeDeploy.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{
		ApplicationName:     aws.String(app),
		DeploymentGroupName: aws.String(group),
		Revision: &cdtypes.RevisionLocation{
			RevisionType:   cdtypes.RevisionLocationTypeAppSpecContent,
			AppSpecContent: &cdtypes.AppSpecContent{Content: aws.String(content), Sha256: aws.String(sum)},
		},
		Description: aws.String("oidc-ecs-deploy: " + s.result.TaskDefinitionARN),
	})
	if err != nil {
		if ctx.Err() != nil {
			s.fail(OutcomeUnknown, fmt.Errorf("create CodeDeploy deployment for service %q: the run was interrupted before CodeDeploy answered; whether it started a deployment is unknown", s.name))
			return
		}
		s.fail(OutcomeFailed, fmt.Errorf("create CodeDeploy deployment of %s in application %s, deployment group %s for service %q: %w%s",
			s.result.TaskDefinitionARN, app, group, s.name, err, codeDeployHint(err, app, group)))
		s.result.Outcome = OutcomeNotStarted
		return
	}
	s.result.DeploymentID = aws.ToString(out.DeploymentId)
	s.result.Outcome = OutcomeNotWaited
	s.codeDeploy = &codeDeployWatch{application: app, group: group, events: map[string]cdtypes.LifecycleEventStatus{}}
	s.log.infof("Started CodeDeploy deployment %s of %s (application %s, deployment group %s)", s.result.DeploymentID, s.result.TaskDefinitionARN, app, group)
}

// codeDeployNames are the CodeDeploy application and deployment group of
// a service: the inputs', or the console's names.
func (p *Plan) codeDeployNames(s *serviceState) (app, group string) {
	app, group = p.req.CodeDeployApplication, p.req.CodeDeployDeploymentGroup
	if app == "" {
		app = CodeDeployApplicationName(p.req.Cluster, s.name)
	}
	if group == "" {
		group = CodeDeployDeploymentGroupName(p.req.Cluster, s.name)
	}
	return app, group
}

// codeDeployHint says what to change when CreateDeployment refuses.
func codeDeployHint(err error, app, group string) string {
	switch errorCode(err) {
	case "ApplicationDoesNotExistException":
		return fmt.Sprintf("; set codedeploy-application to the application of the service (the console names it %s)", app)
	case "DeploymentGroupDoesNotExistException":
		return fmt.Sprintf("; set codedeploy-deployment-group to the service's deployment group (the console names it %s)", group)
	case "DeploymentLimitExceededException":
		return "; another deployment of the group is in progress: wait for it to end, or stop it (aws deploy stop-deployment --deployment-id ...)"
	case "AccessDeniedException":
		return "; allow codedeploy:CreateDeployment on the deployment group, and codedeploy:GetDeploymentConfig and codedeploy:RegisterApplicationRevision, for the run's role"
	}
	return ""
}

// pollCodeDeploy reads our CodeDeploy deployment and its ECS target,
// prints what is new, and settles the service when the deployment ended.
// It reports whether anything changed.
func (p *Plan) pollCodeDeploy(ctx context.Context, s *serviceState) (bool, error) {
	w := s.codeDeploy
	out, err := p.req.CodeDeploy.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String(s.result.DeploymentID)})
	if err != nil {
		return false, fmt.Errorf("get CodeDeploy deployment %s: %w", s.result.DeploymentID, err)
	}
	w.info = out.DeploymentInfo
	for _, ts := range s.watch.svc.TaskSets {
		if aws.ToString(ts.ExternalId) == s.result.DeploymentID {
			w.replacement = aws.ToString(ts.Id)
		}
	}
	changed := false
	if w.info.Status != cdtypes.DeploymentStatusCreated && w.info.Status != cdtypes.DeploymentStatusQueued {
		if err := p.readCodeDeployTarget(ctx, s); err != nil {
			return false, err
		}
		changed = s.printCodeDeployEvents()
	}
	if w.info.Status != w.status {
		w.status = w.info.Status
		s.log.infof("CodeDeploy deployment %s: %s", s.result.DeploymentID, w.status)
		changed = true
	}
	s.result.Rollout = s.codeDeployLine()
	s.settleCodeDeploy()
	return changed, nil
}

// readCodeDeployTarget reads the deployment's ECS target.
func (p *Plan) readCodeDeployTarget(ctx context.Context, s *serviceState) error {
	w := s.codeDeploy
	if w.targetID == "" {
		list, err := p.req.CodeDeploy.ListDeploymentTargets(ctx, &codedeploy.ListDeploymentTargetsInput{DeploymentId: aws.String(s.result.DeploymentID)})
		if errorCode(err) == "DeploymentNotStartedException" {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list the targets of CodeDeploy deployment %s: %w", s.result.DeploymentID, err)
		}
		if len(list.TargetIds) == 0 {
			return nil
		}
		w.targetID = list.TargetIds[0]
	}
	out, err := p.req.CodeDeploy.BatchGetDeploymentTargets(ctx, &codedeploy.BatchGetDeploymentTargetsInput{
		DeploymentId: aws.String(s.result.DeploymentID), TargetIds: []string{w.targetID},
	})
	if err != nil {
		return fmt.Errorf("read the target of CodeDeploy deployment %s: %w", s.result.DeploymentID, err)
	}
	for _, t := range out.DeploymentTargets {
		if t.EcsTarget != nil {
			w.target = t.EcsTarget
		}
	}
	return nil
}

// printCodeDeployEvents prints each lifecycle event's new status once, and
// the traffic split between the task sets when it changed.
func (s *serviceState) printCodeDeployEvents() bool {
	w := s.codeDeploy
	if w.target == nil {
		return false
	}
	changed := false
	for _, e := range w.target.LifecycleEvents {
		name := aws.ToString(e.LifecycleEventName)
		if e.Status == cdtypes.LifecycleEventStatusPending || w.events[name] == e.Status {
			continue
		}
		w.events[name] = e.Status
		changed = true
		if d := e.Diagnostics; d != nil && aws.ToString(d.Message) != "" {
			s.log.infof("CodeDeploy lifecycle event %s: %s (%s: %s)", name, e.Status, d.ErrorCode, aws.ToString(d.Message))
			continue
		}
		s.log.infof("CodeDeploy lifecycle event %s: %s", name, e.Status)
	}
	var parts []string
	for _, ts := range w.target.TaskSetsInfo {
		parts = append(parts, fmt.Sprintf("%s %s%% (%d/%d running)", strings.ToLower(string(ts.TaskSetLabel)), strings.TrimSuffix(percent(ts.TrafficWeight), "%"), ts.RunningCount, ts.DesiredCount))
	}
	if split := strings.Join(parts, ", "); split != "" && split != w.traffic {
		w.traffic = split
		s.log.infof("  task sets: %s", split)
		changed = true
	}
	return changed
}

// codeDeployLine says where the CodeDeploy deployment stands, in one line.
func (s *serviceState) codeDeployLine() string {
	w := s.codeDeploy
	if w.info == nil {
		return "CodeDeploy deployment not read yet"
	}
	line := "CodeDeploy " + string(w.info.Status)
	if w.target != nil {
		for _, e := range w.target.LifecycleEvents {
			if e.Status == cdtypes.LifecycleEventStatusInProgress || e.Status == cdtypes.LifecycleEventStatusFailed {
				line += fmt.Sprintf(", %s %s", aws.ToString(e.LifecycleEventName), e.Status)
			}
		}
	}
	if w.traffic != "" {
		line += ", task sets " + w.traffic
	}
	return line
}

// settleCodeDeploy ends the watch of a CodeDeploy deployment that ended:
// it succeeded only when CodeDeploy says so and the service runs our
// revision; a failure, a stop or a rollback is a failure, with the
// deployment's error, its rollback and its lifecycle events.
func (s *serviceState) settleCodeDeploy() {
	info := s.codeDeploy.info
	switch info.Status {
	case cdtypes.DeploymentStatusSucceeded:
		if got := aws.ToString(s.watch.svc.TaskDefinition); got != s.result.TaskDefinitionARN {
			s.fail(OutcomeFailed, fmt.Errorf("service %q: CodeDeploy deployment %s succeeded, but the service runs %s, not %s", s.name, s.result.DeploymentID, got, s.result.TaskDefinitionARN))
			return
		}
		s.succeed()
	case cdtypes.DeploymentStatusFailed, cdtypes.DeploymentStatusStopped:
		s.fail(OutcomeFailed, s.codeDeployFailure())
	}
}

// codeDeployFailure explains a CodeDeploy deployment that failed or was
// stopped: where, why, whether it was rolled back, and every lifecycle
// event as CodeDeploy reports it.
func (s *serviceState) codeDeployFailure() error {
	info := s.codeDeploy.info
	msg := fmt.Sprintf("service %q: CodeDeploy deployment %s %s", s.name, s.result.DeploymentID, strings.ToLower(string(info.Status)))
	if s.codeDeploy.target != nil {
		for _, e := range s.codeDeploy.target.LifecycleEvents {
			if e.Status == cdtypes.LifecycleEventStatusFailed {
				msg += " at lifecycle event " + aws.ToString(e.LifecycleEventName)
				break
			}
		}
	}
	if ei := info.ErrorInformation; ei != nil {
		msg += fmt.Sprintf(" (%s): %s", ei.Code, aws.ToString(ei.Message))
	}
	if r := info.RollbackInfo; r != nil && aws.ToString(r.RollbackDeploymentId) != "" {
		msg += fmt.Sprintf("; CodeDeploy rolls the service back to %s with deployment %s", s.taskDefinition, aws.ToString(r.RollbackDeploymentId))
	} else {
		msg += "; it was not rolled back: the service's task sets stay as CodeDeploy left them"
	}
	if t := s.codeDeploy.target; t != nil {
		msg += "\nLifecycle events:"
		for _, e := range t.LifecycleEvents {
			msg += fmt.Sprintf("\n  %s: %s", aws.ToString(e.LifecycleEventName), e.Status)
			if d := e.Diagnostics; d != nil && aws.ToString(d.Message) != "" {
				msg += fmt.Sprintf(" (%s: %s)", d.ErrorCode, aws.ToString(d.Message))
			}
		}
	}
	return errors.New(msg)
}

// stopCodeDeploy stops our CodeDeploy deployment with a rollback
// (rollback-on-cancel) and says what became of it.
func (p *Plan) stopCodeDeploy(ctx context.Context, s *serviceState) string {
	_, err := p.req.CodeDeploy.StopDeployment(ctx, &codedeploy.StopDeploymentInput{DeploymentId: aws.String(s.result.DeploymentID), AutoRollbackEnabled: aws.Bool(true)})
	switch {
	case err == nil:
		return "As rollback-on-cancel asks, the run stopped it with a rollback (CodeDeploy StopDeployment): CodeDeploy returns the service to its previous task set."
	case errorCode(err) == "DeploymentAlreadyCompletedException":
		return fmt.Sprintf("rollback-on-cancel found it already ended (%v).", err)
	}
	return fmt.Sprintf("rollback-on-cancel could not stop it (%v)%s; CodeDeploy goes on with it.", err, allowHint(err, "codedeploy:StopDeployment"))
}
