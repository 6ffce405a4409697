// Package ghaction is the runner interface: log lines, secret masks, groups,
// annotations, step outputs and the job summary. It is the only package that
// prints GitHub Actions workflow commands; everything it prints, in every
// mode, has the secrets registered with Mask redacted.
package ghaction

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// redacted replaces a secret wherever the Runner would print it.
const redacted = "***"

// Runner prints to a job's log. In Actions mode (GITHUB_ACTIONS=true) it
// speaks the runner's workflow commands; elsewhere it prints plain lines a
// person reads in a terminal. It is safe for concurrent use.
type Runner struct {
	out       io.Writer
	getenv    func(string) string
	inActions bool

	mu      sync.Mutex
	secrets []string // longest first, so a secret containing another is redacted whole
	// identifiers are the masked values that are not credentials (see
	// MaskIdentifier): step outputs may carry them.
	identifiers []string
}

// New returns a Runner that prints to stdout and reads GITHUB_ACTIONS,
// GITHUB_OUTPUT and GITHUB_STEP_SUMMARY through getenv.
func New(stdout io.Writer, getenv func(string) string) *Runner {
	return &Runner{
		out:       stdout,
		getenv:    getenv,
		inActions: getenv("GITHUB_ACTIONS") == "true",
	}
}

// InActions reports whether the process runs as a step of a GitHub Actions job.
func (r *Runner) InActions() bool { return r.inActions }

// Mask registers a secret: in Actions mode the runner is told to hide it
// (::add-mask::), and in every mode the Runner redacts it from everything it
// prints from now on. Call it before anything could print the secret.
func (r *Runner) Mask(secret string) {
	// The runner masks line by line, so a multi-line secret is registered
	// one line at a time as well as whole.
	values := []string{secret}
	if strings.ContainsAny(secret, "\r\n") {
		for _, line := range strings.FieldsFunc(secret, func(c rune) bool { return c == '\r' || c == '\n' }) {
			values = append(values, line)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range values {
		// Very short values would redact ordinary words and numbers; the
		// runner ignores them too.
		if len(strings.TrimSpace(v)) < 4 || slices.Contains(r.secrets, v) {
			continue
		}
		if r.inActions && !strings.ContainsAny(v, "\r\n") {
			// The one place a secret is printed: to the runner, which
			// swallows the command and hides the value from then on.
			fmt.Fprintf(r.out, "::add-mask::%s\n", escapeData(v))
		}
		r.secrets = append(r.secrets, v)
	}
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
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
	return r.redactLocked(s)
}

func (r *Runner) redactLocked(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, redacted)
	}
	return s
}

// println prints one line (or several, when text has newlines), redacted.
func (r *Runner) println(text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	io.WriteString(r.out, r.redactLocked(text)+"\n")
}

// Infof prints a log line.
func (r *Runner) Infof(format string, args ...any) {
	r.println(fmt.Sprintf(format, args...))
}

// Warningf prints a warning annotation in Actions mode, a "warning:" line
// otherwise.
func (r *Runner) Warningf(format string, args ...any) {
	r.annotate("warning", fmt.Sprintf(format, args...))
}

// Errorf prints an error annotation in Actions mode, an "error:" line
// otherwise. A multi-line message stays one annotation.
func (r *Runner) Errorf(format string, args ...any) {
	r.annotate("error", fmt.Sprintf(format, args...))
}

func (r *Runner) annotate(level, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Redact before escaping: escaping could split a secret's characters
	// into %XX sequences that no longer match it.
	msg = r.redactLocked(msg)
	if r.inActions {
		fmt.Fprintf(r.out, "::%s::%s\n", level, escapeData(msg))
		return
	}
	fmt.Fprintf(r.out, "%s: %s\n", level, msg)
}

// Group starts a collapsible group of log lines titled title; call the
// returned func to end it. Outside Actions it prints a plain heading.
func (r *Runner) Group(title string) (end func()) {
	if !r.inActions {
		r.println("==> " + title)
		return func() {}
	}
	r.mu.Lock()
	fmt.Fprintf(r.out, "::group::%s\n", escapeData(r.redactLocked(title)))
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			io.WriteString(r.out, "::endgroup::\n")
			r.mu.Unlock()
		})
	}
}

// outputNamePattern is what the runner accepts as a step output name.
var outputNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// ErrSecretInOutput is returned by SetOutput for a value that contains a
// registered secret: the runner would drop it, and it must not reach a file.
var ErrSecretInOutput = errors.New("output value contains a masked secret")

// SetOutput sets a step output. When GITHUB_OUTPUT names a file the output
// is appended to it (the heredoc form for multi-line values, as the runner
// reads it); outside Actions it is also printed as name=value, so the CLI
// can be composed with other commands.
func (r *Runner) SetOutput(name, value string) error {
	if !outputNamePattern.MatchString(name) {
		return fmt.Errorf("set output %q: not a valid output name", name)
	}
	r.mu.Lock()
	leaks := r.carriesSecretLocked(value)
	r.mu.Unlock()
	if leaks {
		return fmt.Errorf("set output %s: %w", name, ErrSecretInOutput)
	}
	if path := r.getenv("GITHUB_OUTPUT"); path != "" {
		entry, err := outputEntry(name, value)
		if err != nil {
			return err
		}
		if err := appendFile(path, entry); err != nil {
			return fmt.Errorf("set output %s: %w", name, err)
		}
	}
	if !r.inActions {
		r.println(name + "=" + value)
	}
	return nil
}

// outputEntry renders one entry of a GITHUB_OUTPUT file.
func outputEntry(name, value string) (string, error) {
	if !strings.ContainsAny(value, "\r\n") {
		return name + "=" + value + "\n", nil
	}
	delimiter, err := newDelimiter()
	if err != nil {
		return "", fmt.Errorf("set output %s: %w", name, err)
	}
	// A value that contains the delimiter line would end the entry early
	// and let the rest be read as other outputs.
	if strings.Contains(value, delimiter) {
		return "", fmt.Errorf("set output %s: value contains the delimiter %s", name, delimiter)
	}
	return name + "<<" + delimiter + "\n" + value + "\n" + delimiter + "\n", nil
}

func newDelimiter() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate output delimiter: %w", err)
	}
	return "ghadelimiter_" + hex.EncodeToString(b), nil
}

// AppendSummary appends markdown to the job summary (GITHUB_STEP_SUMMARY),
// redacted. Without a summary file it does nothing: the log already says it all.
func (r *Runner) AppendSummary(markdown string) error {
	path := r.getenv("GITHUB_STEP_SUMMARY")
	if path == "" {
		return nil
	}
	if !strings.HasSuffix(markdown, "\n") {
		markdown += "\n"
	}
	if err := appendFile(path, r.Redact(markdown)); err != nil {
		return fmt.Errorf("append job summary: %w", err)
	}
	return nil
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Writer returns a writer for other packages' progress lines: what is
// written reaches the log with every registered secret redacted. Write
// whole lines: a secret split across two writes could not be recognised.
func (r *Runner) Writer() io.Writer { return redactingWriter{r} }

type redactingWriter struct{ r *Runner }

func (w redactingWriter) Write(p []byte) (int, error) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	if _, err := io.WriteString(w.r.out, w.r.redactLocked(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// escapeData escapes a workflow command's message as the runner unescapes it.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}
