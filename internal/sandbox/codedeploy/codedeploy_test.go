package codedeploy_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

const (
	testAccount = "111122223333"
	app         = "AppECS-prod-cluster-checkout-service"
	group       = "DgpECS-prod-cluster-checkout-service"
	target      = "prod-cluster:checkout-service"
)

// env is a sandbox whose demo world deploys checkout-service with
// CodeDeploy quickly, and clients with the demo role.
type env struct {
	sb  *sandbox.Sandbox
	cd  *codedeploy.Client
	ecs *ecs.Client
}

func start(tb testing.TB, edit func(w *sandbox.World)) *env {
	tb.Helper()
	w := sandbox.DemoWorld()
	w.ECS = &sandbox.ECSSettings{TaskStartSeconds: 0.2, StageSeconds: 0.1, MinuteSeconds: 1, NoThrottle: true}
	w.Accounts[testAccount].Clusters["prod-cluster"].Services["checkout-service"].RolloutSeconds = 0
	if edit != nil {
		edit(w)
	}
	sb := sandboxtest.StartWorld(tb, w, sandbox.Options{})
	creds := credentials.StaticCredentialsProvider{Value: sb.RoleCredentials(testAccount, "gha-deploy", "codedeploy-test")}
	return &env{
		sb:  sb,
		cd:  codedeploy.New(codedeploy.Options{Region: sb.Region(), BaseEndpoint: aws.String(sb.AWSEndpoint()), Credentials: creds, Retryer: aws.NopRetryer{}}),
		ecs: ecs.New(ecs.Options{Region: sb.Region(), BaseEndpoint: aws.String(sb.AWSEndpoint()), Credentials: creds, Retryer: aws.NopRetryer{}}),
	}
}

// register registers a new revision of the checkout family with image.
func (e *env) register(tb testing.TB, image string) string {
	tb.Helper()
	out, err := e.ecs.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("checkout"), NetworkMode: ecstypes.NetworkModeAwsvpc, RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		Cpu: aws.String("256"), Memory: aws.String("512"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("web"), Image: aws.String(image), Essential: aws.Bool(true),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080)}}}},
	})
	if err != nil {
		tb.Fatalf("RegisterTaskDefinition: %v", err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

// appSpec is an ECS AppSpec of taskDefinition behind container web:8080,
// with hooks by event.
func appSpec(taskDefinition string, hooks map[string]string) string {
	spec := fmt.Sprintf("version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: %q\n        LoadBalancerInfo:\n          ContainerName: web\n          ContainerPort: 8080\n", taskDefinition)
	if len(hooks) > 0 {
		spec += "Hooks:\n"
		for event, fn := range hooks {
			spec += fmt.Sprintf("  - %s: %q\n", event, fn)
		}
	}
	return spec
}

func (e *env) create(tb testing.TB, content string) string {
	tb.Helper()
	sum := sha256.Sum256([]byte(content))
	out, err := e.cd.CreateDeployment(context.Background(), &codedeploy.CreateDeploymentInput{
		ApplicationName: aws.String(app), DeploymentGroupName: aws.String(group),
		Revision: &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeAppSpecContent,
			AppSpecContent: &cdtypes.AppSpecContent{Content: aws.String(content), Sha256: aws.String(hex.EncodeToString(sum[:]))}},
		Description: aws.String("test"),
	})
	if err != nil {
		tb.Fatalf("CreateDeployment: %v", err)
	}
	return aws.ToString(out.DeploymentId)
}

func (e *env) get(tb testing.TB, id string) cdtypes.DeploymentInfo {
	tb.Helper()
	out, err := e.cd.GetDeployment(context.Background(), &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
	if err != nil {
		tb.Fatalf("GetDeployment: %v", err)
	}
	return *out.DeploymentInfo
}

// wait polls a deployment until it ends, recording each production
// traffic weight of the replacement it sees.
func (e *env) wait(tb testing.TB, id string) (cdtypes.DeploymentInfo, []float64) {
	tb.Helper()
	var weights []float64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		d := e.get(tb, id)
		if d.Status != cdtypes.DeploymentStatusCreated {
			if t := e.target(tb, id); t != nil {
				for _, ts := range t.TaskSetsInfo {
					if ts.TaskSetLabel == cdtypes.TargetLabelGreen && (len(weights) == 0 || weights[len(weights)-1] != ts.TrafficWeight) {
						weights = append(weights, ts.TrafficWeight)
					}
				}
			}
		}
		switch d.Status {
		case cdtypes.DeploymentStatusSucceeded, cdtypes.DeploymentStatusFailed, cdtypes.DeploymentStatusStopped:
			return d, weights
		}
	}
	tb.Fatalf("deployment %s did not end", id)
	return cdtypes.DeploymentInfo{}, nil
}

// target reads the deployment's ECS target.
func (e *env) target(tb testing.TB, id string) *cdtypes.ECSTarget {
	tb.Helper()
	ctx := context.Background()
	list, err := e.cd.ListDeploymentTargets(ctx, &codedeploy.ListDeploymentTargetsInput{DeploymentId: aws.String(id)})
	if err != nil {
		tb.Fatalf("ListDeploymentTargets: %v", err)
	}
	if len(list.TargetIds) != 1 || list.TargetIds[0] != target {
		tb.Fatalf("ListDeploymentTargets: %v, want [%s]", list.TargetIds, target)
	}
	out, err := e.cd.BatchGetDeploymentTargets(ctx, &codedeploy.BatchGetDeploymentTargetsInput{DeploymentId: aws.String(id), TargetIds: list.TargetIds})
	if err != nil {
		tb.Fatalf("BatchGetDeploymentTargets: %v", err)
	}
	if len(out.DeploymentTargets) != 1 || out.DeploymentTargets[0].DeploymentTargetType != cdtypes.DeploymentTargetTypeEcsTarget {
		tb.Fatalf("BatchGetDeploymentTargets: %+v, want one ECS target", out.DeploymentTargets)
	}
	return out.DeploymentTargets[0].EcsTarget
}

// events are a target's lifecycle events as NAME=STATUS.
func events(t *cdtypes.ECSTarget) string {
	var out []string
	for _, e := range t.LifecycleEvents {
		out = append(out, aws.ToString(e.LifecycleEventName)+"="+string(e.Status))
	}
	return strings.Join(out, " ")
}

// service reads checkout-service.
func (e *env) service(tb testing.TB) ecstypes.Service {
	tb.Helper()
	out, err := e.ecs.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String("prod-cluster"), Services: []string{"checkout-service"}})
	if err != nil || len(out.Services) != 1 {
		tb.Fatalf("DescribeServices: %v", err)
	}
	return out.Services[0]
}

const allSucceeded = "BeforeInstall=Succeeded Install=Succeeded AfterInstall=Succeeded AllowTestTraffic=Succeeded AfterAllowTestTraffic=Succeeded BeforeAllowTraffic=Succeeded AllowTraffic=Succeeded AfterAllowTraffic=Succeeded"

func TestDeploymentSucceeds(t *testing.T) {
	t.Parallel()
	e := start(t, func(w *sandbox.World) {
		w.Accounts[testAccount].CodeDeployApplications[app].DeploymentGroups[group].DeploymentConfigName = "CodeDeployDefault.ECSCanary10Percent5Minutes"
	})
	before := e.service(t)
	if before.DeploymentController.Type != ecstypes.DeploymentControllerTypeCodeDeploy || len(before.TaskSets) != 1 || len(before.Deployments) != 0 {
		t.Fatalf("checkout-service: controller %s, %d task sets, %d deployments; want CODE_DEPLOY with one task set", before.DeploymentController.Type, len(before.TaskSets), len(before.Deployments))
	}
	td := e.register(t, "public.ecr.aws/nginx/nginx:1")
	id := e.create(t, appSpec(td, nil))
	if d := e.get(t, id); d.Status != cdtypes.DeploymentStatusCreated || d.ComputePlatform != cdtypes.ComputePlatformEcs || d.Creator != cdtypes.DeploymentCreatorUser {
		t.Errorf("new deployment: %s on %s by %s, want Created on ECS by user", d.Status, d.ComputePlatform, d.Creator)
	}
	d, weights := e.wait(t, id)
	if d.Status != cdtypes.DeploymentStatusSucceeded || d.ErrorInformation != nil || d.CompleteTime == nil || d.DeploymentOverview.Succeeded != 1 {
		t.Fatalf("deployment %s %+v, want Succeeded", d.Status, d.ErrorInformation)
	}
	if got := events(e.target(t, id)); got != allSucceeded {
		t.Errorf("lifecycle events %s, want %s", got, allSucceeded)
	}
	if strings.Join(strings.Fields(fmt.Sprint(weights)), " ") != "[0 10 100]" {
		t.Errorf("the replacement's traffic went %v, want [0 10 100]", weights)
	}
	svc := e.service(t)
	if aws.ToString(svc.TaskDefinition) != td || len(svc.TaskSets) != 1 || aws.ToString(svc.TaskSets[0].ExternalId) != id ||
		svc.TaskSets[0].Status == nil || *svc.TaskSets[0].Status != "PRIMARY" || svc.RunningCount != 2 {
		t.Errorf("after the deployment: service runs %s with task sets %+v; want %s alone, made by %s", aws.ToString(svc.TaskDefinition), svc.TaskSets, td, id)
	}
}

func TestFailuresRollBack(t *testing.T) {
	t.Parallel()
	const fn = "arn:aws:lambda:us-east-1:111122223333:function:checkout-smoke"
	tests := []struct {
		name   string
		hooks  map[string]string
		fault  sandbox.Fault
		image  string
		event  string
		code   cdtypes.ErrorCode
		reason string
	}{
		{"hook_fails", map[string]string{"AfterAllowTestTraffic": fn}, sandbox.Fault{Service: "codedeploy", Operation: "lifecycle-hook", Stage: "AfterAllowTestTraffic"},
			"public.ecr.aws/nginx/nginx:1", "AfterAllowTestTraffic", cdtypes.ErrorCodeHookExecutionFailure, fn},
		{"replacement_crashes", nil, sandbox.Fault{Service: "ecs", Operation: "task-crash", Image: "nginx/nginx:crash"},
			"public.ecr.aws/nginx/nginx:crash", "Install", cdtypes.ErrorCodeEcsUpdateError, "failed to start"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, nil)
			e.sb.InjectFault(tc.fault)
			before := aws.ToString(e.service(t).TaskDefinition)
			id := e.create(t, appSpec(e.register(t, tc.image), tc.hooks))
			d, _ := e.wait(t, id)
			if d.Status != cdtypes.DeploymentStatusFailed || d.ErrorInformation == nil || d.ErrorInformation.Code != tc.code ||
				!strings.Contains(aws.ToString(d.ErrorInformation.Message), tc.reason) {
				t.Fatalf("deployment %s %+v, want Failed with %s about %q", d.Status, d.ErrorInformation, tc.code, tc.reason)
			}
			tgt := e.target(t, id)
			if got := events(tgt); !strings.Contains(got, tc.event+"=Failed") {
				t.Errorf("lifecycle events %s, want %s Failed", got, tc.event)
			}
			if d.RollbackInfo == nil || aws.ToString(d.RollbackInfo.RollbackDeploymentId) == "" {
				t.Fatalf("rollback info %+v, want the rollback deployment", d.RollbackInfo)
			}
			r, _ := e.wait(t, aws.ToString(d.RollbackInfo.RollbackDeploymentId))
			if r.Status != cdtypes.DeploymentStatusSucceeded || r.Creator != cdtypes.DeploymentCreatorCodeDeployRollback ||
				aws.ToString(r.RollbackInfo.RollbackTriggeringDeploymentId) != id {
				t.Errorf("rollback deployment %s by %s %+v, want Succeeded by codeDeployRollback for %s", r.Status, r.Creator, r.RollbackInfo, id)
			}
			svc := e.service(t)
			if aws.ToString(svc.TaskDefinition) != before || len(svc.TaskSets) != 1 {
				t.Errorf("after the rollback the service runs %s with %d task sets, want %s alone", aws.ToString(svc.TaskDefinition), len(svc.TaskSets), before)
			}
		})
	}
}

func TestStopDeployment(t *testing.T) {
	t.Parallel()
	e := start(t, func(w *sandbox.World) {
		w.Accounts[testAccount].CodeDeployApplications[app].DeploymentGroups[group].DeploymentConfigName = "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
	})
	ctx := context.Background()
	id := e.create(t, appSpec(e.register(t, "public.ecr.aws/nginx/nginx:1"), nil))
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if d := e.get(t, id); d.Status == cdtypes.DeploymentStatusInProgress && strings.Contains(events(e.target(t, id)), "AllowTraffic=InProgress") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deployment never shifted traffic: %s, events %s", e.get(t, id).Status, events(e.target(t, id)))
		}
	}
	out, err := e.cd.StopDeployment(ctx, &codedeploy.StopDeploymentInput{DeploymentId: aws.String(id), AutoRollbackEnabled: aws.Bool(true)})
	if err != nil || out.Status != cdtypes.StopStatusPending {
		t.Fatalf("StopDeployment: %v %+v, want Pending", err, out)
	}
	d := e.get(t, id)
	if d.Status != cdtypes.DeploymentStatusStopped || d.ErrorInformation == nil || d.ErrorInformation.Code != cdtypes.ErrorCodeManualStop || d.RollbackInfo == nil {
		t.Fatalf("stopped deployment %s %+v %+v, want Stopped, MANUAL_STOP, rolled back", d.Status, d.ErrorInformation, d.RollbackInfo)
	}
	e.wait(t, aws.ToString(d.RollbackInfo.RollbackDeploymentId))
	_, err = e.cd.StopDeployment(ctx, &codedeploy.StopDeploymentInput{DeploymentId: aws.String(id)})
	if code, _, _ := sandboxtest.APIError(t, err); code != "DeploymentAlreadyCompletedException" {
		t.Errorf("StopDeployment of a stopped deployment: %s, want DeploymentAlreadyCompletedException", code)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	ctx := context.Background()
	td := e.register(t, "public.ecr.aws/nginx/nginx:1")
	content := appSpec(td, nil)
	revision := func(content, sum string) *cdtypes.RevisionLocation {
		return &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeAppSpecContent, AppSpecContent: &cdtypes.AppSpecContent{Content: aws.String(content), Sha256: aws.String(sum)}}
	}
	tests := []struct {
		name string
		in   codedeploy.CreateDeploymentInput
		code string
	}{
		{"no_application", codedeploy.CreateDeploymentInput{ApplicationName: aws.String(""), DeploymentGroupName: aws.String(group)}, "ApplicationNameRequiredException"},
		{"unknown_application", codedeploy.CreateDeploymentInput{ApplicationName: aws.String("AppECS-nope"), DeploymentGroupName: aws.String(group)}, "AccessDeniedException"},
		{"unknown_group", codedeploy.CreateDeploymentInput{ApplicationName: aws.String(app), DeploymentGroupName: aws.String("DgpECS-nope"), Revision: revision(content, "")}, "DeploymentGroupDoesNotExistException"},
		{"no_revision", codedeploy.CreateDeploymentInput{ApplicationName: aws.String(app), DeploymentGroupName: aws.String(group)}, "RevisionRequiredException"},
		{"not_yaml", codedeploy.CreateDeploymentInput{ApplicationName: aws.String(app), DeploymentGroupName: aws.String(group), Revision: revision("version: [", "")}, "InvalidRevisionException"},
		{"wrong_sha256", codedeploy.CreateDeploymentInput{ApplicationName: aws.String(app), DeploymentGroupName: aws.String(group), Revision: revision(content, strings.Repeat("0", 64))}, "InvalidRevisionException"},
		{"unknown_config", codedeploy.CreateDeploymentInput{ApplicationName: aws.String(app), DeploymentGroupName: aws.String(group), Revision: revision(content, ""), DeploymentConfigName: aws.String("CodeDeployDefault.AllAtOnce")}, "DeploymentConfigDoesNotExistException"},
	}
	for _, tc := range tests {
		_, err := e.cd.CreateDeployment(ctx, &tc.in)
		if code, _, msg := sandboxtest.APIError(t, err); code != tc.code {
			t.Errorf("%s: CreateDeployment: %s: %s, want %s", tc.name, code, msg, tc.code)
		}
	}

	id := e.create(t, content)
	_, err := e.cd.ListDeploymentTargets(ctx, &codedeploy.ListDeploymentTargetsInput{DeploymentId: aws.String(id)})
	if code, _, _ := sandboxtest.APIError(t, err); code != "DeploymentNotStartedException" {
		t.Errorf("ListDeploymentTargets right after CreateDeployment: %s, want DeploymentNotStartedException", code)
	}
	_, err = e.cd.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{ApplicationName: aws.String(app), DeploymentGroupName: aws.String(group), Revision: revision(content, "")})
	if code, _, msg := sandboxtest.APIError(t, err); code != "DeploymentLimitExceededException" || !strings.Contains(msg, id) {
		t.Errorf("a second deployment while %s runs: %s: %s, want DeploymentLimitExceededException naming it", id, code, msg)
	}
	for ref, want := range map[string]string{"": "DeploymentIdRequiredException", "d-1": "InvalidDeploymentIdException", "d-AAAAAAAAA": "DeploymentDoesNotExistException"} {
		_, err := e.cd.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String(ref)})
		if code, _, _ := sandboxtest.APIError(t, err); code != want {
			t.Errorf("GetDeployment(%q): %s, want %s", ref, code, want)
		}
	}
	_, err = e.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod-cluster"), Service: aws.String("checkout-service"), TaskDefinition: aws.String(td)})
	if _, _, msg := sandboxtest.APIError(t, err); msg != "Unable to update task definition on services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a new deployment." {
		t.Errorf("UpdateService of a CODE_DEPLOY service's task definition: %s", msg)
	}

	// A role without CodeDeploy permissions is refused, naming the action.
	other := codedeploy.New(codedeploy.Options{Region: e.sb.Region(), BaseEndpoint: aws.String(e.sb.AWSEndpoint()), Retryer: aws.NopRetryer{},
		Credentials: credentials.StaticCredentialsProvider{Value: e.sb.RoleCredentials("444455556666", "prod-deploy", "t")}})
	_, err = other.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String("d-AAAAAAAAA")})
	if code, _, _ := sandboxtest.APIError(t, err); code != "DeploymentDoesNotExistException" {
		t.Errorf("GetDeployment in another account: %s, want DeploymentDoesNotExistException", code)
	}
	_, err = other.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{ApplicationName: aws.String(app), DeploymentGroupName: aws.String(group), Revision: revision(content, "")})
	if code, _, msg := sandboxtest.APIError(t, err); code != "AccessDeniedException" || !strings.Contains(msg, "codedeploy:CreateDeployment") {
		t.Errorf("CreateDeployment without permission: %s: %s, want AccessDeniedException naming codedeploy:CreateDeployment", code, msg)
	}
}

// TestWorldValidation: a deployment group must name a CODE_DEPLOY service.
func TestWorldValidation(t *testing.T) {
	t.Parallel()
	w := sandbox.DemoWorld()
	w.Accounts[testAccount].CodeDeployApplications[app].DeploymentGroups[group].ECSServices[0].ServiceName = "api-service"
	sb, err := sandbox.Start(context.Background(), w, sandbox.Options{})
	if err == nil {
		t.Fatal(errors.Join(errors.New("Start succeeded"), sb.Close()))
	}
	if !strings.Contains(err.Error(), "does not use the CODE_DEPLOY deployment controller") {
		t.Errorf("Start: %v", err)
	}
}

// TestAWSCLI reads a deployment with Debian's AWS CLI, whose parser checks
// it against CodeDeploy's model.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	id := e.create(t, appSpec(e.register(t, "public.ecr.aws/nginx/nginx:1"), nil))
	want, _ := e.wait(t, id)
	creds := e.sb.RoleCredentials(testAccount, "gha-deploy", "cli")
	var got struct {
		DeploymentInfo struct {
			DeploymentID        string `json:"deploymentId"`
			ApplicationName     string `json:"applicationName"`
			DeploymentGroupName string `json:"deploymentGroupName"`
			Status              string `json:"status"`
			ComputePlatform     string `json:"computePlatform"`
			DeploymentOverview  struct {
				Succeeded int `json:"Succeeded"`
			} `json:"deploymentOverview"`
			Revision struct {
				AppSpecContent struct {
					Content string `json:"content"`
				} `json:"appSpecContent"`
			} `json:"revision"`
		} `json:"deploymentInfo"`
	}
	sandboxtest.AWSCLI(t, e.sb, []string{"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey, "AWS_SESSION_TOKEN=" + creds.SessionToken},
		&got, "deploy", "get-deployment", "--deployment-id", id)
	d := got.DeploymentInfo
	if d.DeploymentID != id || d.ApplicationName != app || d.DeploymentGroupName != group || d.Status != string(want.Status) ||
		d.ComputePlatform != "ECS" || d.DeploymentOverview.Succeeded != 1 || d.Revision.AppSpecContent.Content != aws.ToString(want.Revision.AppSpecContent.Content) {
		raw, _ := json.Marshal(got)
		t.Errorf("aws deploy get-deployment = %s, want what the SDK read: %s %s", raw, id, want.Status)
	}
}
