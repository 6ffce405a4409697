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
	// change to review: building without it saves a second a mutant, and
	// linking without the symbol table and DWARF another (stack traces
	// still name their functions).
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-vet=off", "-ldflags=-s -w", "-o", bin, "-overlay", ov, "./"+filepath.ToSlash(dir)) //nolint:gosec // G204: the developer's own package and work directory
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the tests of %s: %w\n%s", dir, err, out)
	}
	return bin, nil
}

// run runs the selected tests of a test binary
// in its package's directory, as go test does, in a process group of its
// own so that a time-out stops what the tests started. It reports whether
// the tests passed and whether the time ran out.
func (t tester) run(bin, dir string, sel selection, timeout time.Duration) (passed, timedOut bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := []string{"-test.failfast", "-test.parallel", strconv.Itoa(t.parallel), "-test.timeout", (timeout + 5*time.Second).String()}
	if !sel.all {
		args = append(args, "-test.run", "^("+strings.Join(sel.tests, "|")+")$")
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

// judge decides one mutant, whose file's path is relative to the module's
// root, against the tests of each package in covs in turn (the mutated
// package's own first), as far as one kills it.
func (t tester) judge(ctx context.Context, m Mutant, covs []*coverage, coefficient int, least time.Duration) (string, error) {
	src, err := os.ReadFile(m.File)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", m.File, err)
	}
	where, err := siteOf(m.File, filepath.Base(m.File), position{m.Line, m.Column})
	if err != nil {
		return "", err
	}
	mutated, err := Mutate(src, m.Kind, m.Line, m.Column)
	if err != nil {
		return "", fmt.Errorf("mutating %s: %w", m.File, err)
	}
	path := filepath.Join(t.work, filepath.Base(m.File))
	if err := os.WriteFile(path, mutated, 0o600); err != nil { //nolint:gosec // G703: the work directory made by this run
		return "", fmt.Errorf("writing the mutant: %w", err)
	}
	covered := false
	for i, cov := range covs {
		sel := cov.testsFor(where, i == 0)
		if sel.notCovered {
			continue
		}
		covered = true
		bin, err := t.build(ctx, cov.dir, m.File, path)
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return NotViable, nil
		}
		for _, part := range cov.byCost(sel) {
			// A run of a few milliseconds times the coefficient would
			// leave no room for the process's start; the least time does.
			timeout := max(time.Duration(coefficient)*cov.expected(part, t.parallel), least)
			passed, timedOut, err := t.run(bin, cov.dir, part, timeout)
			switch {
			case err != nil:
				return "", err
			case timedOut:
				return TimedOut, nil
			case !passed:
				return Killed, nil
			}
		}
	}
	if !covered {
		return NotCovered, nil
	}
	return Lived, nil
}

func main() {
	dir := flag.String("dir", "", "the package directory gremlins ran on, relative to the module's root (the working directory)")
	coefficient := flag.Int("timeout-coefficient", 20, "a mutant's tests time out after this many times what they took unmutated")
	parallel := flag.Int("parallel", 8, "tests run at once within a test run (-test.parallel)")
	workers := flag.Int("workers", 2, "mutants tested at once")
	deadline := flag.Int64("deadline", 0, "stop at this Unix time (0: test every mutant)")
	decided := flag.String("decided", "", "a file of verdicts already reached (KILLED, TIMED OUT or NOT VIABLE lines of an earlier run): those mutants are printed as they are, not tested again")
	decidedFrom := flag.String("decided-from", "", "the commit the -decided verdicts were reached on: each is moved to the line its code is on now, and dropped when that line changed since (default: the code is the same)")
	also := flag.String("also", "", "comma-separated package directories whose tests also try the mutants, after the mutated package's own (e.g. internal/cli)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "mutants: -dir is required: the package directory gremlins ran on, e.g. internal/config")
		os.Exit(2)
	}
	o := options{coefficient: *coefficient, parallel: *parallel, workers: *workers, least: minTimeout}
	if *also != "" {
		o.also = strings.Split(*also, ",")
	}
	if *decided != "" {
		data, err := os.ReadFile(*decided)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mutants:", err)
			os.Exit(1)
		}
		o.decided = ParseDecided(string(data))
		if *decidedFrom != "" {
			if o.decided, err = carryDecided(context.Background(), o.decided, *decidedFrom, *dir); err != nil {
				fmt.Fprintln(os.Stderr, "mutants:", err)
				os.Exit(1)
			}
		}
	}
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
	also                           []string // test packages tried after the mutated package's own
	// decided are verdicts reached before, by mutant, not tested again.
	decided map[Mutant]string
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
	// can reach into the packages below it), by its own tests and then the
	// others', measured when first needed.
	var covMu sync.Mutex
	covs := map[string][]*coverage{}
	measured := 0
	coverageOf := func(pkg string) ([]*coverage, error) {
		covMu.Lock()
		defer covMu.Unlock()
		if c, ok := covs[pkg]; ok {
			return c, nil
		}
		var all []*coverage
		for _, tests := range append([]string{pkg}, o.also...) {
			measured++
			cw := filepath.Join(work, "coverage", strconv.Itoa(measured))
			if err := os.MkdirAll(cw, 0o700); err != nil {
				return nil, fmt.Errorf("making a work directory: %w", err)
			}
			c, err := tester{work: cw, parallel: o.parallel}.measureCoverage(ctx, tests, pkg, workers, stderr)
			if err != nil {
				return nil, err
			}
			all = append(all, c)
		}
		covs[pkg] = all
		return all, nil
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
				rel := m
				rel.File = filepath.Join(dir, filepath.FromSlash(m.File))
				covs, err := coverageOf(filepath.Dir(rel.File))
				if err != nil {
					fail(err)
					continue
				}
				v, err := t.judge(ctx, rel, covs, o.coefficient, o.least)
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
		if v, ok := o.decided[m]; ok {
			outMu.Lock()
			fmt.Fprintf(stdout, "%12s %s\n", v, m)
			outMu.Unlock()
			continue
		}
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
