package ghaction

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction/ghactiontest"
)

// env returns a getenv over a fixed map.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// newRunner returns a Runner printing to a buffer, in Actions mode or not,
// with the given extra variables.
func newRunner(tb testing.TB, inActions bool, vars map[string]string) (*Runner, *strings.Builder) {
	tb.Helper()
	all := map[string]string{}
	for k, v := range vars {
		all[k] = v
	}
	if inActions {
		all["GITHUB_ACTIONS"] = "true"
	}
	var out strings.Builder
	r := New(&out, env(all))
	if got := r.InActions(); got != inActions {
		tb.Fatalf("InActions() = %v, want %v", got, inActions)
	}
	return r, &out
}

func TestPrinters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		inActions bool
		print     func(r *Runner)
		want      string
	}{
		{"error_multiline_in_actions", true, func(r *Runner) { r.Errorf("%v", errors.New("assume role failed\r\n100% sure")) }, "::error::assume role failed\\r%0A100%25 sure\n"},
		{"warning_in_actions", true, func(r *Runner) { r.Warningf("tag %s is mutable", "latest") }, "::warning::tag latest is mutable\n"},
		{"notice_in_actions", true, func(r *Runner) { r.Noticef("%d services", 2) }, "::notice::2 services\n"},
		{"error_plain", false, func(r *Runner) { r.Errorf("%v", errors.New("bad\nthing")) }, "error: bad\nthing\n"},
		{"warning_plain", false, func(r *Runner) { r.Warningf("careful") }, "warning: careful\n"},
		{"group_in_actions", true, func(r *Runner) { end := r.Group("Authenticate"); r.Infof("inside"); end(); end() }, "::group::Authenticate\ninside\n::endgroup::\n"},
		{"group_plain", false, func(r *Runner) { end := r.Group("Authenticate"); r.Infof("inside"); end() }, "==> Authenticate\ninside\n"},
		{"input_error_titled_in_actions", true, func(r *Runner) {
			r.Annotate(LevelError, Annotation{Title: "input aws-region"}, "%q is not a region", "us-east-x")
		}, "::error title=input aws-region::\"us-east-x\" is not a region\n"},
		{"file_error_in_actions", true, func(r *Runner) {
			r.Annotate(LevelError, Annotation{Title: "task definition, key", File: "deploy/td.json", Line: 12, Col: 5, EndLine: 12, EndColumn: 9}, "unknown key %q", "imagee")
		}, "::error col=5,endColumn=9,endLine=12,file=deploy/td.json,line=12,title=task definition%2C key::unknown key \"imagee\"\n"},
		{"file_in_the_workspace", true, func(r *Runner) {
			r.Annotate(LevelError, Annotation{File: "/github/workspace/deploy/td.json", Line: 3}, "x")
			r.Annotate(LevelError, Annotation{File: "./deploy/td.json", Line: 3}, "x")
			r.Annotate(LevelError, Annotation{File: "/elsewhere/td.json", Line: 3}, "x")
		}, "::error file=deploy/td.json,line=3::x\n::error file=deploy/td.json,line=3::x\n::error file=/elsewhere/td.json,line=3::x\n"},
		{"file_error_plain", false, func(r *Runner) {
			r.Annotate(LevelError, Annotation{Title: "task definition", File: "deploy/td.json", Line: 12, Col: 5}, "unknown key %q", "imagee")
		}, "error: deploy/td.json:12:5: task definition: unknown key \"imagee\"\n"},
		{"property_escapes", true, func(r *Runner) {
			r.Annotate(LevelWarning, Annotation{Title: "a:b,c%d\ne"}, "m")
		}, "::warning title=a%3Ab%2Cc%25d\\ne::m\n"},
		{"untrusted_argument_one_line", false, func(r *Runner) { r.Infof("event: %s", "ok\n::error::x\rnext") }, "event: ok\\n::error::x\\rnext\n"},
		{"untrusted_argument_at_line_start", false, func(r *Runner) { r.Infof("%s", "  ::add-mask::x") }, "  \\::add-mask::x\n"},
		{"legacy_command_anywhere", true, func(r *Runner) { r.Infof("reason: %s", "a ##[error]b") }, "reason: a ##\\[error]b\n"},
		{"error_argument_lines_neutralised", false, func(r *Runner) {
			r.Infof("failed: %v", fmt.Errorf("STS said: %s", "denied\n::stop-commands::tok"))
		}, "failed: STS said: denied\n\\::stop-commands::tok\n"},
		{"ansi_and_bidi_escaped", false, func(r *Runner) { r.Infof("%s", "\x1b[2Jred\u202egnp.exe") }, "\\x1b[2Jred\\u202egnp.exe\n"},
		{"numbers_keep_their_verbs", false, func(r *Runner) { r.Infof("%*d|%.1f|%v", 4, 7, 2.25, true) }, "   7|2.2|true\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, out := newRunner(t, tt.inActions, map[string]string{"GITHUB_WORKSPACE": "/github/workspace"})
			tt.print(r)
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if err := r.Err(); err != nil {
				t.Errorf("Err() = %v", err)
			}
		})
	}
}

// hostile are strings that would be workflow commands if printed raw.
var hostile = []string{
	"\n::stop-commands::x",
	"\n::error::INJECTED",
	"\n::add-mask::INJECTED",
	"::warning file=a,line=1::INJECTED",
	"\r::error::INJECTED",
	"\r\n  ::error::INJECTED",
	"\u00a0\u2003::error::INJECTED",
	"\u2028::error::INJECTED",
	"\u0085::error::INJECTED",
	"\ufeff::error::INJECTED",
	"\t::group::INJECTED",
	"%0A::error::INJECTED",
	"x ##[error]INJECTED",
	"##[stop-commands]tok",
	"```\n::error::INJECTED\n```",
	"| a | b |\n::endgroup::",
}

// TestUntrustedTextIssuesNoCommand prints every hostile string through every
// printer, in both modes, and reads the output as the runner would: the
// only commands are the ones the printers issue themselves.
func TestUntrustedTextIssuesNoCommand(t *testing.T) {
	t.Parallel()
	for _, inActions := range []bool{false, true} {
		for i, s := range hostile {
			t.Run(fmt.Sprintf("actions_%v/%d", inActions, i), func(t *testing.T) {
				t.Parallel()
				r, out := newRunner(t, inActions, nil)
				want := printEverywhere(r, s)
				if !inActions {
					want = nil
				}
				checkCommands(t, out.String(), want)
			})
		}
	}
}

// printEverywhere prints s through every printer and returns the names of
// the commands that should come out in Actions mode, in order.
func printEverywhere(r *Runner, s string) []string {
	r.Infof("%s", s)
	r.Infof("event %s and %v", s, errors.New(s))
	r.Errorf("%v", errors.New(s))
	r.Warningf("%s", s)
	r.Annotate(LevelNotice, Annotation{Title: s, File: s, Line: 1}, "%s", s)
	end := r.Group(s)
	w := r.Writer()
	fmt.Fprintf(w, "progress %s\n%s", s, s)
	_ = w.Flush()
	end()
	_ = r.SetOutput("out", s)
	return []string{"error", "warning", "notice", "group", "endgroup"}
}

// checkCommands fails unless the commands in stdout are exactly want, by
// name, and none is of the legacy form.
func checkCommands(tb testing.TB, stdout string, want []string) {
	tb.Helper()
	var got []string
	for _, c := range ghactiontest.Commands(stdout) {
		if c.Legacy {
			tb.Errorf("legacy command in %q", c.Line)
		}
		got = append(got, c.Name)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		tb.Errorf("commands (-want +got):\n%s\noutput:\n%q", diff, stdout)
	}
}

func TestMaskRedactsEverywhere(t *testing.T) {
	t.Parallel()
	for _, inActions := range []bool{false, true} {
		t.Run(fmt.Sprintf("in_actions_%v", inActions), func(t *testing.T) {
			t.Parallel()
			summary := filepath.Join(t.TempDir(), "summary.md")
			r, out := newRunner(t, inActions, map[string]string{"GITHUB_STEP_SUMMARY": summary})
			const secret = "s3cr3t_session-token"
			const lines = "first-line-secret\nsecond-line-secret"
			r.Mask(secret)
			r.Mask(lines)
			r.Infof("token=%s", secret)
			r.Warningf("warn %s", secret)
			r.Errorf("err %s", "second-line-secret")
			r.Annotate(LevelError, Annotation{Title: secret, File: secret}, "x")
			fmt.Fprintf(r.Writer(), "progress %s\n", "first-line-secret")
			r.Group("group " + secret)()
			s := r.NewSummary()
			s.Table([]string{"k", "v"}, [][]Cell{{Plain("secret"), Plain(secret)}, {Code(secret), Plain("x")}})
			s.Paragraph("**%s**", secret)
			s.List([]Cell{Plain(secret)})
			s.CodeBlock(lines)
			s.Heading(2, "%s", secret)
			if err := r.AppendSummary(s); err != nil {
				t.Fatal(err)
			}
			if err := r.SetOutput("leak", "x"+secret); !errors.Is(err, ErrSecretInOutput) {
				t.Errorf("SetOutput(secret) = %v, want ErrSecretInOutput", err)
			}
			data, err := os.ReadFile(summary)
			if err != nil {
				t.Fatal(err)
			}
			for _, printed := range []string{withoutAddMask(out.String()), string(data)} {
				for _, s := range []string{secret, "first-line-secret", "second-line-secret", `s3cr3t\_session`} {
					if strings.Contains(printed, s) {
						t.Errorf("printed %q, which contains the secret %q", printed, s)
					}
				}
			}
			if !strings.Contains(out.String(), "token=***") {
				t.Errorf("output %q does not show the redaction", out.String())
			}
			masks := strings.Count(out.String(), "::add-mask::")
			if want := map[bool]int{false: 0, true: 3}[inActions]; masks != want {
				t.Errorf("%d ::add-mask:: commands, want %d; output:\n%s", masks, want, out.String())
			}
		})
	}
}

// TestRedactLongestFirst: a secret that begins another must not leave the
// longer one's tail in clear, whatever order they were registered in.
func TestRedactLongestFirst(t *testing.T) {
	t.Parallel()
	r, out := newRunner(t, false, nil)
	r.Mask("abcd1234")
	r.Mask("abcd1234efgh5678")
	r.Mask("zz-abcd1234efgh5678-zz")
	r.Infof("%s %s %s", "abcd1234efgh5678", "abcd1234", "zz-abcd1234efgh5678-zz")
	if got, want := out.String(), "*** *** ***\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
	if got, want := r.Redact("xabcd1234efgh5678x"), "x***x"; got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
}

// TestMultiLineSecret: the runner masks line by line, so every line of a
// multi-line secret is registered on its own; the whole is never printed.
func TestMultiLineSecret(t *testing.T) {
	t.Parallel()
	r, out := newRunner(t, true, nil)
	r.Mask("-----BEGIN KEY-----\r\nAAAABBBBCCCC\nDDDDEEEE\n-----END KEY-----")
	want := []string{"-----BEGIN KEY-----", "AAAABBBBCCCC", "DDDDEEEE", "-----END KEY-----"}
	var got []string
	for _, c := range ghactiontest.Commands(out.String()) {
		if c.Name != "add-mask" {
			t.Errorf("unexpected command %q", c.Line)
		}
		got = append(got, c.Data)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("masks (-want +got):\n%s", diff)
	}
	r.Infof("%s", "key:\nAAAABBBBCCCC\nDDDDEEEE")
	if strings.Contains(withoutAddMask(out.String()), "AAAABBBBCCCC") || strings.Contains(withoutAddMask(out.String()), "DDDDEEEE") {
		t.Errorf("a line of the secret was printed:\n%s", out.String())
	}
}

// withoutAddMask drops the ::add-mask:: commands, the one place a secret is
// meant to be printed (the runner consumes them).
func withoutAddMask(s string) string {
	var keep []string
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(line, "::add-mask::") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

func TestSetOutputFileFormat(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "output")
	r, out := newRunner(t, true, map[string]string{"GITHUB_OUTPUT": path})
	if err := r.SetOutput("image-digest", "sha256:abc"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetOutput("services", "api-service: ok\nworker-service: failed"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetOutput("bad name", "x"); err == nil {
		t.Error("SetOutput(\"bad name\") succeeded, want an error")
	}
	// A value holding the library's fixed delimiter would end its entry
	// early and set another output.
	forged := "x\n" + outputDelimiter + "\nimage-digest=sha256:forged"
	if err := r.SetOutput("results", forged); !errors.Is(err, ErrDelimiterInOutput) {
		t.Errorf("SetOutput(value with the delimiter) = %v, want ErrDelimiterInOutput", err)
	}
	if out.Len() != 0 {
		t.Errorf("Actions mode printed %q for outputs, want nothing", out.String())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The check above is only worth something while go-githubactions
	// writes with this delimiter.
	if !strings.Contains(string(data), "image-digest<<"+outputDelimiter+"\n") {
		t.Errorf("the output file does not use the delimiter %s:\n%s", outputDelimiter, data)
	}
	got, err := ParseOutputs(data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"image-digest": "sha256:abc",
		"services":     "api-service: ok\nworker-service: failed",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
}

func TestSetOutputPlain(t *testing.T) {
	t.Parallel()
	r, out := newRunner(t, false, nil)
	if err := r.SetOutput("image", "repo@sha256:abc"); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "image=repo@sha256:abc\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
	s := r.NewSummary()
	s.Heading(1, "nothing")
	if err := r.AppendSummary(s); err != nil {
		t.Errorf("AppendSummary without a summary file = %v, want nil", err)
	}
}

// failingWriter fails every write, as a closed stdout does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// TestWriteFailures: go-githubactions panics when it cannot write; the
// Runner turns that into an error instead of crashing the run.
func TestWriteFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := New(failingWriter{}, env(map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_OUTPUT":       dir, // a directory: appending to it fails
		"GITHUB_STEP_SUMMARY": dir,
	}))
	r.Infof("hello")
	r.Errorf("boom")
	r.Mask("some-secret-value")
	r.Group("g")()
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Errorf("Err() = %v, want the broken pipe", err)
	}
	if err := r.SetOutput("x", "y"); err == nil {
		t.Error("SetOutput into a directory succeeded, want an error")
	}
	s := r.NewSummary()
	s.Heading(1, "x")
	if err := r.AppendSummary(s); err == nil {
		t.Error("AppendSummary into a directory succeeded, want an error")
	}
	other := New(failingWriter{}, env(nil)).NewSummary()
	if err := r.AppendSummary(other); err == nil {
		t.Error("AppendSummary of another Runner's summary succeeded, want an error")
	}
}

func TestLineWriter(t *testing.T) {
	t.Parallel()
	r, out := newRunner(t, true, nil)
	w := r.Writer()
	// A command split across writes must not slip through.
	for _, part := range []string{"layer 1 done\n", "  :", ":error::x\nhalf", " line"} {
		if _, err := w.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "layer 1 done\n  \\::error::x\nhalf line\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
}

func TestContextAndInputs(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"GITHUB_REPOSITORY":    "acme/web-api",
		"GITHUB_REF":           "refs/heads/main",
		"GITHUB_SHA":           "0123456789abcdef0123456789abcdef01234567",
		"GITHUB_RUN_ID":        "9876543210",
		"GITHUB_RUN_ATTEMPT":   "2",
		"GITHUB_EVENT_NAME":    "push",
		"INPUT_ROLE-TO-ASSUME": "  arn:aws:iam::111122223333:role/x \n",
	}
	r, _ := newRunner(t, true, vars)
	got, err := r.Context()
	if err != nil {
		t.Fatal(err)
	}
	want := GitHubContext{Repository: "acme/web-api", Ref: "refs/heads/main", SHA: vars["GITHUB_SHA"], RunID: 9876543210, RunAttempt: 2, EventName: "push", ServerURL: "https://github.com"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Context() (-want +got):\n%s", diff)
	}
	if got, want := r.Input("role-to-assume"), "arn:aws:iam::111122223333:role/x"; got != want {
		t.Errorf("Input(role-to-assume) = %q, want %q", got, want)
	}

	bad, _ := newRunner(t, true, map[string]string{"GITHUB_RUN_ID": "latest", "GITHUB_REPOSITORY": "acme/web-api"})
	gc, err := bad.Context()
	if err == nil || !strings.Contains(err.Error(), "GITHUB_RUN_ID") {
		t.Errorf("Context() with a run ID that is not a number = %v, want an error naming GITHUB_RUN_ID", err)
	}
	if gc.Repository != "acme/web-api" {
		t.Errorf("Context() with an error lost the fields it could read: %+v", gc)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	r, out := newRunner(t, true, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			secret := fmt.Sprintf("secret-number-%02d", i)
			r.Mask(secret)
			r.Infof("line %s", secret)
			fmt.Fprintf(r.Writer(), "writer %s\n", secret)
		})
	}
	wg.Wait()
	if got := withoutAddMask(out.String()); strings.Contains(got, "secret-number-") {
		t.Errorf("a secret leaked under concurrent use:\n%s", got)
	}
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if !strings.HasPrefix(line, "::add-mask::") && !strings.HasPrefix(line, "line ***") && !strings.HasPrefix(line, "writer ***") {
			t.Errorf("interleaved line %q", line)
		}
	}
}

// TestMaskIdentifier: an identifier is masked and redacted from the log
// and the summary like a secret, yet an output may carry it.
func TestMaskIdentifier(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary.md"),
	}
	var out strings.Builder
	r := New(&out, env(vars))
	const account, secret = "111122223333", "s3cr3t-session-token"
	r.MaskIdentifier(account)
	r.Mask(secret)
	r.Infof("Account: %s", account)
	sum := r.NewSummary()
	sum.Table([]string{"", ""}, [][]Cell{{Plain("Account"), Code(account)}})
	if err := r.AppendSummary(sum); err != nil {
		t.Fatal(err)
	}
	image := account + ".dkr.ecr.us-east-1.amazonaws.com/web-api@sha256:abc"
	if err := r.SetOutput("image", image); err != nil {
		t.Errorf("SetOutput(an image URI with the masked account) = %v, want it written", err)
	}
	if err := r.SetOutput("leak", account+secret); !errors.Is(err, ErrSecretInOutput) {
		t.Errorf("SetOutput(account and secret) = %v, want ErrSecretInOutput: a secret stays out of outputs", err)
	}
	summary, err := os.ReadFile(vars["GITHUB_STEP_SUMMARY"])
	if err != nil {
		t.Fatal(err)
	}
	if got := withoutAddMask(out.String()) + string(summary); strings.Contains(got, account) {
		t.Errorf("the log or the summary shows the masked account:\n%s", got)
	}
	if !strings.Contains(out.String(), "::add-mask::"+account+"\n") {
		t.Errorf("the account was not masked for the runner:\n%s", out.String())
	}
	data, err := os.ReadFile(vars["GITHUB_OUTPUT"])
	if err != nil {
		t.Fatal(err)
	}
	outputs, err := ParseOutputs(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"image": image}, outputs); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
}
