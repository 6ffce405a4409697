package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A test a package's binary lists (a Test, Fuzz or Example function, whose
// seed corpus runs without -test.fuzz), and how long it took alone.
type testRun struct {
	name string
	took time.Duration
}

// block is one block of a Go coverage profile: the code from start to end,
// both given as line and byte column, in one file.
type block struct {
	file                                 string
	startLine, startCol, endLine, endCol int
}

func (b block) contains(line, column int) bool {
	after := line > b.startLine || line == b.startLine && column >= b.startCol
	before := line < b.endLine || line == b.endLine && column <= b.endCol
	return after && before
}

// coverage is which of a package's tests run each block of its code, found
// by running each test alone with a coverage profile.
type coverage struct {
	tests  []testRun
	blocks map[string][]block // by the file's path in the profile
	ranBy  map[block][]string // the tests whose run reached the block
}

// profileLine is a line of a coverage profile: file:startLine.startCol,
// endLine.endCol statements count.
var profileLine = regexp.MustCompile(`^(.+):(\d+)\.(\d+),(\d+)\.(\d+) \d+ (\d+)$`)

// readProfile adds what one test's profile says to c.
func (c *coverage) readProfile(test, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading the coverage of %s: %w", test, err)
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		m := profileLine.FindStringSubmatch(s.Text())
		if m == nil {
			continue // the mode line
		}
		n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
		b := block{file: m[1], startLine: n(2), startCol: n(3), endLine: n(4), endCol: n(5)}
		if _, seen := c.ranBy[b]; !seen {
			c.blocks[b.file] = append(c.blocks[b.file], b)
			c.ranBy[b] = nil
		}
		if m[6] != "0" {
			c.ranBy[b] = append(c.ranBy[b], test)
		}
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("reading the coverage of %s: %w", test, err)
	}
	return nil
}

// selection is the tests a mutant is tried against.
type selection struct {
	tests []string // nil: every test of the package
	// notCovered is set when the profile has blocks at the mutant's
	// position and no test ran any of them: no test can kill it.
	notCovered bool
}

// testsFor returns the tests that run the code at line:column of file, a
// path relative to the package's directory. Where the profile has no block
// there (a case clause's expression, a package-level variable's
// initialiser, a constant), every test is, as any of them may run it.
func (c *coverage) testsFor(file string, line, column int) selection {
	suffix := "/" + filepath.ToSlash(file)
	var found bool
	var tests []string
	for name, blocks := range c.blocks {
		if !strings.HasSuffix(name, suffix) {
			continue
		}
		for _, b := range blocks {
			if !b.contains(line, column) {
				continue
			}
			found = true
			for _, t := range c.ranBy[b] {
				if !slices.Contains(tests, t) {
					tests = append(tests, t)
				}
			}
		}
	}
	switch {
	case !found:
		return selection{}
	case len(tests) == 0:
		return selection{notCovered: true}
	}
	// In the package's own order, so that a run reads as go test's does.
	slices.SortFunc(tests, func(a, b string) int {
		return slices.IndexFunc(c.tests, func(r testRun) bool { return r.name == a }) -
			slices.IndexFunc(c.tests, func(r testRun) bool { return r.name == b })
	})
	return selection{tests: tests}
}

// expected is how long the selected tests should take together, run
// -parallel at once: the longest of them, or their sum spread over the
// parallel slots, whichever is longer.
func (c *coverage) expected(sel selection, parallel int) time.Duration {
	var sum, longest time.Duration
	for _, r := range c.tests {
		if sel.tests != nil && !slices.Contains(sel.tests, r.name) {
			continue
		}
		sum += r.took
		longest = max(longest, r.took)
	}
	return max(longest, sum/time.Duration(max(parallel, 1)))
}

// measureCoverage builds the package in dir with coverage on, lists its
// tests, and runs each alone, workers at once. Every test must pass: a
// verdict against a failing test would mean nothing.
func (t tester) measureCoverage(ctx context.Context, dir string, workers int) (*coverage, error) {
	bin := filepath.Join(t.work, "cover.test")
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-cover", "-covermode=set", "-o", bin, "./"+filepath.ToSlash(dir)) //nolint:gosec // G204: the developer's own package
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the tests of %s with coverage: %w\n%s", dir, err, out)
	}
	list := exec.CommandContext(ctx, bin, "-test.list", ".") //nolint:gosec // G204: the test binary just built
	list.Dir = dir
	out, err := list.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the tests of %s: %w", dir, err)
	}
	c := &coverage{blocks: map[string][]block{}, ranBy: map[block][]string{}}
	for _, name := range strings.Fields(string(out)) {
		if strings.HasPrefix(name, "Test") || strings.HasPrefix(name, "Fuzz") || strings.HasPrefix(name, "Example") {
			c.tests = append(c.tests, testRun{name: name})
		}
	}
	profiles := filepath.Join(t.work, "profiles")
	if err := os.MkdirAll(profiles, 0o700); err != nil {
		return nil, fmt.Errorf("making a directory for the profiles: %w", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(c.tests))
	slots := make(chan struct{}, max(workers, 1))
	for i := range c.tests {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			name := c.tests[i].name
			profile := filepath.Join(profiles, strconv.Itoa(i)+".out")
			run := exec.CommandContext(ctx, bin, "-test.run", "^"+name+"$", "-test.parallel", strconv.Itoa(t.parallel), "-test.coverprofile", profile) //nolint:gosec // G204: the test binary just built
			run.Dir = dir
			start := time.Now()
			if out, err := run.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("%s of %s fails unmutated, so no mutant can be judged: %w\n%s", name, dir, err, out)
				return
			}
			c.tests[i].took = time.Since(start)
		}()
	}
	wg.Wait()
	for i, r := range c.tests {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if err := c.readProfile(r.name, filepath.Join(profiles, strconv.Itoa(i)+".out")); err != nil {
			return nil, err
		}
	}
	return c, nil
}
