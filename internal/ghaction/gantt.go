package ghaction

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// GanttTask is one bar of a timeline: what ran, in which section, from when
// to when. Section and Name are untrusted text (a service's name, an ECS
// lifecycle stage): Gantt escapes them so that they stay one label.
type GanttTask struct {
	Section string
	Name    string
	Start   time.Time
	End     time.Time
	// Failed marks the bar as critical (red), Running as still going.
	Failed  bool
	Running bool
}

// ganttLabelMax bounds a label, in characters, so that a long name cannot
// push the chart's bars off the page.
const ganttLabelMax = 60

// Gantt writes a Mermaid gantt chart (which GitHub renders in a job
// summary) of tasks, in their order, grouped in sections as they come: a
// section starts wherever a task's Section differs from the one before.
// Times are written as Unix milliseconds, so the chart does not depend on
// any time zone; a task that ends before it starts is drawn as an instant.
//
// Every label is made safe for Mermaid's gantt grammar, which has no
// escapes: characters that end a label or start a comment, a directive, a
// task's data or HTML (: ; # % < > & " ` { } \ and line breaks) become a
// space, control and format characters are dropped, and a label that would
// read as one of the grammar's keywords (section, click, title, ...) gets a
// leading underscore. The title is ours.
func (s *Summary) Gantt(title string, tasks []GanttTask) {
	var b strings.Builder
	b.WriteString("```mermaid\ngantt\n")
	if t := ganttLabel(s.redact(title)); t != "" {
		b.WriteString("    title " + t + "\n")
	}
	b.WriteString("    dateFormat x\n    axisFormat %H:%M:%S\n")
	section := ""
	for i, t := range tasks {
		if sec := ganttLabel(s.redact(t.Section)); i == 0 || sec != section {
			section = sec
			if section == "" {
				section = "_"
			}
			b.WriteString("    section " + section + "\n")
		}
		name := ganttLabel(s.redact(t.Name))
		if name == "" {
			name = "_"
		}
		var tags []string
		switch {
		case t.Failed:
			tags = append(tags, "crit")
		case t.Running:
			tags = append(tags, "active")
		default:
			tags = append(tags, "done")
		}
		start, end := t.Start.UnixMilli(), t.End.UnixMilli()
		end = max(end, start)
		tags = append(tags, "t"+strconv.Itoa(i+1), strconv.FormatInt(start, 10), strconv.FormatInt(end, 10))
		b.WriteString("    " + name + " :" + strings.Join(tags, ", ") + "\n")
	}
	// A fence of three backticks is safe: no label holds a backtick.
	b.WriteString("```\n\n")
	s.b.WriteString(b.String())
}

// ganttKeywords are the words Mermaid's gantt lexer reads as a statement
// when a line starts with them (case-insensitively), whatever follows.
var ganttKeywords = []string{
	"gantt", "dateformat", "inclusiveenddates", "topaxis", "axisformat", "tickinterval",
	"includes", "excludes", "todaymarker", "weekday", "weekend", "title", "acctitle",
	"accdescr", "accdescription", "section", "click", "href", "call",
}

// ganttLabel makes untrusted text one safe label of a gantt chart.
func ganttLabel(text string) string {
	var b strings.Builder
	n := 0
	space := false
	for _, r := range text {
		switch {
		case r == utf8.RuneError:
			continue
		case strings.ContainsRune(":;#%<>&\"`{}\\|", r) || unicode.IsSpace(r):
			space = true
			continue
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || !unicode.IsPrint(r):
			continue
		}
		if n >= ganttLabelMax {
			b.WriteString("…")
			break
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			n++
		}
		space = false
		b.WriteRune(r)
		n++
	}
	label := b.String()
	lower := strings.ToLower(label)
	for _, k := range ganttKeywords {
		if strings.HasPrefix(lower, k) {
			return "_" + label
		}
	}
	// A date at the start is a token of its own in the lexer.
	if len(label) >= 10 && isDigits(label[0:4]) && label[4] == '-' && isDigits(label[5:7]) && label[7] == '-' && isDigits(label[8:10]) {
		return "_" + label
	}
	return label
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
