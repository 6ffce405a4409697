package codedeploy

import (
	"fmt"
	"regexp"
	"slices"
)

// Application is a CodeDeploy application as the world file describes it.
type Application struct {
	// ComputePlatform is ECS, the only one the sandbox deploys (the
	// default).
	ComputePlatform string `json:"computePlatform,omitempty"`
	// DeploymentGroups maps a deployment group's name to the group.
	DeploymentGroups map[string]*DeploymentGroup `json:"deploymentGroups,omitempty"`
}

// DeploymentGroup is a CodeDeploy deployment group of an ECS application,
// with CodeDeploy's field names.
type DeploymentGroup struct {
	// ECSServices is the one ECS service the group deploys; its
	// deploymentController must be CODE_DEPLOY.
	ECSServices []ECSServiceRef `json:"ecsServices"`
	// DeploymentConfigName is how traffic shifts:
	// CodeDeployDefault.ECSAllAtOnce (the default),
	// CodeDeployDefault.ECSCanary10Percent5Minutes, ...
	DeploymentConfigName string `json:"deploymentConfigName,omitempty"`
	// ServiceRoleArn is the role CodeDeploy acts on ECS with.
	ServiceRoleArn string `json:"serviceRoleArn,omitempty"`
	// AutoRollbackConfiguration rolls a failed (DEPLOYMENT_FAILURE) or
	// stopped (DEPLOYMENT_STOP_ON_REQUEST) deployment back.
	AutoRollbackConfiguration *AutoRollbackConfiguration `json:"autoRollbackConfiguration,omitempty"`
	// BlueGreenDeploymentConfiguration says how long the original task
	// set stays after the traffic has moved.
	BlueGreenDeploymentConfiguration *BlueGreenDeploymentConfiguration `json:"blueGreenDeploymentConfiguration,omitempty"`
	// LoadBalancerInfo names the target groups and listeners; a test
	// listener makes AllowTestTraffic shift test traffic.
	LoadBalancerInfo *LoadBalancerInfo `json:"loadBalancerInfo,omitempty"`
}

// ECSServiceRef names an ECS service.
type ECSServiceRef struct {
	ClusterName string `json:"clusterName"`
	ServiceName string `json:"serviceName"`
}

// AutoRollbackConfiguration is when CodeDeploy rolls a deployment back.
type AutoRollbackConfiguration struct {
	Enabled bool     `json:"enabled"`
	Events  []string `json:"events,omitempty"`
}

// BlueGreenDeploymentConfiguration is a blue/green deployment's settings.
type BlueGreenDeploymentConfiguration struct {
	TerminateBlueInstancesOnDeploymentSuccess *BlueInstanceTerminationOption `json:"terminateBlueInstancesOnDeploymentSuccess,omitempty"`
	DeploymentReadyOption                     *DeploymentReadyOption         `json:"deploymentReadyOption,omitempty"`
}

// BlueInstanceTerminationOption is what becomes of the original task set.
type BlueInstanceTerminationOption struct {
	Action                       string `json:"action,omitempty"`
	TerminationWaitTimeInMinutes int    `json:"terminationWaitTimeInMinutes"`
}

// DeploymentReadyOption is when traffic moves to the replacement.
type DeploymentReadyOption struct {
	ActionOnTimeout   string `json:"actionOnTimeout,omitempty"`
	WaitTimeInMinutes int    `json:"waitTimeInMinutes"`
}

// LoadBalancerInfo is a deployment group's load balancer.
type LoadBalancerInfo struct {
	TargetGroupPairInfoList []TargetGroupPairInfo `json:"targetGroupPairInfoList,omitempty"`
}

// TargetGroupPairInfo is the blue and green target groups and their
// listeners.
type TargetGroupPairInfo struct {
	TargetGroups     []TargetGroupInfo `json:"targetGroups"`
	ProdTrafficRoute *TrafficRoute     `json:"prodTrafficRoute,omitempty"`
	TestTrafficRoute *TrafficRoute     `json:"testTrafficRoute,omitempty"`
}

// TargetGroupInfo names a target group.
type TargetGroupInfo struct {
	Name string `json:"name"`
}

// TrafficRoute is a listener route.
type TrafficRoute struct {
	ListenerArns []string `json:"listenerArns"`
}

// namePattern is what CodeDeploy accepts as an application or deployment
// group name.
var namePattern = regexp.MustCompile(`^[\w+=,.@-]{1,100}$`)

// trafficShift is how a deployment configuration moves production
// traffic: Percent, then Percent more every Minutes, until all of it
// (Linear); Percent, then the rest after Minutes (Canary); or all at once.
type trafficShift struct {
	Linear, Canary bool
	Percent        float64
	Minutes        int
}

// deploymentConfigs are CodeDeploy's predefined ECS configurations.
var deploymentConfigs = map[string]trafficShift{
	"CodeDeployDefault.ECSAllAtOnce":                    {},
	"CodeDeployDefault.ECSCanary10Percent5Minutes":      {Canary: true, Percent: 10, Minutes: 5},
	"CodeDeployDefault.ECSCanary10Percent15Minutes":     {Canary: true, Percent: 10, Minutes: 15},
	"CodeDeployDefault.ECSLinear10PercentEvery1Minutes": {Linear: true, Percent: 10, Minutes: 1},
	"CodeDeployDefault.ECSLinear10PercentEvery3Minutes": {Linear: true, Percent: 10, Minutes: 3},
}

// defaultDeploymentConfig is the configuration of a group that names none.
const defaultDeploymentConfig = "CodeDeployDefault.ECSAllAtOnce"

// normalize checks a deployment group and fills in its defaults.
func (g *DeploymentGroup) normalize() error {
	if len(g.ECSServices) != 1 || g.ECSServices[0].ClusterName == "" || g.ECSServices[0].ServiceName == "" {
		return fmt.Errorf("ecsServices must name one service (clusterName and serviceName)")
	}
	if g.DeploymentConfigName == "" {
		g.DeploymentConfigName = defaultDeploymentConfig
	}
	if _, ok := deploymentConfigs[g.DeploymentConfigName]; !ok {
		return fmt.Errorf("deploymentConfigName %q is none of CodeDeploy's ECS configurations", g.DeploymentConfigName)
	}
	if r := g.AutoRollbackConfiguration; r != nil {
		for _, e := range r.Events {
			if !slices.Contains([]string{"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"}, e) {
				return fmt.Errorf("autoRollbackConfiguration event %q is not DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM or DEPLOYMENT_STOP_ON_REQUEST", e)
			}
		}
	}
	return nil
}

// rollsBackOn reports whether the group rolls a deployment back on event.
func (g *DeploymentGroup) rollsBackOn(event string) bool {
	r := g.AutoRollbackConfiguration
	return r != nil && r.Enabled && slices.Contains(r.Events, event)
}

// terminationWait is how many minutes the original task set stays.
func (g *DeploymentGroup) terminationWait() int {
	if b := g.BlueGreenDeploymentConfiguration; b != nil && b.TerminateBlueInstancesOnDeploymentSuccess != nil {
		return b.TerminateBlueInstancesOnDeploymentSuccess.TerminationWaitTimeInMinutes
	}
	return 0
}

// targetGroups are the blue and green target groups' names.
func (g *DeploymentGroup) targetGroups() (blue, green string) {
	if lb := g.LoadBalancerInfo; lb != nil && len(lb.TargetGroupPairInfoList) > 0 {
		tgs := lb.TargetGroupPairInfoList[0].TargetGroups
		if len(tgs) > 0 {
			blue = tgs[0].Name
		}
		if len(tgs) > 1 {
			green = tgs[1].Name
		}
	}
	return blue, green
}

// hasTestListener reports whether the group shifts test traffic.
func (g *DeploymentGroup) hasTestListener() bool {
	lb := g.LoadBalancerInfo
	return lb != nil && len(lb.TargetGroupPairInfoList) > 0 && lb.TargetGroupPairInfoList[0].TestTrafficRoute != nil &&
		len(lb.TargetGroupPairInfoList[0].TestTrafficRoute.ListenerArns) > 0
}
