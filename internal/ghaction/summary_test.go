package ghaction

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction/ghactiontest"
)

// TestGanttHoldsHostileLabels writes a chart whose sections and names are
// hostile strings and reads it back with Mermaid's grammar: every task is
// there, in its section, with its times, and no label became a statement,
// a comment, a directive or a task's data.
func TestGanttHoldsHostileLabels(t *testing.T) {
	t.Parallel()
	r, _ := newRunner(t, false, nil)
	r.Mask("s3cr3t-value")
	labels := slices.Concat(hostile, []string{
		"section evil", "click t1 call alert()", "Title pwned", "dateFormat YYYY", "2024-01-01 is a date",
		"a: b, c", "x; y", "%%{init: {'theme':'dark'}}%%", "# comment", "<script>alert(1)</script>", "a & b",
		"`code`", "{curly}", "back\\slash", "tab\there", "\u202eevil", "", "   ", "s3cr3t-value in a name",
		strings.Repeat("long ", 40), "accTitle: x", "gantt",
	})
	base := time.UnixMilli(1_700_000_000_000)
	var tasks []GanttTask
	for i, l := range labels {
		tasks = append(tasks, GanttTask{
			Section: l, Name: l,
			Start: base.Add(time.Duration(i) * time.Second), End: base.Add(time.Duration(i)*time.Second + 500*time.Millisecond),
			Failed: i%3 == 0, Running: i%3 == 1,
		})
	}
	sum := r.NewSummary()
	sum.Gantt("run: with a colon", tasks)
	md := sum.String()
	if strings.Contains(md, "s3cr3t-value") {
		t.Errorf("the chart holds a masked secret:\n%s", md)
	}
	charts := ghactiontest.CodeBlocks(md, "mermaid")
	if len(charts) != 1 {
		t.Fatalf("%d mermaid blocks, want 1:\n%s", len(charts), md)
	}
	g, err := ghactiontest.ParseGantt(charts[0])
	if err != nil {
		t.Fatalf("ParseGantt: %v\n%s", err, charts[0])
	}
	if len(g.Tasks) != len(tasks) {
		t.Fatalf("%d tasks, want %d:\n%s", len(g.Tasks), len(tasks), charts[0])
	}
	for i, got := range g.Tasks {
		want := tasks[i]
		if !got.Start.Equal(want.Start) || !got.End.Equal(want.End) {
			t.Errorf("task %d: %s..%s, want %s..%s", i, got.Start, got.End, want.Start, want.End)
		}
		wantTag := map[bool]string{true: "crit"}[want.Failed]
		if wantTag == "" {
			wantTag = map[bool]string{true: "active", false: "done"}[want.Running]
		}
		if diff := cmp.Diff([]string{wantTag}, got.Tags); diff != "" {
			t.Errorf("task %d tags (-want +got):\n%s", i, diff)
		}
		if got.Name != ganttLabel(r.Redact(want.Name)) && got.Name != "_" {
			t.Errorf("task %d: name %q, want %q", i, got.Name, ganttLabel(want.Name))
		}
		if n := len([]rune(got.Name)); n > ganttLabelMax+2 {
			t.Errorf("task %d: name of %d characters", i, n)
		}
	}
	if g.Title != "run  with a colon" && g.Title != "run with a colon" {
		t.Errorf("title %q", g.Title)
	}
	// The chart is a code block of its own: nothing after it is swallowed.
	sum.Paragraph("after")
	html, err := ghactiontest.HTML(sum.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html, "<p>after</p>") {
		t.Errorf("the paragraph after the chart is not one:\n%s", html)
	}
}

func TestGanttLabel(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"api-service", "api-service"},
		{"PRE_SCALE_UP", "PRE_SCALE_UP"},
		{"register web-api:42", "register web-api 42"},
		{"a\nb\r\nc", "a b c"},
		{"section x", "_section x"},
		{"Click here", "_Click here"},
		{"2024-05-01 deploy", "_2024-05-01 deploy"},
		{"  spaced  out  ", "spaced out"},
		{"\u202eevil\u200b", "evil"},
		{strings.Repeat("x", 70), strings.Repeat("x", 60) + "…"},
	}
	for _, tt := range tests {
		if got := ganttLabel(tt.in); got != tt.want {
			t.Errorf("ganttLabel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestLinkCells: a link goes where it says, in a table or a list, whatever
// its text and target hold; a target that is not https is not a link.
func TestLinkCells(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text, target string
		href               string // as rendered; empty: no link
	}{
		{"console", "api-service", "https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/c/services/s/deployments?region=us-east-1",
			"https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/c/services/s/deployments?region=us-east-1"},
		{"fragment_and_query", "trail", "https://cn-north-1.console.amazonaws.cn/cloudtrailv2/home?region=cn-north-1#/events?Username=a%40b",
			"https://cn-north-1.console.amazonaws.cn/cloudtrailv2/home?region=cn-north-1#/events?Username=a%40b"},
		{"hostile_text", "x](https://evil.invalid) | ![i](y) <b>", "https://ok.invalid/p", "https://ok.invalid/p"},
		{"pipe_space_bracket_in_target", "t", "https://ok.invalid/a|b c>d)e", "https://ok.invalid/a%7Cb%20c%3Ed%29e"},
		{"entity_in_target", "t", "https://ok.invalid/?a=1&#64;evil", "https://ok.invalid/?a=1&amp;#64;evil"},
		{"javascript", "t", "javascript:alert(1)", ""},
		{"http", "t", "http://ok.invalid/", ""},
		{"userinfo", "t", "https://user@ok.invalid/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, _ := newRunner(t, false, nil)
			sum := r.NewSummary()
			sum.Table([]string{"k", "v"}, [][]Cell{{Plain("link"), Link(tt.text, tt.target)}})
			sum.List([]Cell{Link(tt.text, tt.target)})
			html, err := ghactiontest.HTML(sum.String())
			if err != nil {
				t.Fatal(err)
			}
			wantLinks := 0
			if tt.href != "" {
				wantLinks = 2
				if n := strings.Count(html, `<a href="`+tt.href+`">`); n != 2 {
					t.Errorf("%d links to %s, want 2:\n%s", n, tt.href, html)
				}
			}
			if n := strings.Count(html, "<a "); n != wantLinks {
				t.Errorf("%d links, want %d:\n%s", n, wantLinks, html)
			}
			if strings.Contains(html, "<img") || strings.Contains(html, "<b>") {
				t.Errorf("the text became markup:\n%s", html)
			}
			if !strings.Contains(html, "<td>link</td>") {
				t.Errorf("the table lost its first cell:\n%s", html)
			}
		})
	}
}
