package deploy

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestStaged: a deployment goes through lifecycle stages when ECS names
// one, or when its strategy is one that has them.
func TestStaged(t *testing.T) {
	t.Parallel()
	with := func(strategy types.DeploymentStrategy) *types.ServiceDeployment {
		return &types.ServiceDeployment{DeploymentConfiguration: &types.DeploymentConfiguration{Strategy: strategy}}
	}
	for _, tt := range []struct {
		sd   *types.ServiceDeployment
		want bool
	}{
		{nil, false},
		{&types.ServiceDeployment{}, false},
		{&types.ServiceDeployment{LifecycleStage: types.ServiceDeploymentLifecycleStageScaleUp}, true},
		{with(types.DeploymentStrategyRolling), false},
		{with(types.DeploymentStrategyBlueGreen), true},
		{with(types.DeploymentStrategyLinear), true},
		{with(types.DeploymentStrategyCanary), true},
	} {
		if got := staged(tt.sd); got != tt.want {
			t.Errorf("staged(%+v) = %v, want %v", tt.sd, got, tt.want)
		}
	}
}

// TestTrafficSplit: the weights ECS reports, as its console prints them;
// none when it reports none.
func TestTrafficSplit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		r    *types.ServiceRevisionSummary
		want string
	}{
		{nil, ""},
		{&types.ServiceRevisionSummary{}, ""},
		{&types.ServiceRevisionSummary{RequestedProductionTrafficWeight: aws.Float64(12.5)}, "production traffic 12.5% new, 87.5% old"},
		{&types.ServiceRevisionSummary{RequestedProductionTrafficWeight: aws.Float64(0), RequestedTestTrafficWeight: aws.Float64(100)}, "production traffic 0% new, 100% old, test traffic 100% new"},
	} {
		if got := trafficSplit(&types.ServiceDeployment{TargetServiceRevision: tt.r}); got != tt.want {
			t.Errorf("trafficSplit(%+v) = %q, want %q", tt.r, got, tt.want)
		}
	}
}

// TestBakeTimeLeft counts the bake time from when the deployment entered
// BAKE_TIME, or from now when ECS's time is missing, ahead, or older than
// the bake time itself.
func TestBakeTimeLeft(t *testing.T) {
	t.Parallel()
	now := time.Unix(10000, 0)
	sd := func(minutes *int32, updated time.Time) *types.ServiceDeployment {
		d := &types.ServiceDeployment{DeploymentConfiguration: &types.DeploymentConfiguration{BakeTimeInMinutes: minutes}}
		if !updated.IsZero() {
			d.UpdatedAt = aws.Time(updated)
		}
		return d
	}
	ten := aws.Int32(10)
	for _, tt := range []struct {
		name string
		sd   *types.ServiceDeployment
		left time.Duration
		ok   bool
	}{
		{"no configuration", &types.ServiceDeployment{}, 0, false},
		{"no bake time", sd(nil, now), 0, false},
		{"entered 4 minutes ago", sd(ten, now.Add(-4*time.Minute)), 6 * time.Minute, true},
		{"entered exactly the bake time ago", sd(ten, now.Add(-10*time.Minute)), 0, true},
		{"ECS's time older than the bake time", sd(ten, now.Add(-11*time.Minute)), 10 * time.Minute, true},
		{"ECS's time ahead of ours", sd(ten, now.Add(time.Minute)), 10 * time.Minute, true},
		{"no time from ECS", sd(ten, time.Time{}), 10 * time.Minute, true},
	} {
		bake, left, ok := bakeTimeLeft(tt.sd, now)
		if ok != tt.ok || left != tt.left || (ok && bake != 10*time.Minute) {
			t.Errorf("%s: bakeTimeLeft = %v, %v, %v; want 10m0s, %v, %v", tt.name, bake, left, ok, tt.left, tt.ok)
		}
	}
}

// TestAwaitingPause: the PAUSE hook an in-progress deployment waits at;
// no other hook, and none once the deployment ended.
func TestAwaitingPause(t *testing.T) {
	t.Parallel()
	hooks := []types.DeploymentLifecycleHookDetail{
		{HookId: aws.String("lambda"), TargetType: types.DeploymentLifecycleHookTargetTypeAwsLambda, Status: types.DeploymentLifecycleHookStatusAwaitingAction},
		{HookId: aws.String("passed"), TargetType: types.DeploymentLifecycleHookTargetTypePause, Status: types.DeploymentLifecycleHookStatusSucceeded},
		{HookId: aws.String("waiting"), TargetType: types.DeploymentLifecycleHookTargetTypePause, Status: types.DeploymentLifecycleHookStatusAwaitingAction},
	}
	sd := &types.ServiceDeployment{Status: types.ServiceDeploymentStatusInProgress, LifecycleHookDetails: hooks}
	if h := awaitingPause(sd); h == nil || aws.ToString(h.HookId) != "waiting" {
		t.Errorf("awaitingPause = %+v, want the waiting PAUSE hook", h)
	}
	sd.Status = types.ServiceDeploymentStatusStopRequested
	if h := awaitingPause(sd); h != nil {
		t.Errorf("awaitingPause of a deployment being stopped = %+v, want none", h)
	}
	if awaitingPause(nil) != nil || awaitingPause(&types.ServiceDeployment{Status: types.ServiceDeploymentStatusInProgress, LifecycleHookDetails: hooks[:2]}) != nil {
		t.Error("awaitingPause found a hook where none waits")
	}
}
