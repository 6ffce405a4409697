// Command uncovered tests the mutants that gremlins reports as NOT COVERED.
//
// gremlins decides whether a mutant is covered from Go's coverage profile,
// which has no block for a case clause's expression (a clause's block starts
// after its colon) nor for a package-level variable's initialiser: a mutant
// there is "not covered" however many tests run it, and gremlins never tests
// it. This command reads a gremlins report on its standard input and, for
// each NOT COVERED mutant, builds the package's test binary with the mutated
// file put in place by `go test -overlay` (the tree is not copied or
// touched), runs it, and prints the verdict in gremlins' own format:
//
//	KILLED CONDITIONALS_NEGATION at validate.go:85:22
//
// KILLED (the tests failed), LIVED (they passed), TIMED OUT (they ran longer
// than the coefficient times the unmutated run) or NOT VIABLE (the mutant
// does not compile). It stops at the deadline; mutants not tested by then
// are not printed. scripts/mutate.sh runs it after gremlins.
//
// Usage:
//
//	uncovered -dir internal/config [-timeout-coefficient 20] [-parallel 8] [-deadline UNIX] < report
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/scanner"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// Mutant is one mutant of a gremlins report: the mutator's kind and the
// position of the token it changes, relative to the package gremlins ran on.
type Mutant struct {
	Kind   string
	File   string
	Line   int
	Column int
}

func (m Mutant) String() string {
	return fmt.Sprintf("%s at %s:%d:%d", m.Kind, m.File, m.Line, m.Column)
}

var notCoveredLine = regexp.MustCompile(`^\s*NOT COVERED (\S+) at (\S+):(\d+):(\d+)\s*$`)

// ParseNotCovered returns the NOT COVERED mutants of a gremlins report, in
// its order.
func ParseNotCovered(r io.Reader) ([]Mutant, error) {
	var ms []Mutant
	s := bufio.NewScanner(r)
	for s.Scan() {
		m := notCoveredLine.FindStringSubmatch(s.Text())
		if m == nil {
			continue
		}
		line, _ := strconv.Atoi(m[3])
		col, _ := strconv.Atoi(m[4])
		ms = append(ms, Mutant{Kind: m[1], File: m[2], Line: line, Column: col})
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("reading the gremlins report: %w", err)
	}
	return ms, nil
}

// mutations is gremlins' table (internal/engine/mappings.go, v0.6.0) of
// what each mutator turns a token into.
var mutations = map[string]map[token.Token]token.Token{
	"ARITHMETIC_BASE":       {token.ADD: token.SUB, token.MUL: token.QUO, token.QUO: token.MUL, token.REM: token.MUL, token.SUB: token.ADD},
	"CONDITIONALS_BOUNDARY": {token.GEQ: token.GTR, token.GTR: token.GEQ, token.LEQ: token.LSS, token.LSS: token.LEQ},
	"CONDITIONALS_NEGATION": {token.EQL: token.NEQ, token.GEQ: token.LSS, token.GTR: token.LEQ, token.LEQ: token.GTR, token.LSS: token.GEQ, token.NEQ: token.EQL},
	"INCREMENT_DECREMENT":   {token.DEC: token.INC, token.INC: token.DEC},
	"INVERT_ASSIGNMENTS":    {token.ADD_ASSIGN: token.SUB_ASSIGN, token.MUL_ASSIGN: token.QUO_ASSIGN, token.QUO_ASSIGN: token.MUL_ASSIGN, token.REM_ASSIGN: token.REM_ASSIGN, token.SUB_ASSIGN: token.ADD_ASSIGN},
	"INVERT_BITWISE":        {token.AND: token.OR, token.OR: token.AND, token.XOR: token.AND, token.AND_NOT: token.AND, token.SHL: token.SHR, token.SHR: token.SHL},
	"INVERT_LOGICAL":        {token.LAND: token.LOR, token.LOR: token.LAND},
	"INVERT_LOOPCTRL":       {token.BREAK: token.CONTINUE, token.CONTINUE: token.BREAK},
	"INVERT_NEGATIVES":      {token.SUB: token.ADD},
}

// Mutate returns src with the token at line:column changed as the mutator
// kind changes it. It fails if no token starts there or the kind does not
// apply to it, so that a report and a source that disagree are not tested.
func Mutate(src []byte, kind string, line, column int) ([]byte, error) {
	table, ok := mutations[kind]
	if !ok {
		return nil, fmt.Errorf("unknown mutator %s", kind)
	}
	fset := token.NewFileSet()
	file := fset.AddFile("", fset.Base(), len(src))
	var s scanner.Scanner
	s.Init(file, src, nil, 0)
	for {
		pos, tok, _ := s.Scan()
		if tok == token.EOF {
			return nil, fmt.Errorf("no token at %d:%d", line, column)
		}
		p := fset.Position(pos)
		if p.Line != line || p.Column != column {
			continue
		}
		to, ok := table[tok]
		if !ok {
			return nil, fmt.Errorf("%s does not apply to %q at %d:%d", kind, tok, line, column)
		}
		off := p.Offset
		out := make([]byte, 0, len(src)+1)
		out = append(out, src[:off]...)
		out = append(out, to.String()...)
		return append(out, src[off+len(tok.String()):]...), nil
	}
}

// minTimeout is the least time a mutant's tests are given.
const minTimeout = 10 * time.Second

// Verdicts, as gremlins prints them.
const (
	Killed    = "KILLED"
	Lived     = "LIVED"
	TimedOut  = "TIMED OUT"
	NotViable = "NOT VIABLE"
)

// tester builds and runs one package's tests, with or without a mutant.
type tester struct {
	work     string // a temporary directory for overlays and binaries
	parallel int
}

// build compiles the test binary of the package in dir, with file replaced
// by mutated when mutated is not empty.
func (t tester) build(ctx context.Context, dir, file, mutated string) (string, error) {
	bin := filepath.Join(t.work, "pkg.test")
	args := []string{"test", "-c", "-o", bin}
	if mutated != "" {
		abs, err := filepath.Abs(file)
		if err != nil {
			return "", fmt.Errorf("finding %s: %w", file, err)
		}
		overlay, err := json.Marshal(map[string]map[string]string{"Replace": {abs: mutated}})
		if err != nil {
			return "", fmt.Errorf("writing the overlay: %w", err)
		}
		ov := filepath.Join(t.work, "overlay.json")
		if err := os.WriteFile(ov, overlay, 0o600); err != nil {
			return "", fmt.Errorf("writing the overlay: %w", err)
		}
		args = append(args, "-overlay", ov)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./"+filepath.ToSlash(dir))...) //nolint:gosec // G204: the developer's own package and work directory
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the tests of %s: %w\n%s", dir, err, out)
	}
	return bin, nil
}

// run runs a test binary in its package's directory, as go test does, in a
// process group of its own so that a time-out stops what the tests started.
// It reports whether the tests passed and whether the time ran out.
func (t tester) run(bin, dir string, timeout time.Duration) (passed, timedOut bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := []string{"-test.failfast", "-test.parallel", strconv.Itoa(t.parallel), "-test.timeout", (timeout + 5*time.Second).String()}
	cmd := exec.CommandContext(ctx, bin, args...) //nolint:gosec // G204: the test binary just built
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err = cmd.Run()
	if ctx.Err() != nil {
		return false, true, nil
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return false, false, fmt.Errorf("running the tests of %s: %w", dir, err)
	}
	return err == nil, false, nil
}

// verdict tests one mutant of the package in dir.
func (t tester) verdict(ctx context.Context, dir string, m Mutant, timeout time.Duration) (string, error) {
	file := filepath.Join(dir, filepath.FromSlash(m.File))
	src, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", file, err)
	}
	mutated, err := Mutate(src, m.Kind, m.Line, m.Column)
	if err != nil {
		return "", fmt.Errorf("mutating %s: %w", file, err)
	}
	path := filepath.Join(t.work, filepath.Base(file))
	if err := os.WriteFile(path, mutated, 0o600); err != nil { //nolint:gosec // G703: the work directory made by this run
		return "", fmt.Errorf("writing the mutant: %w", err)
	}
	bin, err := t.build(ctx, filepath.Dir(file), file, path)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return NotViable, nil
	}
	passed, timedOut, err := t.run(bin, filepath.Dir(file), timeout)
	switch {
	case err != nil:
		return "", err
	case timedOut:
		return TimedOut, nil
	case passed:
		return Lived, nil
	}
	return Killed, nil
}

// baseline runs the unmutated tests of the package in dir and returns how
// long they took; they must pass, or no verdict would mean anything.
func (t tester) baseline(ctx context.Context, dir string) (time.Duration, error) {
	bin, err := t.build(ctx, dir, "", "")
	if err != nil {
		return 0, err
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, bin, "-test.parallel", strconv.Itoa(t.parallel)) //nolint:gosec // G204: the test binary just built
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("the unmutated tests of %s fail, so no mutant can be judged: %w\n%s", dir, err, out)
	}
	return time.Since(start), nil
}

func main() {
	dir := flag.String("dir", "", "the package directory gremlins ran on, relative to the module's root (the working directory)")
	coefficient := flag.Int("timeout-coefficient", 20, "a mutant's tests time out after this many times the unmutated tests' time")
	parallel := flag.Int("parallel", 8, "tests run at once within a test run (-test.parallel)")
	deadline := flag.Int64("deadline", 0, "stop at this Unix time (0: test every mutant)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "uncovered: -dir is required: the package directory gremlins ran on, e.g. internal/config")
		os.Exit(2)
	}
	if err := run(*dir, *coefficient, *parallel, *deadline, minTimeout, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "uncovered:", err)
		os.Exit(1)
	}
}

func run(dir string, coefficient, parallel int, deadline int64, least time.Duration, report io.Reader, stdout, stderr io.Writer) error {
	mutants, err := ParseNotCovered(report)
	if err != nil || len(mutants) == 0 {
		return err
	}
	ctx := context.Background()
	if deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(deadline, 0))
		defer cancel()
	}
	work, err := os.MkdirTemp("", "uncovered")
	if err != nil {
		return fmt.Errorf("making a work directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(work) }()
	t := tester{work: work, parallel: parallel}
	took, err := t.baseline(ctx, dir)
	if err != nil {
		return err
	}
	// A run of a few milliseconds times the coefficient would leave no
	// room for the process's start; the least time does.
	timeout := max(time.Duration(coefficient)*took, least)
	for _, m := range mutants {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "uncovered: deadline reached; %s and those after it not tested\n", m)
			return nil
		}
		v, err := t.verdict(ctx, dir, m, timeout)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			continue // reported at the top of the loop
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%12s %s\n", v, m)
	}
	return nil
}
