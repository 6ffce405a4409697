package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseNotCovered(t *testing.T) {
	t.Parallel()
	report := `Starting...
      KILLED CONDITIONALS_NEGATION at config.go:84:18
 NOT COVERED CONDITIONALS_NEGATION at validate.go:85:22
       LIVED ARITHMETIC_BASE at text.go:75:16
 NOT COVERED ARITHMETIC_BASE at sub/ghaction.go:367:92
Killed: 1, Lived: 1, Not covered: 2
`
	got, err := ParseNotCovered(strings.NewReader(report))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mutant{
		{Kind: "CONDITIONALS_NEGATION", File: "validate.go", Line: 85, Column: 22},
		{Kind: "ARITHMETIC_BASE", File: "sub/ghaction.go", Line: 367, Column: 92},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseNotCovered (-want +got):\n%s", diff)
	}
}

func TestMutate(t *testing.T) {
	t.Parallel()
	src := "package p\n\nfunc f(a, b int) bool {\n\tswitch {\n\tcase a <= b:\n\t\ta--\n\t}\n\treturn a-b != -1\n}\n"
	tests := []struct {
		name, kind   string
		line, column int
		want         string // the changed line; empty when an error is wanted
	}{
		{"boundary", "CONDITIONALS_BOUNDARY", 5, 9, "\tcase a < b:"},
		{"negation", "CONDITIONALS_NEGATION", 5, 9, "\tcase a > b:"},
		{"decrement", "INCREMENT_DECREMENT", 6, 4, "\t\ta++"},
		{"arithmetic", "ARITHMETIC_BASE", 8, 10, "\treturn a+b != -1"},
		{"inequality", "CONDITIONALS_NEGATION", 8, 13, "\treturn a-b == -1"},
		{"negative", "INVERT_NEGATIVES", 8, 16, "\treturn a-b != +1"},
		{"kind that does not apply", "CONDITIONALS_BOUNDARY", 8, 13, ""},
		{"no token starts there", "CONDITIONALS_NEGATION", 5, 10, ""},
		{"unknown kind", "SOMETHING_ELSE", 5, 9, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Mutate([]byte(src), tt.kind, tt.line, tt.column)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Mutate = %q, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(src, "\n")
			lines[tt.line-1] = tt.want
			if diff := cmp.Diff(strings.Join(lines, "\n"), string(got)); diff != "" {
				t.Errorf("Mutate (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRun tests the mutants of testdata/sample that its coverage profile
// does not reach, and gets each of the four verdicts.
func TestRun(t *testing.T) {
	t.Parallel()
	report := ` NOT COVERED CONDITIONALS_NEGATION at sample.go:8:9
 NOT COVERED CONDITIONALS_BOUNDARY at sample.go:8:9
 NOT COVERED CONDITIONALS_NEGATION at sample.go:10:9
 NOT COVERED ARITHMETIC_BASE at sample.go:17:20
 NOT COVERED INCREMENT_DECREMENT at sample.go:23:4
`
	var stdout, stderr bytes.Buffer
	if err := run("testdata/sample", 20, 2, 0, 2*time.Second, strings.NewReader(report), &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	want := `      KILLED CONDITIONALS_NEGATION at sample.go:8:9
       LIVED CONDITIONALS_BOUNDARY at sample.go:8:9
      KILLED CONDITIONALS_NEGATION at sample.go:10:9
  NOT VIABLE ARITHMETIC_BASE at sample.go:17:20
   TIMED OUT INCREMENT_DECREMENT at sample.go:23:4
`
	if diff := cmp.Diff(want, stdout.String()); diff != "" {
		t.Errorf("run's verdicts (-want +got):\n%s", diff)
	}
}

// TestRunStopsAtTheDeadline tests nothing once the deadline has passed.
func TestRunStopsAtTheDeadline(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	report := " NOT COVERED CONDITIONALS_NEGATION at sample.go:8:9\n"
	// Its error, if any, is the baseline's build stopped by the deadline.
	_ = run("testdata/sample", 20, 2, time.Now().Add(-time.Second).Unix(), time.Second, strings.NewReader(report), &stdout, &stderr)
	if stdout.Len() != 0 {
		t.Errorf("run after its deadline printed %q", stdout.String())
	}
}
