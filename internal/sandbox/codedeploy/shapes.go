package codedeploy

import "github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"

// The JSON shapes below are CodeDeploy's wire shapes; their field names
// are the member names of CodeDeploy's model (the SDK's types name them),
// which TestShapesMatchSDK checks.

type revisionLocation struct {
	RevisionType   string          `json:"revisionType"`
	AppSpecContent *appSpecContent `json:"appSpecContent,omitempty"`
}

type appSpecContent struct {
	Content string `json:"content,omitempty"`
	Sha256  string `json:"sha256,omitempty"`
}

type errorInformation struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type rollbackInfo struct {
	RollbackDeploymentID           string `json:"rollbackDeploymentId,omitempty"`
	RollbackTriggeringDeploymentID string `json:"rollbackTriggeringDeploymentId,omitempty"`
	RollbackMessage                string `json:"rollbackMessage,omitempty"`
}

type deploymentOverview struct {
	Pending    int `json:"Pending"`
	InProgress int `json:"InProgress"`
	Succeeded  int `json:"Succeeded"`
	Failed     int `json:"Failed"`
	Skipped    int `json:"Skipped"`
	Ready      int `json:"Ready"`
}

type deploymentStyle struct {
	DeploymentType   string `json:"deploymentType"`
	DeploymentOption string `json:"deploymentOption"`
}

type deploymentInfo struct {
	ApplicationName                    string                            `json:"applicationName"`
	DeploymentGroupName                string                            `json:"deploymentGroupName"`
	DeploymentConfigName               string                            `json:"deploymentConfigName"`
	DeploymentID                       string                            `json:"deploymentId"`
	Revision                           *revisionLocation                 `json:"revision,omitempty"`
	Status                             string                            `json:"status"`
	ErrorInformation                   *errorInformation                 `json:"errorInformation,omitempty"`
	CreateTime                         awsproto.Timestamp                `json:"createTime"`
	StartTime                          awsproto.Timestamp                `json:"startTime,omitzero"`
	CompleteTime                       awsproto.Timestamp                `json:"completeTime,omitzero"`
	DeploymentOverview                 deploymentOverview                `json:"deploymentOverview"`
	Description                        string                            `json:"description,omitempty"`
	Creator                            string                            `json:"creator"`
	IgnoreApplicationStopFailures      bool                              `json:"ignoreApplicationStopFailures"`
	AutoRollbackConfiguration          *AutoRollbackConfiguration        `json:"autoRollbackConfiguration,omitempty"`
	UpdateOutdatedInstancesOnly        bool                              `json:"updateOutdatedInstancesOnly"`
	RollbackInfo                       *rollbackInfo                     `json:"rollbackInfo,omitempty"`
	DeploymentStyle                    deploymentStyle                   `json:"deploymentStyle"`
	InstanceTerminationWaitTimeStarted bool                              `json:"instanceTerminationWaitTimeStarted"`
	BlueGreenDeploymentConfiguration   *BlueGreenDeploymentConfiguration `json:"blueGreenDeploymentConfiguration,omitempty"`
	LoadBalancerInfo                   *LoadBalancerInfo                 `json:"loadBalancerInfo,omitempty"`
	ComputePlatform                    string                            `json:"computePlatform"`
	DeploymentStatusMessages           []string                          `json:"deploymentStatusMessages"`
}

type diagnostics struct {
	ErrorCode  string `json:"errorCode"`
	ScriptName string `json:"scriptName,omitempty"`
	Message    string `json:"message"`
	LogTail    string `json:"logTail,omitempty"`
}

type lifecycleEventJSON struct {
	LifecycleEventName string             `json:"lifecycleEventName"`
	Diagnostics        *diagnostics       `json:"diagnostics,omitempty"`
	StartTime          awsproto.Timestamp `json:"startTime,omitzero"`
	EndTime            awsproto.Timestamp `json:"endTime,omitzero"`
	Status             string             `json:"status"`
}

type targetGroupInfo struct {
	Name string `json:"name"`
}

type ecsTaskSetJSON struct {
	Identifer     string           `json:"identifer"`
	DesiredCount  int              `json:"desiredCount"`
	PendingCount  int              `json:"pendingCount"`
	RunningCount  int              `json:"runningCount"`
	Status        string           `json:"status"`
	TrafficWeight float64          `json:"trafficWeight"`
	TargetGroup   *targetGroupInfo `json:"targetGroup,omitempty"`
	TaskSetLabel  string           `json:"taskSetLabel"`
}

type ecsTargetJSON struct {
	DeploymentID    string               `json:"deploymentId"`
	TargetID        string               `json:"targetId"`
	TargetArn       string               `json:"targetArn"`
	LastUpdatedAt   awsproto.Timestamp   `json:"lastUpdatedAt"`
	LifecycleEvents []lifecycleEventJSON `json:"lifecycleEvents"`
	Status          string               `json:"status"`
	TaskSetsInfo    []ecsTaskSetJSON     `json:"taskSetsInfo"`
}

type deploymentTargetJSON struct {
	DeploymentTargetType string         `json:"deploymentTargetType"`
	EcsTarget            *ecsTargetJSON `json:"ecsTarget"`
}
