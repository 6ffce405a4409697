package deploy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// TestCheckPlatforms: an image that fits no service's runtimePlatform makes
// the plan fail before anything changes; one that fits any, or names no
// platform (with a warning), passes; a plan that failed already stays
// failed.
func TestCheckPlatforms(t *testing.T) {
	t.Parallel()
	armService := func(p *Plan) {
		p.services[0].base = &taskDef{source: "web-api:1", input: &ecs.RegisterTaskDefinitionInput{
			RuntimePlatform: &types.RuntimePlatform{CpuArchitecture: types.CPUArchitectureArm64, OperatingSystemFamily: types.OSFamilyLinux},
		}}
	}
	amd64, arm64 := v1.Platform{OS: "linux", Architecture: "amd64"}, v1.Platform{OS: "linux", Architecture: "arm64"}
	tests := []struct {
		name      string
		platforms []v1.Platform
		prepared  error
		wantErr   string
		wantLog   string
	}{
		{name: "one of the index fits", platforms: []v1.Platform{amd64, arm64}},
		{name: "none fits", platforms: []v1.Platform{amd64, {OS: "linux"}},
			wantErr: `service "api-service": image web:v1 is built for linux/amd64, but task definition web-api:1 runs its tasks on ARM64 LINUX`},
		{name: "no platform named", platforms: []v1.Platform{{OS: "linux"}, {Architecture: "arm64"}},
			wantLog: "The image web:v1 names no platform (its config has no os and architecture)"},
		{name: "failed already", platforms: []v1.Platform{arm64}, prepared: errors.New("prepared badly"), wantErr: "prepared badly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var log sandboxtest.SyncBuffer
			p := oneOffPlan(&log, OneOff{}, placement{})
			p.problems = map[string]string{}
			p.prepareErr = tt.prepared
			armService(p)
			err := p.CheckPlatforms("web:v1", tt.platforms)
			if tt.wantErr == "" {
				if err != nil || p.prepareErr != nil {
					t.Errorf("CheckPlatforms = %v, want it to pass", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) || p.prepareErr == nil {
				t.Errorf("CheckPlatforms = %v, want %q, and the plan failed", err, tt.wantErr)
			}
			if !strings.Contains(log.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, log.String())
			}
		})
	}
}

// TestStagesEnteredOnce: each stage is kept once, in the order first seen,
// and an empty one not at all.
func TestStagesEnteredOnce(t *testing.T) {
	t.Parallel()
	s := &serviceState{}
	t0 := time.Unix(1000, 0)
	for i, stage := range []string{"", "PRE_SCALE_UP", "SCALE_UP", "PRE_SCALE_UP", "", "BAKE_TIME", "SCALE_UP"} {
		s.stageEntered(stage, t0.Add(time.Duration(i)*time.Second))
	}
	want := []Stage{{"PRE_SCALE_UP", t0.Add(time.Second)}, {"SCALE_UP", t0.Add(2 * time.Second)}, {"BAKE_TIME", t0.Add(5 * time.Second)}}
	if diff := cmp.Diff(want, s.result.Stages); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
}

// TestHeartbeatDue: a heartbeat comes once the period has passed with no
// change, on the dot, and a change starts the period again.
func TestHeartbeatDue(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	h := &heartbeat{every: 10 * time.Second}
	steps := []struct {
		after   time.Duration
		changed bool
		want    bool
	}{
		{0, false, false},               // the first look starts the period
		{9 * time.Second, false, false}, // not yet
		{10 * time.Second, false, true}, // on the dot
		{15 * time.Second, false, false},
		{20 * time.Second, false, true},
		{21 * time.Second, true, false}, // a change starts it again
		{30 * time.Second, false, false},
		{31 * time.Second, false, true},
	}
	for _, st := range steps {
		if got := h.due(st.changed, t0.Add(st.after)); got != st.want {
			t.Errorf("due(changed %v) at +%v = %v, want %v", st.changed, st.after, got, st.want)
		}
	}
}

// TestHeartbeatSaysWhereItStands: each deployment still watched is told
// with how long the watch has run, where it stands, and how long nothing
// changed.
func TestHeartbeatSaysWhereItStands(t *testing.T) {
	t.Parallel()
	var log sandboxtest.SyncBuffer
	p := oneOffPlan(&log, OneOff{}, placement{})
	now := time.Unix(1000, 0)
	p.req.Clock = fixedClock{now}
	a := p.services[0]
	a.log = p.log.forService("api-service", false)
	a.result.DeploymentID, a.updatedAt, a.result.Rollout = "ecs-svc/1", now.Add(-90*time.Second), "IN_PROGRESS, 1/3 running, 2 pending"
	b := &serviceState{name: "worker", log: p.log.forService("worker", false), updatedAt: now.Add(-5 * time.Second)}
	b.result.DeploymentID = "ecs-svc/2"
	p.heartbeat([]*serviceState{a, b}, now.Add(-30*time.Second))
	for _, want := range []string{
		"Still watching deployment ecs-svc/1 (1m30s so far): IN_PROGRESS, 1/3 running, 2 pending; no change for 30s",
		"Still watching deployment ecs-svc/2 (5s so far): no state read yet; no change for 30s",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

// fixedClock is a clock that stands still.
type fixedClock struct{ now time.Time }

func (c fixedClock) Now() time.Time                         { return c.now }
func (c fixedClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
