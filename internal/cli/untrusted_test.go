package cli

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction/ghactiontest"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// hostileText is what an ECS event, a stopped task's reason or an AWS or
// registry error could hold: every way a line of it could become a workflow
// command (a new line by LF or CR, leading blanks, the legacy ##[ form, the
// percent escapes the runner decodes) and every way it could break the job
// summary (a fence, a table pipe, HTML). Every injected command is marked
// INJECTED.
const hostileText = "the service said\n::stop-commands::pwnd\n::error::INJECTED\r::add-mask::INJECTED" +
	"\r\n  ::warning::INJECTED %0A::error::INJECTED ##[error]INJECTED\n" +
	"```\n::notice::INJECTED\n```\n| a | b |\n<img src=x onerror=alert(1)>"

// TestUntrustedTextInAWholeRun runs the action against a sandbox whose ECS
// events, stopped tasks' reasons and AWS and registry error messages carry
// hostile text, and reads the whole run's output as the runner would: the
// only workflow commands are the action's own, and the job summary renders
// the text as text.
func TestUntrustedTextInAWholeRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// faults returns the faults to inject; digest is the pushed image's.
		faults func(digest string) []sandbox.Fault
		// codeBlocks is how many code blocks the summary has.
		codeBlocks int
	}{
		{
			name: "rollout_fails_with_hostile_events_and_stopped_reasons",
			faults: func(digest string) []sandbox.Fault {
				return []sandbox.Fault{
					{Service: "ecs", Operation: "task-crash", Image: digest, Message: "CannotStartContainerError: " + hostileText},
					{Service: "ecs", Operation: "service-event", Message: "(service api-service) " + hostileText},
					// Retried, and the retry is logged with ECS's message.
					{Service: "ecs", Operation: "DescribeServices", Code: "ThrottlingException", Message: hostileText, Times: 1},
				}
			},
			codeBlocks: 2, // the last events, and why it failed
		},
		{
			name: "sts_denies_with_a_hostile_message",
			faults: func(string) []sandbox.Fault {
				return []sandbox.Fault{{Service: "sts", Operation: "AssumeRoleWithWebIdentity", Code: "AccessDenied", Status: 403, Message: hostileText}}
			},
			codeBlocks: 1,
		},
		{
			name: "ecr_answers_a_hostile_error",
			faults: func(string) []sandbox.Fault {
				return []sandbox.Fault{{Service: "ecr", Operation: "DescribeRepositories", Code: "RepositoryNotFoundException", Message: hostileText}}
			},
			codeBlocks: 1,
		},
		{
			name: "registry_answers_a_hostile_error",
			faults: func(string) []sandbox.Fault {
				return []sandbox.Fault{{Service: "registry", Operation: "manifest-put", Code: "DENIED", Status: 403, Message: hostileText}}
			},
			codeBlocks: 1,
		},
		{
			name: "ecs_refuses_the_update_with_a_hostile_message",
			faults: func(string) []sandbox.Fault {
				return []sandbox.Fault{{Service: "ecs", Operation: "UpdateService", Code: "InvalidParameterException", Message: hostileText}}
			},
			codeBlocks: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sb := sandboxtest.Start(t, fastWorld)
			for _, f := range tt.faults(demoDigest(t, sb)) {
				sb.InjectFault(f)
			}
			run := runInActions(t, sb, nil)
			if run.err == nil || run.code != ExitFailure {
				t.Fatalf("the run succeeded (exit %d), want a failure:\n%s", run.code, run.log)
			}
			checkOnlyOwnCommands(t, run.log)
			checkSummaryRendersText(t, run.summary, tt.codeBlocks)
		})
	}
}

// ownCommands are the workflow commands the action issues itself.
var ownCommands = []string{"add-mask", "group", "endgroup", "error", "warning", "notice"}

// checkOnlyOwnCommands fails if a line of log is a workflow command the
// action did not issue: one not among its own, one of the legacy form, or
// one that starts with injected text. It also fails if the hostile text
// never reached the log, which would make the check prove nothing.
func checkOnlyOwnCommands(tb testing.TB, log string) {
	tb.Helper()
	if !strings.Contains(log, "stop-commands::pwnd") || !strings.Contains(log, "INJECTED") {
		tb.Fatalf("the hostile text never reached the log:\n%s", log)
	}
	for _, c := range ghactiontest.Commands(log) {
		switch {
		case c.Legacy:
			tb.Errorf("the log holds a legacy workflow command: %q", c.Line)
		case !slices.Contains(ownCommands, c.Name):
			tb.Errorf("the log holds a %q workflow command the action never issues: %q", c.Name, c.Line)
		case strings.HasPrefix(c.Data, "INJECTED") || strings.HasPrefix(strings.TrimSpace(c.Data), "INJECTED"):
			tb.Errorf("injected text became a %s command: %q", c.Name, c.Line)
		}
	}
}

// summaryTags are the HTML elements the job summary's own markdown renders
// to; hostile text rendered as text adds none.
var summaryTags = []string{"h3", "p", "strong", "table", "thead", "tbody", "tr", "th", "td", "code", "ul", "li", "pre"}

var tagPattern = regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9]*)`)

// ownLink is a link of the summary's own: to the console of the sandbox's
// region, whose host no hostile text can change.
var ownLink = regexp.MustCompile(`^<a href="https://us-east-1\.console\.aws\.amazon\.com/[^"<>]*">$`)

// checkSummaryRendersText renders the summary as GitHub's markdown (GFM)
// and fails if the hostile text produced any element of its own (an
// image, a link, emphasis), broke out of a code block, or added a table
// cell; the text must show, escaped, where it was put.
func checkSummaryRendersText(tb testing.TB, summary string, codeBlocks int) {
	tb.Helper()
	var html bytes.Buffer
	if err := goldmark.New(goldmark.WithExtensions(extension.GFM)).Convert([]byte(summary), &html); err != nil {
		tb.Fatal(err)
	}
	rendered := html.String()
	for _, m := range tagPattern.FindAllStringSubmatch(rendered, -1) {
		if m[2] == "a" && m[1] == "" {
			at := strings.Index(rendered, m[0])
			end := strings.IndexByte(rendered[at:], '>')
			if tag := rendered[at : at+end+1]; !ownLink.MatchString(tag) {
				tb.Errorf("the summary renders a link of its own: %s", tag)
			}
			rendered = rendered[:at] + rendered[at+end+1:]
			continue
		}
		if m[2] == "a" {
			continue
		}
		if !slices.Contains(summaryTags, m[2]) {
			tb.Errorf("the summary renders a <%s> element:\n%s\nmarkdown:\n%s", m[2], rendered, summary)
		}
	}
	// The AWS CLI commands that follow the run are a code block of ours.
	codeBlocks++
	if n := strings.Count(rendered, "<pre><code>"); n != codeBlocks {
		tb.Errorf("the summary renders %d code blocks, want %d: a fence was broken:\n%s\nmarkdown:\n%s", n, codeBlocks, rendered, summary)
	}
	// Every row of every table has as many cells as its header.
	for _, table := range strings.Split(rendered, "<table>")[1:] {
		table, _, _ = strings.Cut(table, "</table>")
		rows := strings.Split(table, "<tr>")[1:]
		want := strings.Count(rows[0], "<th>") + strings.Count(rows[0], "<th ")
		for _, row := range rows[1:] {
			if got := strings.Count(row, "<td>") + strings.Count(row, "<td "); got != want {
				tb.Errorf("a table row has %d cells, its header %d: a pipe split it:\n%s", got, want, row)
			}
		}
	}
	if !strings.Contains(rendered, "INJECTED") || !strings.Contains(rendered, "&lt;img src=x") {
		tb.Errorf("the summary does not show the hostile text as text:\n%s", rendered)
	}
}
