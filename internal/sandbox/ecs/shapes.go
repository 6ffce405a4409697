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
	LoadBalancers                 []any                   `json:"loadBalancers"`
	ServiceRegistries             []any                   `json:"serviceRegistries"`
	Status                        string                  `json:"status"`
	DesiredCount                  int                     `json:"desiredCount"`
	RunningCount                  int                     `json:"runningCount"`
	PendingCount                  int                     `json:"pendingCount"`
	LaunchType                    string                  `json:"launchType"`
	PlatformVersion               string                  `json:"platformVersion"`
	PlatformFamily                string                  `json:"platformFamily"`
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
	Tags                          []taskdef.Tag           `json:"tags,omitempty"`
	CreatedBy                     string                  `json:"createdBy,omitempty"`
	EnableECSManagedTags          bool                    `json:"enableECSManagedTags"`
	PropagateTags                 string                  `json:"propagateTags"`
	EnableExecuteCommand          bool                    `json:"enableExecuteCommand"`
	AvailabilityZoneRebalancing   string                  `json:"availabilityZoneRebalancing,omitempty"`
}

type serviceRevisionSummary struct {
	Arn                string `json:"arn"`
	RequestedTaskCount int    `json:"requestedTaskCount"`
	RunningTaskCount   int    `json:"runningTaskCount"`
	PendingTaskCount   int    `json:"pendingTaskCount"`
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
	Status string `json:"status"`
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
	AvailabilityZone   string             `json:"availabilityZone"`
	ClusterArn         string             `json:"clusterArn"`
	Connectivity       string             `json:"connectivity,omitempty"`
	ConnectivityAt     awsproto.Timestamp `json:"connectivityAt,omitzero"`
	Containers         []containerJSON    `json:"containers"`
	CPU                string             `json:"cpu,omitempty"`
	CreatedAt          awsproto.Timestamp `json:"createdAt"`
	DesiredStatus      string             `json:"desiredStatus"`
	EnableExecuteCmd   bool               `json:"enableExecuteCommand"`
	ExecutionStoppedAt awsproto.Timestamp `json:"executionStoppedAt,omitzero"`
	Group              string             `json:"group"`
	HealthStatus       string             `json:"healthStatus"`
	LastStatus         string             `json:"lastStatus"`
	LaunchType         string             `json:"launchType"`
	Memory             string             `json:"memory,omitempty"`
	PlatformVersion    string             `json:"platformVersion"`
	PlatformFamily     string             `json:"platformFamily"`
	PullStartedAt      awsproto.Timestamp `json:"pullStartedAt,omitzero"`
	PullStoppedAt      awsproto.Timestamp `json:"pullStoppedAt,omitzero"`
	StartedAt          awsproto.Timestamp `json:"startedAt,omitzero"`
	StartedBy          string             `json:"startedBy"`
	StopCode           string             `json:"stopCode,omitempty"`
	StoppedAt          awsproto.Timestamp `json:"stoppedAt,omitzero"`
	StoppedReason      string             `json:"stoppedReason,omitempty"`
	StoppingAt         awsproto.Timestamp `json:"stoppingAt,omitzero"`
	Tags               []taskdef.Tag      `json:"tags"`
	TaskArn            string             `json:"taskArn"`
	TaskDefinitionArn  string             `json:"taskDefinitionArn"`
	Version            int                `json:"version"`
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
