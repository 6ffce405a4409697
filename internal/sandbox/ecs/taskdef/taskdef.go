// Package taskdef is ECS's task definitions as the sandbox's ECS holds them:
// a registration checked against ECS's model and rules, the revision it
// becomes, and what ECS derives from it.
package taskdef

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs/schemas"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ecsschema"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
)

// Revision is one registered revision of a task definition family.
type Revision struct {
	Family   string
	Revision int
	ARN      string
	// Body holds the registerable fields as the caller sent them, checked
	// against ECS's model; members ECS does not know are dropped, as its
	// JSON front end ignores them.
	Body       map[string]any
	Containers []Container
	CPU        string
	Memory     string

	Status             string // ACTIVE or INACTIVE
	RequiresAttributes []Attribute
	Compatibilities    []string
	RegisteredAt       time.Time
	DeregisteredAt     time.Time
	RegisteredBy       string
	Tags               []Tag
}

// Container is what a task needs to know of a container.
type Container struct {
	Name      string
	Image     string
	Essential bool
}

// Tag is a resource tag on ECS's wire.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Attribute is a task definition's required attribute (and a cluster's
// setting) on ECS's wire.
type Attribute struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// JSON renders the revision as DescribeTaskDefinition returns it.
func (td *Revision) JSON() map[string]any {
	out := make(map[string]any, len(td.Body)+8)
	for k, v := range td.Body {
		out[k] = v
	}
	out["taskDefinitionArn"] = td.ARN
	out["revision"] = td.Revision
	out["status"] = td.Status
	out["requiresAttributes"] = td.RequiresAttributes
	out["compatibilities"] = td.Compatibilities
	out["registeredAt"] = awsproto.At(td.RegisteredAt)
	out["registeredBy"] = td.RegisteredBy
	if !td.DeregisteredAt.IsZero() {
		out["deregisteredAt"] = awsproto.At(td.DeregisteredAt)
	}
	return out
}

// Input is the part of RegisterTaskDefinition's request the sandbox
// reasons about.
type Input struct {
	Family                  string   `json:"family"`
	TaskRoleArn             string   `json:"taskRoleArn"`
	ExecutionRoleArn        string   `json:"executionRoleArn"`
	NetworkMode             string   `json:"networkMode"`
	RequiresCompatibilities []string `json:"requiresCompatibilities"`
	CPU                     string   `json:"cpu"`
	Memory                  string   `json:"memory"`
	ContainerDefinitions    []struct {
		Name              string `json:"name"`
		Image             string `json:"image"`
		Essential         *bool  `json:"essential"`
		Memory            *int   `json:"memory"`
		MemoryReservation *int   `json:"memoryReservation"`
		LogConfiguration  *struct {
			LogDriver string `json:"logDriver"`
		} `json:"logConfiguration"`
		Secrets      []any `json:"secrets"`
		PortMappings []struct {
			ContainerPort *int `json:"containerPort"`
			HostPort      *int `json:"hostPort"`
		} `json:"portMappings"`
		RepositoryCredentials *struct {
			CredentialsParameter string `json:"credentialsParameter"`
		} `json:"repositoryCredentials"`
	} `json:"containerDefinitions"`
	Tags []Tag `json:"tags"`
}

var (
	familyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	tagKeyPattern = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
)

// ClientError is ECS's ClientException: a request ECS understood and refuses.
func ClientError(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf("ClientException", format, args...)
}

// InvalidParameter is ECS's InvalidParameterException.
func InvalidParameter(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf("InvalidParameterException", format, args...)
}

// Where is what a registration is checked against beyond itself: the
// partition of the region ECS serves, and which images live in ECR.
type Where struct {
	// Partition is the ID of the region's partition (aws, aws-cn, ...).
	Partition string
	// ECRImage reports whether an image is pulled from ECR.
	ECRImage func(image string) bool
}

// Parse checks a RegisterTaskDefinition request body the way ECS does:
// first its shape against ECS's model (a value of the wrong type is a
// SerializationException), then its meaning (ClientException). It returns
// the registerable members (tags left out) as ECS stores them, and the
// input.
func Parse(raw []byte, where Where) (map[string]any, *Input, *awsproto.Error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, &awsproto.Error{Status: 400, Code: "SerializationException", Message: "Unable to parse request body: " + err.Error()}
	}
	// ECS's JSON front end ignores members its model does not have, and
	// refuses a value of the wrong type.
	r := ecsschema.Conform(schemas.RegisterTaskDefinitionRequest, doc)
	if len(r.Mismatches) > 0 {
		return nil, nil, &awsproto.Error{Status: 400, Code: "SerializationException", Message: unexpectedValue(r.Mismatches[0])}
	}
	body := r.Value.(map[string]any)
	var in Input
	data, err := json.Marshal(body) // decoded from JSON: it encodes again
	if err == nil {
		err = json.Unmarshal(data, &in)
	}
	if err != nil {
		return nil, nil, &awsproto.Error{Status: 400, Code: "SerializationException", Message: err.Error()}
	}
	if apiErr := validate(&in, where); apiErr != nil {
		return nil, nil, apiErr
	}
	delete(body, "tags")
	if in.NetworkMode == "awsvpc" {
		fillHostPorts(body)
	}
	return body, &in, nil
}

// fillHostPorts gives every port mapping of an awsvpc task definition the
// host port it has under awsvpc, its container port, as ECS stores it
// ("ECS happily makes this transformation atop the incoming container
// definition", turnerlabs/terraform-ecs-fargate#11).
func fillHostPorts(body map[string]any) {
	containers, _ := body["containerDefinitions"].([]any)
	for _, c := range containers {
		mappings, _ := c.(map[string]any)["portMappings"].([]any)
		for _, m := range mappings {
			pm, _ := m.(map[string]any)
			if port, ok := pm["containerPort"]; ok {
				if _, has := pm["hostPort"]; !has {
					pm["hostPort"] = port
				}
			}
		}
	}
}

// unexpectedValue is how ECS's JSON front end words a value of the wrong
// type.
func unexpectedValue(m ecsschema.Mismatch) string {
	path := m.Path
	if path == "" {
		path = "the top level"
	}
	want := map[ecsschema.Kind]string{
		ecsschema.Structure: "a structure", ecsschema.List: "a list", ecsschema.Map: "a map",
		ecsschema.String: "a String", ecsschema.Boolean: "a Boolean",
		ecsschema.Integer: "an Integer", ecsschema.Number: "a Number",
	}[m.Want]
	return fmt.Sprintf("Unexpected value at %s: %s can not be converted to %s", path, jsonKind(m.Got), want)
}

// jsonKind names a JSON value as ECS's parser does.
func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "STRING_VALUE"
	case json.Number:
		return "NUMBER_VALUE"
	case bool:
		return "BOOLEAN_VALUE"
	case []any:
		return "START_ARRAY"
	case map[string]any:
		return "START_OBJECT"
	}
	return "VALUE"
}

// roleNamePattern is IAM's roleNameType: what ECS takes for a role given by
// name alone ("both the executionRoleArn and taskRoleArn can actually be
// just the role name. ECS will fill in the account ID server-side",
// aws-actions/amazon-ecs-render-task-definition#19).
var roleNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// roleARNPattern is an IAM role's ARN: partition, account, path, name.
var roleARNPattern = regexp.MustCompile(`^arn:([^:]+):iam::\d{12}:role(?:/|/[\x21-\x7e]*/)[\w+=,.@-]{1,64}$`)

// validRole reports whether a task or execution role is a role ECS can
// pass: a role name, or a role's ARN in the region's partition.
func validRole(role, partition string) bool {
	if roleNamePattern.MatchString(role) {
		return true
	}
	m := roleARNPattern.FindStringSubmatch(role)
	return m != nil && m[1] == partition
}

// validate applies the checks ECS makes at registration.
func validate(in *Input, where Where) *awsproto.Error {
	if in.Family == "" {
		return ClientError("Family should not be null or empty.")
	}
	if !familyPattern.MatchString(in.Family) {
		return ClientError("Family contains invalid characters. Up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed.")
	}
	if len(in.ContainerDefinitions) == 0 {
		return ClientError("Container list cannot be empty.")
	}
	switch in.NetworkMode {
	case "", "bridge", "host", "awsvpc", "none":
	default:
		return ClientError("Invalid networkMode: %s. Valid values are bridge, host, awsvpc, none.", in.NetworkMode)
	}
	fargate := slices.Contains(in.RequiresCompatibilities, "FARGATE")
	for _, c := range in.RequiresCompatibilities {
		switch c {
		case "EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES":
		default:
			return ClientError("Invalid requiresCompatibilities value: %s.", c)
		}
	}
	names := map[string]bool{}
	essential := false
	for _, c := range in.ContainerDefinitions {
		if c.Name == "" {
			return ClientError("Container.name should not be null or empty.")
		}
		if names[c.Name] {
			return ClientError("Duplicate container names are not allowed: %s.", c.Name)
		}
		names[c.Name] = true
		if c.Image == "" {
			return ClientError("Container.image should not be null or empty.")
		}
		if strings.ContainsAny(c.Image, " \t\n") || strings.Contains(c.Image, "{{") {
			return ClientError("Invalid image reference for container '%s': %s.", c.Name, c.Image)
		}
		if c.Essential == nil || *c.Essential {
			essential = true
		}
		if !fargate && in.Memory == "" && c.Memory == nil && c.MemoryReservation == nil {
			return ClientError("Invalid setting for container '%s'. At least one of 'memory' or 'memoryReservation' must be specified.", c.Name)
		}
	}
	if !essential {
		return ClientError("Task definition does not have any essential container.")
	}
	// A role that is not a role: ECS's "Role is not valid" (fabfuel/ecs-deploy#231,
	// aws-samples/aws-modern-application-workshop#9, where a CloudFormation
	// stack's ARN stood in for a role's).
	for _, role := range []string{in.TaskRoleArn, in.ExecutionRoleArn} {
		if role != "" && !validRole(role, where.Partition) {
			return ClientError("Role is not valid")
		}
	}
	if apiErr := checkExecutionRole(in, fargate, where); apiErr != nil {
		return apiErr
	}
	if in.NetworkMode == "awsvpc" {
		for _, c := range in.ContainerDefinitions {
			for _, pm := range c.PortMappings {
				if pm.HostPort != nil && pm.ContainerPort != nil && *pm.HostPort != *pm.ContainerPort {
					// ECS's words (pulumi/pulumi-awsx#935, aws/amazon-ecs-cli#1014);
					// under awsvpc a task has its own network interface.
					return ClientError("When networkMode=awsvpc, the host ports and container ports in port mappings must match.")
				}
			}
		}
	}
	if fargate {
		if in.NetworkMode != "awsvpc" {
			return ClientError("Fargate only supports network mode 'awsvpc'.")
		}
		if in.CPU == "" {
			return ClientError("Fargate requires that 'cpu' be defined at the task level.")
		}
		if in.Memory == "" {
			return ClientError("Fargate requires that 'memory' be defined at the task level.")
		}
		cpu, okCPU := parseCPUUnits(in.CPU)
		mem, okMem := parseMemoryMiB(in.Memory)
		if !okCPU || !okMem || !fargateSizeValid(cpu, mem) {
			return ClientError("No Fargate configuration exists for given values: %s CPU, %s memory. See the Amazon ECS documentation for the valid values.", in.CPU, in.Memory)
		}
	}
	if len(in.Tags) > 50 {
		return InvalidParameter("Too many tags: a resource can have at most 50.")
	}
	for _, t := range in.Tags {
		if !tagKeyPattern.MatchString(t.Key) || len(t.Value) > 256 {
			return InvalidParameter("Invalid tag: keys are 1-128 characters, values at most 256.")
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return InvalidParameter("Tag keys with the 'aws:' prefix are reserved.")
		}
	}
	return nil
}

// checkExecutionRole holds the rules that need a task execution role, the
// role ECS itself uses to start the task, in ECS's own words: secrets
// (hashicorp/terraform-provider-aws#6503, fabfuel/ecs-deploy#87) and
// private registry credentials (sil-org/ecs-deploy#188) on any launch type;
// on Fargate, ECR images (hashicorp/terraform-provider-aws#3051) and the
// awslogs log driver (virtual-kubelet/virtual-kubelet#193), which an EC2
// container instance's own role covers elsewhere.
func checkExecutionRole(in *Input, fargate bool, where Where) *awsproto.Error {
	if in.ExecutionRoleArn != "" {
		return nil
	}
	for _, c := range in.ContainerDefinitions {
		if len(c.Secrets) > 0 {
			return ClientError("When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.")
		}
		if c.RepositoryCredentials != nil {
			return ClientError("Private repository authentication requires that the task definition specify a value for executionRoleArn.")
		}
	}
	if !fargate {
		return nil
	}
	for _, c := range in.ContainerDefinitions {
		if where.ECRImage != nil && where.ECRImage(c.Image) {
			return ClientError("Fargate requires task definition to have execution role ARN to support ECR images.")
		}
	}
	for _, c := range in.ContainerDefinitions {
		if c.LogConfiguration != nil && c.LogConfiguration.LogDriver == "awslogs" {
			return ClientError("Fargate requires task definition to have execution role ARN to support log driver awslogs.")
		}
	}
	return nil
}

// parseCPUUnits reads "256" or "0.25 vCPU".
func parseCPUUnits(s string) (int, bool) {
	s = strings.TrimSpace(strings.ToLower(s))
	if v, ok := strings.CutSuffix(s, "vcpu"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return int(math.Round(f * 1024)), err == nil
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// parseMemoryMiB reads "512" or "1 GB".
func parseMemoryMiB(s string) (int, bool) {
	s = strings.TrimSpace(strings.ToLower(s))
	if v, ok := strings.CutSuffix(s, "gb"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return int(math.Round(f * 1024)), err == nil
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// fargateSizeValid holds Fargate's table of CPU and memory pairs.
func fargateSizeValid(cpu, mem int) bool {
	between := func(lo, hi, step int) bool { return mem >= lo && mem <= hi && (mem-lo)%step == 0 }
	switch cpu {
	case 256:
		return mem == 512 || mem == 1024 || mem == 2048
	case 512:
		return between(1024, 4096, 1024)
	case 1024:
		return between(2048, 8192, 1024)
	case 2048:
		return between(4096, 16384, 1024)
	case 4096:
		return between(8192, 30720, 1024)
	case 8192:
		return between(16384, 61440, 4096)
	case 16384:
		return between(32768, 122880, 8192)
	}
	return false
}

// DerivedAttributes computes what ECS lists in requiresAttributes and
// compatibilities for a task definition; ecrImage tells images pulled from
// ECR.
func DerivedAttributes(in *Input, ecrImage func(string) bool) ([]Attribute, []string) {
	set := map[string]bool{"com.amazonaws.ecs.capability.docker-remote-api.1.18": true}
	for _, c := range in.ContainerDefinitions {
		if ecrImage(c.Image) {
			set["com.amazonaws.ecs.capability.ecr-auth"] = true
			if in.ExecutionRoleArn != "" {
				set["ecs.capability.execution-role-ecr-pull"] = true
			}
		}
		if c.LogConfiguration != nil && c.LogConfiguration.LogDriver == "awslogs" {
			set["com.amazonaws.ecs.capability.logging-driver.awslogs"] = true
			set["com.amazonaws.ecs.capability.docker-remote-api.1.19"] = true
			if in.ExecutionRoleArn != "" {
				set["ecs.capability.execution-role-awslogs"] = true
			}
		}
		if len(c.Secrets) > 0 {
			set["ecs.capability.secrets.asm.environment-variables"] = true
		}
	}
	if in.TaskRoleArn != "" {
		set["com.amazonaws.ecs.capability.task-iam-role"] = true
	}
	if in.NetworkMode == "awsvpc" {
		set["ecs.capability.task-eni"] = true
		set["com.amazonaws.ecs.capability.docker-remote-api.1.18"] = true
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	attrs := make([]Attribute, len(names))
	for i, n := range names {
		attrs[i] = Attribute{Name: n}
	}
	// A task definition is compatible with EC2, and with the launch types
	// it requires (and registration has checked it for): one that does not
	// require FARGATE cannot run there, however well its shape would fit
	// ("Task definition does not support launch_type FARGATE" at
	// UpdateService, sil-org/ecs-deploy#129, aws/aws-cli#3983).
	compat := []string{"EC2"}
	for _, c := range []string{"FARGATE", "EXTERNAL", "MANAGED_INSTANCES"} {
		if slices.Contains(in.RequiresCompatibilities, c) {
			compat = append(compat, c)
		}
	}
	return attrs, compat
}

// Containers reads the containers of a registration.
func Containers(in *Input) []Container {
	out := make([]Container, len(in.ContainerDefinitions))
	for i, c := range in.ContainerDefinitions {
		out[i] = Container{Name: c.Name, Image: c.Image, Essential: c.Essential == nil || *c.Essential}
	}
	return out
}
