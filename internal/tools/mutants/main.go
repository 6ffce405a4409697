// Command mutants tests the mutants that gremlins finds, each against the
// tests that run its line.
//
// gremlins runs a package's whole test suite for every mutant. For a
// package whose tests roll services out in the sandbox or push through a
// Docker engine, that is half a minute a mutant, and hours a package. This
// command reads the report of `gremlins unleash --dry-run` (its mutants and
// its mutators, untested) and first runs each of the package's tests alone
// with a coverage profile. Then, for each mutant, it builds the package's
// test binary with the mutated file put in place by `go test -overlay` (the
// tree is not copied or touched) and runs only the tests whose profile
// reached the mutant's position: a test that never runs a line cannot
// notice it changed. Where the profile has no block at the position (a case
// clause's expression, a package-level variable's initialiser, a constant:
// Go's coverage has none there, and gremlins calls such a mutant NOT
// COVERED however many tests run it), every test runs. Each verdict is
// printed as it is decided, in gremlins' own format:
//
//	KILLED CONDITIONALS_NEGATION at validate.go:85:22
//
// KILLED (the tests failed), LIVED (they passed), TIMED OUT (they ran longer
// than the coefficient times what the same tests took unmutated), NOT
// VIABLE (the mutant does not compile) or NOT COVERED (no test runs its
// code). It stops at the deadline; mutants not tested by then are not
// printed. scripts/mutate.sh runs it.
//
// Usage:
//
//	mutants -dir internal/config [-timeout-coefficient 20] [-parallel 8] [-workers 2] [-deadline UNIX] < report
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// minTimeout is the least time a mutant's tests are given.
const minTimeout = 10 * time.Second

// Verdicts, as gremlins prints them.
const (
	Killed     = "KILLED"
	Lived      = "LIVED"
	TimedOut   = "TIMED OUT"
	NotViable  = "NOT VIABLE"
	NotCovered = "NOT COVERED"
)

// tester builds and runs one package's tests, with or without a mutant.
type tester struct {
	work     string // a directory of its own for overlays and binaries
	parallel int
}

// build compiles the test binary of the package in dir with file replaced
// by mutated.
func (t tester) build(ctx context.Context, dir, file, mutated string) (string, error) {
	bin := filepath.Join(t.work, "pkg.test")
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
	// Vet found nothing in the unmutated package, and a mutant is not a
	// change to review: building without it saves a second a mutant.
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-vet=off", "-o", bin, "-overlay", ov, "./"+filepath.ToSlash(dir)) //nolint:gosec // G204: the developer's own package and work directory
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the tests of %s: %w\n%s", dir, err, out)
	}
	return bin, nil
}

// run runs the named tests of a test binary (every test when tests is nil)
// in its package's directory, as go test does, in a process group of its
// own so that a time-out stops what the tests started. It reports whether
// the tests passed and whether the time ran out.
func (t tester) run(bin, dir string, tests []string, timeout time.Duration) (passed, timedOut bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := []string{"-test.failfast", "-test.parallel", strconv.Itoa(t.parallel), "-test.timeout", (timeout + 5*time.Second).String()}
	if tests != nil {
		args = append(args, "-test.run", "^("+strings.Join(tests, "|")+")$")
	}
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

// judge decides one mutant of the package in dir, whose tests' coverage
// is cov.
func (t tester) judge(ctx context.Context, dir string, cov *coverage, m Mutant, coefficient int, least time.Duration) (string, error) {
	sel := cov.testsFor(m.File, m.Line, m.Column)
	if sel.notCovered {
		return NotCovered, nil
	}
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
	// A run of a few milliseconds times the coefficient would leave no
	// room for the process's start; the least time does.
	timeout := max(time.Duration(coefficient)*cov.expected(sel, t.parallel), least)
	passed, timedOut, err := t.run(bin, filepath.Dir(file), sel.tests, timeout)
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

func main() {
	dir := flag.String("dir", "", "the package directory gremlins ran on, relative to the module's root (the working directory)")
	coefficient := flag.Int("timeout-coefficient", 20, "a mutant's tests time out after this many times what they took unmutated")
	parallel := flag.Int("parallel", 8, "tests run at once within a test run (-test.parallel)")
	workers := flag.Int("workers", 2, "mutants tested at once")
	deadline := flag.Int64("deadline", 0, "stop at this Unix time (0: test every mutant)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "mutants: -dir is required: the package directory gremlins ran on, e.g. internal/config")
		os.Exit(2)
	}
	o := options{coefficient: *coefficient, parallel: *parallel, workers: *workers, least: minTimeout}
	if *deadline > 0 {
		o.deadline = time.Unix(*deadline, 0)
	}
	if err := run(*dir, o, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		os.Exit(1)
	}
}

// options are how run tests the mutants.
type options struct {
	coefficient, parallel, workers int
	deadline                       time.Time // zero: none
	least                          time.Duration
}

func run(dir string, o options, report io.Reader, stdout, stderr io.Writer) error {
	mutants, err := ParseReport(report)
	if err != nil || len(mutants) == 0 {
		return err
	}
	ctx := context.Background()
	if !o.deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, o.deadline)
		defer cancel()
	}
	work, err := os.MkdirTemp("", "mutants")
	if err != nil {
		return fmt.Errorf("making a work directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(work) }()
	workers := max(o.workers, 1)
	// The coverage of each package a mutant is in (a report of a directory
	// can reach into the packages below it), measured when first needed.
	var covMu sync.Mutex
	covs := map[string]*coverage{}
	coverageOf := func(pkg string) (*coverage, error) {
		covMu.Lock()
		defer covMu.Unlock()
		if c, ok := covs[pkg]; ok {
			return c, nil
		}
		cw := filepath.Join(work, "coverage", strconv.Itoa(len(covs)))
		if err := os.MkdirAll(cw, 0o700); err != nil {
			return nil, fmt.Errorf("making a work directory: %w", err)
		}
		c, err := tester{work: cw, parallel: o.parallel}.measureCoverage(ctx, pkg, workers)
		if err != nil {
			return nil, err
		}
		covs[pkg] = c
		return c, nil
	}

	var (
		outMu    sync.Mutex
		firstErr error
		next     = make(chan Mutant)
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		outMu.Lock()
		defer outMu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := tester{work: filepath.Join(work, "worker", strconv.Itoa(w)), parallel: o.parallel}
			if err := os.MkdirAll(t.work, 0o700); err != nil {
				fail(fmt.Errorf("making a work directory: %w", err))
			}
			for m := range next {
				pkg := filepath.Dir(filepath.Join(dir, filepath.FromSlash(m.File)))
				cov, err := coverageOf(pkg)
				if err != nil {
					fail(err)
					continue
				}
				// The package's tests run where it is, so the mutant's file
				// is given relative to its own package.
				rel := m
				rel.File = filepath.Base(m.File)
				v, err := t.judge(ctx, pkg, cov, rel, o.coefficient, o.least)
				if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
					continue // reported where the mutants are handed out
				}
				if err != nil {
					fail(err)
					continue
				}
				outMu.Lock()
				fmt.Fprintf(stdout, "%12s %s\n", v, m)
				outMu.Unlock()
			}
		}()
	}
	for _, m := range mutants {
		outMu.Lock()
		failed := firstErr != nil
		outMu.Unlock()
		if failed {
			break
		}
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "mutants: deadline reached; %s and those after it not tested\n", m)
			break
		}
		next <- m
	}
	close(next)
	wg.Wait()
	return firstErr
}
