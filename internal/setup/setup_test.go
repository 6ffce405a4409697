package setup

import "testing"

func TestDiff(t *testing.T) {
	t.Parallel()
	before := "{\n  \"a\": 1,\n  \"b\": 2\n}\n"
	after := "{\n  \"a\": 1,\n  \"c\": 3\n}\n"
	want := "  {\n    \"a\": 1,\n-   \"b\": 2\n+   \"c\": 3\n  }\n"
	if got := Diff(before, after); got != want {
		t.Errorf("Diff:\n%s\nwant:\n%s", got, want)
	}
	if got := Diff(before, before); got != "  {\n    \"a\": 1,\n    \"b\": 2\n  }\n" {
		t.Errorf("Diff of equal texts:\n%s", got)
	}
}
