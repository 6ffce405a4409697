package deploy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ignoreSDKInternals ignores the SDK structures' unexported markers.
var ignoreSDKInternals = cmpopts.IgnoreUnexported(
	ecs.RegisterTaskDefinitionInput{}, types.ContainerDefinition{}, types.PortMapping{},
	types.Tag{}, types.KeyValuePair{}, types.EphemeralStorage{}, types.RuntimePlatform{},
)

func TestParseTaskDefinitionShapes(t *testing.T) {
	t.Parallel()
	want := &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String("web-api"),
		NetworkMode:             types.NetworkModeAwsvpc,
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		Cpu:                     aws.String("256"),
		Memory:                  aws.String("512"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name:         aws.String("web"),
			Image:        aws.String("111122223333.dkr.ecr.us-east-1.amazonaws.com/web-api:v1"),
			Essential:    aws.Bool(true),
			Cpu:          128,
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080), Protocol: types.TransportProtocolTcp}},
			Environment:  []types.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String("prod")}},
			DockerLabels: map[string]string{"team": "payments"},
		}},
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("payments")}},
	}
	const body = `"family": "web-api",
		"networkMode": "awsvpc",
		"requiresCompatibilities": ["FARGATE"],
		"cpu": "256",
		"memory": "512",
		"containerDefinitions": [{
			"name": "web",
			"image": "111122223333.dkr.ecr.us-east-1.amazonaws.com/web-api:v1",
			"essential": true,
			"cpu": 128,
			"portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
			"environment": [{"name": "MODE", "value": "prod"}],
			"dockerLabels": {"team": "payments"}
		}]`
	const readOnly = `"taskDefinitionArn": "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:7",
		"revision": 7,
		"status": "ACTIVE",
		"requiresAttributes": [{"name": "com.amazonaws.ecs.capability.ecr-auth"}],
		"compatibilities": ["EC2", "FARGATE"],
		"registeredAt": 1767225600.123,
		"registeredBy": "arn:aws:sts::111122223333:assumed-role/gha-deploy/x",
		"deregisteredAt": 1767225700.5,
		"deleteRequestedAt": 1767225800`
	const tags = `"tags": [{"key": "team", "value": "payments"}]`
	tests := []struct {
		name string
		json string
	}{
		{"register_input", `{` + body + `, ` + tags + `}`},
		{"describe_output", `{"taskDefinition": {` + body + `, ` + readOnly + `}, ` + tags + `}`},
		{"described_task_definition_alone", `{` + body + `, ` + readOnly + `, ` + tags + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseTaskDefinition([]byte(tt.json))
			if err != nil {
				t.Fatalf("parseTaskDefinition: %v", err)
			}
			if diff := cmp.Diff(want, got, ignoreSDKInternals); diff != "" {
				t.Errorf("parseTaskDefinition mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseTaskDefinitionNamesUnknownKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		json string
		want []string
	}{
		{
			name: "top_level",
			json: `{"family": "f", "cpuu": "256", "containerDefinitions": [{"name": "a", "image": "b"}]}`,
			want: []string{"cpuu"},
		},
		{
			name: "nested",
			json: `{"family": "f", "containerDefinitions": [{"name": "a", "imagee": "b", "portMappings": [{"containerPortt": 80}]}]}`,
			want: []string{"containerDefinitions[0].imagee", "containerDefinitions[0].portMappings[0].containerPortt"},
		},
		{
			name: "wrong_case",
			json: `{"Family": "f", "family": "f", "containerDefinitions": [{"name": "a", "image": "b"}]}`,
			want: []string{"Family"},
		},
		{
			name: "inside_describe_output",
			json: `{"taskDefinition": {"family": "f", "containerDefinitions": [{"name": "a", "image": "b", "healthcheck": {}}]}}`,
			want: []string{"containerDefinitions[0].healthcheck"},
		},
		{
			name: "beside_describe_output",
			json: `{"taskDefinition": {"family": "f", "containerDefinitions": [{"name": "a", "image": "b"}]}, "ResponseMetadata": {}}`,
			want: []string{`"ResponseMetadata"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseTaskDefinition([]byte(tt.json))
			if err == nil {
				t.Fatalf("parseTaskDefinition(%s) succeeded, want an error naming %v", tt.json, tt.want)
			}
			for _, key := range tt.want {
				if !strings.Contains(err.Error(), key) {
					t.Errorf("error %q does not name %s", err, key)
				}
			}
		})
	}
}

func TestParseTaskDefinitionRejectsBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, json, want string
	}{
		{"string_for_number", `{"family": "f", "containerDefinitions": [{"name": "a", "image": "b", "cpu": "128"}]}`, "containerDefinitions[0].cpu: want a whole number"},
		{"no_family", `{"containerDefinitions": [{"name": "a", "image": "b"}]}`, "no family"},
		{"no_containers", `{"family": "f"}`, "no containerDefinitions"},
		{"not_an_object", `["f"]`, "want a JSON object"},
		{"two_values", `{"family": "f"} {}`, "more than one value"},
		{"null_in_a_list", `{"family": "f", "containerDefinitions": [{"name": "a", "image": "b", "command": ["up", null]}]}`, "null where ECS wants a value (its lists and maps take no null): containerDefinitions[0].command[1];"},
		{"null_map_value", `{"family": "f", "containerDefinitions": [{"name": "a", "image": "b", "dockerLabels": {"team": null}}]}`, "containerDefinitions[0].dockerLabels.team"},
		{"unknown_key_on_one_line", "{\"family\": \"f\", \"a\\nb\": 1, \"containerDefinitions\": [{\"name\": \"a\", \"image\": \"b\"}]}", `unknown keys (not in RegisterTaskDefinition's input): a\nb`},
		{"tags_beside_and_inside", `{"taskDefinition": {"family": "f", "tags": []}, "tags": []}`, "tags are given both beside and inside taskDefinition"},
		{"not_an_object_but_a_string", `"f"`, "want a JSON object, got a string"},
		{"not_an_object_but_true", `true`, "want a JSON object, got a boolean"},
		{"not_an_object_but_null", `null`, "want a JSON object, got null"},
		{"not_an_object_but_a_number", `12`, "want a JSON object, got a number"},
		{"a_list_for_a_string", `{"family": ["f"], "containerDefinitions": [{"name": "a", "image": "b"}]}`, "family: want a string, got a list"},
		{"an_object_for_a_list", `{"family": "f", "containerDefinitions": {"name": "a"}}`, "containerDefinitions: want a list, got an object"},
		{"a_string_for_a_boolean", `{"family": "f", "containerDefinitions": [{"name": "a", "image": "b", "essential": "yes"}]}`, "containerDefinitions[0].essential: want true or false, got a string"},
		{"a_fraction_for_a_whole_number", `{"family": "f", "containerDefinitions": [{"name": "a", "image": "b", "memory": 1.5}]}`, "containerDefinitions[0].memory: want a whole number, got 1.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseTaskDefinition([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseTaskDefinition(%s) = %v, want an error containing %q", tt.json, err, tt.want)
			}
		})
	}
}

// TestParseTaskDefinitionReadsSDKWireForm proves that the file decoder names
// every member as the SDK puts it on the wire: an input with every member
// set is serialised by the SDK itself, and decoding that body gives it back.
func TestParseTaskDefinitionReadsSDKWireForm(t *testing.T) {
	t.Parallel()
	want := &ecs.RegisterTaskDefinitionInput{}
	fill(reflect.ValueOf(want).Elem(), 0)

	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(srv.Close)
	client := ecs.New(ecs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	})
	if _, err := client.RegisterTaskDefinition(context.Background(), want); err != nil {
		t.Fatalf("RegisterTaskDefinition: %v", err)
	}
	got, err := parseTaskDefinition(<-bodies)
	if err != nil {
		t.Fatalf("parseTaskDefinition(SDK's body): %v", err)
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(allStructs(reflect.TypeOf(want))...)); diff != "" {
		t.Errorf("decoded wire form differs (-want +got):\n%s", diff)
	}
}

// TestFromDescribedKeepsEveryMember checks that a described task definition
// is registered again whole: every member RegisterTaskDefinition accepts is
// copied, and every other member is one of the read-only ones.
func TestFromDescribedKeepsEveryMember(t *testing.T) {
	t.Parallel()
	td := &types.TaskDefinition{}
	fill(reflect.ValueOf(td).Elem(), 0)
	tags := []types.Tag{{Key: aws.String("team"), Value: aws.String("payments")}}
	in := fromDescribed(td, tags)

	src := reflect.ValueOf(td).Elem()
	dst := reflect.ValueOf(in).Elem()
	for i := range dst.NumField() {
		f := dst.Type().Field(i)
		if !f.IsExported() || f.Name == "Tags" {
			continue
		}
		sf := src.FieldByName(f.Name)
		if !sf.IsValid() {
			t.Errorf("RegisterTaskDefinitionInput.%s has no counterpart in TaskDefinition", f.Name)
			continue
		}
		if !reflect.DeepEqual(sf.Interface(), dst.Field(i).Interface()) {
			t.Errorf("fromDescribed did not copy %s", f.Name)
		}
	}
	if !reflect.DeepEqual(in.Tags, tags) {
		t.Errorf("fromDescribed tags = %v, want %v", in.Tags, tags)
	}
	for i := range src.NumField() {
		f := src.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		if _, ok := dst.Type().FieldByName(f.Name); ok {
			continue
		}
		if !slices.ContainsFunc(readOnlyFields, func(ro string) bool { return strings.EqualFold(ro, f.Name) }) {
			t.Errorf("TaskDefinition.%s is neither registered again nor a known read-only field", f.Name)
		}
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	const repo = "111122223333.dkr.ecr.us-east-1.amazonaws.com/web-api"
	digest := "sha256:" + strings.Repeat("ab", 32)
	base := &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("web-api"),
		ContainerDefinitions: []types.ContainerDefinition{
			{Name: aws.String("web"), Image: aws.String(repo + ":bootstrap")},
			{Name: aws.String("migrate"), Image: aws.String(repo + "@sha256:" + strings.Repeat("01", 32))},
			{Name: aws.String("log-router"), Image: aws.String("public.ecr.aws/aws-observability/aws-for-fluent-bit:stable")},
			{Name: aws.String("other"), Image: aws.String(repo + "-other:v1")},
		},
	}
	pinned := repo + "@" + digest
	tests := []struct {
		name      string
		names     []string
		wantImage map[string]string
		wantErr   string
	}{
		{
			name:      "by_repository",
			wantImage: map[string]string{"web": pinned, "migrate": pinned},
		},
		{
			name:      "by_name",
			names:     []string{"log-router", "absent-elsewhere"},
			wantImage: map[string]string{"log-router": pinned},
		},
		{
			name:    "no_name_matches",
			names:   []string{"api"},
			wantErr: "has no container named api; its containers: web (" + repo + ":bootstrap), migrate",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, changed, err := render(base, Image{RepositoryURI: repo, Digest: digest}, tt.names)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("render = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			for _, c := range got.ContainerDefinitions {
				want, ok := tt.wantImage[aws.ToString(c.Name)]
				if !ok {
					want = aws.ToString(base.ContainerDefinitions[slices.IndexFunc(base.ContainerDefinitions, func(b types.ContainerDefinition) bool { return aws.ToString(b.Name) == aws.ToString(c.Name) })].Image)
				}
				if got := aws.ToString(c.Image); got != want {
					t.Errorf("container %s image = %s, want %s", aws.ToString(c.Name), got, want)
				}
			}
			if len(changed) != len(tt.wantImage) {
				t.Errorf("changed = %v, want the containers of %v", changed, tt.wantImage)
			}
			if aws.ToString(base.ContainerDefinitions[0].Image) != repo+":bootstrap" {
				t.Errorf("render changed its base")
			}
		})
	}

	_, _, err := render(&ecs.RegisterTaskDefinitionInput{Family: aws.String("web-api"), ContainerDefinitions: base.ContainerDefinitions[2:3]},
		Image{RepositoryURI: repo, Digest: digest}, nil)
	if err == nil || !strings.Contains(err.Error(), "no container whose image is in "+repo) || !strings.Contains(err.Error(), "log-router (public.ecr.aws") {
		t.Errorf("render without a matching container = %v, want an error listing the containers", err)
	}
}

func TestSplitImage(t *testing.T) {
	t.Parallel()
	d := "sha256:" + strings.Repeat("0", 64)
	tests := []struct{ ref, repo, tag, digest string }{
		{"host:5000/a/b:v1", "host:5000/a/b", "v1", ""},
		{"host:5000/a/b", "host:5000/a/b", "", ""},
		{"host/a@" + d, "host/a", "", d},
		{"host:5000/a:v1@" + d, "host:5000/a", "v1", d},
		{"nginx", "nginx", "", ""},
	}
	for _, tt := range tests {
		repo, tag, digest := splitImage(tt.ref)
		if repo != tt.repo || tag != tt.tag || digest != tt.digest {
			t.Errorf("splitImage(%q) = %q, %q, %q; want %q, %q, %q", tt.ref, repo, tag, digest, tt.repo, tt.tag, tt.digest)
		}
	}
}

// fill sets every exported member of v, recursively, to a value that is not
// the zero value: enums to their first value, so the SDK accepts them.
func fill(v reflect.Value, depth int) {
	if depth > 8 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.Type().Elem() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(aws.Time(time.Unix(1767225600, 0).UTC())))
			return
		}
		e := reflect.New(v.Type().Elem())
		fill(e.Elem(), depth+1)
		v.Set(e)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.String:
		if m := v.Addr().MethodByName("Values"); m.IsValid() {
			if vals := m.Call(nil)[0]; vals.Len() > 0 {
				v.Set(vals.Index(0))
				return
			}
		}
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0), depth+1)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e, depth+1)
		m.SetMapIndex(reflect.ValueOf("k").Convert(v.Type().Key()), e)
		v.Set(m)
	}
}

// allStructs lists every struct type reachable from t, for IgnoreUnexported.
func allStructs(t reflect.Type) []any {
	seen := map[reflect.Type]bool{}
	var out []any
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			walk(t.Elem())
		case reflect.Struct:
			if seen[t] {
				return
			}
			seen[t] = true
			out = append(out, reflect.New(t).Elem().Interface())
			for i := range t.NumField() {
				if t.Field(i).IsExported() {
					walk(t.Field(i).Type)
				}
			}
		}
	}
	walk(t)
	return out
}
