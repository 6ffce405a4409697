package sandbox

import (
	"encoding/json"
	"strconv"
	"time"
)

// The JSON shapes below are ECS's wire shapes; their field names are the
// member names of the SDK's ECS schemas, which TestECSShapesMatchSDK checks.

// ecsEpoch is an ECS timestamp: ecsSeconds since the ecsEpoch, with a fraction.
type ecsEpoch struct{ time.Time }

func ecsAt(t time.Time) ecsEpoch { return ecsEpoch{t} }

// MarshalJSON writes ecsSeconds with millisecond precision, as ECS does.
func (e ecsEpoch) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(e.UnixMilli())/1000, 'f', -1, 64), nil
}

// UnmarshalJSON reads ecsSeconds since the ecsEpoch.
func (e *ecsEpoch) UnmarshalJSON(data []byte) error {
	var f float64
	if err := json.Unmarshal(data, &f); err != nil {
		return err
	}
	e.Time = time.UnixMilli(int64(f * 1000)).UTC()
	return nil
}

type ecsTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type ecsFailure struct {
	Arn    string `json:"arn,omitempty"`
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
}

type ecsAttribute struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

type ecsCircuitBreakerConfig struct {
	Enable   bool `json:"enable"`
	Rollback bool `json:"rollback"`
}

type ecsDeploymentConfiguration struct {
	DeploymentCircuitBreaker *ecsCircuitBreakerConfig `json:"deploymentCircuitBreaker,omitempty"`
	MaximumPercent           *int                     `json:"maximumPercent,omitempty"`
	MinimumHealthyPercent    *int                     `json:"minimumHealthyPercent,omitempty"`
}

type ecsAwsVpcConfiguration struct {
	Subnets        []string `json:"subnets"`
	SecurityGroups []string `json:"securityGroups,omitempty"`
	AssignPublicIP string   `json:"assignPublicIp,omitempty"`
}

type ecsNetworkConfiguration struct {
	AwsvpcConfiguration *ecsAwsVpcConfiguration `json:"awsvpcConfiguration,omitempty"`
}

type ecsDeploymentController struct {
	Type string `json:"type"`
}

type ecsDeploymentJSON struct {
	ID                   string                   `json:"id"`
	Status               string                   `json:"status"`
	TaskDefinition       string                   `json:"taskDefinition"`
	DesiredCount         int                      `json:"desiredCount"`
	PendingCount         int                      `json:"pendingCount"`
	RunningCount         int                      `json:"runningCount"`
	FailedTasks          int                      `json:"failedTasks"`
	CreatedAt            ecsEpoch                 `json:"createdAt"`
	UpdatedAt            ecsEpoch                 `json:"updatedAt"`
	LaunchType           string                   `json:"launchType,omitempty"`
	PlatformVersion      string                   `json:"platformVersion,omitempty"`
	PlatformFamily       string                   `json:"platformFamily,omitempty"`
	NetworkConfiguration *ecsNetworkConfiguration `json:"networkConfiguration,omitempty"`
	RolloutState         string                   `json:"rolloutState,omitempty"`
	RolloutStateReason   string                   `json:"rolloutStateReason,omitempty"`
}

type ecsEventJSON struct {
	ID        string   `json:"id"`
	CreatedAt ecsEpoch `json:"createdAt"`
	Message   string   `json:"message"`
}

type ecsServiceJSON struct {
	ServiceArn                    string                     `json:"serviceArn"`
	ServiceName                   string                     `json:"serviceName"`
	ClusterArn                    string                     `json:"clusterArn"`
	LoadBalancers                 []any                      `json:"loadBalancers"`
	ServiceRegistries             []any                      `json:"serviceRegistries"`
	Status                        string                     `json:"status"`
	DesiredCount                  int                        `json:"desiredCount"`
	RunningCount                  int                        `json:"runningCount"`
	PendingCount                  int                        `json:"pendingCount"`
	LaunchType                    string                     `json:"launchType"`
	PlatformVersion               string                     `json:"platformVersion"`
	PlatformFamily                string                     `json:"platformFamily"`
	TaskDefinition                string                     `json:"taskDefinition"`
	DeploymentConfiguration       ecsDeploymentConfiguration `json:"deploymentConfiguration"`
	Deployments                   []ecsDeploymentJSON        `json:"deployments"`
	Events                        []ecsEventJSON             `json:"events"`
	CreatedAt                     ecsEpoch                   `json:"createdAt"`
	CurrentServiceDeployment      string                     `json:"currentServiceDeployment,omitempty"`
	PlacementConstraints          []any                      `json:"placementConstraints"`
	PlacementStrategy             []any                      `json:"placementStrategy"`
	NetworkConfiguration          *ecsNetworkConfiguration   `json:"networkConfiguration,omitempty"`
	HealthCheckGracePeriodSeconds *int                       `json:"healthCheckGracePeriodSeconds,omitempty"`
	SchedulingStrategy            string                     `json:"schedulingStrategy"`
	DeploymentController          ecsDeploymentController    `json:"deploymentController"`
	Tags                          []ecsTag                   `json:"tags,omitempty"`
	CreatedBy                     string                     `json:"createdBy,omitempty"`
	EnableECSManagedTags          bool                       `json:"enableECSManagedTags"`
	PropagateTags                 string                     `json:"propagateTags"`
	EnableExecuteCommand          bool                       `json:"enableExecuteCommand"`
	AvailabilityZoneRebalancing   string                     `json:"availabilityZoneRebalancing,omitempty"`
}

type ecsServiceRevisionSummary struct {
	Arn                string `json:"arn"`
	RequestedTaskCount int    `json:"requestedTaskCount"`
	RunningTaskCount   int    `json:"runningTaskCount"`
	PendingTaskCount   int    `json:"pendingTaskCount"`
}

type ecsRollbackJSON struct {
	Reason             string   `json:"reason"`
	StartedAt          ecsEpoch `json:"startedAt"`
	ServiceRevisionArn string   `json:"serviceRevisionArn"`
}

type ecsServiceDeploymentCircuitBreaker struct {
	Status       string `json:"status"`
	FailureCount int    `json:"failureCount"`
	Threshold    int    `json:"threshold"`
}

type ecsServiceDeploymentAlarms struct {
	Status string `json:"status"`
}

type ecsServiceDeploymentJSON struct {
	ServiceDeploymentArn     string                              `json:"serviceDeploymentArn"`
	ServiceArn               string                              `json:"serviceArn"`
	ClusterArn               string                              `json:"clusterArn"`
	CreatedAt                ecsEpoch                            `json:"createdAt"`
	StartedAt                ecsEpoch                            `json:"startedAt,omitzero"`
	FinishedAt               ecsEpoch                            `json:"finishedAt,omitzero"`
	StoppedAt                ecsEpoch                            `json:"stoppedAt,omitzero"`
	UpdatedAt                ecsEpoch                            `json:"updatedAt"`
	SourceServiceRevisions   []ecsServiceRevisionSummary         `json:"sourceServiceRevisions"`
	TargetServiceRevision    *ecsServiceRevisionSummary          `json:"targetServiceRevision"`
	Status                   string                              `json:"status"`
	StatusReason             string                              `json:"statusReason,omitempty"`
	DeploymentConfiguration  ecsDeploymentConfiguration          `json:"deploymentConfiguration"`
	Rollback                 *ecsRollbackJSON                    `json:"rollback,omitempty"`
	DeploymentCircuitBreaker *ecsServiceDeploymentCircuitBreaker `json:"deploymentCircuitBreaker,omitempty"`
	Alarms                   *ecsServiceDeploymentAlarms         `json:"alarms,omitempty"`
}

type ecsServiceDeploymentBrief struct {
	ServiceDeploymentArn     string   `json:"serviceDeploymentArn"`
	ServiceArn               string   `json:"serviceArn"`
	ClusterArn               string   `json:"clusterArn"`
	StartedAt                ecsEpoch `json:"startedAt,omitzero"`
	CreatedAt                ecsEpoch `json:"createdAt"`
	FinishedAt               ecsEpoch `json:"finishedAt,omitzero"`
	TargetServiceRevisionArn string   `json:"targetServiceRevisionArn"`
	Status                   string   `json:"status"`
	StatusReason             string   `json:"statusReason,omitempty"`
}

type ecsContainerJSON struct {
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

type ecsTaskJSON struct {
	AvailabilityZone   string             `json:"availabilityZone"`
	ClusterArn         string             `json:"clusterArn"`
	Connectivity       string             `json:"connectivity,omitempty"`
	ConnectivityAt     ecsEpoch           `json:"connectivityAt,omitzero"`
	Containers         []ecsContainerJSON `json:"containers"`
	CPU                string             `json:"cpu,omitempty"`
	CreatedAt          ecsEpoch           `json:"createdAt"`
	DesiredStatus      string             `json:"desiredStatus"`
	EnableExecuteCmd   bool               `json:"enableExecuteCommand"`
	ExecutionStoppedAt ecsEpoch           `json:"executionStoppedAt,omitzero"`
	Group              string             `json:"group"`
	HealthStatus       string             `json:"healthStatus"`
	LastStatus         string             `json:"lastStatus"`
	LaunchType         string             `json:"launchType"`
	Memory             string             `json:"memory,omitempty"`
	PlatformVersion    string             `json:"platformVersion"`
	PlatformFamily     string             `json:"platformFamily"`
	PullStartedAt      ecsEpoch           `json:"pullStartedAt,omitzero"`
	PullStoppedAt      ecsEpoch           `json:"pullStoppedAt,omitzero"`
	StartedAt          ecsEpoch           `json:"startedAt,omitzero"`
	StartedBy          string             `json:"startedBy"`
	StopCode           string             `json:"stopCode,omitempty"`
	StoppedAt          ecsEpoch           `json:"stoppedAt,omitzero"`
	StoppedReason      string             `json:"stoppedReason,omitempty"`
	StoppingAt         ecsEpoch           `json:"stoppingAt,omitzero"`
	Tags               []ecsTag           `json:"tags"`
	TaskArn            string             `json:"taskArn"`
	TaskDefinitionArn  string             `json:"taskDefinitionArn"`
	Version            int                `json:"version"`
}

type ecsClusterJSON struct {
	ClusterArn                        string         `json:"clusterArn"`
	ClusterName                       string         `json:"clusterName"`
	Status                            string         `json:"status"`
	RegisteredContainerInstancesCount int            `json:"registeredContainerInstancesCount"`
	RunningTasksCount                 int            `json:"runningTasksCount"`
	PendingTasksCount                 int            `json:"pendingTasksCount"`
	ActiveServicesCount               int            `json:"activeServicesCount"`
	Statistics                        []any          `json:"statistics"`
	Tags                              []ecsTag       `json:"tags"`
	Settings                          []ecsAttribute `json:"settings"`
	CapacityProviders                 []string       `json:"capacityProviders"`
	DefaultCapacityProviderStrategy   []any          `json:"defaultCapacityProviderStrategy"`
}
