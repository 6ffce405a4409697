package ecs_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// allStages are the lifecycle stages of a deployment that starts with one
// revision active.
var allStages = []string{
	"PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT",
	"PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP",
}

// stagedWorld gives the demo's api-service a strategy, with stages of
// 150 ms and minutes of 100 ms. A test polling every few milliseconds sees
// most stages, but on a busy machine not always all: the order of the
// stages is proved by the simulation's own tests, with a clock of their
// own; these prove what the API shows of them.
func stagedWorld(edit func(*sandbox.ServiceSpec)) func(*sandbox.World) {
	return func(w *sandbox.World) {
		w.ECS = &sandbox.ECSSettings{TaskStartSeconds: 0.1, StageSeconds: 0.15, MinuteSeconds: 0.1, NoThrottle: true}
		svc := w.Accounts[testAccount].Clusters["prod-cluster"].Services["api-service"]
		svc.RolloutSeconds = 0
		edit(svc)
	}
}

func intp(n int) *int           { return &n }
func floatp(f float64) *float64 { return &f }
func canary(svc *sandbox.ServiceSpec) {
	svc.Strategy = "CANARY"
	svc.BakeTimeInMinutes = intp(2)
	svc.CanaryConfiguration = &sandbox.CanaryConfiguration{CanaryPercent: floatp(10), CanaryBakeTimeInMinutes: intp(2)}
}

// observation is what a test polling a service deployment saw.
type observation struct {
	stages  []string
	weights []float64 // each production weight of the target seen, in order
	last    types.ServiceDeployment
}

// watchStages polls a service deployment every few milliseconds until it
// ends or until stop says so, recording each stage and traffic weight once.
func watchStages(tb testing.TB, client *ecs.Client, arn string, stop func(types.ServiceDeployment) bool) observation {
	tb.Helper()
	var o observation
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		sd := describeServiceDeployment(tb, client, arn)
		o.last = sd
		if st := string(sd.LifecycleStage); st != "" && (len(o.stages) == 0 || o.stages[len(o.stages)-1] != st) {
			o.stages = append(o.stages, st)
		}
		if r := sd.TargetServiceRevision; r != nil && r.RequestedProductionTrafficWeight != nil {
			if w := *r.RequestedProductionTrafficWeight; len(o.weights) == 0 || o.weights[len(o.weights)-1] != w {
				o.weights = append(o.weights, w)
			}
		}
		switch sd.Status {
		case types.ServiceDeploymentStatusSuccessful, types.ServiceDeploymentStatusStopped,
			types.ServiceDeploymentStatusRollbackSuccessful, types.ServiceDeploymentStatusRollbackFailed:
			return o
		}
		if stop != nil && stop(sd) {
			return o
		}
		time.Sleep(3 * time.Millisecond)
	}
	tb.Fatalf("service deployment still %s at %s after 20 s", o.last.Status, o.last.LifecycleStage)
	return o
}

// inOrder reports whether got holds elements of want, each once, in
// want's order.
func inOrder[T comparable](got, want []T) bool {
	i := 0
	for _, g := range got {
		for i < len(want) && want[i] != g {
			i++
		}
		if i == len(want) {
			return false
		}
		i++
	}
	return len(got) > 0
}

func TestStrategiesGoThroughEveryStage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		edit        func(*sandbox.ServiceSpec)
		wantWeights []float64
	}{
		{"blue_green", func(svc *sandbox.ServiceSpec) { svc.Strategy = "BLUE_GREEN"; svc.BakeTimeInMinutes = intp(2) }, []float64{0, 100}},
		{"canary", canary, []float64{0, 10, 100}},
		{"linear", func(svc *sandbox.ServiceSpec) {
			svc.Strategy = "LINEAR"
			svc.BakeTimeInMinutes = intp(1)
			svc.LinearConfiguration = &sandbox.LinearConfiguration{StepPercent: floatp(25), StepBakeTimeInMinutes: intp(2)}
		}, []float64{0, 25, 50, 75, 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sb := startECSSandbox(t, stagedWorld(tc.edit), sandbox.Options{})
			client := ecsClient(t, sb)
			td := registerWebAPI(t, client, "public.ecr.aws/nginx/nginx:1")
			_, arn := deploy(t, client, "api-service", aws.ToString(td.TaskDefinitionArn))
			o := watchStages(t, client, arn, nil)
			if o.last.Status != types.ServiceDeploymentStatusSuccessful {
				t.Fatalf("service deployment %s (%s), want SUCCESSFUL", o.last.Status, aws.ToString(o.last.StatusReason))
			}
			if !inOrder(o.stages, allStages) || o.stages[len(o.stages)-1] != "CLEAN_UP" {
				t.Errorf("stages seen %v, want stages of %v in order, ending with CLEAN_UP", o.stages, allStages)
			}
			if !inOrder(o.weights, tc.wantWeights) || o.weights[len(o.weights)-1] != 100 {
				t.Errorf("production traffic weights of the new revision seen %v, want weights of %v in order, ending with 100", o.weights, tc.wantWeights)
			}
			if got := string(o.last.DeploymentConfiguration.Strategy); got != strings.ToUpper(tc.name) {
				t.Errorf("deployment configuration strategy %s, want %s", got, strings.ToUpper(tc.name))
			}
			svc := describeService(t, client, "api-service")
			if aws.ToString(svc.TaskDefinition) != aws.ToString(td.TaskDefinitionArn) || len(svc.Deployments) != 1 || svc.RunningCount != 3 {
				t.Errorf("service after the deployment: %s, %d deployments, %d running; want ours alone with 3 tasks",
					aws.ToString(svc.TaskDefinition), len(svc.Deployments), svc.RunningCount)
			}
		})
	}
}

// TestBlueKeepsRunningUntilCleanUp: green runs beside blue until CLEAN_UP,
// whatever maximumPercent says.
func TestBlueKeepsRunningUntilCleanUp(t *testing.T) {
	t.Parallel()
	// A bake of 2 s, which a look on a busy machine does not miss.
	sb := startECSSandbox(t, stagedWorld(func(svc *sandbox.ServiceSpec) { canary(svc); svc.BakeTimeInMinutes = intp(20) }), sandbox.Options{})
	client := ecsClient(t, sb)
	td := registerWebAPI(t, client, "public.ecr.aws/nginx/nginx:1")
	_, arn := deploy(t, client, "api-service", aws.ToString(td.TaskDefinitionArn))
	o := watchStages(t, client, arn, func(sd types.ServiceDeployment) bool {
		return sd.LifecycleStage == types.ServiceDeploymentLifecycleStageBakeTime
	})
	if o.last.LifecycleStage != types.ServiceDeploymentLifecycleStageBakeTime {
		t.Fatalf("deployment ended %s before BAKE_TIME", o.last.Status)
	}
	if got := describeService(t, client, "api-service").RunningCount; got != 6 {
		t.Errorf("during BAKE_TIME %d tasks run, want 6: blue and green", got)
	}
	src, dst := o.last.SourceServiceRevisions[0], o.last.TargetServiceRevision
	if aws.ToFloat64(src.RequestedProductionTrafficWeight) != 0 || aws.ToFloat64(dst.RequestedProductionTrafficWeight) != 100 ||
		aws.ToFloat64(dst.RequestedTestTrafficWeight) != 100 || src.RunningTaskCount != 3 || dst.RunningTaskCount != 3 {
		t.Errorf("during BAKE_TIME: blue %+v, green %+v; want all traffic on green, 3 tasks each", src, dst)
	}
}

// rollbackCase is a staged deployment that must roll back at a stage.
func expectRollback(tb testing.TB, client *ecs.Client, arn, stage, reason string) types.ServiceDeployment {
	tb.Helper()
	o := watchStages(tb, client, arn, nil)
	sd := o.last
	if sd.Status != types.ServiceDeploymentStatusRollbackSuccessful {
		tb.Fatalf("service deployment %s (%s), want ROLLBACK_SUCCESSFUL", sd.Status, aws.ToString(sd.StatusReason))
	}
	if got := string(sd.LifecycleStage); got != stage {
		tb.Errorf("rolled back at %s, want %s", got, stage)
	}
	if sd.Rollback == nil || !strings.Contains(aws.ToString(sd.Rollback.Reason), reason) {
		tb.Errorf("rollback %+v, want a reason containing %q", sd.Rollback, reason)
	}
	if w := sd.TargetServiceRevision.RequestedProductionTrafficWeight; aws.ToFloat64(w) != 0 {
		tb.Errorf("after the rollback the new revision has %v%% of production traffic, want 0", aws.ToFloat64(w))
	}
	if i := slices.Index(allStages, stage); !inOrder(o.stages, allStages[:i+1]) {
		tb.Errorf("stages seen %v, want stages up to %s in order", o.stages, stage)
	}
	svc := describeService(tb, client, "api-service")
	if got, want := aws.ToString(svc.TaskDefinition), "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:1"; got != want || svc.RunningCount != 3 {
		tb.Errorf("service after the rollback runs %s with %d tasks, want %s with 3", got, svc.RunningCount, want)
	}
	return sd
}

func TestLambdaHookFailureRollsBack(t *testing.T) {
	t.Parallel()
	const fn = "arn:aws:lambda:us-east-1:111122223333:function:smoke-test"
	sb := startECSSandbox(t, stagedWorld(func(svc *sandbox.ServiceSpec) {
		canary(svc)
		svc.LifecycleHooks = []sandbox.LifecycleHook{{
			TargetType: "AWS_LAMBDA", HookTargetArn: fn, RoleArn: "arn:aws:iam::111122223333:role/ecs-hooks",
			LifecycleStages: []string{"PRE_SCALE_UP", "TEST_TRAFFIC_SHIFT"},
		}}
	}), sandbox.Options{})
	sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "lifecycle-hook", Stage: "TEST_TRAFFIC_SHIFT", Times: 1})
	client := ecsClient(t, sb)
	td := registerWebAPI(t, client, "public.ecr.aws/nginx/nginx:1")
	_, arn := deploy(t, client, "api-service", aws.ToString(td.TaskDefinitionArn))
	sd := expectRollback(t, client, arn, "TEST_TRAFFIC_SHIFT", fn)
	if len(sd.LifecycleHookDetails) != 1 || sd.LifecycleHookDetails[0].Status != types.DeploymentLifecycleHookStatusFailed ||
		aws.ToString(sd.LifecycleHookDetails[0].TargetArn) != fn {
		t.Errorf("lifecycle hooks %+v, want the Lambda FAILED", sd.LifecycleHookDetails)
	}
}

func TestAlarmDuringBakeTimeRollsBack(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, stagedWorld(func(svc *sandbox.ServiceSpec) {
		canary(svc)
		svc.Alarms = &sandbox.DeploymentAlarms{AlarmNames: []string{"api-5xx"}, Enable: true, Rollback: true}
	}), sandbox.Options{})
	sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "alarm", Stage: "BAKE_TIME", Times: 1})
	client := ecsClient(t, sb)
	td := registerWebAPI(t, client, "public.ecr.aws/nginx/nginx:1")
	_, arn := deploy(t, client, "api-service", aws.ToString(td.TaskDefinitionArn))
	sd := expectRollback(t, client, arn, "BAKE_TIME", "api-5xx")
	if a := sd.Alarms; a == nil || a.Status != types.ServiceDeploymentRollbackMonitorsStatusTriggered || !slices.Equal(a.TriggeredAlarmNames, []string{"api-5xx"}) {
		t.Errorf("alarms %+v, want api-5xx TRIGGERED", sd.Alarms)
	}
}

func TestCrashLoopRollsBackInScaleUp(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, stagedWorld(canary), sandbox.Options{})
	sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "task-crash", Image: "nginx/nginx:crash"})
	client := ecsClient(t, sb)
	td := registerWebAPI(t, client, "public.ecr.aws/nginx/nginx:crash")
	_, arn := deploy(t, client, "api-service", aws.ToString(td.TaskDefinitionArn))
	expectRollback(t, client, arn, "SCALE_UP", "circuit breaker")
}

// pausedAt deploys with a PAUSE hook at stage and waits until it awaits
// action, returning the deployment's ARN and the hook's ID.
func pausedAt(tb testing.TB, stage string) (*ecs.Client, string, string) {
	tb.Helper()
	sb := startECSSandbox(tb, stagedWorld(func(svc *sandbox.ServiceSpec) {
		canary(svc)
		svc.LifecycleHooks = []sandbox.LifecycleHook{{TargetType: "PAUSE", LifecycleStages: []string{stage}}}
	}), sandbox.Options{})
	client := ecsClient(tb, sb)
	td := registerWebAPI(tb, client, "public.ecr.aws/nginx/nginx:1")
	_, arn := deploy(tb, client, "api-service", aws.ToString(td.TaskDefinitionArn))
	o := watchStages(tb, client, arn, func(sd types.ServiceDeployment) bool {
		return len(sd.LifecycleHookDetails) == 1 && sd.LifecycleHookDetails[0].Status == types.DeploymentLifecycleHookStatusAwaitingAction
	})
	if string(o.last.LifecycleStage) != stage || len(o.last.LifecycleHookDetails) != 1 {
		tb.Fatalf("deployment %s at %s with hooks %+v, want paused at %s", o.last.Status, o.last.LifecycleStage, o.last.LifecycleHookDetails, stage)
	}
	h := o.last.LifecycleHookDetails[0]
	if h.TargetType != types.DeploymentLifecycleHookTargetTypePause || h.TargetArn != nil || h.ExpiresAt == nil {
		tb.Errorf("paused hook %+v, want a PAUSE with an expiry and no target", h)
	}
	return client, arn, aws.ToString(h.HookId)
}

func TestPauseHookContinues(t *testing.T) {
	t.Parallel()
	client, arn, hook := pausedAt(t, "POST_TEST_TRAFFIC_SHIFT")
	ctx := context.Background()
	// It stays paused: nothing moves it on by itself.
	time.Sleep(300 * time.Millisecond)
	if sd := describeServiceDeployment(t, client, arn); sd.LifecycleStage != types.ServiceDeploymentLifecycleStagePostTestTrafficShift {
		t.Fatalf("paused deployment moved on to %s", sd.LifecycleStage)
	}
	_, err := client.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn), HookId: aws.String("not-a-hook")})
	if code, _, _ := sandboxtest.APIError(t, err); code != "InvalidParameterException" {
		t.Errorf("ContinueServiceDeployment of an unknown hook: %s, want InvalidParameterException", code)
	}
	out, err := client.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn), HookId: aws.String(hook)})
	if err != nil || aws.ToString(out.ServiceDeploymentArn) != arn {
		t.Fatalf("ContinueServiceDeployment: %v %+v", err, out)
	}
	_, err = client.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn), HookId: aws.String(hook)})
	if code, _, _ := sandboxtest.APIError(t, err); code != "ConflictException" && code != "InvalidParameterException" {
		t.Errorf("ContinueServiceDeployment twice: %s, want ConflictException (or InvalidParameterException once the stage has passed)", code)
	}
	if sd := waitServiceDeployment(t, client, arn, 20*time.Second); sd.Status != types.ServiceDeploymentStatusSuccessful {
		t.Errorf("continued deployment ended %s (%s), want SUCCESSFUL", sd.Status, aws.ToString(sd.StatusReason))
	}
}

func TestPauseHookRollsBack(t *testing.T) {
	t.Parallel()
	client, arn, hook := pausedAt(t, "POST_TEST_TRAFFIC_SHIFT")
	_, err := client.ContinueServiceDeployment(context.Background(), &ecs.ContinueServiceDeploymentInput{
		ServiceDeploymentArn: aws.String(arn), HookId: aws.String(hook), Action: types.DeploymentLifecycleHookActionRollback,
	})
	if err != nil {
		t.Fatalf("ContinueServiceDeployment ROLLBACK: %v", err)
	}
	expectRollback(t, client, arn, "POST_TEST_TRAFFIC_SHIFT", "ROLLBACK")
}

func TestPauseHookTimeout(t *testing.T) {
	t.Parallel()
	for _, action := range []string{"ROLLBACK", "CONTINUE"} {
		t.Run(strings.ToLower(action), func(t *testing.T) {
			t.Parallel()
			sb := startECSSandbox(t, stagedWorld(func(svc *sandbox.ServiceSpec) {
				canary(svc)
				svc.LifecycleHooks = []sandbox.LifecycleHook{{TargetType: "PAUSE", LifecycleStages: []string{"POST_SCALE_UP"},
					TimeoutConfiguration: &sandbox.HookTimeoutConfiguration{TimeoutInMinutes: intp(3), Action: action}}}
			}), sandbox.Options{})
			client := ecsClient(t, sb)
			td := registerWebAPI(t, client, "public.ecr.aws/nginx/nginx:1")
			_, arn := deploy(t, client, "api-service", aws.ToString(td.TaskDefinitionArn))
			sd := waitServiceDeployment(t, client, arn, 20*time.Second)
			want := types.ServiceDeploymentStatusSuccessful
			if action == "ROLLBACK" {
				want = types.ServiceDeploymentStatusRollbackSuccessful
			}
			if sd.Status != want {
				t.Errorf("deployment paused past its hook's timeout ended %s (%s), want %s", sd.Status, aws.ToString(sd.StatusReason), want)
			}
		})
	}
}

func TestStopServiceDeployment(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, stagedWorld(canary), sandbox.Options{})
	client := ecsClient(t, sb)
	ctx := context.Background()
	td := registerWebAPI(t, client, "public.ecr.aws/nginx/nginx:1")
	_, arn := deploy(t, client, "api-service", aws.ToString(td.TaskDefinitionArn))
	watchStages(t, client, arn, func(sd types.ServiceDeployment) bool {
		return sd.LifecycleStage == types.ServiceDeploymentLifecycleStageProductionTrafficShift
	})

	_, err := client.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn), StopType: types.StopServiceDeploymentStopTypeAbort})
	if code, _, _ := sandboxtest.APIError(t, err); code != "UnsupportedFeatureException" {
		t.Errorf("StopServiceDeployment ABORT: %s, want UnsupportedFeatureException", code)
	}
	if _, err := client.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn), StopType: types.StopServiceDeploymentStopTypeRollback}); err != nil {
		t.Fatalf("StopServiceDeployment: %v", err)
	}
	sd := expectRollback(t, client, arn, "PRODUCTION_TRAFFIC_SHIFT", "StopServiceDeployment")
	_, err = client.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: sd.ServiceDeploymentArn, StopType: types.StopServiceDeploymentStopTypeRollback})
	if code, _, _ := sandboxtest.APIError(t, err); code != "ConflictException" {
		t.Errorf("StopServiceDeployment of a finished deployment: %s, want ConflictException", code)
	}
	missing := strings.TrimSuffix(arn, arn[strings.LastIndex(arn, "/")+1:]) + "AAAAAAAAAAAAAAAAAAAAA"
	_, err = client.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(missing)})
	if code, _, _ := sandboxtest.APIError(t, err); code != "ServiceDeploymentNotFoundException" {
		t.Errorf("StopServiceDeployment of a missing deployment: %s, want ServiceDeploymentNotFoundException", code)
	}
}

func TestStopRollingDeployment(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, nil, sandbox.Options{})
	client := ecsClient(t, sb)
	td := registerWebAPI(t, client, "public.ecr.aws/nginx/nginx:1")
	_, arn := deploy(t, client, "api-service", aws.ToString(td.TaskDefinitionArn))
	if _, err := client.StopServiceDeployment(context.Background(), &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn)}); err != nil {
		t.Fatalf("StopServiceDeployment: %v", err)
	}
	sd := waitServiceDeployment(t, client, arn, 10*time.Second)
	if sd.Status != types.ServiceDeploymentStatusRollbackSuccessful || sd.LifecycleStage != "" {
		t.Errorf("stopped rolling deployment ended %s at stage %q, want ROLLBACK_SUCCESSFUL without stages", sd.Status, sd.LifecycleStage)
	}
}

func TestStrategyValidation(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, nil, sandbox.Options{})
	client := ecsClient(t, sb)
	tests := []struct {
		name    string
		service string
		dc      *types.DeploymentConfiguration
		want    string
	}{
		{"unknown_strategy", "api-service", &types.DeploymentConfiguration{Strategy: "RED_BLACK"}, "Invalid deployment strategy"},
		{"blue_green_without_bake_time", "api-service", &types.DeploymentConfiguration{Strategy: "BLUE_GREEN"}, "bakeTimeInMinutes is required"},
		{"canary_percent", "api-service", &types.DeploymentConfiguration{Strategy: "CANARY", CanaryConfiguration: &types.CanaryConfiguration{CanaryPercent: aws.Float64(0.05)}}, "canaryPercent"},
		{"linear_step", "api-service", &types.DeploymentConfiguration{Strategy: "LINEAR", LinearConfiguration: &types.LinearConfiguration{StepPercent: aws.Float64(2)}}, "stepPercent"},
		{"canary_config_on_linear", "api-service", &types.DeploymentConfiguration{Strategy: "LINEAR", CanaryConfiguration: &types.CanaryConfiguration{}}, "only be used with the CANARY"},
		{"hook_stage", "api-service", &types.DeploymentConfiguration{Strategy: "CANARY", LifecycleHooks: []types.DeploymentLifecycleHook{
			{TargetType: types.DeploymentLifecycleHookTargetTypePause, LifecycleStages: []types.DeploymentLifecycleHookStage{"BAKE_TIME"}},
		}}, "Invalid lifecycle stage BAKE_TIME"},
		{"lambda_without_role", "api-service", &types.DeploymentConfiguration{Strategy: "CANARY", LifecycleHooks: []types.DeploymentLifecycleHook{
			{TargetType: types.DeploymentLifecycleHookTargetTypeAwsLambda, HookTargetArn: aws.String("arn:aws:lambda:us-east-1:111122223333:function:f"),
				LifecycleStages: []types.DeploymentLifecycleHookStage{"POST_SCALE_UP"}},
		}}, "roleArn is required"},
		{"hooks_on_rolling", "api-service", &types.DeploymentConfiguration{Strategy: "ROLLING", LifecycleHooks: []types.DeploymentLifecycleHook{
			{TargetType: types.DeploymentLifecycleHookTargetTypePause, LifecycleStages: []types.DeploymentLifecycleHookStage{"POST_SCALE_UP"}},
		}}, "only be used with the BLUE_GREEN"},
		{"no_load_balancer", "worker-service", &types.DeploymentConfiguration{Strategy: "CANARY"}, "requires a load balancer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := client.UpdateService(context.Background(), &ecs.UpdateServiceInput{
				Cluster: aws.String("prod-cluster"), Service: aws.String(tc.service), DeploymentConfiguration: tc.dc,
			})
			code, _, msg := sandboxtest.APIError(t, err)
			if code != "InvalidParameterException" || !strings.Contains(msg, tc.want) {
				t.Errorf("UpdateService: %s: %s, want InvalidParameterException about %q", code, msg, tc.want)
			}
		})
	}

	// A valid change sticks, with ECS's defaults.
	out, err := client.UpdateService(context.Background(), &ecs.UpdateServiceInput{
		Cluster: aws.String("prod-cluster"), Service: aws.String("api-service"),
		DeploymentConfiguration: &types.DeploymentConfiguration{Strategy: "CANARY"},
	})
	if err != nil {
		t.Fatalf("UpdateService to CANARY: %v", err)
	}
	dc := out.Service.DeploymentConfiguration
	if dc.Strategy != types.DeploymentStrategyCanary || dc.CanaryConfiguration == nil ||
		aws.ToFloat64(dc.CanaryConfiguration.CanaryPercent) != 5 || aws.ToInt32(dc.CanaryConfiguration.CanaryBakeTimeInMinutes) != 10 {
		t.Errorf("deployment configuration %+v, want CANARY with 5%% for 10 minutes", dc)
	}
}
