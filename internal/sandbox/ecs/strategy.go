package ecs

import (
	"math"
	"slices"
	"strings"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/sim"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/taskdef"
)

// The deployment controllers of a service.
const (
	controllerECS        = "ECS"
	controllerCodeDeploy = "CODE_DEPLOY"
)

// The defaults ECS gives a canary or linear configuration's absent fields.
const (
	defaultCanaryPercent     = 5.0
	defaultCanaryBakeMinutes = 10
	defaultStepPercent       = 10.0
	defaultStepBakeMinutes   = 6
	defaultHookTimeout       = 1440
	maxMinutes               = 1440
)

// applyStrategy returns the strategy a service has after dc changes cur:
// what dc gives replaces, what it leaves out stays. It refuses what ECS
// refuses, with ECS's InvalidParameterException.
func applyStrategy(cur sim.Strategy, dc *deploymentConfiguration, lbs []LoadBalancer, controller string) (sim.Strategy, *awsproto.Error) {
	s := cur
	if dc == nil {
		return s, nil
	}
	if dc.Strategy != "" {
		if !slices.Contains([]string{sim.Rolling, sim.BlueGreen, sim.Linear, sim.Canary}, dc.Strategy) {
			return s, taskdef.InvalidParameter("Invalid deployment strategy %s. Valid values are ROLLING, BLUE_GREEN, LINEAR and CANARY.", dc.Strategy)
		}
		if dc.Strategy != s.Name && !(s.Name == "" && dc.Strategy == sim.Rolling) {
			// A new strategy starts from its own defaults.
			s = sim.Strategy{Name: dc.Strategy, Alarms: s.Alarms}
		}
	}
	if s.Name == "" {
		s.Name = sim.Rolling
	}
	if s.Staged() {
		if controller != controllerECS {
			return s, taskdef.InvalidParameter("The %s deployment strategy can only be used with the ECS deployment controller.", s.Name)
		}
		if !hasAdvancedLoadBalancer(lbs) {
			return s, taskdef.InvalidParameter("The %s deployment strategy requires a load balancer with an advancedConfiguration (alternateTargetGroupArn, productionListenerRule and roleArn).", s.Name)
		}
	}
	if dc.BakeTimeInMinutes != nil {
		if *dc.BakeTimeInMinutes < 0 || *dc.BakeTimeInMinutes > maxMinutes {
			return s, taskdef.InvalidParameter("bakeTimeInMinutes must be between 0 and 1440.")
		}
		s.BakeTimeMinutes = *dc.BakeTimeInMinutes
	} else if s.Name == sim.BlueGreen && dc.Strategy == sim.BlueGreen && cur.Name != sim.BlueGreen {
		return s, taskdef.InvalidParameter("bakeTimeInMinutes is required for the BLUE_GREEN deployment strategy.")
	}
	if c := dc.CanaryConfiguration; c != nil {
		if s.Name != sim.Canary {
			return s, taskdef.InvalidParameter("canaryConfiguration can only be used with the CANARY deployment strategy.")
		}
		if c.CanaryPercent != nil {
			if !tenths(*c.CanaryPercent, 0.1, 100) {
				return s, taskdef.InvalidParameter("canaryPercent must be a multiple of 0.1 between 0.1 and 100.0.")
			}
			s.CanaryPercent = *c.CanaryPercent
		}
		if c.CanaryBakeTimeInMinutes != nil {
			if *c.CanaryBakeTimeInMinutes < 0 || *c.CanaryBakeTimeInMinutes > maxMinutes {
				return s, taskdef.InvalidParameter("canaryBakeTimeInMinutes must be between 0 and 1440.")
			}
			s.CanaryBakeMinutes = *c.CanaryBakeTimeInMinutes
		}
	}
	if l := dc.LinearConfiguration; l != nil {
		if s.Name != sim.Linear {
			return s, taskdef.InvalidParameter("linearConfiguration can only be used with the LINEAR deployment strategy.")
		}
		if l.StepPercent != nil {
			if !tenths(*l.StepPercent, 3, 100) {
				return s, taskdef.InvalidParameter("stepPercent must be a multiple of 0.1 between 3.0 and 100.0.")
			}
			s.StepPercent = *l.StepPercent
		}
		if l.StepBakeTimeInMinutes != nil {
			if *l.StepBakeTimeInMinutes < 0 || *l.StepBakeTimeInMinutes > maxMinutes {
				return s, taskdef.InvalidParameter("stepBakeTimeInMinutes must be between 0 and 1440.")
			}
			s.StepBakeMinutes = *l.StepBakeTimeInMinutes
		}
	}
	if s.Name == sim.Canary && s.CanaryPercent == 0 {
		s.CanaryPercent = defaultCanaryPercent
		if dc.CanaryConfiguration == nil || dc.CanaryConfiguration.CanaryBakeTimeInMinutes == nil {
			s.CanaryBakeMinutes = defaultCanaryBakeMinutes
		}
	}
	if s.Name == sim.Linear && s.StepPercent == 0 {
		s.StepPercent = defaultStepPercent
		if dc.LinearConfiguration == nil || dc.LinearConfiguration.StepBakeTimeInMinutes == nil {
			s.StepBakeMinutes = defaultStepBakeMinutes
		}
	}
	if dc.LifecycleHooks != nil {
		hooks, apiErr := lifecycleHooks(dc.LifecycleHooks)
		if apiErr != nil {
			return s, apiErr
		}
		s.Hooks = hooks
	}
	if len(s.Hooks) > 0 && !s.Staged() {
		return s, taskdef.InvalidParameter("lifecycleHooks can only be used with the BLUE_GREEN, LINEAR and CANARY deployment strategies.")
	}
	if a := dc.Alarms; a != nil {
		s.Alarms = sim.Alarms{Names: slices.Clone(a.AlarmNames), Enable: a.Enable, Rollback: a.Rollback}
	}
	return s, nil
}

// tenths reports whether v is a multiple of 0.1 within [lo, hi].
func tenths(v, lo, hi float64) bool {
	return v >= lo && v <= hi && math.Abs(v*10-math.Round(v*10)) < 1e-9
}

// hasAdvancedLoadBalancer reports whether a load balancer can have its
// traffic shifted by ECS.
func hasAdvancedLoadBalancer(lbs []LoadBalancer) bool {
	for _, lb := range lbs {
		if a := lb.AdvancedConfiguration; a != nil && a.AlternateTargetGroupArn != "" && a.ProductionListenerRule != "" && a.RoleArn != "" {
			return true
		}
	}
	return false
}

// lifecycleHooks checks hooks as ECS does and fills in their defaults.
func lifecycleHooks(in []LifecycleHook) ([]sim.Hook, *awsproto.Error) {
	var out []sim.Hook
	for _, h := range in {
		hook := sim.Hook{TargetType: h.TargetType, TargetARN: h.HookTargetArn, RoleARN: h.RoleArn, Stages: slices.Clone(h.LifecycleStages),
			TimeoutMinutes: defaultHookTimeout, TimeoutAction: sim.ActionRollback}
		switch h.TargetType {
		case "", sim.HookLambda:
			hook.TargetType = sim.HookLambda
			if !strings.HasPrefix(h.HookTargetArn, "arn:") || !strings.Contains(h.HookTargetArn, ":lambda:") {
				return nil, taskdef.InvalidParameter("hookTargetArn must be the ARN of a Lambda function for a lifecycle hook of targetType AWS_LAMBDA.")
			}
			if h.RoleArn == "" {
				return nil, taskdef.InvalidParameter("roleArn is required for a lifecycle hook of targetType AWS_LAMBDA.")
			}
		case sim.HookPause:
			if h.HookTargetArn != "" {
				return nil, taskdef.InvalidParameter("hookTargetArn cannot be set for a lifecycle hook of targetType PAUSE.")
			}
		default:
			return nil, taskdef.InvalidParameter("Invalid lifecycle hook targetType %s. Valid values are AWS_LAMBDA and PAUSE.", h.TargetType)
		}
		if len(h.LifecycleStages) == 0 {
			return nil, taskdef.InvalidParameter("lifecycleStages cannot be empty.")
		}
		for _, stage := range h.LifecycleStages {
			if !slices.Contains(sim.HookStages, stage) {
				return nil, taskdef.InvalidParameter("Invalid lifecycle stage %s for a lifecycle hook. Valid values are %s.", stage, strings.Join(sim.HookStages, ", "))
			}
		}
		if tc := h.TimeoutConfiguration; tc != nil {
			if tc.TimeoutInMinutes != nil {
				if *tc.TimeoutInMinutes < 1 || *tc.TimeoutInMinutes > maxMinutes {
					return nil, taskdef.InvalidParameter("timeoutInMinutes must be between 1 and 1440.")
				}
				hook.TimeoutMinutes = *tc.TimeoutInMinutes
			}
			switch tc.Action {
			case "":
			case sim.ActionContinue, sim.ActionRollback:
				hook.TimeoutAction = tc.Action
			default:
				return nil, taskdef.InvalidParameter("Invalid timeout action %s. Valid values are CONTINUE and ROLLBACK.", tc.Action)
			}
		}
		out = append(out, hook)
	}
	return out, nil
}

// deploymentConfigurationOf renders a strategy's part of a
// deploymentConfiguration.
func deploymentConfigurationOf(s sim.Strategy, dc *deploymentConfiguration) {
	name := s.Name
	if name == "" {
		name = sim.Rolling
	}
	dc.Strategy = name
	if s.Alarms.Enable || len(s.Alarms.Names) > 0 {
		dc.Alarms = &DeploymentAlarms{AlarmNames: slices.Clone(s.Alarms.Names), Enable: s.Alarms.Enable, Rollback: s.Alarms.Rollback}
		if dc.Alarms.AlarmNames == nil {
			dc.Alarms.AlarmNames = []string{}
		}
	}
	if !s.Staged() {
		return
	}
	bake := s.BakeTimeMinutes
	dc.BakeTimeInMinutes = &bake
	switch s.Name {
	case sim.Canary:
		pct, mins := s.CanaryPercent, s.CanaryBakeMinutes
		dc.CanaryConfiguration = &CanaryConfiguration{CanaryPercent: &pct, CanaryBakeTimeInMinutes: &mins}
	case sim.Linear:
		pct, mins := s.StepPercent, s.StepBakeMinutes
		dc.LinearConfiguration = &LinearConfiguration{StepPercent: &pct, StepBakeTimeInMinutes: &mins}
	}
	for _, h := range s.Hooks {
		timeout := h.TimeoutMinutes
		dc.LifecycleHooks = append(dc.LifecycleHooks, LifecycleHook{
			HookTargetArn: h.TargetARN, TargetType: h.TargetType, RoleArn: h.RoleARN, LifecycleStages: slices.Clone(h.Stages),
			TimeoutConfiguration: &HookTimeoutConfiguration{Action: h.TimeoutAction, TimeoutInMinutes: &timeout},
		})
	}
}
