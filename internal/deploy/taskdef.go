package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/schemas"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
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
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read task definition file: %w", err)
	}
	in, err := parseTaskDefinition(data)
	if err != nil {
		return nil, fmt.Errorf("task definition file %s: %w", path, err)
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
		return nil, fmt.Errorf("parse JSON: more than one value")
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a JSON object, got %s", jsonKind(raw))
	}
	if inner, ok := obj["taskDefinition"].(map[string]any); ok {
		// DescribeTaskDefinition's output: the definition, and its tags beside it.
		for k := range obj {
			if k != "taskDefinition" && k != "tags" {
				return nil, fmt.Errorf("unknown key %q beside taskDefinition (DescribeTaskDefinition's output has only taskDefinition and tags)", k)
			}
		}
		if tags, ok := obj["tags"]; ok {
			if _, dup := inner["tags"]; dup {
				return nil, fmt.Errorf("tags are given both beside and inside taskDefinition")
			}
			inner["tags"] = tags
		}
		obj = inner
	}
	for _, k := range readOnlyFields {
		delete(obj, k)
	}
	in := &ecs.RegisterTaskDefinitionInput{}
	d := &strictDecoder{}
	d.decode("", obj, reflect.ValueOf(in).Elem(), schemas.RegisterTaskDefinitionRequest)
	if len(d.unknown) > 0 {
		return nil, fmt.Errorf("unknown keys (not in RegisterTaskDefinition's input): %s", strings.Join(d.unknown, ", "))
	}
	if len(d.problems) > 0 {
		return nil, fmt.Errorf("invalid values: %s", strings.Join(d.problems, "; "))
	}
	if aws.ToString(in.Family) == "" {
		return nil, fmt.Errorf("no family")
	}
	if len(in.ContainerDefinitions) == 0 {
		return nil, fmt.Errorf("no containerDefinitions")
	}
	return in, nil
}

// strictDecoder fills an SDK input structure from decoded JSON, walking the
// SDK's own schema of the shape alongside, so that members are named exactly
// as on ECS's wire (and in the AWS CLI's JSON), and collects every key the
// schema does not know.
type strictDecoder struct {
	unknown  []string
	problems []string
}

func (d *strictDecoder) problem(path, format string, args ...any) {
	d.problems = append(d.problems, displayPath(path)+": "+fmt.Sprintf(format, args...))
}

func displayPath(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

func (d *strictDecoder) decode(path string, raw any, v reflect.Value, schema *smithy.Schema) {
	if raw == nil {
		return // JSON null leaves the member unset.
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.decode(path, raw, elem.Elem(), schema)
		v.Set(elem)
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			d.problem(path, "want an object, got %s", jsonKind(raw))
			return
		}
		fields := memberFields(v.Type(), schema)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			i, ok := fields[k]
			sub := joinPath(path, k)
			if !ok {
				d.unknown = append(d.unknown, sub)
				continue
			}
			d.decode(sub, obj[k], v.Field(i), schema.Member(k))
		}
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			d.problem(path, "want a string, got %s", jsonKind(raw))
			return
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			d.problem(path, "want true or false, got %s", jsonKind(raw))
			return
		}
		v.SetBool(b)
	case reflect.Int32, reflect.Int64:
		n, ok := raw.(json.Number)
		if !ok {
			d.problem(path, "want a whole number, got %s", jsonKind(raw))
			return
		}
		i, err := strconv.ParseInt(n.String(), 10, v.Type().Bits())
		if err != nil {
			d.problem(path, "want a whole number, got %s", n)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		n, ok := raw.(json.Number)
		if !ok {
			d.problem(path, "want a number, got %s", jsonKind(raw))
			return
		}
		f, err := n.Float64()
		if err != nil {
			d.problem(path, "want a number, got %s", n)
			return
		}
		v.SetFloat(f)
	case reflect.Slice:
		arr, ok := raw.([]any)
		if !ok {
			d.problem(path, "want a list, got %s", jsonKind(raw))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(arr), len(arr))
		for i, e := range arr {
			d.decode(fmt.Sprintf("%s[%d]", path, i), e, s.Index(i), schema.ListMember())
		}
		v.Set(s)
	case reflect.Map:
		obj, ok := raw.(map[string]any)
		if !ok || v.Type().Key().Kind() != reflect.String {
			d.problem(path, "want an object, got %s", jsonKind(raw))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(obj))
		for k, e := range obj {
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decode(joinPath(path, k), e, ev, schema.MapValue())
			m.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), ev)
		}
		v.Set(m)
	default:
		d.problem(path, "cannot be set from a file (%s)", v.Type())
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// memberFields maps the member names of a structure's schema to the indexes
// of the Go fields that hold them (the SDK names a field after its member,
// capitalised).
func memberFields(t reflect.Type, schema *smithy.Schema) map[string]int {
	out := map[string]int{}
	if schema == nil {
		return out
	}
	for name := range schema.Members() {
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && strings.EqualFold(f.Name, name) {
				out[name] = i
				break
			}
		}
	}
	return out
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
		ContainerDefinitions:          td.ContainerDefinitions,
		Family:                        td.Family,
		Cpu:                           td.Cpu,
		EnableFaultInjection:          td.EnableFaultInjection,
		EphemeralStorage:              td.EphemeralStorage,
		ExecutionRoleArn:              td.ExecutionRoleArn,
		InferenceAccelerators:         td.InferenceAccelerators,
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
				aws.ToString(base.Family), strings.Join(names, " or "), describeContainers(base.ContainerDefinitions))
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
			aws.ToString(base.Family), image.RepositoryURI, describeContainers(base.ContainerDefinitions))
	}
	return &out, changed, nil
}

// describeContainers lists containers as name (image), for error messages.
func describeContainers(cs []types.ContainerDefinition) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s (%s)", aws.ToString(c.Name), aws.ToString(c.Image)))
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
