// Package ghaction is the runner interface, on go-githubactions: inputs, the
// run's GitHub context, log lines, secret masks, groups, annotations, step
// outputs and the job summary. It is the only package that prints workflow
// commands, and the one printer for untrusted text (text.go): every printer
// takes a format string of ours and escapes its arguments, and every line
// it prints, in every mode, has the registered secrets redacted and cannot
// start a workflow command.
package ghaction

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	githubactions "github.com/sethvargo/go-githubactions"
)

// redacted replaces a secret wherever the Runner would print it.
const redacted = "***"

// Runner prints to a job's log. In Actions mode (GITHUB_ACTIONS=true) it
// speaks the runner's workflow commands through go-githubactions; elsewhere
// it prints plain lines a person reads in a terminal. It is safe for
// concurrent use.
//
// go-githubactions panics when it cannot write; the Runner recovers that at
// its edge: methods that return an error return it, the others keep the
// first one for Err.
type Runner struct {
	action    *githubactions.Action
	getenv    func(string) string
	inActions bool

	mu       sync.Mutex
	secrets  []string // longest first, so a secret containing another is redacted whole
	redactor *strings.Replacer
	// identifiers are the masked values that are not credentials (see
	// MaskIdentifier): step outputs may carry them.
	identifiers []string
	err         error // the first write that failed
}

// New returns a Runner that prints to stdout and reads its inputs, the
// run's GITHUB_* variables and the GITHUB_OUTPUT and GITHUB_STEP_SUMMARY
// files' names through getenv.
func New(stdout io.Writer, getenv func(string) string) *Runner {
	return &Runner{
		action:    githubactions.New(githubactions.WithWriter(stdout), githubactions.WithGetenv(githubactions.GetenvFunc(getenv))),
		getenv:    getenv,
		inActions: getenv("GITHUB_ACTIONS") == "true",
		redactor:  strings.NewReplacer(),
	}
}

// InActions reports whether the process runs as a step of a GitHub Actions job.
func (r *Runner) InActions() bool { return r.inActions }

// Input returns the action input name (INPUT_<NAME>, upper case, hyphens
// kept), without surrounding whitespace; empty when it is not set.
func (r *Runner) Input(name string) string { return r.action.GetInput(name) }

// Err returns the first failure to write to the log, the outputs or the
// summary, nil when every write succeeded.
func (r *Runner) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// call runs a go-githubactions call with r.mu held and turns the panic by
// which it reports a failed write into an error, remembered for Err. Any
// other panic is a bug and goes on.
func (r *Runner) call(what string, f func()) (err error) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		perr, ok := p.(error)
		if !ok {
			panic(p)
		}
		err = fmt.Errorf("%s: %w", what, perr)
		if r.err == nil {
			r.err = err
		}
	}()
	f()
	return nil
}

// Mask registers a secret: in Actions mode the runner is told to hide it
// (::add-mask::), and in every mode the Runner redacts it from everything it
// prints from now on. Call it before anything could print the secret.
func (r *Runner) Mask(secret string) {
	// The runner masks line by line, so a multi-line secret is registered
	// one line at a time as well as whole.
	values := []string{secret}
	if strings.ContainsAny(secret, "\r\n") {
		values = append(values, strings.FieldsFunc(secret, func(c rune) bool { return c == '\r' || c == '\n' })...)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	added := false
	for _, v := range values {
		// Very short values would redact ordinary words and numbers; the
		// runner ignores them too.
		if len(strings.TrimSpace(v)) < 4 || slices.Contains(r.secrets, v) {
			continue
		}
		if r.inActions && !strings.ContainsAny(v, "\r\n") {
			// The one place a secret is printed: to the runner, which
			// swallows the command and hides the value from then on.
			_ = r.call("mask a secret", func() { r.action.AddMask(v) })
		}
		r.secrets = append(r.secrets, v)
		added = true
	}
	if !added {
		return
	}
	// Longest first: strings.Replacer tries its pairs in order at each
	// position, and a shorter secret that begins a longer one must not
	// leave the longer one's tail in clear.
	slices.SortStableFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	// The capacity is only a hint: any other gives the same pairs.
	pairs := make([]string, 0, 2*len(r.secrets))
	for _, s := range r.secrets {
		pairs = append(pairs, s, redacted)
	}
	r.redactor = strings.NewReplacer(pairs...)
}

// MaskIdentifier hides a value that is no credential but that the workflow
// treats as sensitive (an AWS account ID under mask-aws-account-id): it is
// masked and redacted like a secret, but step outputs may carry it, since
// later steps need the real value (the runner itself will not pass such an
// output on as a job output).
func (r *Runner) MaskIdentifier(value string) {
	r.Mask(value)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.identifiers, value) {
		r.identifiers = append(r.identifiers, value)
	}
}

// carriesSecretLocked reports whether s contains a registered secret other
// than an identifier.
func (r *Runner) carriesSecretLocked(s string) bool {
	for _, secret := range r.secrets {
		if !slices.Contains(r.identifiers, secret) && strings.Contains(s, secret) {
			return true
		}
	}
	return false
}

// Redact returns s with every registered secret replaced by ***.
func (r *Runner) Redact(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.redactor.Replace(s)
}

// printLocked prints text as log lines, redacted and neutralised (text.go).
func (r *Runner) printLocked(text string) error {
	text = Lines(r.redactor.Replace(text))
	return r.call("print to the log", func() { r.action.Infof("%s", text) })
}

func (r *Runner) print(text string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.printLocked(text)
}

// format renders our format string with its untrusted arguments escaped.
func (r *Runner) format(format string, args []any) string {
	return sprintf(r.Redact, format, args)
}

// Infof prints a log line. format is ours; every argument is untrusted
// text, escaped onto one line (an error argument keeps its line breaks,
// each line neutralised).
func (r *Runner) Infof(format string, args ...any) {
	_ = r.print(r.format(format, args))
}

// Level is an annotation's severity.
type Level string

// The annotation levels, as the runner names their commands.
const (
	LevelNotice  Level = "notice"
	LevelWarning Level = "warning"
	LevelError   Level = "error"
)

// Annotation says where an annotation points; zero fields are left out.
// The runner shows Title as the annotation's heading, and File with Line
// (and Col, EndLine, EndColumn) as the place in the repository to fix.
// All of them may hold untrusted text: they are escaped as the runner
// unescapes command properties.
type Annotation struct {
	Title     string
	File      string
	Line      int
	EndLine   int
	Col       int
	EndColumn int
}

// properties renders the annotation as command properties, redacted and
// on one line each; go-githubactions escapes them for the runner.
func (a Annotation) properties(redact func(string) string) map[string]string {
	props := map[string]string{}
	text := func(name, v string) {
		if v != "" {
			props[name] = escapeControls(redact(v), false)
		}
	}
	number := func(name string, n int) {
		if n > 0 {
			props[name] = strconv.Itoa(n)
		}
	}
	text("title", a.Title)
	text("file", a.File)
	number("line", a.Line)
	number("endLine", a.EndLine)
	number("col", a.Col)
	number("endColumn", a.EndColumn)
	return props
}

// plainPrefix renders the annotation's place for a terminal, compiler
// style: "file:line:col: title: ".
func (a Annotation) plainPrefix() string {
	var b strings.Builder
	if a.File != "" {
		b.WriteString(Line(a.File))
		if a.Line > 0 {
			b.WriteString(":" + strconv.Itoa(a.Line))
			if a.Col > 0 {
				b.WriteString(":" + strconv.Itoa(a.Col))
			}
		}
		b.WriteString(": ")
	}
	if a.Title != "" {
		b.WriteString(Line(a.Title) + ": ")
	}
	return b.String()
}

// Annotate prints an annotation of the given level at the given place. In
// Actions mode it is a workflow command (::error file=...,line=...::message),
// one command however many lines the message has; elsewhere a "level: "
// line. format is ours; every argument is untrusted text (see Infof).
func (r *Runner) Annotate(level Level, at Annotation, format string, args ...any) {
	msg := r.format(format, args)
	at.File = r.repositoryFile(at.File)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.inActions {
		_ = r.printLocked(string(level) + ": " + at.plainPrefix() + msg)
		return
	}
	// Redact before escaping: escaping could split a secret's characters
	// into sequences that no longer match it.
	msg = escapeControls(r.redactor.Replace(msg), true)
	action := r.action.WithFieldsMap(at.properties(r.redactor.Replace))
	_ = r.call("print an annotation", func() {
		switch level {
		case LevelError:
			action.Errorf("%s", msg)
		case LevelWarning:
			action.Warningf("%s", msg)
		default:
			action.Noticef("%s", msg)
		}
	})
}

// repositoryFile is a file as the runner places annotations: relative to
// the workspace, the repository's checkout, where the action runs. An
// absolute path inside GITHUB_WORKSPACE is made relative to it; a relative
// one is cleaned (./deploy/td.json is deploy/td.json).
func (r *Runner) repositoryFile(file string) string {
	if file == "" {
		return ""
	}
	if !filepath.IsAbs(file) {
		return filepath.ToSlash(filepath.Clean(file))
	}
	workspace := r.getenv("GITHUB_WORKSPACE")
	if workspace == "" {
		return file
	}
	rel, err := filepath.Rel(workspace, file)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return file
	}
	return filepath.ToSlash(rel)
}

// Noticef prints a notice annotation in Actions mode, a "notice:" line
// otherwise.
func (r *Runner) Noticef(format string, args ...any) {
	r.Annotate(LevelNotice, Annotation{}, format, args...)
}

// Warningf prints a warning annotation in Actions mode, a "warning:" line
// otherwise.
func (r *Runner) Warningf(format string, args ...any) {
	r.Annotate(LevelWarning, Annotation{}, format, args...)
}

// Errorf prints an error annotation in Actions mode, an "error:" line
// otherwise. A multi-line message stays one annotation.
func (r *Runner) Errorf(format string, args ...any) {
	r.Annotate(LevelError, Annotation{}, format, args...)
}

// Group starts a collapsible group of log lines titled title (untrusted
// text, shown on one line); call the returned func to end it. Outside
// Actions it prints a plain heading. The runner cannot nest groups.
func (r *Runner) Group(title string) (end func()) {
	if !r.inActions {
		_ = r.print("==> " + Line(title))
		return func() {}
	}
	r.mu.Lock()
	title = escapeControls(r.redactor.Replace(title), false)
	_ = r.call("start a log group", func() { r.action.Group(title) })
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			_ = r.call("end a log group", r.action.EndGroup)
		})
	}
}

// outputNamePattern is what the runner accepts as a step output name.
var outputNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// outputDelimiter is the heredoc delimiter go-githubactions writes every
// output with. It is fixed, so a value holding it could end the entry early
// and set other outputs; such a value is refused.
const outputDelimiter = "_GitHubActionsFileCommandDelimeter_"

// ErrSecretInOutput is returned by SetOutput for a value that contains a
// registered secret: the runner would drop it, and it must not reach a file.
var ErrSecretInOutput = errors.New("output value contains a masked secret")

// ErrDelimiterInOutput is returned by SetOutput for a value that contains
// the output file's heredoc delimiter.
var ErrDelimiterInOutput = errors.New("output value contains the output file's delimiter " + outputDelimiter)

// SetOutput sets a step output. When GITHUB_OUTPUT names a file the output
// is appended to it (go-githubactions' heredoc form, as the runner reads
// it); outside Actions it is also printed as name=value, so the CLI can be
// composed with other commands.
func (r *Runner) SetOutput(name, value string) error {
	if !outputNamePattern.MatchString(name) {
		return fmt.Errorf("set output %q: not a valid output name", name)
	}
	if strings.Contains(value, outputDelimiter) {
		return fmt.Errorf("set output %s: %w", name, ErrDelimiterInOutput)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.carriesSecretLocked(value) {
		return fmt.Errorf("set output %s: %w", name, ErrSecretInOutput)
	}
	if r.getenv("GITHUB_OUTPUT") != "" {
		if err := r.call("set output "+name, func() { r.action.SetOutput(name, value) }); err != nil {
			return err
		}
	}
	if !r.inActions {
		return r.printLocked(name + "=" + Line(value))
	}
	return nil
}

// AppendSummary appends a summary built by NewSummary to the job summary
// (GITHUB_STEP_SUMMARY), redacted. Without a summary file it does nothing:
// the log already says it all.
func (r *Runner) AppendSummary(s *Summary) error {
	if s.runner != r {
		return errors.New("append job summary: the summary was not built by this Runner's NewSummary, so it was not redacted")
	}
	if r.getenv("GITHUB_STEP_SUMMARY") == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	markdown := r.redactor.Replace(s.String())
	return r.call("append job summary", func() { r.action.AddStepSummary(markdown) })
}

// Writer returns a writer for other packages' progress lines: each line
// written reaches the log as untrusted text, redacted and neutralised. A
// line is printed when its newline is written; Flush prints what is left.
func (r *Runner) Writer() *LineWriter { return &LineWriter{r: r} }

// LineWriter is the Runner's io.Writer; see Runner.Writer.
type LineWriter struct {
	r       *Runner
	mu      sync.Mutex
	partial []byte
}

// maxPartialLine bounds what a LineWriter holds back waiting for a newline.
const maxPartialLine = 64 << 10

// Write prints every complete line of p, holding back the last one until
// its newline comes.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	end := strings.LastIndexByte(string(w.partial), '\n')
	if end < 0 && len(w.partial) < maxPartialLine {
		return len(p), nil
	}
	var text string
	if end < 0 {
		text, w.partial = string(w.partial), nil
	} else {
		text = string(w.partial[:end])
		w.partial = append([]byte(nil), w.partial[end+1:]...)
	}
	if err := w.r.print(text); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush prints the line held back for want of a newline, if any.
func (w *LineWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) == 0 {
		return nil
	}
	text := string(w.partial)
	w.partial = nil
	return w.r.print(text)
}
