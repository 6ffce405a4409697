package ghaction

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// FuzzPrinter asserts the printer's promise on any text: printed through
// any printer, in either mode, it yields no line the runner would take for
// a workflow command other than the ones the printer issues itself, and
// what it prints is valid UTF-8 with no CR. The seed corpus is in
// testdata/fuzz/FuzzPrinter.
func FuzzPrinter(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string, inActions bool) {
		r, out := newRunner(t, inActions, nil)
		want := printEverywhere(r, s)
		if !inActions {
			want = nil
		}
		printed := out.String()
		checkCommands(t, printed, want)
		if !utf8.ValidString(printed) {
			t.Errorf("printed invalid UTF-8: %q", printed)
		}
		if strings.Contains(printed, "\r") {
			t.Errorf("printed a CR, which the runner reads as a line break: %q", printed)
		}
		// What was escaped still reads as the text it was.
		if line := Line(s); !strings.Contains(printed, line) && !strings.Contains(s, "\n") {
			t.Errorf("the output does not show %q as %q:\n%q", s, line, printed)
		}
	})
}

// FuzzSummary asserts that untrusted text in a job summary renders as that
// text, in its place: a markdown parser with GitHub's extensions (goldmark,
// GFM) turns the summary into exactly the HTML of a table, a list, a
// paragraph and a code block holding the text, with no link, image, HTML,
// emphasis or extra cell made of it. The seed corpus is in
// testdata/fuzz/FuzzSummary.
func FuzzSummary(f *testing.F) {
	md := goldmark.New(goldmark.WithExtensions(extension.GFM))
	f.Fuzz(func(t *testing.T, s string) {
		r, _ := newRunner(t, false, nil)
		sum := r.NewSummary()
		sum.Heading(3, "%s", s)
		sum.Table([]string{"Service", "Result"}, [][]Cell{{Code(s), Plain(s)}, {Plain("next"), Code("row")}})
		sum.List([]Cell{Plain(s), Code(s)})
		sum.Paragraph("**%s** failed: %s.", s, Code(s))
		sum.CodeBlock(s)
		var got bytes.Buffer
		if err := md.Convert([]byte(sum.String()), &got); err != nil {
			t.Fatal(err)
		}
		text := htmlText(strings.TrimSpace(escapeControls(s, false)))
		code := htmlCode(escapeControls(s, false))
		block := htmlText(strings.TrimSuffix(escapeControls(s, true), "\n")) + "\n"
		heading := "<h3>" + text + "</h3>\n"
		if text == "" {
			heading = "<h3></h3>\n"
		}
		want := heading +
			"<table>\n<thead>\n<tr>\n<th>Service</th>\n<th>Result</th>\n</tr>\n</thead>\n<tbody>\n" +
			"<tr>\n<td>" + code + "</td>\n<td>" + text + "</td>\n</tr>\n" +
			"<tr>\n<td>next</td>\n<td><code>row</code></td>\n</tr>\n</tbody>\n</table>\n" +
			"<ul>\n<li>" + text + "</li>\n<li>" + code + "</li>\n</ul>\n" +
			"<p><strong>" + text + "</strong> failed: " + code + ".</p>\n" +
			"<pre><code>" + block + "</code></pre>\n"
		if text == "" {
			// Empty emphasis is no emphasis: the asterisks stay as text.
			want = strings.Replace(want, "<strong></strong>", "****", 1)
		}
		if diff := cmp.Diff(want, got.String()); diff != "" {
			t.Errorf("summary of %q renders wrong (-want +got):\n%s\nmarkdown:\n%s", s, diff, sum.String())
		}
	})
}

// htmlText is text as goldmark's HTML renderer escapes it.
func htmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// htmlCode is s as a code span renders: nothing for no text.
func htmlCode(s string) string {
	if s == "" {
		return ""
	}
	return "<code>" + htmlText(s) + "</code>"
}

// TestHostileStringsInSummary runs the summary fuzz target's assertions on
// the strings the hardening issue names, so they hold in every test run.
func TestHostileStringsInSummary(t *testing.T) {
	t.Parallel()
	r, _ := newRunner(t, false, nil)
	sum := r.NewSummary()
	texts := slices.Concat(hostile, []string{"a | b", "``` fence", "<img src=x onerror=alert(1)>", "[link](http://x.invalid)", "$x$", "~~gone~~", "# head", "1. item", "@someone :rocket:"})
	for _, s := range texts {
		sum.Table([]string{"v"}, [][]Cell{{Plain(s)}, {Code(s)}})
		sum.CodeBlock(s)
	}
	md := goldmark.New(goldmark.WithExtensions(extension.GFM))
	var got bytes.Buffer
	if err := md.Convert([]byte(sum.String()), &got); err != nil {
		t.Fatal(err)
	}
	for _, banned := range []string{"<img", "<a ", "<del>", "<h1>", "<ol>", "<th>a</th>"} {
		if strings.Contains(got.String(), banned) {
			t.Errorf("the summary renders %s:\n%s", banned, got.String())
		}
	}
	if n, want := strings.Count(got.String(), "<pre><code>"), len(texts); n != want {
		t.Errorf("%d code blocks, want %d: a fence was closed early:\n%s", n, want, got.String())
	}
}

func ExampleRunner_Infof() {
	r := New(stdout{}, func(k string) string { return map[string]string{"GITHUB_ACTIONS": "true"}[k] })
	event := "service web reached a steady state.\n::stop-commands::x"
	r.Infof("12:00:01 %s", event)
	r.Errorf("deploy failed: %v", errors.New("STS answered AccessDenied\n::add-mask::INJECTED"))
	// Output:
	// 12:00:01 service web reached a steady state.\n::stop-commands::x
	// ::error::deploy failed: STS answered AccessDenied%0A::add-mask::INJECTED
}

// stdout prints to the example's output.
type stdout struct{}

func (stdout) Write(p []byte) (int, error) { return fmt.Print(string(p)) }
