package ghaction

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestGanttSectionsAndIDs: a section line starts each run of tasks of one
// section, once; every bar has its own id, t1, t2, ...
func TestGanttSectionsAndIDs(t *testing.T) {
	t.Parallel()
	r, _ := newRunner(t, false, nil)
	sum := r.NewSummary()
	at := time.UnixMilli(1_700_000_000_000)
	sum.Gantt("", []GanttTask{
		{Section: "Push", Name: "layer 1", Start: at, End: at.Add(time.Second)},
		{Section: "Push", Name: "layer 2", Start: at, End: at.Add(2 * time.Second)},
		{Section: "Deploy", Name: "api-service", Start: at, End: at.Add(3 * time.Second), Running: true},
	})
	want := "```mermaid\ngantt\n    dateFormat x\n    axisFormat %H:%M:%S\n" +
		"    section Push\n" +
		"    layer 1 :done, t1, 1700000000000, 1700000001000\n" +
		"    layer 2 :done, t2, 1700000000000, 1700000002000\n" +
		"    section Deploy\n" +
		"    api-service :active, t3, 1700000000000, 1700000003000\n" +
		"```\n\n"
	if diff := cmp.Diff(want, sum.String()); diff != "" {
		t.Errorf("Gantt (-want +got):\n%s", diff)
	}
}

// TestGanttLabelDates: a label that starts with a date of ten characters,
// digits where digits go, is kept off the lexer's date token; nothing
// else is.
func TestGanttLabelDates(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"2024-01-15", "_2024-01-15"},
		{"0000-00-00 x", "_0000-00-00 x"},
		{"9999-99-99", "_9999-99-99"},
		{"2024-01-1", "2024-01-1"},
		{"/024-01-15", "/024-01-15"},
		{"abcd-ef-gh", "abcd-ef-gh"},
	} {
		if got := ganttLabel(tt.in); got != tt.want {
			t.Errorf("ganttLabel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestMaskShortValues: a value of four characters is masked; a shorter one,
// which would redact ordinary words, is not.
func TestMaskShortValues(t *testing.T) {
	t.Parallel()
	r, _ := newRunner(t, false, nil)
	r.Mask("wxyz")
	r.Mask("abc")
	if got, want := r.Redact("wxyz abc"), "*** abc"; got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
}

// TestAnnotationPlace: outside Actions an annotation shows its place as a
// compiler does, file:line:col, with only the parts it has.
func TestAnnotationPlace(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		a    Annotation
		want string
	}{
		{Annotation{File: "td.json", Line: 1, Col: 1}, "error: td.json:1:1: x\n"},
		{Annotation{File: "td.json", Line: 1}, "error: td.json:1: x\n"},
		{Annotation{File: "td.json"}, "error: td.json: x\n"},
	} {
		r, out := newRunner(t, false, nil)
		r.Annotate(LevelError, tt.a, "x")
		if got := out.String(); got != tt.want {
			t.Errorf("Annotate(%+v) printed %q, want %q", tt.a, got, tt.want)
		}
	}
}

// TestLineWriterEdges: a newline first prints an empty line at once and
// holds back what follows; a line that never ends is printed once it
// reaches the limit held back; each Write reports all of p written.
func TestLineWriterEdges(t *testing.T) {
	t.Parallel()
	r, out := newRunner(t, false, nil)
	w := r.Writer()
	if n, err := w.Write([]byte("\nheld")); n != 5 || err != nil {
		t.Fatalf("Write = %d, %v; want 5, nil", n, err)
	}
	if got := out.String(); got != "\n" {
		t.Errorf("after \"\\nheld\" the output is %q, want the empty line alone", got)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "\nheld\n" {
		t.Errorf("after Flush the output is %q, want the held line too", got)
	}

	r, out = newRunner(t, false, nil)
	w = r.Writer()
	long := strings.Repeat("x", maxPartialLine-1)
	if _, err := w.Write([]byte(long)); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("a line one byte short of the limit was printed before its end")
	}
	if n, err := w.Write([]byte("y")); n != 1 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if got := out.String(); got != long+"y\n" {
		t.Errorf("a line at the limit was not printed whole (%d bytes out)", out.Len())
	}
}

// TestLineWriterFailure: a Write that cannot print says so.
func TestLineWriterFailure(t *testing.T) {
	t.Parallel()
	w := New(failingWriter{}, env(nil)).Writer()
	if n, err := w.Write([]byte("line\n")); n != 0 || err == nil {
		t.Errorf("Write to a broken pipe = %d, %v; want 0 and the error", n, err)
	}
}

// TestParseOutputsEdges: which of = and << comes first decides the form;
// a line without a name is refused naming its line.
func TestParseOutputsEdges(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want map[string]string
		err  string
	}{
		{in: "a=b<<c\n", want: map[string]string{"a": "b<<c"}},
		{in: "a<<b=c\nv\nb=c\n", want: map[string]string{"a": "v"}},
		{in: "x=1\n<<EOF\nv\nEOF\n", err: `output line 2: "<<EOF" has no name or delimiter`},
		{in: "x=1\n=value\n", err: `output line 2: "=value" is neither name=value nor name<<DELIMITER`},
		{in: "=a<<b\nv\nb\n", err: `output line 1: "=a<<b" is neither name=value nor name<<DELIMITER`},
	} {
		got, err := ParseOutputs([]byte(tt.in))
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseOutputs(%q) = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tt.want) {
			t.Errorf("ParseOutputs(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// TestSummaryCellEdges: a link without text shows its target; a row shorter
// than the header gets empty cells; the first of the escapable characters
// is escaped like the others; a code span's fence outruns the longest run
// of backticks inside.
func TestSummaryCellEdges(t *testing.T) {
	t.Parallel()
	r, _ := newRunner(t, false, nil)
	sum := r.NewSummary()
	sum.Table([]string{"a", "b", "c"}, [][]Cell{{Link("", "https://ok.invalid/x"), Plain("!x")}})
	sum.List([]Cell{Code("a`b``c")})
	want := "| a | b | c |\n|---|---|---|\n| [https\\:\\/\\/ok\\.invalid\\/x](<https://ok.invalid/x>) | \\!x |  |\n\n- ```a`b``c```\n\n"
	if diff := cmp.Diff(want, sum.String()); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}

// TestLineEscapesEachControlExactly: each control character, short input
// included, becomes the one escape that names it; the letters and marks
// around the C1 range stay as they are.
func TestLineEscapesEachControlExactly(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"\x01":          `\x01`,
		"a\xffb":        `a\xffb`,
		"\u0080":        `\u0080`,
		"\u0085 next":   `\u0085 next`,
		"\u009f":        `\u009f`,
		"\u007f\u00a0é": `\x7f` + "\u00a0é",
		"x\u2028y":      `x\u2028y`,
	} {
		if got := Line(in); got != want {
			t.Errorf("Line(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLinkDestinationKeepsURLCharacters: letters at both ends of each
// range, digits and the URL's own punctuation stay; the rest is encoded.
func TestLinkDestinationKeepsURLCharacters(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://x.invalid/AZaz09-._~":  "<https://x.invalid/AZaz09-._~>",
		"https://x.invalid/@`[{ |}>\\^": "<https://x.invalid/@%60[%7B%20%7C%7D%3E%5C%5E>",
	} {
		if got := linkDestination(in); got != want {
			t.Errorf("linkDestination(%q) = %q, want %q", in, got, want)
		}
	}
}
