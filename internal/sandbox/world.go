package sandbox

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/codedeploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecr"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/faults"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ghtoken"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/iam"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/logs"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/randid"
)

// World describes everything that exists in the sandbox: the GitHub run whose
// token the token service issues, and the AWS accounts with their roles, ECR
// repositories and ECS clusters. Its JSON form is documented in
// docs/sandbox-world.md; DemoWorld is a complete example.
type World struct {
	// Region is the one AWS region the sandbox serves.
	Region string `json:"region"`
	// CredentialLifetimeSeconds, when positive, caps the lifetime of every
	// credential STS issues, whatever the caller asked for. Tests set a few
	// seconds to prove that clients refresh.
	CredentialLifetimeSeconds int `json:"credentialLifetimeSeconds,omitempty"`
	// GitHub describes the workflow run whose ID tokens the token service signs.
	GitHub GitHubRun `json:"github"`
	// Accounts maps a 12-digit account ID to what lives in it.
	Accounts map[string]*Account `json:"accounts"`
	// Faults are injected from the start; tests may add more at run time.
	Faults []Fault `json:"faults,omitempty"`
	// ECS tunes the ECS stand-in: the speed of simulated rollouts and the
	// API throttling limits. Every field has a default; see ECSSettings.
	ECS *ECSSettings `json:"ecs,omitempty"`
}

// The world's parts are defined by the services that own them; these are
// their names in the world's vocabulary.
type (
	// GitHubRun is the workflow run that the token service stands in for.
	GitHubRun = ghtoken.Run
	// OIDCProvider is an IAM OpenID Connect provider.
	OIDCProvider = iam.OIDCProvider
	// Role is an IAM role.
	Role = iam.Role
	// PolicyDocument is an IAM policy document.
	PolicyDocument = iam.PolicyDocument
	// Statement is one statement of an IAM policy.
	Statement = iam.Statement
	// StringList is an IAM value that may be written as one string or a list.
	StringList = iam.StringList
	// Repository is an ECR repository.
	Repository = ecr.Repository
	// ECRAccountSettings are an account's ECR account settings.
	ECRAccountSettings = ecr.AccountSettings
	// RegistryUploads is what pushes sent to a repository.
	RegistryUploads = ecr.Uploads
	// Cluster is an ECS cluster and its services.
	Cluster = ecs.Cluster
	// ServiceSpec is an ECS service as the world file describes it.
	ServiceSpec = ecs.ServiceSpec
	// ECSSettings tune the ECS stand-in.
	ECSSettings = ecs.Settings
	// ECSThrottle is the token bucket of one ECS API action.
	ECSThrottle = ecs.Throttle
	// LoadBalancer is a load balancer of an ECS service.
	LoadBalancer = ecs.LoadBalancer
	// AdvancedConfiguration lets ECS shift a load balancer's traffic.
	AdvancedConfiguration = ecs.AdvancedConfiguration
	// CanaryConfiguration is a CANARY deployment's traffic step and bake.
	CanaryConfiguration = ecs.CanaryConfiguration
	// LinearConfiguration is a LINEAR deployment's traffic steps and bakes.
	LinearConfiguration = ecs.LinearConfiguration
	// LifecycleHook is an ECS deployment lifecycle hook.
	LifecycleHook = ecs.LifecycleHook
	// HookTimeoutConfiguration is a lifecycle hook's timeout and its action.
	HookTimeoutConfiguration = ecs.HookTimeoutConfiguration
	// DeploymentAlarms are the CloudWatch alarms an ECS deployment watches.
	DeploymentAlarms = ecs.DeploymentAlarms
	// ECSCommand is what a container running one command does in a task
	// RunTask starts.
	ECSCommand = ecs.Command
	// LogGroup is a CloudWatch Logs log group.
	LogGroup = logs.LogGroup
	// CodeDeployApplication is a CodeDeploy application of ECS services.
	CodeDeployApplication = codedeploy.Application
	// CodeDeployDeploymentGroup is a CodeDeploy deployment group.
	CodeDeployDeploymentGroup = codedeploy.DeploymentGroup
	// CodeDeployECSService names the ECS service of a deployment group.
	CodeDeployECSService = codedeploy.ECSServiceRef
	// CodeDeployAutoRollback is when CodeDeploy rolls a deployment back.
	CodeDeployAutoRollback = codedeploy.AutoRollbackConfiguration
	// CodeDeployBlueGreen is a deployment group's blue/green settings.
	CodeDeployBlueGreen = codedeploy.BlueGreenDeploymentConfiguration
	// CodeDeployLoadBalancerInfo is a deployment group's load balancer.
	CodeDeployLoadBalancerInfo = codedeploy.LoadBalancerInfo
	// Fault makes the sandbox misbehave the way AWS or GitHub sometimes does.
	Fault = faults.Fault
	// ManagedPolicy is a customer managed policy of an account.
	ManagedPolicy = iam.ManagedPolicy
	// Administrator is an account's administrator user and access key.
	Administrator = iam.Administrator
)

// Account is one AWS account.
type Account struct {
	// OIDCProviders are the IAM OIDC identity providers of the account: the
	// issuer URL without scheme and the audiences (client IDs) it accepts.
	OIDCProviders []OIDCProvider `json:"oidcProviders,omitempty"`
	// Roles maps a role name to the role.
	Roles map[string]*Role `json:"roles,omitempty"`
	// Repositories maps an ECR repository name to its settings.
	Repositories map[string]*Repository `json:"repositories,omitempty"`
	// ECRAccountSettings are the account's ECR account settings, as
	// PutAccountSetting would set them: {"BLOB_MOUNTING": "ENABLED"} lets
	// pushes mount blobs across the registry's repositories.
	ECRAccountSettings ECRAccountSettings `json:"ecrAccountSettings,omitempty"`
	// Clusters maps an ECS cluster name to the cluster.
	Clusters map[string]*Cluster `json:"clusters,omitempty"`
	// TaskDefinitions are registered in order at start-up, each becoming the
	// next revision of its family. Images may write {{ecr:ACCOUNT}} for the
	// registry host of that account's ECR front.
	TaskDefinitions []json.RawMessage `json:"taskDefinitions,omitempty"`
	// ManagedPolicies are the account's customer managed policies by name,
	// which roles' attachedPolicies name by ARN
	// (arn:aws:iam::ACCOUNT:policy/NAME).
	ManagedPolicies map[string]ManagedPolicy `json:"managedPolicies,omitempty"`
	// Administrator is the account's IAM user with AdministratorAccess,
	// whose access key setup and doctor sign with; one with a fresh key
	// when the world gives none.
	Administrator *Administrator `json:"administrator,omitempty"`
	// Commands say what the containers of tasks RunTask starts do, by the
	// command they run: how long, what they log, the code they exit with.
	Commands []ECSCommand `json:"commands,omitempty"`
	// LogGroups maps a CloudWatch Logs log group name to the group: where
	// the awslogs driver of tasks RunTask starts writes.
	LogGroups map[string]*LogGroup `json:"logGroups,omitempty"`
	// CodeDeployApplications maps a CodeDeploy application's name to the
	// application and its deployment groups.
	CodeDeployApplications map[string]*CodeDeployApplication `json:"codeDeployApplications,omitempty"`
}

// DefaultIssuer is GitHub's OIDC issuer.
const DefaultIssuer = ghtoken.DefaultIssuer

var accountIDPattern = regexp.MustCompile(`^\d{12}$`)

// ParseWorld reads a world from its JSON form, rejecting unknown fields so
// that a typo in a test's world is an error, not a silently empty sandbox.
func ParseWorld(data []byte) (*World, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var w World
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("parse world: %w", err)
	}
	if err := w.normalize(); err != nil {
		return nil, err
	}
	return &w, nil
}

// LoadWorld reads a world file.
func LoadWorld(path string) (*World, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read world file: %w", err)
	}
	w, err := ParseWorld(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

//go:embed demo_world.json
var demoWorldJSON []byte

// DemoWorld returns the built-in world that `oidc-ecs-deploy demo` runs in.
func DemoWorld() *World {
	w, err := ParseWorld(demoWorldJSON)
	if err != nil {
		panic("built-in demo world: " + err.Error())
	}
	return w
}

// DemoWorldJSON returns the built-in world in its file form, a starting point
// for a world of one's own.
func DemoWorldJSON() []byte { return append([]byte(nil), demoWorldJSON...) }

// normalize fills in the world's defaults and checks what the services
// cannot: account IDs and empty entries.
func (w *World) normalize() error {
	if w.Region == "" {
		w.Region = "us-east-1"
	}
	if _, ok := partition.ForRegion(w.Region); !ok {
		return fmt.Errorf("region %q is in no AWS partition (%s): a region looks like us-east-1 or cn-north-1", w.Region, strings.Join(partition.IDs(), ", "))
	}
	w.GitHub.Normalize()
	for id, acct := range w.Accounts {
		if !accountIDPattern.MatchString(id) {
			return fmt.Errorf("account %q: an account ID is 12 digits", id)
		}
		if acct == nil {
			acct = &Account{}
			w.Accounts[id] = acct
		}
		if acct.Administrator == nil {
			acct.Administrator = &Administrator{}
		}
		if acct.Administrator.UserName == "" {
			acct.Administrator.UserName = "administrator"
		}
		if acct.Administrator.AccessKeyID == "" {
			acct.Administrator.AccessKeyID = "AKIA" + randid.Upper(16)
			acct.Administrator.SecretAccessKey = randid.Token(30)
		}
		for name, role := range acct.Roles {
			if role == nil {
				return fmt.Errorf("account %s role %q: empty", id, name)
			}
			if err := role.Normalize(); err != nil {
				return fmt.Errorf("account %s role %q: %w", id, name, err)
			}
		}
		if err := acct.ECRAccountSettings.Validate(); err != nil {
			return fmt.Errorf("account %s: %w", id, err)
		}
		for name, g := range acct.LogGroups {
			if g == nil {
				acct.LogGroups[name] = &LogGroup{}
			}
		}
		for name, repo := range acct.Repositories {
			if repo == nil {
				repo = &Repository{}
				acct.Repositories[name] = repo
			}
			repo.Normalize()
		}
	}
	return nil
}
