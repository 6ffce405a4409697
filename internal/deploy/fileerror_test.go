package deploy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTaskDefinitionFileErrorsHaveTheirPlace: a problem in a task definition
// file names the line and column it is at, so that the annotation shows it
// there.
func TestTaskDefinitionFileErrorsHaveTheirPlace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		json      string
		line, col int
		want      string
	}{
		{
			name: "unknown_key_in_a_container",
			json: "{\n  \"family\": \"web-api\",\n  \"containerDefinitions\": [\n    {\"name\": \"web\", \"image\": \"x\"},\n    {\n      \"name\": \"log\",\n      \"imagee\": \"y\"\n    }\n  ]\n}\n",
			line: 7, col: 7,
			want: "containerDefinitions[1].imagee",
		},
		{
			name: "unknown_key_inside_described_output",
			json: "{\"taskDefinition\": {\n  \"family\": \"web-api\",\n  \"containerDefinitions\": [{\"name\": \"web\", \"image\": \"x\"}],\n  \"cpuu\": \"256\"\n}}\n",
			line: 4, col: 3,
			want: "cpuu",
		},
		{
			name: "unknown_key_beside_task_definition",
			json: "{\n\"taskDefinition\": {\"family\": \"web-api\"},\n\"extra\": 1}\n",
			line: 3, col: 1,
			want: "beside taskDefinition",
		},
		{
			name: "value_of_the_wrong_kind",
			json: "{\n  \"family\": \"web-api\",\n  \"containerDefinitions\": [{\"name\": \"web\", \"image\": \"x\",\n    \"memory\": \"lots\"}]\n}\n",
			line: 4, col: 5,
			want: "containerDefinitions[0].memory",
		},
		{
			name: "syntax_error",
			json: "{\n  \"family\": \"web-api\",\n  \"containerDefinitions\": [}\n",
			line: 3, col: 28,
			want: "parse JSON",
		},
		{
			name: "two_values",
			json: "{\"family\": \"web-api\", \"containerDefinitions\": [{\"name\": \"web\", \"image\": \"x\"}]}\n\n  {}\n",
			line: 3, col: 3,
			want: "more than one value",
		},
		{
			name: "a byte that cannot be read, first",
			json: "\xe9{}",
			line: 1, col: 1,
			want: "byte 0xE9 cannot be read",
		},
		{
			name: "missing_key_has_no_place",
			json: "{\n  \"containerDefinitions\": [{\"name\": \"web\", \"image\": \"x\"}]\n}\n",
			want: "no family",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "td.json")
			if err := os.WriteFile(path, []byte(tt.json), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := readTaskDefinitionFile(path)
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("readTaskDefinitionFile = %v, want a *FileError", err)
			}
			if fe.File != path || fe.Line != tt.line || fe.Column != tt.col {
				t.Errorf("FileError at %s:%d:%d, want %s:%d:%d (%v)", fe.File, fe.Line, fe.Column, path, tt.line, tt.col, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
			prefix := fmt.Sprintf("task definition file %s, line %d: ", path, tt.line)
			if tt.line == 0 {
				prefix = "task definition file " + path + ": "
			}
			if !strings.HasPrefix(err.Error(), prefix) || !errors.Is(err, fe.Err) {
				t.Errorf("error %q does not start %q, or does not unwrap to its problem", err, prefix)
			}
		})
	}
}

// TestMemberOffsetOfNoMember: a path the file does not hold has no place.
func TestMemberOffsetOfNoMember(t *testing.T) {
	t.Parallel()
	data := []byte(`{"taskDefinition": {"family": "web-api"}}`)
	if got := memberOffset(data, "family"); got != 20 {
		t.Errorf("memberOffset(family) = %d, want 20, inside taskDefinition", got)
	}
	if got := memberOffset(data, "containerDefinitions[0].image"); got != -1 {
		t.Errorf("memberOffset of a member the file lacks = %d, want -1", got)
	}
}
