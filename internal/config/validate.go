package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
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
	exampleImage    = "my-api:latest (or oci:./build/oci, docker-archive:./image.tar, docker://ghcr.io/acme/my-api@sha256:<64 hex>)"
	exampleAudience = DefaultAudience
	exampleAccounts = "111122223333,444455556666"
	exampleTestURL  = "https://test.api.example.com/healthz"
)

var (
	// roleARNPattern is an IAM role ARN, its partition captured (checked
	// against the region's); a role name is 1-64 characters of [\w+=,.@-],
	// after an optional path.
	roleARNPattern = regexp.MustCompile(`^arn:([a-z0-9-]+):iam::(\d{12}):role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$`)
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
	// clusterARN and serviceARN capture the partition, region and account,
	// which are checked against the run's.
	clusterARN = regexp.MustCompile(`^arn:([a-z0-9-]+):ecs:([a-z0-9-]+):(\d{12}):cluster/[A-Za-z0-9_-]{1,255}$`)
	serviceARN = regexp.MustCompile(`^arn:([a-z0-9-]+):ecs:([a-z0-9-]+):(\d{12}):service/(?:[A-Za-z0-9_-]{1,255}/)?[A-Za-z0-9_-]{1,255}$`)
	// accountIDPattern is an AWS account ID.
	accountIDPattern = regexp.MustCompile(`^\d{12}$`)
	// codeDeployNamePattern is what CodeDeploy accepts as an application
	// or deployment group name.
	codeDeployNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,100}$`)
)

// The bounds AWS sets on session lifetimes.
const (
	MinRoleDurationSeconds = 900
	MaxRoleDurationSeconds = 43200
	maxWaitForMinutes      = 360
	maxTestURLSuccesses    = 100
	maxTestURLTimeout      = 3600
)

// Validate checks every input and reports every problem at once
// (errors.Join of *InputError), before anything touches the network.
func (c Config) Validate() error {
	return joinProblems(c.problems())
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
		add(InputRoleToAssume, c.RoleToAssume, "is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)", c.exampleRoleARN())
	default:
		if problem := c.placeProblem(roleARNPattern.FindStringSubmatch(c.RoleToAssume)[1], ""); problem != "" {
			add(InputRoleToAssume, c.RoleToAssume, problem, c.exampleRoleARN())
		}
	}
	switch {
	case c.AWSRegion == "":
		add(InputAWSRegion, "", "is required: the region of the repository and cluster", exampleRegion)
	case !regionPattern.MatchString(c.AWSRegion):
		add(InputAWSRegion, c.AWSRegion, "is not an AWS region name (lower case, like us-east-1)", exampleRegion)
	default:
		if _, ok := partition.ForRegion(c.AWSRegion); !ok {
			add(InputAWSRegion, c.AWSRegion,
				fmt.Sprintf("is in none of the AWS partitions the AWS SDK %s knows (%s)", partition.SDKVersion, strings.Join(partition.IDs(), ", ")),
				exampleRegion)
		}
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
		m := roleARNPattern.FindStringSubmatch(hop.RoleARN)
		if m == nil {
			add(InputRoleChain, hop.RoleARN,
				fmt.Sprintf("(entry %d) is not an IAM role ARN; each line is a role ARN, optionally followed by external-id=ID", i+1),
				exampleChainEntry)
		} else if problem := c.placeProblem(m[1], ""); problem != "" {
			add(InputRoleChain, hop.RoleARN, fmt.Sprintf("(entry %d) %s", i+1, problem), c.exampleRoleARN())
		}
		if id := hop.ExternalID; id != "" && (len(id) < 2 || len(id) > 1224 || !externalIDPattern.MatchString(id)) {
			add(InputRoleChain, hop.String(),
				fmt.Sprintf("(entry %d) has an external ID that is not 2 to 1224 characters of letters, digits and _+=,.@:/-", i+1),
				exampleChainEntry)
		}
	}

	for _, id := range c.AllowedAccountIDs {
		if !accountIDPattern.MatchString(id) {
			add(InputAllowedAccountIDs, id, "is not an AWS account ID (12 digits); list them comma separated", exampleAccounts)
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
				add(InputImage, c.Image, "names a path that cannot be read: "+statProblem(err), exampleImage)
			}
		}
	}
	if problem := imageReferenceProblem(c.Image); problem != "" {
		add(InputImage, c.Image, problem, exampleImage)
	}
	switch c.Repository {
	case "":
		add(InputRepository, "", "is required when image is set: the ECR repository to push to", c.exampleRepository())
	default:
		if problem := c.repositoryProblem(); problem != "" {
			add(InputRepository, c.Repository, problem, c.exampleRepository())
		}
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
	} else if m := clusterARN.FindStringSubmatch(c.Cluster); m != nil {
		if problem := c.placeProblem(m[1], m[2]); problem != "" {
			add(InputCluster, c.Cluster, problem, exampleCluster)
		}
	}
	for _, s := range c.Services {
		if !ecsNamePattern.MatchString(s) && !serviceARN.MatchString(s) {
			add(InputService, s, "is not an ECS service name or ARN", exampleService)
		} else if m := serviceARN.FindStringSubmatch(s); m != nil {
			if problem := c.placeProblem(m[1], m[2]); problem != "" {
				add(InputService, s, problem, exampleService)
			}
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
	ps = append(ps, c.testURLProblems()...)
	for _, in := range []struct{ name, value, example string }{
		{InputCodeDeployApplication, c.CodeDeployApplication, "AppECS-prod-cluster-api-service"},
		{InputCodeDeployGroup, c.CodeDeployDeploymentGroup, "DgpECS-prod-cluster-api-service"},
	} {
		switch {
		case in.value == "":
		case !codeDeployNamePattern.MatchString(in.value):
			add(in.name, in.value, "is not a CodeDeploy name (1 to 100 letters, digits and _+=,.@-)", in.example)
		case !c.DeployRequested():
			add(in.name, in.value, "is set but no service is: name the service CodeDeploy deploys", exampleService)
		case len(c.Services) > 1:
			add(in.name, in.value, fmt.Sprintf("names one service's CodeDeploy %s, but %d services are deployed: deploy each CODE_DEPLOY service in a step of its own, or leave it to the console's name", strings.TrimPrefix(in.name, "codedeploy-"), len(c.Services)), in.example)
		}
	}
	ps = append(ps, c.runTaskProblems()...)
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
		if c.RollbackOnCancel {
			add(InputRollbackOnCancel, "true", "is set but no service is: name the service to deploy", exampleService)
		}
		return ps
	}
	if c.TaskDefinition != "" {
		if c.ForceNewDeployment {
			add(InputTaskDefinition, c.TaskDefinition, "cannot be used with force-new-deployment, which redeploys the service's current task definition", "")
		}
		if info, err := os.Stat(c.TaskDefinition); err != nil {
			add(InputTaskDefinition, c.TaskDefinition, "cannot be read: "+statProblem(err), "task-definition.json")
		} else if info.IsDir() {
			add(InputTaskDefinition, c.TaskDefinition, "is a directory, not a JSON file", "task-definition.json")
		}
	}
	if !c.PushRequested() && !c.ForceNewDeployment {
		add(InputImage, "", "is required to deploy a new revision (the pushed image is pinned by digest); or set force-new-deployment: true to redeploy the current task definition", exampleImage)
	}
	return ps
}

// testURLProblems checks test-url and its settings: an http or https URL
// without credentials, checked while the one service's deployment is
// watched.
func (c Config) testURLProblems() []*InputError {
	var ps []*InputError
	add := func(input, value, problem, example string) {
		ps = append(ps, &InputError{Input: input, Value: value, Problem: problem, Example: example})
	}
	if c.TestURLSuccesses < 1 || c.TestURLSuccesses > maxTestURLSuccesses {
		add(InputTestURLSuccesses, fmt.Sprint(c.TestURLSuccesses), fmt.Sprintf("is outside 1 to %d", maxTestURLSuccesses), "3")
	}
	if c.TestURLTimeoutSeconds < 1 || c.TestURLTimeoutSeconds > maxTestURLTimeout {
		add(InputTestURLTimeoutSeconds, fmt.Sprint(c.TestURLTimeoutSeconds), fmt.Sprintf("is outside 1 to %d seconds", maxTestURLTimeout), "120")
	}
	if c.TestURL == "" {
		return ps
	}
	u, err := url.Parse(c.TestURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" || strings.ContainsAny(c.TestURL, " \t\r\n"):
		add(InputTestURL, c.TestURL, "is not an http:// or https:// URL", exampleTestURL)
	case u.User != nil:
		add(InputTestURL, c.TestURL, "carries credentials (user:password@), which the log would show: the check sends none", exampleTestURL)
	case !c.DeployRequested():
		add(InputTestURL, c.TestURL, "is set but no service is: name the service whose new revision it checks", exampleService)
	case len(c.Services) > 1:
		add(InputTestURL, c.TestURL, fmt.Sprintf("checks one service's new revision, but %d services are deployed: deploy the service it belongs to in a step of its own", len(c.Services)), exampleTestURL)
	case !c.WaitForServiceStability:
		add(InputTestURL, c.TestURL, "is checked while the deployment is watched, but wait-for-service-stability is false", "")
	}
	return ps
}

// statProblem says why a path could not be read, without the path, which
// the problem already quotes (and which may span lines).
func statProblem(err error) string {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err.Error()
	}
	return strconv.Quote(err.Error())
}

// placeProblem says what is wrong with where an ARN points, given its
// partition and region (empty for a global service such as IAM), in a run
// in c.AWSRegion; "" when nothing is. A bad aws-region is reported on its
// own input, not again here.
func (c Config) placeProblem(arnPartition, arnRegion string) string {
	p, ok := partition.Lookup(arnPartition)
	if !ok {
		return fmt.Sprintf("names the partition %q, which is not an AWS partition (%s)", arnPartition, strings.Join(partition.IDs(), ", "))
	}
	home, ok := partition.ForRegion(c.AWSRegion)
	if !ok || !regionPattern.MatchString(c.AWSRegion) {
		return ""
	}
	if home.ID != p.ID {
		return fmt.Sprintf("is in the partition %s, but aws-region %s is in %s, and nothing crosses partitions: use a region of %s (%s) or an ARN that starts with arn:%s:",
			p.ID, c.AWSRegion, home.ID, p.ID, strings.Join(p.ExampleRegions(3), ", "), home.ID)
	}
	if arnRegion != "" && arnRegion != c.AWSRegion {
		return fmt.Sprintf("is in the region %s, but aws-region is %s: the run deploys in aws-region only", arnRegion, c.AWSRegion)
	}
	return ""
}

// homePartition is the partition of aws-region, or aws while that is unknown.
func (c Config) homePartition() partition.Partition {
	if p, ok := partition.ForRegion(c.AWSRegion); ok {
		return p
	}
	p, _ := partition.Lookup("aws")
	return p
}

// exampleRoleARN is a role ARN in the partition of aws-region.
func (c Config) exampleRoleARN() string {
	return c.homePartition().ARN("iam", "", "123456789012", "role/gha-deploy")
}

// exampleRepository is a repository name, or its URI in aws-region.
func (c Config) exampleRepository() string {
	if _, ok := partition.ForRegion(c.AWSRegion); !ok || !regionPattern.MatchString(c.AWSRegion) {
		return exampleRepo
	}
	return "web-api (or " + c.homePartition().ECRRegistryHost("123456789012", c.AWSRegion, false) + "/web-api)"
}

// SplitRepository splits the repository input into its registry host and
// repository name the way Docker reads an image reference: a first
// component with a dot or a colon, or localhost, is a host. host is empty
// for a bare name.
func SplitRepository(s string) (host, name string) {
	first, rest, found := strings.Cut(s, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first, rest
	}
	return "", s
}

// repositoryProblem says what is wrong with the repository input; "" when
// nothing is. A URI must name an ECR registry of aws-region: the run logs in
// to ECR, and its password must never go to another host.
func (c Config) repositoryProblem() string {
	host, name := SplitRepository(c.Repository)
	if !repositoryNamePattern.MatchString(name) || len(name) < 2 || len(name) > 256 {
		return "is not an ECR repository name or repository URI"
	}
	if host == "" {
		return ""
	}
	ecrHost, ok := partition.ParseECRRegistryHost(host)
	if !ok {
		return fmt.Sprintf("names the registry %q, which is not an Amazon ECR registry (ACCOUNT.dkr.ecr.REGION.%s): "+
			"the action logs in to ECR and sends that password to ECR alone; name a repository of aws-region, or push to other registries with another step",
			host, c.homePartition().DNSSuffix)
	}
	if ecrHost.Region != c.AWSRegion {
		return fmt.Sprintf("names an ECR registry in %s, but aws-region is %q: the ECR login is for aws-region's registries; set aws-region to %s, or name a repository of aws-region",
			ecrHost.Region, c.AWSRegion, ecrHost.Region)
	}
	return ""
}

// AccountIDs lists every AWS account ID the inputs name (the roles, the
// allowed accounts, the repository's registry, cluster and service ARNs),
// each once: what mask-aws-account-id hides before anything is printed.
func (c Config) AccountIDs() []string {
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		if accountIDPattern.MatchString(id) && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if m := roleARNPattern.FindStringSubmatch(c.RoleToAssume); m != nil {
		add(m[2])
	}
	for _, hop := range c.RoleChain {
		if m := roleARNPattern.FindStringSubmatch(hop.RoleARN); m != nil {
			add(m[2])
		}
	}
	for _, id := range c.AllowedAccountIDs {
		add(id)
	}
	if host, _ := SplitRepository(c.Repository); host != "" {
		if h, ok := partition.ParseECRRegistryHost(host); ok {
			add(h.Account)
		}
	}
	if m := clusterARN.FindStringSubmatch(c.Cluster); m != nil {
		add(m[3])
	}
	for _, s := range c.Services {
		if m := serviceARN.FindStringSubmatch(s); m != nil {
			add(m[3])
		}
	}
	return ids
}

// imageReferenceProblem checks an image in a registry (docker://REFERENCE)
// as the push will read it, and refuses a transport the push does not
// know (skopeo's containers-storage:, oci-archive:, dir:, ...), which would
// otherwise be looked up as an engine image of that odd name.
func imageReferenceProblem(image string) string {
	if ref, ok := strings.CutPrefix(image, "docker://"); ok {
		// Written in full (a short Docker Hub name gains library/), as the
		// push writes it, it must read again.
		parsed, err := name.ParseReference(ref)
		if err == nil {
			_, err = name.ParseReference(parsed.Name())
		}
		if err != nil || ref == "" {
			return "is not an image in a registry: write docker://REGISTRY/NAME:TAG or docker://REGISTRY/NAME@sha256:DIGEST (a name without a registry is Docker Hub's)"
		}
		return ""
	}
	if strings.HasPrefix(image, "oci:") || strings.HasPrefix(image, "docker-archive:") || strings.HasPrefix(image, "docker-daemon:") {
		return ""
	}
	if transport, _, ok := strings.Cut(image, ":"); ok && knownTransports[transport] && !isEngineReference(image) {
		return "names a source the action does not read (" + transport + ":): give a Docker engine image (name:tag), oci:PATH, docker-archive:PATH or docker://REFERENCE"
	}
	return ""
}

// knownTransports are skopeo's and buildah's image transports that are not
// the action's.
var knownTransports = map[string]bool{"containers-storage": true, "oci-archive": true, "dir": true, "sif": true, "ostree": true}

// isEngineReference reports a valid name:tag, which an engine image named
// like a transport (dir:v1) is.
func isEngineReference(image string) bool {
	_, err := name.ParseReference(image)
	return err == nil
}
