package ecs

import (
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/taskdef"
)

// The JSON shapes below are ECS's wire shapes; their field names are the
// member names of the SDK's ECS schemas, which TestShapesMatchSDK checks.

type failure struct {
	Arn    string `json:"arn,omitempty"`
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
}

type circuitBreakerConfig struct {
	Enable   bool `json:"enable"`
	Rollback bool `json:"rollback"`
}

type deploymentConfiguration struct {
	DeploymentCircuitBreaker *circuitBreakerConfig `json:"deploymentCircuitBreaker,omitempty"`
	MaximumPercent           *int                  `json:"maximumPercent,omitempty"`
	MinimumHealthyPercent    *int                  `json:"minimumHealthyPercent,omitempty"`
	Alarms                   *DeploymentAlarms     `json:"alarms,omitempty"`
	Strategy                 string                `json:"strategy,omitempty"`
	BakeTimeInMinutes        *int                  `json:"bakeTimeInMinutes,omitempty"`
	CanaryConfiguration      *CanaryConfiguration  `json:"canaryConfiguration,omitempty"`
	LinearConfiguration      *LinearConfiguration  `json:"linearConfiguration,omitempty"`
	LifecycleHooks           []LifecycleHook       `json:"lifecycleHooks,omitempty"`
}

// DeploymentAlarms are the CloudWatch alarms a deployment watches.
type DeploymentAlarms struct {
	AlarmNames []string `json:"alarmNames"`
	Enable     bool     `json:"enable"`
	Rollback   bool     `json:"rollback"`
}

// CanaryConfiguration is a CANARY deployment's first production traffic
// step (canaryPercent, 5.0 by default) and how many minutes it stays
// there (canaryBakeTimeInMinutes, 10 by default).
type CanaryConfiguration struct {
	CanaryPercent           *float64 `json:"canaryPercent,omitempty"`
	CanaryBakeTimeInMinutes *int     `json:"canaryBakeTimeInMinutes,omitempty"`
}

// LinearConfiguration is a LINEAR deployment's production traffic step
// (stepPercent, 10.0 by default) and the minutes between steps
// (stepBakeTimeInMinutes, 6 by default).
type LinearConfiguration struct {
	StepPercent           *float64 `json:"stepPercent,omitempty"`
	StepBakeTimeInMinutes *int     `json:"stepBakeTimeInMinutes,omitempty"`
}

// LifecycleHook is a deployment lifecycle hook: a Lambda function
// (targetType AWS_LAMBDA, hookTargetArn, roleArn) or a pause (targetType
// PAUSE) at the lifecycleStages given.
type LifecycleHook struct {
	HookTargetArn        string                    `json:"hookTargetArn,omitempty"`
	TargetType           string                    `json:"targetType,omitempty"`
	RoleArn              string                    `json:"roleArn,omitempty"`
	LifecycleStages      []string                  `json:"lifecycleStages"`
	TimeoutConfiguration *HookTimeoutConfiguration `json:"timeoutConfiguration,omitempty"`
}

// HookTimeoutConfiguration is how long ECS waits for a hook (1440 minutes
// by default) and what it does then (ROLLBACK by default, or CONTINUE).
type HookTimeoutConfiguration struct {
	Action           string `json:"action,omitempty"`
	TimeoutInMinutes *int   `json:"timeoutInMinutes,omitempty"`
}

// LoadBalancer is a load balancer a service registers its tasks with; a
// BLUE_GREEN, LINEAR or CANARY service's has an advancedConfiguration.
type LoadBalancer struct {
	TargetGroupArn        string                 `json:"targetGroupArn,omitempty"`
	LoadBalancerName      string                 `json:"loadBalancerName,omitempty"`
	ContainerName         string                 `json:"containerName"`
	ContainerPort         int                    `json:"containerPort"`
	AdvancedConfiguration *AdvancedConfiguration `json:"advancedConfiguration,omitempty"`
}

// AdvancedConfiguration is what ECS needs to shift a load balancer's
// traffic between blue and green itself.
type AdvancedConfiguration struct {
	AlternateTargetGroupArn string `json:"alternateTargetGroupArn,omitempty"`
	ProductionListenerRule  string `json:"productionListenerRule,omitempty"`
	TestListenerRule        string `json:"testListenerRule,omitempty"`
	RoleArn                 string `json:"roleArn,omitempty"`
}

type awsVpcConfiguration struct {
	Subnets        []string `json:"subnets"`
	SecurityGroups []string `json:"securityGroups,omitempty"`
	AssignPublicIP string   `json:"assignPublicIp,omitempty"`
}

type networkConfiguration struct {
	AwsvpcConfiguration *awsVpcConfiguration `json:"awsvpcConfiguration,omitempty"`
}

type deploymentController struct {
	Type string `json:"type"`
}

type deploymentJSON struct {
	ID                   string                `json:"id"`
	Status               string                `json:"status"`
	TaskDefinition       string                `json:"taskDefinition"`
	DesiredCount         int                   `json:"desiredCount"`
	PendingCount         int                   `json:"pendingCount"`
	RunningCount         int                   `json:"runningCount"`
	FailedTasks          int                   `json:"failedTasks"`
	CreatedAt            awsproto.Timestamp    `json:"createdAt"`
	UpdatedAt            awsproto.Timestamp    `json:"updatedAt"`
	LaunchType           string                `json:"launchType,omitempty"`
	PlatformVersion      string                `json:"platformVersion,omitempty"`
	PlatformFamily       string                `json:"platformFamily,omitempty"`
	NetworkConfiguration *networkConfiguration `json:"networkConfiguration,omitempty"`
	RolloutState         string                `json:"rolloutState,omitempty"`
	RolloutStateReason   string                `json:"rolloutStateReason,omitempty"`
}

type eventJSON struct {
	ID        string             `json:"id"`
	CreatedAt awsproto.Timestamp `json:"createdAt"`
	Message   string             `json:"message"`
}

type serviceJSON struct {
	ServiceArn                    string                  `json:"serviceArn"`
	ServiceName                   string                  `json:"serviceName"`
	ClusterArn                    string                  `json:"clusterArn"`
	LoadBalancers                 []LoadBalancer          `json:"loadBalancers"`
	ServiceRegistries             []any                   `json:"serviceRegistries"`
	Status                        string                  `json:"status"`
	DesiredCount                  int                     `json:"desiredCount"`
	RunningCount                  int                     `json:"runningCount"`
	PendingCount                  int                     `json:"pendingCount"`
	LaunchType                    string                  `json:"launchType,omitempty"`
	PlatformVersion               string                  `json:"platformVersion,omitempty"`
	PlatformFamily                string                  `json:"platformFamily,omitempty"`
	TaskDefinition                string                  `json:"taskDefinition"`
	DeploymentConfiguration       deploymentConfiguration `json:"deploymentConfiguration"`
	Deployments                   []deploymentJSON        `json:"deployments"`
	Events                        []eventJSON             `json:"events"`
	CreatedAt                     awsproto.Timestamp      `json:"createdAt"`
	CurrentServiceDeployment      string                  `json:"currentServiceDeployment,omitempty"`
	PlacementConstraints          []any                   `json:"placementConstraints"`
	PlacementStrategy             []any                   `json:"placementStrategy"`
	NetworkConfiguration          *networkConfiguration   `json:"networkConfiguration,omitempty"`
	HealthCheckGracePeriodSeconds *int                    `json:"healthCheckGracePeriodSeconds,omitempty"`
	SchedulingStrategy            string                  `json:"schedulingStrategy"`
	DeploymentController          deploymentController    `json:"deploymentController"`
	TaskSets                      []taskSetJSON           `json:"taskSets,omitempty"`
	Tags                          []taskdef.Tag           `json:"tags,omitempty"`
	CreatedBy                     string                  `json:"createdBy,omitempty"`
	EnableECSManagedTags          bool                    `json:"enableECSManagedTags"`
	PropagateTags                 string                  `json:"propagateTags"`
	EnableExecuteCommand          bool                    `json:"enableExecuteCommand"`
	AvailabilityZoneRebalancing   string                  `json:"availabilityZoneRebalancing,omitempty"`
}

type serviceRevisionSummary struct {
	Arn                              string   `json:"arn"`
	RequestedTaskCount               int      `json:"requestedTaskCount"`
	RunningTaskCount                 int      `json:"runningTaskCount"`
	PendingTaskCount                 int      `json:"pendingTaskCount"`
	RequestedProductionTrafficWeight *float64 `json:"requestedProductionTrafficWeight,omitempty"`
	RequestedTestTrafficWeight       *float64 `json:"requestedTestTrafficWeight,omitempty"`
}

type lifecycleHookDetail struct {
	HookID        string             `json:"hookId"`
	TargetType    string             `json:"targetType"`
	TargetArn     string             `json:"targetArn,omitempty"`
	Status        string             `json:"status"`
	ExpiresAt     awsproto.Timestamp `json:"expiresAt,omitzero"`
	TimeoutAction string             `json:"timeoutAction,omitempty"`
}

type taskSetJSON struct {
	ID                   string                `json:"id"`
	TaskSetArn           string                `json:"taskSetArn"`
	ServiceArn           string                `json:"serviceArn"`
	ClusterArn           string                `json:"clusterArn"`
	StartedBy            string                `json:"startedBy,omitempty"`
	ExternalID           string                `json:"externalId,omitempty"`
	Status               string                `json:"status"`
	TaskDefinition       string                `json:"taskDefinition"`
	ComputedDesiredCount int                   `json:"computedDesiredCount"`
	PendingCount         int                   `json:"pendingCount"`
	RunningCount         int                   `json:"runningCount"`
	CreatedAt            awsproto.Timestamp    `json:"createdAt"`
	UpdatedAt            awsproto.Timestamp    `json:"updatedAt"`
	LaunchType           string                `json:"launchType"`
	PlatformVersion      string                `json:"platformVersion,omitempty"`
	PlatformFamily       string                `json:"platformFamily,omitempty"`
	NetworkConfiguration *networkConfiguration `json:"networkConfiguration,omitempty"`
	LoadBalancers        []LoadBalancer        `json:"loadBalancers"`
	Scale                taskSetScale          `json:"scale"`
	StabilityStatus      string                `json:"stabilityStatus"`
	StabilityStatusAt    awsproto.Timestamp    `json:"stabilityStatusAt"`
}

type taskSetScale struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

type rollbackJSON struct {
	Reason             string             `json:"reason"`
	StartedAt          awsproto.Timestamp `json:"startedAt"`
	ServiceRevisionArn string             `json:"serviceRevisionArn"`
}

type serviceDeploymentCircuitBreaker struct {
	Status       string `json:"status"`
	FailureCount int    `json:"failureCount"`
	Threshold    int    `json:"threshold"`
}

type serviceDeploymentAlarms struct {
	Status              string   `json:"status"`
	AlarmNames          []string `json:"alarmNames,omitempty"`
	TriggeredAlarmNames []string `json:"triggeredAlarmNames,omitempty"`
}

type serviceDeploymentJSON struct {
	ServiceDeploymentArn     string                           `json:"serviceDeploymentArn"`
	ServiceArn               string                           `json:"serviceArn"`
	ClusterArn               string                           `json:"clusterArn"`
	CreatedAt                awsproto.Timestamp               `json:"createdAt"`
	StartedAt                awsproto.Timestamp               `json:"startedAt,omitzero"`
	FinishedAt               awsproto.Timestamp               `json:"finishedAt,omitzero"`
	StoppedAt                awsproto.Timestamp               `json:"stoppedAt,omitzero"`
	UpdatedAt                awsproto.Timestamp               `json:"updatedAt"`
	SourceServiceRevisions   []serviceRevisionSummary         `json:"sourceServiceRevisions"`
	TargetServiceRevision    *serviceRevisionSummary          `json:"targetServiceRevision"`
	Status                   string                           `json:"status"`
	StatusReason             string                           `json:"statusReason,omitempty"`
	DeploymentConfiguration  deploymentConfiguration          `json:"deploymentConfiguration"`
	Rollback                 *rollbackJSON                    `json:"rollback,omitempty"`
	DeploymentCircuitBreaker *serviceDeploymentCircuitBreaker `json:"deploymentCircuitBreaker,omitempty"`
	Alarms                   *serviceDeploymentAlarms         `json:"alarms,omitempty"`
	LifecycleStage           string                           `json:"lifecycleStage,omitempty"`
	LifecycleHookDetails     []lifecycleHookDetail            `json:"lifecycleHookDetails,omitempty"`
}

type serviceDeploymentBrief struct {
	ServiceDeploymentArn     string             `json:"serviceDeploymentArn"`
	ServiceArn               string             `json:"serviceArn"`
	ClusterArn               string             `json:"clusterArn"`
	StartedAt                awsproto.Timestamp `json:"startedAt,omitzero"`
	CreatedAt                awsproto.Timestamp `json:"createdAt"`
	FinishedAt               awsproto.Timestamp `json:"finishedAt,omitzero"`
	TargetServiceRevisionArn string             `json:"targetServiceRevisionArn"`
	Status                   string             `json:"status"`
	StatusReason             string             `json:"statusReason,omitempty"`
}

type containerJSON struct {
	ContainerArn string `json:"containerArn"`
	TaskArn      string `json:"taskArn"`
	Name         string `json:"name"`
	Image        string `json:"image"`
	ImageDigest  string `json:"imageDigest,omitempty"`
	RuntimeID    string `json:"runtimeId,omitempty"`
	LastStatus   string `json:"lastStatus"`
	ExitCode     *int   `json:"exitCode,omitempty"`
	Reason       string `json:"reason,omitempty"`
	HealthStatus string `json:"healthStatus"`
}

type taskJSON struct {
	AvailabilityZone     string             `json:"availabilityZone"`
	CapacityProviderName string             `json:"capacityProviderName,omitempty"`
	ClusterArn           string             `json:"clusterArn"`
	Connectivity         string             `json:"connectivity,omitempty"`
	ConnectivityAt       awsproto.Timestamp `json:"connectivityAt,omitzero"`
	Containers           []containerJSON    `json:"containers"`
	CPU                  string             `json:"cpu,omitempty"`
	CreatedAt            awsproto.Timestamp `json:"createdAt"`
	DesiredStatus        string             `json:"desiredStatus"`
	EnableExecuteCmd     bool               `json:"enableExecuteCommand"`
	ExecutionStoppedAt   awsproto.Timestamp `json:"executionStoppedAt,omitzero"`
	Group                string             `json:"group"`
	HealthStatus         string             `json:"healthStatus"`
	LastStatus           string             `json:"lastStatus"`
	LaunchType           string             `json:"launchType"`
	Memory               string             `json:"memory,omitempty"`
	Overrides            any                `json:"overrides,omitempty"`
	PlatformVersion      string             `json:"platformVersion,omitempty"`
	PlatformFamily       string             `json:"platformFamily,omitempty"`
	PullStartedAt        awsproto.Timestamp `json:"pullStartedAt,omitzero"`
	PullStoppedAt        awsproto.Timestamp `json:"pullStoppedAt,omitzero"`
	StartedAt            awsproto.Timestamp `json:"startedAt,omitzero"`
	StartedBy            string             `json:"startedBy"`
	StopCode             string             `json:"stopCode,omitempty"`
	StoppedAt            awsproto.Timestamp `json:"stoppedAt,omitzero"`
	StoppedReason        string             `json:"stoppedReason,omitempty"`
	StoppingAt           awsproto.Timestamp `json:"stoppingAt,omitzero"`
	Tags                 []taskdef.Tag      `json:"tags"`
	TaskArn              string             `json:"taskArn"`
	TaskDefinitionArn    string             `json:"taskDefinitionArn"`
	Version              int                `json:"version"`
}

type clusterJSON struct {
	ClusterArn                        string              `json:"clusterArn"`
	ClusterName                       string              `json:"clusterName"`
	Status                            string              `json:"status"`
	RegisteredContainerInstancesCount int                 `json:"registeredContainerInstancesCount"`
	RunningTasksCount                 int                 `json:"runningTasksCount"`
	PendingTasksCount                 int                 `json:"pendingTasksCount"`
	ActiveServicesCount               int                 `json:"activeServicesCount"`
	Statistics                        []any               `json:"statistics"`
	Tags                              []taskdef.Tag       `json:"tags"`
	Settings                          []taskdef.Attribute `json:"settings"`
	CapacityProviders                 []string            `json:"capacityProviders"`
	DefaultCapacityProviderStrategy   []any               `json:"defaultCapacityProviderStrategy"`
}
