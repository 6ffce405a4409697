package ghactiontest

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"
)

// Markdown parses a job summary as GitHub does (CommonMark with its
// extensions) and returns the document and its source.
func Markdown(summary string) (ast.Node, []byte) {
	src := []byte(summary)
	md := goldmark.New(goldmark.WithExtensions(extension.GFM))
	return md.Parser().Parse(text.NewReader(src)), src
}

// HTML renders a job summary as GitHub's markdown renderer would, before
// its sanitiser.
func HTML(summary string) (string, error) {
	var out bytes.Buffer
	md := goldmark.New(goldmark.WithExtensions(extension.GFM))
	err := md.Convert([]byte(summary), &out)
	return out.String(), err
}

// CodeBlocks returns the contents of the summary's fenced code blocks whose
// info string is lang ("mermaid"), as the markdown parser reads them.
func CodeBlocks(summary, lang string) []string {
	doc, src := Markdown(summary)
	var out []string
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		fb, ok := n.(*ast.FencedCodeBlock)
		if !entering || !ok || string(fb.Language(src)) != lang {
			return ast.WalkContinue, nil
		}
		var b strings.Builder
		lines := fb.Lines()
		for i := 0; i < lines.Len(); i++ {
			seg := lines.At(i)
			b.Write(seg.Value(src))
		}
		out = append(out, b.String())
		return ast.WalkContinue, nil
	})
	return out
}

// Gantt is a Mermaid gantt chart as Mermaid's grammar reads it.
type Gantt struct {
	Title      string
	DateFormat string
	Tasks      []GanttTask
}

// GanttTask is one task line of a gantt chart.
type GanttTask struct {
	Section string
	Name    string
	Tags    []string
	ID      string
	Start   time.Time
	End     time.Time
}

// ganttStatement is what Mermaid's gantt lexer (gantt.jison) reads at the
// start of a line as a statement rather than a task; it matches without
// regard to case.
var ganttStatement = regexp.MustCompile(`(?i)^(gantt\b|dateFormat\s|inclusiveEndDates\b|topAxis\b|axisFormat\s|tickInterval\s|includes\s|excludes\s|todayMarker\s|weekday\s|weekend\s|title\s|accTitle\s*:|accDescr\s*[:{]|accDescription\s|section\s|click\s|\d\d\d\d-\d\d-\d\d\b)`)

// ParseGantt reads a Mermaid gantt chart as Mermaid's grammar does, and
// strictly: a chart written with dateFormat x (Unix milliseconds) whose
// every task has explicit tags, an id, a start and an end. Anything that
// Mermaid would read otherwise than as intended (a comment or directive
// mark, a keyword starting a task's name, a task without data, a label
// running into the data) is an error.
func ParseGantt(chart string) (*Gantt, error) {
	g := &Gantt{}
	section := ""
	started := false
	ids := map[string]bool{}
	for n, line := range strings.Split(strings.TrimRight(chart, "\n"), "\n") {
		where := fmt.Sprintf("line %d %q", n+1, line)
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		if m := ganttStatement.FindString(trimmed); strings.EqualFold(strings.TrimSpace(m), "axisFormat") {
			continue // %H:%M:%S, ours
		}
		if strings.ContainsAny(line, "\r#%;") {
			return nil, fmt.Errorf("%s: a comment, directive, entity or statement mark, which a chart of ours never holds", where)
		}
		if !started {
			if trimmed != "gantt" {
				return nil, fmt.Errorf("%s: the chart does not start with gantt", where)
			}
			started = true
			continue
		}
		if m := ganttStatement.FindString(trimmed); m != "" {
			keyword := strings.ToLower(strings.TrimSpace(m))
			rest := strings.TrimSpace(trimmed[len(m):])
			switch keyword {
			case "title":
				g.Title = rest
			case "dateformat":
				g.DateFormat = rest
			case "axisformat":
			case "section":
				if strings.Contains(rest, ":") {
					return nil, fmt.Errorf("%s: a colon in a section name ends it", where)
				}
				section = rest
			default:
				return nil, fmt.Errorf("%s: the statement %q, which a chart of ours never holds", where, keyword)
			}
			continue
		}
		name, data, ok := strings.Cut(trimmed, ":")
		if !ok {
			return nil, fmt.Errorf("%s: a task without data", where)
		}
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("%s: a task without a name", where)
		}
		if strings.Contains(data, ":") {
			return nil, fmt.Errorf("%s: a second colon: the name ran into the data", where)
		}
		if g.DateFormat != "x" {
			return nil, fmt.Errorf("%s: a task before dateFormat x", where)
		}
		fields := strings.Split(data, ",")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		if len(fields) < 3 {
			return nil, fmt.Errorf("%s: want tags, id, start and end", where)
		}
		t := GanttTask{Section: section, Name: name}
		end, err1 := strconv.ParseInt(fields[len(fields)-1], 10, 64)
		start, err2 := strconv.ParseInt(fields[len(fields)-2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: start and end are not Unix milliseconds", where)
		}
		t.Start, t.End = time.UnixMilli(start), time.UnixMilli(end)
		t.ID = fields[len(fields)-3]
		if !regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`).MatchString(t.ID) || ids[t.ID] {
			return nil, fmt.Errorf("%s: id %q is not a fresh identifier", where, t.ID)
		}
		ids[t.ID] = true
		t.Tags = fields[:len(fields)-3]
		for _, tag := range t.Tags {
			if !slices.Contains([]string{"done", "active", "crit", "milestone"}, tag) {
				return nil, fmt.Errorf("%s: %q is no tag of Mermaid's", where, tag)
			}
		}
		g.Tasks = append(g.Tasks, t)
	}
	if !started {
		return nil, fmt.Errorf("an empty chart")
	}
	return g, nil
}
