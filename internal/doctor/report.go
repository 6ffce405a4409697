// Package doctor checks a deploy's setup item by item, each with the exact
// fix when it fails: the workflow file (the deploy job's token permission,
// environment and pinned actions, and the sub its token will carry) and,
// with AWS credentials, the account (the OIDC provider, the role's trust
// policy, permissions and session length).
package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Check is one item of the list: what was checked, what was found and, when
// it failed, exactly what to change.
type Check struct {
	// ID names the item for machines, e.g. workflow.id-token.
	ID string `json:"id"`
	// OK is true when the item holds.
	OK bool `json:"ok"`
	// Title says what should hold, e.g. "the deploy job may request an OIDC token".
	Title string `json:"title"`
	// Detail says what was found.
	Detail string `json:"detail,omitempty"`
	// Fix is what to change, when the item fails.
	Fix string `json:"fix,omitempty"`
}

// Report is every item checked, and what was learnt on the way.
type Report struct {
	// Workflow is the workflow file checked; empty when none was.
	Workflow string `json:"workflow,omitempty"`
	// Job is the deploy job checked.
	Job string `json:"job,omitempty"`
	// Subjects are the sub claims the deploy job's token may carry.
	Subjects []Subject `json:"subjects,omitempty"`
	// Role is the role whose account setup was checked; empty when the
	// account was not.
	Role string `json:"role,omitempty"`
	// Skipped says what was not checked, and why.
	Skipped []string `json:"skipped,omitempty"`
	Checks  []Check  `json:"checks"`
}

// OK reports whether every item holds.
func (r *Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// Failed lists the items that do not hold.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

func (r *Report) add(c Check) { r.Checks = append(r.Checks, c) }

// WriteJSON writes the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	type out struct {
		OK bool `json:"ok"`
		*Report
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out{OK: r.OK(), Report: r})
}

// Lines renders the report for a person: one ✓ or ✗ line per item, what
// was found under it, and the fix under each ✗.
func (r *Report) Lines() []string {
	var lines []string
	if r.Workflow != "" {
		head := "Workflow " + r.Workflow
		if r.Job != "" {
			head += ", job " + r.Job
		}
		lines = append(lines, head)
	}
	for _, s := range r.Subjects {
		lines = append(lines, "  · its token's sub: "+s.Value+" ("+s.Why+")")
	}
	printed := 0
	section := func(prefix string) {
		for _, c := range r.Checks {
			if !strings.HasPrefix(c.ID, prefix) {
				continue
			}
			printed++
			mark := "✓"
			if !c.OK {
				mark = "✗"
			}
			lines = append(lines, "  "+mark+" "+c.Title)
			if c.Detail != "" {
				lines = append(lines, indentLines(c.Detail, "      ")...)
			}
			if !c.OK && c.Fix != "" {
				fix := indentLines(c.Fix, "           ")
				fix[0] = "      fix: " + strings.TrimLeft(fix[0], " ")
				lines = append(lines, fix...)
			}
		}
	}
	section("workflow.")
	if r.Role != "" {
		lines = append(lines, "Account of "+r.Role)
	}
	section("account.")
	for _, s := range r.Skipped {
		lines = append(lines, "  – not checked: "+s)
	}
	failed := len(r.Failed())
	switch {
	case printed == 0:
		lines = append(lines, "Nothing was checked.")
	case failed == 0:
		lines = append(lines, fmt.Sprintf("All %d items hold.", printed))
	default:
		lines = append(lines, fmt.Sprintf("%d of %d items fail: see each fix above.", failed, printed))
	}
	return lines
}

func indentLines(text, prefix string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		out = append(out, prefix+l)
	}
	return out
}
