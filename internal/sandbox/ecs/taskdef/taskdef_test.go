package taskdef

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseWireShape sends what the SDK cannot: values
// of the wrong type are rejected, members ECS does not know are dropped.
func TestParseWireShape(t *testing.T) {
	t.Parallel()
	_, in, apiErr := Parse([]byte(`{"family":"x","memory":"512","containerDefinitions":[{"name":"a","image":"nginx","memory":"lots"}]}`), Where{Partition: "aws"})
	if apiErr == nil || apiErr.Code != "SerializationException" || !strings.Contains(apiErr.Message, "containerDefinitions[0].memory") {
		t.Errorf("string for an integer: %v, want a SerializationException naming containerDefinitions[0].memory", apiErr)
	}
	_ = in
	body, _, apiErr := Parse([]byte(`{"family":"x","memory":"512","taskDefinitionArn":"arn:x","bogus":1,"containerDefinitions":[{"name":"a","image":"nginx","bogus":true}]}`), Where{Partition: "aws"})
	if apiErr != nil {
		t.Fatalf("unknown members: %v", apiErr)
	}
	want := map[string]any{"family": "x", "memory": "512", "containerDefinitions": []any{map[string]any{"name": "a", "image": "nginx"}}}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("stored body (-want +got):\n%s", diff)
	}
}
