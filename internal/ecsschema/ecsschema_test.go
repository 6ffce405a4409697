package ecsschema

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecs/schemas"
	"github.com/google/go-cmp/cmp"
)

func decode(tb testing.TB, s string) any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		tb.Fatal(err)
	}
	return v
}

func TestConform(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		json string
		want Result
	}{
		{
			name: "known_members_typed",
			json: `{"family": "web", "cpu": "256", "containerDefinitions": [{"name": "a", "image": "b", "memory": 512, "essential": true,
				"environment": [{"name": "K", "value": "V"}], "dockerLabels": {"team": "payments"}}],
				"ephemeralStorage": {"sizeInGiB": 21}}`,
			want: Result{Value: map[string]any{
				"family": "web", "cpu": "256",
				"containerDefinitions": []any{map[string]any{
					"name": "a", "image": "b", "memory": int64(512), "essential": true,
					"environment":  []any{map[string]any{"name": "K", "value": "V"}},
					"dockerLabels": map[string]any{"team": "payments"},
				}},
				"ephemeralStorage": map[string]any{"sizeInGiB": int64(21)},
			}},
		},
		{
			name: "unknown_members_dropped_and_named_in_order",
			json: `{"zeta": 1, "family": "web", "Family": "x", "containerDefinitions": [{"name": "a", "imagee": "b"}]}`,
			want: Result{
				Value:   map[string]any{"family": "web", "containerDefinitions": []any{map[string]any{"name": "a"}}},
				Unknown: []string{"Family", "containerDefinitions[0].imagee", "zeta"},
			},
		},
		{
			name: "null_members_dropped",
			json: `{"family": "web", "cpu": null}`,
			want: Result{Value: map[string]any{"family": "web"}},
		},
		{
			name: "nulls_in_lists_and_maps_kept_and_named",
			json: `{"family": "web", "containerDefinitions": [{"name": "a", "command": ["x", null], "dockerLabels": {"k": null, "team": "payments"}}, null]}`,
			want: Result{
				Value: map[string]any{"family": "web", "containerDefinitions": []any{
					map[string]any{"name": "a", "command": []any{"x", nil}, "dockerLabels": map[string]any{"k": nil, "team": "payments"}},
					nil,
				}},
				Nulls: []string{"containerDefinitions[0].command[1]", "containerDefinitions[0].dockerLabels.k", "containerDefinitions[1]"},
			},
		},
		{
			name: "wrong_types",
			json: `{"family": 7, "containerDefinitions": [{"name": "a", "memory": "lots", "essential": "yes", "portMappings": {}}]}`,
			want: Result{
				Value: map[string]any{"containerDefinitions": []any{map[string]any{"name": "a"}}},
				Mismatches: []Mismatch{
					{Path: "containerDefinitions[0].essential", Want: Boolean, Got: "yes"},
					{Path: "containerDefinitions[0].memory", Want: Integer, Got: "lots"},
					{Path: "containerDefinitions[0].portMappings", Want: List, Got: map[string]any{}},
					{Path: "family", Want: String, Got: json.Number("7")},
				},
			},
		},
		{
			name: "integer_out_of_range_or_not_whole",
			json: `{"containerDefinitions": [{"memory": 3000000000, "cpu": 1.5}]}`,
			want: Result{
				Value: map[string]any{"containerDefinitions": []any{map[string]any{}}},
				Mismatches: []Mismatch{
					{Path: "containerDefinitions[0].cpu", Want: Integer, Got: json.Number("1.5")},
					{Path: "containerDefinitions[0].memory", Want: Integer, Got: json.Number("3000000000")},
				},
			},
		},
		{
			name: "top_level",
			json: `["web"]`,
			want: Result{Mismatches: []Mismatch{{Path: "", Want: Structure, Got: []any{"web"}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Conform(schemas.RegisterTaskDefinitionRequest, decode(t, tt.json))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Conform(%s) (-want +got):\n%s", tt.json, diff)
			}
		})
	}
}
