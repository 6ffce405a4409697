package policy

import (
	"fmt"
	"strings"
)

// Column is one mode of a mode × action table.
type Column struct {
	// Name heads the column, e.g. force-new-deployment.
	Name string
	Plan *Plan
}

// ModeTable is a Markdown table with one row per call and one column per
// mode: whether the mode needs the call (required), can do without it
// (optional), or makes no such call (—). Calls no column makes are left out.
func ModeTable(columns []Column) string {
	var b strings.Builder
	b.WriteString("| action | statement |")
	for _, c := range columns {
		b.WriteString(" " + c.Name + " |")
	}
	b.WriteString("\n|---|---|")
	for range columns {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, call := range Calls() {
		cells := make([]string, len(columns))
		used := false
		for i, c := range columns {
			cells[i] = "—"
			for _, g := range c.Plan.Grants() {
				if g.Call == call {
					cells[i], used = call.Need(), true
				}
			}
		}
		if !used {
			continue
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", call.Action, call.Sid, strings.Join(cells, " | "))
	}
	return b.String()
}

// CallTable is a Markdown table of what each call of the plans is for,
// which resources its grant names, and what a run does without it.
func CallTable(plans ...*Plan) string {
	var b strings.Builder
	b.WriteString("| action | for | resource | without it |\n|---|---|---|---|\n")
	for _, call := range Calls() {
		used := false
		for _, p := range plans {
			for _, g := range p.Grants() {
				used = used || g.Call == call
			}
		}
		if !used {
			continue
		}
		without := "the run fails, naming the permission to add"
		if !call.Required() {
			without = "one notice: " + call.Without
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", call.Action, call.For, call.Resource, without)
	}
	return b.String()
}
