package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseReport(t *testing.T) {
	t.Parallel()
	report := `Starting...
    RUNNABLE CONDITIONALS_NEGATION at config.go:84:18
 NOT COVERED CONDITIONALS_NEGATION at validate.go:85:22
       LIVED ARITHMETIC_BASE at text.go:75:16
 NOT COVERED ARITHMETIC_BASE at sub/ghaction.go:367:92
Killed: 0, Lived: 1, Not covered: 2
`
	got, err := ParseReport(strings.NewReader(report))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mutant{
		{Kind: "CONDITIONALS_NEGATION", File: "config.go", Line: 84, Column: 18},
		{Kind: "CONDITIONALS_NEGATION", File: "validate.go", Line: 85, Column: 22},
		{Kind: "ARITHMETIC_BASE", File: "sub/ghaction.go", Line: 367, Column: 92},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseReport (-want +got):\n%s", diff)
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

// TestTestsFor measures which tests of testdata/sample, and of another
// package's, run which lines, and selects for each mutant the tests that
// reach it.
func TestTestsFor(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	own, err := tester{work: t.TempDir(), parallel: 2}.measureCoverage(context.Background(), "testdata/sample", "testdata/sample", 2, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	other, err := tester{work: t.TempDir(), parallel: 2}.measureCoverage(context.Background(), "testdata/sampleuser", "testdata/sample", 2, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		line, column int
		own, other   selection
	}{
		{"a case clause's expression has no block: the tests of its function", 8, 9, selection{tests: []string{"TestSign"}}, selection{notCovered: true}},
		{"a package-level initialiser: every test of its package", 17, 20, selection{all: true}, selection{notCovered: true}},
		{"Sign's last return: the test of Sign", 13, 9, selection{tests: []string{"TestSign"}}, selection{notCovered: true}},
		{"Spin's loop: the test of Spin", 23, 4, selection{tests: []string{"TestSpin"}}, selection{notCovered: true}},
		{"Unused: only the other package's test", 30, 11, selection{notCovered: true}, selection{tests: []string{"TestUnused"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			where, err := siteOf("testdata/sample/sample.go", "sample.go", position{tt.line, tt.column})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				cov  *coverage
				want selection
			}{{own, tt.own}, {other, tt.other}} {
				got := c.cov.testsFor(where, c.cov == own)
				if diff := cmp.Diff(c.want, got, cmp.AllowUnexported(selection{})); diff != "" {
					t.Errorf("testsFor(%d:%d) by the tests of %s (-want +got):\n%s", tt.line, tt.column, c.cov.dir, diff)
				}
			}
		})
	}
	for _, r := range append(own.tests, other.tests...) {
		if r.took <= 0 {
			t.Errorf("%s took %v, want the time of its run", r.name, r.took)
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("measuring the coverage warned: %s", stderr.String())
	}
}

// TestRun tests the mutants of testdata/sample, two at once, with the
// tests of testdata/sampleuser too, and gets each of the five verdicts.
func TestRun(t *testing.T) {
	t.Parallel()
	report := `    RUNNABLE CONDITIONALS_NEGATION at sample.go:8:9
    RUNNABLE CONDITIONALS_BOUNDARY at sample.go:8:9
 NOT COVERED CONDITIONALS_NEGATION at sample.go:10:9
 NOT COVERED ARITHMETIC_BASE at sample.go:17:20
    RUNNABLE INCREMENT_DECREMENT at sample.go:23:4
 NOT COVERED CONDITIONALS_BOUNDARY at sample.go:30:11
 NOT COVERED CONDITIONALS_NEGATION at sample.go:30:11
`
	tests := []struct {
		name string
		also []string
		want []string
	}{
		{"own tests", nil, []string{
			"      KILLED CONDITIONALS_NEGATION at sample.go:10:9",
			"      KILLED CONDITIONALS_NEGATION at sample.go:8:9",
			"       LIVED CONDITIONALS_BOUNDARY at sample.go:8:9",
			"  NOT VIABLE ARITHMETIC_BASE at sample.go:17:20",
			" NOT COVERED CONDITIONALS_BOUNDARY at sample.go:30:11",
			" NOT COVERED CONDITIONALS_NEGATION at sample.go:30:11",
			"   TIMED OUT INCREMENT_DECREMENT at sample.go:23:4",
		}},
		{"and another package's", []string{"testdata/sampleuser"}, []string{
			"      KILLED CONDITIONALS_NEGATION at sample.go:10:9",
			"      KILLED CONDITIONALS_NEGATION at sample.go:8:9",
			"       LIVED CONDITIONALS_BOUNDARY at sample.go:8:9",
			"  NOT VIABLE ARITHMETIC_BASE at sample.go:17:20",
			"      KILLED CONDITIONALS_BOUNDARY at sample.go:30:11",
			"      KILLED CONDITIONALS_NEGATION at sample.go:30:11",
			"   TIMED OUT INCREMENT_DECREMENT at sample.go:23:4",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			o := options{coefficient: 20, parallel: 2, workers: 2, least: 2 * time.Second, also: tt.also}
			if err := run("testdata/sample", o, strings.NewReader(report), &stdout, &stderr); err != nil {
				t.Fatalf("run: %v\n%s", err, stderr.String())
			}
			got := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
			// Two workers decide in either order.
			slices.Sort(tt.want)
			slices.Sort(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("run's verdicts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRunStopsAtTheDeadline tests nothing once the deadline has passed.
func TestRunStopsAtTheDeadline(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	report := "    RUNNABLE CONDITIONALS_NEGATION at sample.go:8:9\n"
	o := options{coefficient: 20, parallel: 2, workers: 1, least: time.Second, deadline: time.Now().Add(-time.Second)}
	// Its error, if any, is the coverage's build stopped by the deadline.
	_ = run("testdata/sample", o, strings.NewReader(report), &stdout, &stderr)
	if stdout.Len() != 0 {
		t.Errorf("run after its deadline printed %q", stdout.String())
	}
}

// TestByCost runs the quickest test of a selection alone first, then the
// other quick ones, then the slow ones.
func TestByCost(t *testing.T) {
	t.Parallel()
	c := &coverage{tests: []testRun{{"TestQuick", 2 * time.Second}, {"TestMatrix", time.Minute}, {"TestAlsoQuick", quickTest}, {"TestQuickest", time.Second}}}
	tests := []struct {
		name string
		sel  selection
		want []selection
	}{
		{"every test", selection{all: true}, []selection{{tests: []string{"TestQuickest"}}, {tests: []string{"TestQuick", "TestAlsoQuick"}}, {tests: []string{"TestMatrix"}}}},
		{"quick ones only", selection{tests: []string{"TestQuick", "TestAlsoQuick"}}, []selection{{tests: []string{"TestQuick"}}, {tests: []string{"TestAlsoQuick"}}}},
		{"one quick one", selection{tests: []string{"TestAlsoQuick"}}, []selection{{tests: []string{"TestAlsoQuick"}}}},
		{"the slow one only", selection{tests: []string{"TestMatrix"}}, []selection{{tests: []string{"TestMatrix"}}}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, c.byCost(tt.sel), cmp.AllowUnexported(selection{})); diff != "" {
			t.Errorf("%s: byCost (-want +got):\n%s", tt.name, diff)
		}
	}
	if got := c.expected(selection{all: true}, 2); got != time.Minute {
		t.Errorf("expected(every test, 2 at once) = %v, want the longest, a minute", got)
	}
	if got := c.expected(selection{tests: []string{"TestQuick", "TestAlsoQuick"}}, 1); got != 2*time.Second+quickTest {
		t.Errorf("expected(the quick ones, 1 at once) = %v, want their sum", got)
	}
}

// TestDecidedAreNotTestedAgain: a verdict that holds while the code is
// unchanged is printed as it was reached, and its mutant not tested; a
// LIVED or NOT COVERED one is tested again.
func TestDecidedAreNotTestedAgain(t *testing.T) {
	t.Parallel()
	decided := ParseDecided(`      KILLED CONDITIONALS_BOUNDARY at sample.go:8:9
       LIVED CONDITIONALS_NEGATION at sample.go:8:9
 NOT COVERED CONDITIONALS_NEGATION at sample.go:10:9
  NOT VIABLE ARITHMETIC_BASE at sample.go:17:20
   TIMED OUT INCREMENT_DECREMENT at sample.go:23:4
`)
	want := map[Mutant]string{
		{Kind: "CONDITIONALS_BOUNDARY", File: "sample.go", Line: 8, Column: 9}: "KILLED",
		{Kind: "ARITHMETIC_BASE", File: "sample.go", Line: 17, Column: 20}:     "NOT VIABLE",
		{Kind: "INCREMENT_DECREMENT", File: "sample.go", Line: 23, Column: 4}:  "TIMED OUT",
	}
	if diff := cmp.Diff(want, decided); diff != "" {
		t.Fatalf("ParseDecided (-want +got):\n%s", diff)
	}
	report := `    RUNNABLE CONDITIONALS_NEGATION at sample.go:8:9
    RUNNABLE CONDITIONALS_BOUNDARY at sample.go:8:9
    RUNNABLE INCREMENT_DECREMENT at sample.go:23:4
`
	var stdout, stderr bytes.Buffer
	// The boundary mutant lives, and the loop's hangs: printed as decided,
	// they show that neither was tested again.
	o := options{coefficient: 20, parallel: 2, workers: 1, least: 2 * time.Second, decided: decided}
	if err := run("testdata/sample", o, strings.NewReader(report), &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	got := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	wantLines := []string{
		"      KILLED CONDITIONALS_BOUNDARY at sample.go:8:9",
		"      KILLED CONDITIONALS_NEGATION at sample.go:8:9",
		"   TIMED OUT INCREMENT_DECREMENT at sample.go:23:4",
	}
	slices.Sort(got)
	if diff := cmp.Diff(wantLines, got); diff != "" {
		t.Errorf("run's verdicts (-want +got):\n%s", diff)
	}
}

// TestMovedLine: a line keeps its verdict where the diff moved it, and
// loses it where the diff changed it.
func TestMovedLine(t *testing.T) {
	t.Parallel()
	diff := `diff --git a/x.go b/x.go
@@ -3 +2,0 @@
-removed line 3
@@ -10,2 +9,3 @@
-changed 10
-changed 11
+new 9
+new 10
+new 11
@@ -20,0 +22,2 @@
+added after 20
+added after 20
`
	hs := parseHunks(diff)
	want := []hunk{{3, 1, 0}, {10, 2, 3}, {20, 0, 2}}
	if d := cmp.Diff(want, hs, cmp.AllowUnexported(hunk{})); d != "" {
		t.Fatalf("parseHunks (-want +got):\n%s", d)
	}
	for _, tt := range []struct {
		old, now int
		kept     bool
	}{
		{1, 1, true}, {2, 2, true}, {3, 0, false}, {4, 3, true}, {9, 8, true},
		{10, 0, false}, {11, 0, false}, {12, 12, true}, {20, 20, true}, {21, 23, true},
	} {
		now, kept := movedLine(hs, tt.old)
		if now != tt.now || kept != tt.kept {
			t.Errorf("movedLine(%d) = %d, %v; want %d, %v", tt.old, now, kept, tt.now, tt.kept)
		}
	}
}
