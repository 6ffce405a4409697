package config

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// The examples that error messages show.
const (
	exampleRoleARN  = "arn:aws:iam::123456789012:role/gha-deploy"
	exampleRegion   = "us-east-1"
	exampleSession  = "acme-web-api-9876543210-1"
	exampleRepo     = "web-api (or 123456789012.dkr.ecr.us-east-1.amazonaws.com/web-api)"
	exampleTag      = "4f2c8e1a9b7d6c5e3f1a2b4c6d8e0f1a3b5c7d9e"
	exampleService  = "api-service"
	exampleCluster  = "prod-cluster"
	exampleImage    = "my-api:latest (or oci:./build/oci, docker-archive:./image.tar)"
	exampleAudience = DefaultAudience
)

var (
	// roleARNPattern is an IAM role ARN in any partition; a role name is
	// 1-64 characters of [\w+=,.@-], after an optional path.
	roleARNPattern = regexp.MustCompile(`^arn:aws(?:-[a-z]+)*:iam::\d{12}:role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$`)
	// regionPattern matches every AWS region name: us-east-1, eu-central-2,
	// us-gov-west-1, cn-north-1, us-isob-east-1.
	regionPattern      = regexp.MustCompile(`^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$`)
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	externalIDPattern  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	// repositoryNamePattern is ECR's repository name grammar.
	repositoryNamePattern = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	// tagPattern is the OCI tag grammar.
	tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	// ecsNamePattern is what ECS accepts as a cluster, service or container name.
	ecsNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	clusterARN     = regexp.MustCompile(`^arn:aws(?:-[a-z]+)*:ecs:[a-z0-9-]+:\d{12}:cluster/[A-Za-z0-9_-]{1,255}$`)
	serviceARN     = regexp.MustCompile(`^arn:aws(?:-[a-z]+)*:ecs:[a-z0-9-]+:\d{12}:service/(?:[A-Za-z0-9_-]{1,255}/)?[A-Za-z0-9_-]{1,255}$`)
)

// The bounds AWS sets on session lifetimes.
const (
	MinRoleDurationSeconds = 900
	MaxRoleDurationSeconds = 43200
	maxWaitForMinutes      = 360
)

// Validate checks every input and reports every problem at once
// (errors.Join of *InputError), before anything touches the network.
func (c Config) Validate() error {
	if p := c.problems(); len(p) > 0 {
		return joinProblems(p)
	}
	return nil
}

func (c Config) problems() []*InputError {
	var ps []*InputError
	add := func(input, value, problem, example string) {
		ps = append(ps, &InputError{Input: input, Value: value, Problem: problem, Example: example})
	}

	switch {
	case c.RoleToAssume == "":
		add(InputRoleToAssume, "", "is required: the ARN of the role to assume", exampleRoleARN)
	case !roleARNPattern.MatchString(c.RoleToAssume):
		add(InputRoleToAssume, c.RoleToAssume, "is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)", exampleRoleARN)
	}
	switch {
	case c.AWSRegion == "":
		add(InputAWSRegion, "", "is required: the region of the repository and cluster", exampleRegion)
	case !regionPattern.MatchString(c.AWSRegion):
		add(InputAWSRegion, c.AWSRegion, "is not an AWS region name (lower case, like us-east-1)", exampleRegion)
	}
	if c.Audience == "" || strings.ContainsAny(c.Audience, " \t\r\n") {
		add(InputAudience, c.Audience, "must be one word, a client ID of the IAM OIDC provider", exampleAudience)
	}
	if !sessionNamePattern.MatchString(c.RoleSessionName) {
		add(InputRoleSessionName, c.RoleSessionName,
			fmt.Sprintf("must be 2 to 64 characters of letters, digits and _+=,.@- (it has %d characters)", len(c.RoleSessionName)),
			exampleSession)
	}
	if c.RoleDurationSeconds < MinRoleDurationSeconds || c.RoleDurationSeconds > MaxRoleDurationSeconds {
		add(InputRoleDurationSeconds, fmt.Sprint(c.RoleDurationSeconds),
			fmt.Sprintf("is outside %d to %d seconds", MinRoleDurationSeconds, MaxRoleDurationSeconds), "3600")
	}
	for i, hop := range c.RoleChain {
		if !roleARNPattern.MatchString(hop.RoleARN) {
			add(InputRoleChain, hop.RoleARN,
				fmt.Sprintf("(entry %d) is not an IAM role ARN; each line is a role ARN, optionally followed by external-id=ID", i+1),
				exampleChainEntry)
		}
		if id := hop.ExternalID; id != "" && (len(id) < 2 || len(id) > 1224 || !externalIDPattern.MatchString(id)) {
			add(InputRoleChain, hop.String(),
				fmt.Sprintf("(entry %d) has an external ID that is not 2 to 1224 characters of letters, digits and _+=,.@:/-", i+1),
				exampleChainEntry)
		}
	}

	if c.PushRequested() {
		ps = append(ps, c.pushProblems()...)
	} else if c.Repository != "" && !c.DeployRequested() {
		add(InputImage, "", "is required when repository is set: the image to push", exampleImage)
	}
	ps = append(ps, c.deployProblems()...)
	return ps
}

func (c Config) pushProblems() []*InputError {
	var ps []*InputError
	add := func(input, value, problem, example string) {
		ps = append(ps, &InputError{Input: input, Value: value, Problem: problem, Example: example})
	}
	if strings.ContainsAny(c.Image, " \t\r\n") {
		add(InputImage, c.Image, "must not contain spaces", exampleImage)
	}
	for _, prefix := range []string{"oci:", "docker-archive:"} {
		if path, ok := strings.CutPrefix(c.Image, prefix); ok {
			if _, err := os.Stat(path); err != nil {
				add(InputImage, c.Image, "names a path that cannot be read: "+err.Error(), exampleImage)
			}
		}
	}
	switch {
	case c.Repository == "":
		add(InputRepository, "", "is required when image is set: the ECR repository to push to", exampleRepo)
	case !validRepository(c.Repository):
		add(InputRepository, c.Repository, "is not an ECR repository name or repository URI", exampleRepo)
	}
	if len(c.Tags) == 0 {
		add(InputTags, "", "is empty and GITHUB_SHA is not set: give at least one tag", exampleTag)
	}
	for _, tag := range c.Tags {
		if !tagPattern.MatchString(tag) {
			add(InputTags, tag, "is not a valid image tag (up to 128 letters, digits, _ . -, not starting with . or -)", exampleTag)
		}
	}
	return ps
}

func (c Config) deployProblems() []*InputError {
	var ps []*InputError
	add := func(input, value, problem, example string) {
		ps = append(ps, &InputError{Input: input, Value: value, Problem: problem, Example: example})
	}
	if c.Cluster == "" || !ecsNamePattern.MatchString(c.Cluster) && !clusterARN.MatchString(c.Cluster) {
		add(InputCluster, c.Cluster, "is not an ECS cluster name or ARN", exampleCluster)
	}
	for _, s := range c.Services {
		if !ecsNamePattern.MatchString(s) && !serviceARN.MatchString(s) {
			add(InputService, s, "is not an ECS service name or ARN", exampleService)
		}
	}
	for _, n := range c.ContainerNames {
		if !ecsNamePattern.MatchString(n) {
			add(InputContainerName, n, "is not an ECS container name", "web")
		}
	}
	if c.WaitForMinutes < 1 || c.WaitForMinutes > maxWaitForMinutes {
		add(InputWaitForMinutes, fmt.Sprint(c.WaitForMinutes), fmt.Sprintf("is outside 1 to %d minutes", maxWaitForMinutes), "30")
	}
	if !c.DeployRequested() {
		// Deploy settings without a service are a mistake in the workflow,
		// not something to ignore silently.
		if c.TaskDefinition != "" {
			add(InputTaskDefinition, c.TaskDefinition, "is set but no service is: name the service to deploy", exampleService)
		}
		if len(c.ContainerNames) > 0 {
			add(InputContainerName, strings.Join(c.ContainerNames, ","), "is set but no service is: name the service to deploy", exampleService)
		}
		if c.ForceNewDeployment {
			add(InputForceNewDeployment, "true", "is set but no service is: name the service to deploy", exampleService)
		}
		return ps
	}
	if c.TaskDefinition != "" {
		if c.ForceNewDeployment {
			add(InputTaskDefinition, c.TaskDefinition, "cannot be used with force-new-deployment, which redeploys the service's current task definition", "")
		}
		if info, err := os.Stat(c.TaskDefinition); err != nil {
			add(InputTaskDefinition, c.TaskDefinition, "cannot be read: "+err.Error(), "task-definition.json")
		} else if info.IsDir() {
			add(InputTaskDefinition, c.TaskDefinition, "is a directory, not a JSON file", "task-definition.json")
		}
	}
	if !c.PushRequested() && !c.ForceNewDeployment {
		add(InputImage, "", "is required to deploy a new revision (the pushed image is pinned by digest); or set force-new-deployment: true to redeploy the current task definition", exampleImage)
	}
	return ps
}

// validRepository accepts an ECR repository name or a repository URI
// (host/name, the host being an ECR registry or, in tests, host:port).
func validRepository(s string) bool {
	if repositoryNamePattern.MatchString(s) && len(s) >= 2 && len(s) <= 256 {
		host, _, found := strings.Cut(s, "/")
		// A first component with a dot or colon is a registry host.
		if !found || !strings.ContainsAny(host, ".:") {
			return true
		}
	}
	host, name, ok := strings.Cut(s, "/")
	if !ok || !strings.ContainsAny(host, ".:") && host != "localhost" {
		return false
	}
	return repositoryNamePattern.MatchString(name) && len(name) <= 256
}
