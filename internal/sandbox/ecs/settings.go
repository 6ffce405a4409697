package ecs

import (
	"fmt"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/sim"
)

// Cluster is an ECS cluster and its services, as the world file describes
// them.
type Cluster struct {
	// Services maps a service name to its definition.
	Services map[string]*ServiceSpec `json:"services,omitempty"`
}

// ServiceSpec is an ECS service as the world file describes it.
type ServiceSpec struct {
	// TaskDefinition is the family:revision the service runs.
	TaskDefinition string `json:"taskDefinition"`
	// DesiredCount is the number of tasks.
	DesiredCount int `json:"desiredCount"`
	// Status is ACTIVE (the default) or DRAINING.
	Status string `json:"status,omitempty"`
	// CircuitBreaker enables the deployment circuit breaker with rollback.
	CircuitBreaker bool `json:"circuitBreaker,omitempty"`
	// RolloutSeconds is how long a healthy rollout takes in simulation.
	RolloutSeconds float64 `json:"rolloutSeconds,omitempty"`
	// MaximumPercent is the deployment's upper limit on running plus pending
	// tasks, as a percentage of DesiredCount; ECS's default is 200.
	MaximumPercent int `json:"maximumPercent,omitempty"`
	// MinimumHealthyPercent is the deployment's lower limit on running
	// tasks, as a percentage of DesiredCount; nil means ECS's default, 100.
	MinimumHealthyPercent *int `json:"minimumHealthyPercent,omitempty"`
	// LaunchType is where the service's tasks run: FARGATE (the default),
	// EC2 or EXTERNAL. Its task definition must be compatible with it.
	LaunchType string `json:"launchType,omitempty"`
	// NoRollback, with CircuitBreaker, enables the circuit breaker without
	// rollback: a failed deployment stops and the service keeps what runs.
	NoRollback bool `json:"noRollback,omitempty"`
	// DeploymentController is ECS (the default) or CODE_DEPLOY: a
	// CODE_DEPLOY service runs task sets, and only CodeDeploy deploys it.
	DeploymentController string `json:"deploymentController,omitempty"`
	// LoadBalancers are the service's load balancers: the container and
	// port that take traffic, and for BLUE_GREEN, LINEAR and CANARY the
	// advancedConfiguration ECS shifts traffic with.
	LoadBalancers []LoadBalancer `json:"loadBalancers,omitempty"`
	// Strategy is deploymentConfiguration.strategy: ROLLING (the default),
	// BLUE_GREEN, LINEAR or CANARY; the fields below go with it, as in
	// ECS's deploymentConfiguration.
	Strategy            string               `json:"strategy,omitempty"`
	BakeTimeInMinutes   *int                 `json:"bakeTimeInMinutes,omitempty"`
	CanaryConfiguration *CanaryConfiguration `json:"canaryConfiguration,omitempty"`
	LinearConfiguration *LinearConfiguration `json:"linearConfiguration,omitempty"`
	LifecycleHooks      []LifecycleHook      `json:"lifecycleHooks,omitempty"`
	// Alarms are the CloudWatch alarms its deployments watch; the ecs
	// fault "alarm" sets one off.
	Alarms *DeploymentAlarms `json:"alarms,omitempty"`
}

// Settings tune the ECS stand-in. The zero value is a sandbox that
// behaves at a human pace, throttled like ECS.
type Settings struct {
	// TaskStartSeconds is how long a task takes from launch to RUNNING, or to
	// failing its image pull, for services without RolloutSeconds; 2 when 0.
	TaskStartSeconds float64 `json:"taskStartSeconds,omitempty"`
	// TaskStopSeconds is how long a task that the scheduler stops takes to
	// drain, for services without RolloutSeconds; TaskStartSeconds when 0.
	TaskStopSeconds float64 `json:"taskStopSeconds,omitempty"`
	// CrashAfterSeconds is how long a crash-looping container runs before it
	// exits, for services without RolloutSeconds; TaskStartSeconds/2 when 0.
	CrashAfterSeconds float64 `json:"crashAfterSeconds,omitempty"`
	// TimeScale multiplies every simulated duration, RolloutSeconds included:
	// 0.05 turns a 6-second rollout into 0.3 s. 1 when 0.
	TimeScale float64 `json:"timeScale,omitempty"`
	// StageSeconds is how long a lifecycle stage with nothing to wait for
	// (a traffic shift, a Lambda hook's run) takes, scaled by TimeScale;
	// 1 when 0.
	StageSeconds float64 `json:"stageSeconds,omitempty"`
	// MinuteSeconds is how long a minute of bake time or of a hook's
	// timeout lasts, scaled by TimeScale; 60 when 0. A world sets 1 to
	// bake for seconds instead of minutes.
	MinuteSeconds float64 `json:"minuteSeconds,omitempty"`
	// InactiveDeploymentSeconds is how long a drained deployment stays in
	// a service's deployments[] as INACTIVE, scaled by TimeScale. 0, ECS's
	// own behaviour, drops it as soon as its last task has stopped, so that
	// a steady service lists exactly one deployment.
	InactiveDeploymentSeconds float64 `json:"inactiveDeploymentSeconds,omitempty"`
	// MissingImages are images that no registry holds although the
	// sandbox does not serve their registry (which makes them pullable by
	// default): a task that pulls one fails with CannotPullContainerError.
	// Each is a reference (host/repo:tag, host/repo@sha256:...) or a
	// repository (host/repo), e.g.
	// 602401143452.dkr.ecr.us-east-1.amazonaws.com/aws-for-fluent-bit.
	MissingImages []string `json:"missingImages,omitempty"`
	// ServiceDeploymentLagSeconds makes DescribeServiceDeployments answer
	// what a service deployment was that long before (scaled by TimeScale),
	// as the ServiceDeployment API's answers lag DescribeServices' in ECS,
	// which is eventually consistent; 0, the default, answers what it is.
	ServiceDeploymentLagSeconds float64 `json:"serviceDeploymentLagSeconds,omitempty"`
	// Throttle overrides the token bucket of an API action, keyed by the
	// action's name (DescribeServices) or "*" for every action without its
	// own entry. See defaultThrottle for the defaults.
	Throttle map[string]Throttle `json:"throttle,omitempty"`
	// NoThrottle turns API throttling off.
	NoThrottle bool `json:"noThrottle,omitempty"`
}

// Throttle is the token bucket of one API action: Burst tokens at most,
// refilled at Rate tokens a second. Each call takes one; a call that finds
// the bucket empty fails with ThrottlingException.
type Throttle struct {
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
}

// defaultThrottle is the bucket of an action when the world names none:
// reads are generous, changes are scarce, as ECS's own quotas are.
func defaultThrottle(action string) Throttle {
	switch action {
	case "UpdateService", "CreateService", "DeleteService":
		return Throttle{Rate: 1, Burst: 10}
	case "RegisterTaskDefinition", "DeregisterTaskDefinition":
		return Throttle{Rate: 1, Burst: 10}
	case "RunTask", "StopTask":
		return Throttle{Rate: 20, Burst: 100}
	default: // Describe*, List*
		return Throttle{Rate: 20, Burst: 50}
	}
}

// throttleFor is the bucket the world gives an action.
func (st *Settings) throttleFor(action string) (Throttle, bool) {
	if st.NoThrottle {
		return Throttle{}, false
	}
	if t, ok := st.Throttle[action]; ok {
		return t, true
	}
	if t, ok := st.Throttle["*"]; ok {
		return t, true
	}
	return defaultThrottle(action), true
}

func (st *Settings) validate() error {
	if st.TaskStartSeconds < 0 || st.TaskStopSeconds < 0 || st.CrashAfterSeconds < 0 || st.TimeScale < 0 || st.InactiveDeploymentSeconds < 0 || st.ServiceDeploymentLagSeconds < 0 ||
		st.StageSeconds < 0 || st.MinuteSeconds < 0 {
		return fmt.Errorf("ecs: durations and timeScale must not be negative")
	}
	for name, t := range st.Throttle {
		if t.Rate < 0 || t.Burst < 1 {
			return fmt.Errorf("ecs throttle %q: rate must not be negative and burst must be at least 1", name)
		}
	}
	return nil
}

func (st *Settings) scale() float64 {
	if st.TimeScale > 0 {
		return st.TimeScale
	}
	return 1
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// timing derives a service's task timings: a service with RolloutSeconds
// spends half of it starting the new tasks and half draining the old, so a
// healthy one-batch rollout takes RolloutSeconds.
func (st *Settings) timing(spec *ServiceSpec) sim.Timing {
	start := st.TaskStartSeconds
	if start == 0 {
		start = 2
	}
	stop, crash := st.TaskStopSeconds, st.CrashAfterSeconds
	if stop == 0 {
		stop = start
	}
	if crash == 0 {
		crash = start / 2
	}
	if spec != nil && spec.RolloutSeconds > 0 {
		start, stop, crash = spec.RolloutSeconds/2, spec.RolloutSeconds/2, spec.RolloutSeconds/4
	}
	// A task never changes state in no time, so that the simulation
	// always moves forward.
	stage, minute := st.StageSeconds, st.MinuteSeconds
	if stage == 0 {
		stage = 1
	}
	if minute == 0 {
		minute = 60
	}
	k := st.scale()
	d := func(f float64) time.Duration { return max(time.Millisecond, seconds(f*k)) }
	return sim.Timing{Start: d(start), Stop: d(stop), Crash: d(crash), Stage: d(stage), Minute: d(minute)}
}

func (st *Settings) serviceDeploymentLag() time.Duration {
	return seconds(st.ServiceDeploymentLagSeconds * st.scale())
}

func (st *Settings) inactiveLinger() time.Duration {
	return seconds(st.InactiveDeploymentSeconds * st.scale())
}

// LifecycleTiming is how long a lifecycle stage with nothing to wait for
// takes, and a minute of bake time, as the settings give them (scaled by
// TimeScale): the pace of CodeDeploy's deployments too. A nil Settings
// gives the defaults.
func (st *Settings) LifecycleTiming() (stage, minute time.Duration) {
	if st == nil {
		st = &Settings{}
	}
	t := st.timing(nil)
	return t.Stage, t.Minute
}
