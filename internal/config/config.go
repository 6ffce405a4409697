// Package config holds the one Config of a run: every setting is an action
// input (INPUT_ROLE-TO-ASSUME) and a command-line flag of the same name
// (--role-to-assume), read and validated before any network call.
package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
)

// Config is every input of a run, typed and validated.
type Config struct {
	// RoleToAssume is the ARN of the role assumed with the job's OIDC token.
	RoleToAssume string
	// AWSRegion is the region of STS, ECR and ECS.
	AWSRegion string
	// Audience is the "aud" of the requested ID token.
	Audience string
	// RoleSessionName names the sessions in CloudTrail.
	RoleSessionName string
	// RoleDurationSeconds is the lifetime asked for the web-identity session.
	RoleDurationSeconds int
	// RoleChain lists the roles assumed, in order, after the web-identity role.
	RoleChain []ChainRole
	// AllowedAccountIDs, when not empty, are the only accounts the final
	// role (after the chain) may be in: the run stops right after
	// authentication otherwise, before anything is pushed or changed.
	AllowedAccountIDs []string
	// MaskAWSAccountID hides the account IDs of the run in the log and the
	// job summary, for teams that treat them as sensitive.
	MaskAWSAccountID bool

	// Image is what to push: a Docker engine image, oci:PATH or docker-archive:PATH.
	Image string
	// Repository is an ECR repository name or full repository URI.
	Repository string
	// Tags are the tags pushed; the commit SHA by default.
	Tags []string

	// Cluster is the ECS cluster of the services.
	Cluster string
	// Services are the ECS services deployed, in parallel.
	Services []string
	// TaskDefinition is a task definition JSON file used as the base of the
	// new revision; empty means the service's current task definition.
	TaskDefinition string
	// ContainerNames are the containers that get the new image; empty means
	// those whose image is in the pushed repository.
	ContainerNames []string
	// ForceNewDeployment redeploys the current task definition instead of
	// registering a new revision.
	ForceNewDeployment bool
	// WaitForServiceStability waits for the deployment to finish.
	WaitForServiceStability bool
	// WaitForMinutes bounds that wait.
	WaitForMinutes int
	// TestURL is the new revision's test endpoint, checked while a PAUSE
	// lifecycle hook holds a BLUE_GREEN, LINEAR or CANARY deployment: it
	// must answer 2xx TestURLSuccesses times in a row within
	// TestURLTimeoutSeconds. Empty: the run waits for someone else to
	// continue the deployment.
	TestURL               string
	TestURLSuccesses      int
	TestURLTimeoutSeconds int
	// RollbackOnCancel stops the run's deployments still in progress with a
	// rollback when the job is cancelled; otherwise ECS goes on.
	RollbackOnCancel bool
	// CodeDeployApplication and CodeDeployDeploymentGroup name the
	// CodeDeploy application and deployment group of a service whose
	// deployment controller is CODE_DEPLOY; empty means the names the AWS
	// console gives them, AppECS-CLUSTER-SERVICE and DgpECS-CLUSTER-SERVICE.
	CodeDeployApplication     string
	CodeDeployDeploymentGroup string

	// RunTask runs a one-off task of the new revision (migrations) before
	// any service is updated; the run fails, nothing deployed, unless it
	// succeeds. RunTaskOptions say how.
	RunTask bool
	RunTaskOptions
	// KeepRevisions, when positive, keeps the newest KeepRevisions ACTIVE
	// revisions of each deployed family after a successful deploy and
	// deregisters the older ones no service of the cluster uses.
	KeepRevisions int
}

// ChainRole is one hop of the role chain.
type ChainRole struct {
	// RoleARN is the role assumed with sts:AssumeRole.
	RoleARN string
	// ExternalID is sent as sts:ExternalId when not empty.
	ExternalID string
}

// String renders the hop in the role-chain syntax.
func (h ChainRole) String() string {
	if h.ExternalID == "" {
		return h.RoleARN
	}
	return h.RoleARN + " external-id=" + h.ExternalID
}

// MaxChainedSessionSeconds is AWS's cap on a session obtained by role chaining.
const MaxChainedSessionSeconds = 3600

// ChainedSessionSeconds is the duration asked for each role-chain hop: the
// role-duration-seconds, capped at the one hour AWS allows chained sessions.
func (c Config) ChainedSessionSeconds() int {
	return min(c.RoleDurationSeconds, MaxChainedSessionSeconds)
}

// PushRequested reports whether the run pushes an image (issue: ECR push):
// it does when an image is given.
func (c Config) PushRequested() bool { return c.Image != "" }

// DeployRequested reports whether the run deploys to ECS: it does when at
// least one service is given.
func (c Config) DeployRequested() bool { return len(c.Services) > 0 }

// InputError is one problem with one input.
type InputError struct {
	// Input is the input's name, e.g. role-to-assume.
	Input string
	// Value is the bad value as given (empty when the input is missing).
	Value string
	// Problem says what is wrong with it.
	Problem string
	// Example is a valid value.
	Example string
}

func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString("input " + e.Input + ": ")
	if e.Value != "" {
		b.WriteString(strconv.Quote(e.Value) + " ")
	}
	b.WriteString(e.Problem)
	if e.Example != "" {
		b.WriteString("; for example: " + e.Example)
	}
	return b.String()
}

// Input describes one input, for action.yml and the command-line usage.
type Input struct {
	// Name is the input's and the flag's name.
	Name string
	// Description is one or two sentences for users.
	Description string
	// Default is the value used when the input is empty; empty when the
	// default depends on the run (see Description) or there is none.
	Default string
	// Required is true when every run needs the input.
	Required bool
	// Boolean is true for true/false inputs (flags that need no value).
	Boolean bool
	// List is true for inputs that take several values, comma or newline
	// separated (flags that may be repeated).
	List bool
}

// The input names.
const (
	InputRoleToAssume            = "role-to-assume"
	InputAWSRegion               = "aws-region"
	InputAudience                = "audience"
	InputRoleSessionName         = "role-session-name"
	InputRoleDurationSeconds     = "role-duration-seconds"
	InputRoleChain               = "role-chain"
	InputAllowedAccountIDs       = "allowed-account-ids"
	InputMaskAWSAccountID        = "mask-aws-account-id"
	InputImage                   = "image"
	InputRepository              = "repository"
	InputTags                    = "tags"
	InputCluster                 = "cluster"
	InputService                 = "service"
	InputTaskDefinition          = "task-definition"
	InputContainerName           = "container-name"
	InputForceNewDeployment      = "force-new-deployment"
	InputWaitForServiceStability = "wait-for-service-stability"
	InputWaitForMinutes          = "wait-for-minutes"
	InputTestURL                 = "test-url"
	InputTestURLSuccesses        = "test-url-successes"
	InputTestURLTimeoutSeconds   = "test-url-timeout-seconds"
	InputRollbackOnCancel        = "rollback-on-cancel"
	InputCodeDeployApplication   = "codedeploy-application"
	InputCodeDeployGroup         = "codedeploy-deployment-group"
	InputRunTask                 = "run-task"
	InputRunTaskContainer        = "run-task-container"
	InputRunTaskCommand          = "run-task-command"
	InputRunTaskLaunchType       = "run-task-launch-type"
	InputRunTaskCapacityProvider = "run-task-capacity-provider-strategy"
	InputRunTaskSubnets          = "run-task-subnets"
	InputRunTaskSecurityGroups   = "run-task-security-groups"
	InputRunTaskAssignPublicIP   = "run-task-assign-public-ip"
	InputRunTaskStartedBy        = "run-task-started-by"
	InputKeepRevisions           = "keep-revisions"
)

// The defaults of the inputs that have fixed ones.
const (
	DefaultAudience            = "sts.amazonaws.com"
	DefaultRoleDurationSeconds = 900
	DefaultCluster             = "default"
	DefaultWaitForMinutes      = 30
	DefaultTestURLSuccesses    = 3
	DefaultTestURLTimeout      = 120
	DefaultRunTaskStartedBy    = "oidc-ecs-deploy"
)

var inputs = []Input{
	{Name: InputRoleToAssume, Required: true,
		Description: "ARN of the IAM role to assume with the job's GitHub OIDC token, e.g. arn:aws:iam::123456789012:role/gha-deploy. Its trust policy must allow this repository's token."},
	{Name: InputAWSRegion, Required: true,
		Description: "AWS region of the ECR repository and the ECS cluster, e.g. us-east-1. Its partition (aws, aws-cn, aws-us-gov, ...) must be that of the roles."},
	{Name: InputAudience, Default: DefaultAudience,
		Description: "Audience (aud) of the OIDC token; must be a client ID of the account's IAM OIDC provider."},
	{Name: InputRoleSessionName,
		Description: "Role session name shown in CloudTrail. Default: built from the repository, run ID and run attempt."},
	{Name: InputRoleDurationSeconds, Default: strconv.Itoa(DefaultRoleDurationSeconds),
		Description: "Lifetime of the role session in seconds, 900 to 43200. Credentials are refreshed with a new OIDC token before they expire; role-chain sessions are capped at 3600."},
	{Name: InputRoleChain, List: true,
		Description: "Roles to assume in order with sts:AssumeRole after role-to-assume, one per line, each optionally followed by external-id=ID, e.g. `arn:aws:iam::444455556666:role/prod-deploy external-id=acme-prod-7f3c`."},
	{Name: InputAllowedAccountIDs, List: true,
		Description: "AWS account IDs, comma separated, that the final role (role-to-assume, or the last of role-chain) must be in, e.g. 111122223333,444455556666. Checked right after authentication: in any other account the run stops before anything is pushed or changed. Default: any account."},
	{Name: InputMaskAWSAccountID, Default: "false", Boolean: true,
		Description: "Mask the run's AWS account IDs (::add-mask::) so that the log and the job summary show *** instead. Outputs keep the real values, which later steps need; the runner will not pass an output that contains a masked value on as a job output."},
	{Name: InputImage,
		Description: "Image to push: a Docker engine image (name, name:tag or ID), oci:PATH (an OCI image layout), docker-archive:PATH (a docker save tarball), or docker://REFERENCE (an image already in a registry, REGISTRY/NAME:TAG or REGISTRY/NAME@sha256:DIGEST: tagged where it is when it is in the repository already, copied otherwise). A multi-platform image (an image index) is pushed whole and deployed by the index digest. Empty: nothing is pushed."},
	{Name: InputRepository,
		Description: "ECR repository to push to: a name in the role's account and region, or the URI of a repository in an ECR registry of aws-region (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME). Other registries are refused: the ECR password goes to ECR alone. Required with image."},
	{Name: InputTags, List: true,
		Description: "Tags to push, comma or newline separated. Default: the commit SHA (GITHUB_SHA)."},
	{Name: InputCluster, Default: DefaultCluster,
		Description: "ECS cluster of the services."},
	{Name: InputService, List: true,
		Description: "ECS services to deploy, comma or newline separated; deployed in parallel. Empty: nothing is deployed."},
	{Name: InputTaskDefinition,
		Description: "Task definition JSON file to use as the base of the new revision. Default: the service's current task definition."},
	{Name: InputContainerName, List: true,
		Description: "Containers that get the new image, comma or newline separated. Default: those whose image is in the pushed repository."},
	{Name: InputForceNewDeployment, Default: "false", Boolean: true,
		Description: "Redeploy the service's current task definition (ECS pulls its tag again) instead of registering a new revision pinned by digest."},
	{Name: InputWaitForServiceStability, Default: "true", Boolean: true,
		Description: "Wait until the deployment completes or fails, and fail the step when it fails."},
	{Name: InputWaitForMinutes, Default: strconv.Itoa(DefaultWaitForMinutes),
		Description: "How long to wait for the deployment, in minutes (1 to 360)."},
	{Name: InputTestURL,
		Description: "URL of the new revision's test endpoint (the load balancer's test listener), e.g. https://test.api.example.com/healthz. When a BLUE_GREEN, LINEAR or CANARY deployment waits at a PAUSE lifecycle hook, the action checks it, then continues the deployment, or stops it with a rollback when the check fails. Empty: the action waits for someone else to continue it."},
	{Name: InputTestURLSuccesses, Default: strconv.Itoa(DefaultTestURLSuccesses),
		Description: "How many answers 2xx in a row from test-url pass the check (1 to 100)."},
	{Name: InputTestURLTimeoutSeconds, Default: strconv.Itoa(DefaultTestURLTimeout),
		Description: "How long the check of test-url may take before it fails, in seconds (1 to 3600)."},
	{Name: InputRollbackOnCancel, Default: "false", Boolean: true,
		Description: "When the job is cancelled while the deployment is in progress, stop it with a rollback (ECS StopServiceDeployment, or CodeDeploy StopDeployment) instead of letting it go on."},
	{Name: InputCodeDeployApplication,
		Description: "CodeDeploy application of a service whose deployment controller is CODE_DEPLOY. Default: AppECS-<cluster>-<service>, the name the AWS console gives it."},
	{Name: InputCodeDeployGroup,
		Description: "CodeDeploy deployment group of a service whose deployment controller is CODE_DEPLOY. Default: DgpECS-<cluster>-<service>, the name the AWS console gives it."},
	{Name: InputRunTask, Default: "false", Boolean: true,
		Description: "Run a one-off task of the new revision (database migrations, say) in the cluster before any service is updated, wait until it stops, and stream its awslogs output. If an essential container exits non-zero or the task cannot start, the step fails and no service is touched. The task runs the first service's revision with that service's network configuration and launch type or capacity providers, unless the run-task-* inputs say otherwise."},
	{Name: InputRunTaskContainer,
		Description: "Container of the one-off task that gets run-task-command and whose exit code is the output run-task-exit-code. Default: the task definition's first essential container."},
	{Name: InputRunTaskCommand,
		Description: "Command of the one-off task's container, as a JSON array (`[\"bin/migrate\", \"up\"]`) or words separated by spaces (bin/migrate up). Default: the container's own command."},
	{Name: InputRunTaskLaunchType,
		Description: "Launch type of the one-off task: FARGATE, EC2, EXTERNAL or MANAGED_INSTANCES. Default: the service's (or its capacity provider strategy)."},
	{Name: InputRunTaskCapacityProvider,
		Description: "Capacity provider strategy of the one-off task, as a JSON array (`[{\"capacityProvider\": \"FARGATE_SPOT\", \"weight\": 1}]`) or a list of PROVIDER[:WEIGHT[:BASE]], e.g. FARGATE_SPOT:1. Not with run-task-launch-type. Default: the service's."},
	{Name: InputRunTaskSubnets, List: true,
		Description: "Subnet IDs of the one-off task (awsvpc), comma separated, e.g. subnet-0a1b2c3d. Default: the service's."},
	{Name: InputRunTaskSecurityGroups, List: true,
		Description: "Security group IDs of the one-off task (awsvpc), comma separated, e.g. sg-0a1b2c3d. Default: the service's."},
	{Name: InputRunTaskAssignPublicIP,
		Description: "Whether the one-off task gets a public IP (awsvpc): ENABLED or DISABLED. Default: the service's."},
	{Name: InputRunTaskStartedBy, Default: DefaultRunTaskStartedBy,
		Description: "The one-off task's startedBy, which ListTasks filters by: up to 128 letters, digits, hyphens, underscores and slashes."},
	{Name: InputKeepRevisions, Default: "0",
		Description: "After a successful deploy, keep the newest N ACTIVE revisions of each deployed task definition family and deregister the older ones, never one that a service of the cluster runs or that a rollback would return to. 0 (the default) deregisters nothing."},
}

// Inputs returns every input, in the order action.yml lists them.
func Inputs() []Input { return append([]Input(nil), inputs...) }

// Default returns a Config with every fixed default set and nothing else,
// a starting point for a literal Config in code and tests.
func Default() Config {
	return Config{
		Audience:                DefaultAudience,
		RoleDurationSeconds:     DefaultRoleDurationSeconds,
		Cluster:                 DefaultCluster,
		WaitForServiceStability: true,
		WaitForMinutes:          DefaultWaitForMinutes,
		TestURLSuccesses:        DefaultTestURLSuccesses,
		TestURLTimeoutSeconds:   DefaultTestURLTimeout,
		RunTaskOptions:          RunTaskOptions{StartedBy: DefaultRunTaskStartedBy},
	}
}

// parse turns raw input values (by input name, as given) into a Config with
// the defaults applied, and validates it. Every problem is reported.
func parse(raw map[string]string, run ghaction.GitHubContext) (Config, error) {
	c := Config{}
	var problems []*InputError
	failed := map[string]bool{}
	bad := func(e *InputError) {
		problems = append(problems, e)
		failed[e.Input] = true
	}
	value := func(name string) string {
		v := strings.TrimSpace(raw[name])
		if v == "" {
			for _, in := range inputs {
				if in.Name == name {
					return in.Default
				}
			}
		}
		return v
	}
	c.RoleToAssume = value(InputRoleToAssume)
	c.AWSRegion = value(InputAWSRegion)
	c.Audience = value(InputAudience)
	c.RoleSessionName = value(InputRoleSessionName)
	if c.RoleSessionName == "" {
		c.RoleSessionName = DefaultSessionName(run)
	}
	if n, err := parseInt(InputRoleDurationSeconds, value(InputRoleDurationSeconds), "3600"); err != nil {
		bad(err)
	} else {
		c.RoleDurationSeconds = n
	}
	chain, chainErrs := ParseRoleChain(raw[InputRoleChain])
	for _, e := range chainErrs {
		bad(e)
	}
	c.RoleChain = chain
	c.AllowedAccountIDs = SplitList(raw[InputAllowedAccountIDs])
	if b, err := parseBool(InputMaskAWSAccountID, value(InputMaskAWSAccountID)); err != nil {
		bad(err)
	} else {
		c.MaskAWSAccountID = b
	}

	c.Image = value(InputImage)
	c.Repository = value(InputRepository)
	c.Tags = SplitList(raw[InputTags])
	if len(c.Tags) == 0 {
		if sha := strings.TrimSpace(run.SHA); sha != "" {
			c.Tags = []string{sha}
		}
	}

	c.Cluster = value(InputCluster)
	c.Services = SplitList(raw[InputService])
	c.TaskDefinition = value(InputTaskDefinition)
	c.ContainerNames = SplitList(raw[InputContainerName])
	if b, err := parseBool(InputForceNewDeployment, value(InputForceNewDeployment)); err != nil {
		bad(err)
	} else {
		c.ForceNewDeployment = b
	}
	if b, err := parseBool(InputWaitForServiceStability, value(InputWaitForServiceStability)); err != nil {
		bad(err)
	} else {
		c.WaitForServiceStability = b
	}
	if n, err := parseInt(InputWaitForMinutes, value(InputWaitForMinutes), "30"); err != nil {
		bad(err)
	} else {
		c.WaitForMinutes = n
	}
	c.TestURL = value(InputTestURL)
	if n, err := parseInt(InputTestURLSuccesses, value(InputTestURLSuccesses), "3"); err != nil {
		bad(err)
	} else {
		c.TestURLSuccesses = n
	}
	if n, err := parseInt(InputTestURLTimeoutSeconds, value(InputTestURLTimeoutSeconds), "120"); err != nil {
		bad(err)
	} else {
		c.TestURLTimeoutSeconds = n
	}
	if b, err := parseBool(InputRollbackOnCancel, value(InputRollbackOnCancel)); err != nil {
		bad(err)
	} else {
		c.RollbackOnCancel = b
	}
	c.CodeDeployApplication = value(InputCodeDeployApplication)
	c.CodeDeployDeploymentGroup = value(InputCodeDeployGroup)
	if b, err := parseBool(InputRunTask, value(InputRunTask)); err != nil {
		bad(err)
	} else {
		c.RunTask = b
	}
	opts, optErrs := parseRunTaskOptions(value)
	for _, e := range optErrs {
		bad(e)
	}
	c.RunTaskOptions = opts
	if n, err := parseInt(InputKeepRevisions, value(InputKeepRevisions), "5"); err != nil {
		bad(err)
	} else {
		c.KeepRevisions = n
	}

	// A value that could not be parsed is reported once, not again as
	// out of range.
	for _, e := range c.problems() {
		if !failed[e.Input] {
			problems = append(problems, e)
		}
	}
	return c, joinProblems(problems)
}

// joinProblems joins problems into one error: nil when there are none, as
// errors.Join of nothing is.
func joinProblems(problems []*InputError) error {
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}

func parseInt(name, v, example string) (int, *InputError) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, &InputError{Input: name, Value: v, Problem: "is not a whole number", Example: example}
	}
	return n, nil
}

// parseBool accepts the YAML 1.2 spellings the runner passes through.
func parseBool(name, v string) (bool, *InputError) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, &InputError{Input: name, Value: v, Problem: "is not a boolean (true or false)", Example: "true"}
}

// SplitList splits a comma- or newline-separated list, dropping blanks and
// repeats.
func SplitList(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		f = strings.TrimSpace(f)
		if f == "" || seen[f] {
			continue
		}
		seen[f] = true
		out = append(out, f)
	}
	return out
}

// ParseRoleChain reads the role-chain syntax: one hop per line, a role ARN
// optionally followed by external-id=ID; blank lines and lines starting
// with # are ignored. The ARNs themselves are checked by Validate.
func ParseRoleChain(s string) ([]ChainRole, []*InputError) {
	var chain []ChainRole
	var problems []*InputError
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		hop := ChainRole{RoleARN: fields[0]}
		for _, f := range fields[1:] {
			id, ok := strings.CutPrefix(f, "external-id=")
			if !ok || hop.ExternalID != "" {
				problems = append(problems, &InputError{Input: InputRoleChain, Value: line,
					Problem: fmt.Sprintf("has %q where only external-id=ID may follow the role ARN", f),
					Example: exampleChainEntry})
				continue
			}
			hop.ExternalID = id
		}
		chain = append(chain, hop)
	}
	return chain, problems
}

const exampleChainEntry = "arn:aws:iam::444455556666:role/prod-deploy external-id=acme-prod-7f3c"

// DefaultSessionName builds the role session name from the run, so that
// CloudTrail shows which run made each call: <owner>-<repo>-<run id>-<run attempt>,
// cleaned to the characters STS accepts and cut to 64.
func DefaultSessionName(run ghaction.GitHubContext) string {
	repo := cleanSessionName(run.Repository)
	var suffix string
	for _, n := range []int64{run.RunID, run.RunAttempt} {
		if n > 0 {
			suffix += "-" + strconv.FormatInt(n, 10)
		}
	}
	if repo == "" && suffix == "" {
		return "oidc-ecs-deploy"
	}
	if repo == "" {
		repo = "gha"
	}
	// The run is what identifies the session; the repository is cut first.
	// The suffix, two int64s, is at most 40 characters, so that some of the
	// repository always stays.
	const maxLen = 64
	repo = repo[:min(len(repo), maxLen-len(suffix))]
	name := repo + suffix
	if len(name) < 2 {
		name += "-gha"
	}
	return name
}

// cleanSessionName keeps the characters a role session name allows
// ([\w+=,.@-]) and turns every other run of characters into one hyphen.
func cleanSessionName(s string) string {
	var b strings.Builder
	lastHyphen := false
	for _, r := range s {
		if isSessionNameChar(r) {
			b.WriteRune(r)
			lastHyphen = r == '-'
			continue
		}
		if !lastHyphen {
			b.WriteByte('-')
			lastHyphen = true
		}
	}
	// A run at either end leaves a hyphen there, which goes.
	return strings.Trim(b.String(), "-")
}

func isSessionNameChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_+=,.@-", r)
}
