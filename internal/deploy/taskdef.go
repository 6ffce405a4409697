package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/schemas"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ecsschema"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
)

// taskDef is a base for new revisions: the RegisterTaskDefinition input that
// would register it again, and where it came from.
type taskDef struct {
	input *ecs.RegisterTaskDefinitionInput
	// source is the task definition's ARN or the file it was read from.
	source string
}

// readOnlyFields are what DescribeTaskDefinition returns that
// RegisterTaskDefinition does not accept.
var readOnlyFields = []string{
	"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
	"registeredAt", "registeredBy", "deregisteredAt", "deleteRequestedAt",
}

// ReadTaskDefinitionFile reads a task definition file as a deploy reads it
// (see parseTaskDefinition): the RegisterTaskDefinition input it holds.
// The policy command reads the roles and tags a new revision will carry
// from it.
func ReadTaskDefinitionFile(path string) (*ecs.RegisterTaskDefinitionInput, error) {
	td, err := readTaskDefinitionFile(path)
	if err != nil {
		return nil, err
	}
	return td.input, nil
}

// readTaskDefinitionFile reads a task definition file.
func readTaskDefinitionFile(path string) (*taskDef, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read task definition file: %w", err)
	}
	data, err := decodeText(raw)
	if err != nil {
		return nil, locate(path, data, err)
	}
	in, err := parseTaskDefinition(data)
	if err != nil {
		return nil, locate(path, data, err)
	}
	return &taskDef{input: in, source: path}, nil
}

// parseTaskDefinition decodes a task definition in RegisterTaskDefinition's
// input shape, or in DescribeTaskDefinition's output shape (either the whole
// output, {"taskDefinition": {...}, "tags": [...]}, or the task definition
// alone, read-only fields and all). The read-only fields are dropped; any
// other key that RegisterTaskDefinition does not know is an error naming it,
// because a misspelt key silently dropped would deploy something else than
// what the file says.
func parseTaskDefinition(data []byte) (*ecs.RegisterTaskDefinitionInput, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("parse JSON: %w", err)
	}
	if dec.More() {
		return nil, &problemAt{err: errors.New("parse JSON: more than one value"), offset: skipSeparators(data, dec.InputOffset())}
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a JSON object, got %s", jsonKind(raw))
	}
	if inner, ok := obj["taskDefinition"].(map[string]any); ok {
		// DescribeTaskDefinition's output: the definition, and its tags beside it.
		for k := range obj {
			if k != "taskDefinition" && k != "tags" {
				return nil, atPath(k, fmt.Errorf("unknown key %q beside taskDefinition (DescribeTaskDefinition's output has only taskDefinition and tags)", k))
			}
		}
		if tags, ok := obj["tags"]; ok {
			if _, dup := inner["tags"]; dup {
				return nil, atPath("tags", errors.New("tags are given both beside and inside taskDefinition"))
			}
			inner["tags"] = tags
		}
		obj = inner
	}
	for _, k := range readOnlyFields {
		delete(obj, k)
	}
	r := ecsschema.Conform(schemas.RegisterTaskDefinitionRequest, obj)
	if len(r.Unknown) > 0 {
		return nil, atPath(r.Unknown[0], fmt.Errorf("unknown keys (not in RegisterTaskDefinition's input): %s", memberPaths(r.Unknown)))
	}
	if len(r.Mismatches) > 0 {
		problems := make([]string, len(r.Mismatches))
		for i, m := range r.Mismatches {
			problems[i] = describeMismatch(m)
		}
		return nil, atPath(r.Mismatches[0].Path, fmt.Errorf("invalid values: %s", strings.Join(problems, "; ")))
	}
	if len(r.Nulls) > 0 {
		return nil, atPath(r.Nulls[0], fmt.Errorf("null where ECS wants a value (its lists and maps take no null): %s; remove it or give a value", memberPaths(r.Nulls)))
	}
	// The walk has checked every member against the model, whose member
	// names are the SDK's field names (which encoding/json matches without
	// regard to case): the SDK's input is the checked value, decoded.
	data, err := json.Marshal(r.Value)
	if err != nil {
		return nil, fmt.Errorf("encode the checked task definition: %w", err)
	}
	in := &ecs.RegisterTaskDefinitionInput{}
	if err := json.Unmarshal(data, in); err != nil {
		return nil, fmt.Errorf("decode the checked task definition: %w", err)
	}
	if aws.ToString(in.Family) == "" {
		return nil, fmt.Errorf("no family")
	}
	if len(in.ContainerDefinitions) == 0 {
		return nil, fmt.Errorf("no containerDefinitions")
	}
	return in, nil
}

// describeMismatch says what a task definition file holds where another
// kind of value belongs.
func describeMismatch(m ecsschema.Mismatch) string {
	path := m.Path
	if path == "" {
		path = "(top level)"
	}
	got := jsonKind(m.Got)
	want := map[ecsschema.Kind]string{
		ecsschema.Structure: "an object", ecsschema.Map: "an object", ecsschema.List: "a list",
		ecsschema.String: "a string", ecsschema.Boolean: "true or false",
		ecsschema.Integer: "a whole number", ecsschema.Number: "a number",
	}[m.Want]
	if n, ok := m.Got.(json.Number); ok && (m.Want == ecsschema.Integer || m.Want == ecsschema.Number) {
		got = n.String() // a number out of range, or not whole
	}
	return fmt.Sprintf("%s: want %s, got %s", ghaction.Line(path), want, got)
}

// memberPaths lists the paths of a file's members on one line: a path holds
// the file's own keys, which may hold any character.
func memberPaths(paths []string) string {
	return ghaction.Line(strings.Join(paths, ", "))
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// fromDescribed turns a described task definition into the input that
// registers it again: every member RegisterTaskDefinition accepts, tags
// included; the read-only members are left behind.
func fromDescribed(td *types.TaskDefinition, tags []types.Tag) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		ContainerDefinitions: td.ContainerDefinitions,
		Family:               td.Family,
		Cpu:                  td.Cpu,
		EnableFaultInjection: td.EnableFaultInjection,
		EphemeralStorage:     td.EphemeralStorage,
		ExecutionRoleArn:     td.ExecutionRoleArn,
		// Copied as described: ECS, not this tool, judges a revision
		// that still has them.
		InferenceAccelerators:         td.InferenceAccelerators, //nolint:staticcheck // SA1019: deprecated by ECS, still part of what was described
		IpcMode:                       td.IpcMode,
		Memory:                        td.Memory,
		NetworkMode:                   td.NetworkMode,
		PidMode:                       td.PidMode,
		PlacementConstraints:          td.PlacementConstraints,
		ProxyConfiguration:            td.ProxyConfiguration,
		RequiresCompatibilities:       td.RequiresCompatibilities,
		RuntimePlatform:               td.RuntimePlatform,
		Tags:                          tags,
		TaskRoleArn:                   td.TaskRoleArn,
		TrustedExecutionConfiguration: td.TrustedExecutionConfiguration,
		Volumes:                       td.Volumes,
	}
}

// render returns the input registering base with image in the named
// containers or, when names is empty, in every container whose image is in
// the repository. The base is not changed. It also returns the names of the
// containers it changed.
func render(base *ecs.RegisterTaskDefinitionInput, image Image, names []string) (*ecs.RegisterTaskDefinitionInput, []string, error) {
	out := *base
	out.ContainerDefinitions = slices.Clone(base.ContainerDefinitions)
	var changed []string
	if len(names) > 0 {
		// Several services may share one container-name input: a name that
		// a task definition lacks is fine as long as another one matches.
		for i, c := range out.ContainerDefinitions {
			if slices.Contains(names, aws.ToString(c.Name)) {
				out.ContainerDefinitions[i].Image = aws.String(image.Reference())
				changed = append(changed, aws.ToString(c.Name))
			}
		}
		if len(changed) == 0 {
			return nil, nil, fmt.Errorf("task definition %s has no container named %s; its containers: %s",
				ghaction.Line(aws.ToString(base.Family)), ghaction.Line(strings.Join(names, " or ")), describeContainers(base.ContainerDefinitions))
		}
		return &out, changed, nil
	}
	for i, c := range out.ContainerDefinitions {
		if repositoryOf(aws.ToString(c.Image)) == image.RepositoryURI {
			out.ContainerDefinitions[i].Image = aws.String(image.Reference())
			changed = append(changed, aws.ToString(c.Name))
		}
	}
	if len(changed) == 0 {
		return nil, nil, fmt.Errorf("task definition %s has no container whose image is in %s (name the containers with container-name); its containers: %s",
			ghaction.Line(aws.ToString(base.Family)), ghaction.Line(image.RepositoryURI), describeContainers(base.ContainerDefinitions))
	}
	return &out, changed, nil
}

// describeContainers lists containers as name (image), for error messages,
// on one line whatever the task definition holds.
func describeContainers(cs []types.ContainerDefinition) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s (%s)", ghaction.Line(aws.ToString(c.Name)), ghaction.Line(aws.ToString(c.Image))))
	}
	return strings.Join(parts, ", ")
}

// splitImage splits an image reference into repository, tag and digest:
// host/path:tag@sha256:... gives host/path, tag, sha256:....
func splitImage(ref string) (repo, tag, digest string) {
	repo, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	return repo, tag, digest
}

func repositoryOf(ref string) string {
	repo, _, _ := splitImage(ref)
	return repo
}
