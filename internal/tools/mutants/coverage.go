package main

import (
	"bufio"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
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

// position is a line and byte column, as both gremlins and Go's coverage
// profiles count them.
type position struct{ line, column int }

func (p position) before(q position) bool {
	return p.line < q.line || p.line == q.line && p.column < q.column
}

// block is one block of a Go coverage profile: the code from start to end
// in one file.
type block struct {
	file       string
	start, end position
}

func (b block) contains(p position) bool { return !p.before(b.start) && !b.end.before(p) }

// site is where a mutant is: its file (relative to its package's
// directory), its position, and the innermost function around it, if any.
type site struct {
	file     string
	at       position
	function *[2]position // its first and last position; nil at package level
}

// siteOf finds the function around line:column of the Go file at path.
func siteOf(path, file string, at position) (site, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return site{}, fmt.Errorf("parsing %s: %w", path, err)
	}
	s := site{file: file, at: at}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n.(type) {
		case *ast.FuncDecl, *ast.FuncLit:
		default:
			return true
		}
		start, end := fset.Position(n.Pos()), fset.Position(n.End())
		span := [2]position{{start.Line, start.Column}, {end.Line, end.Column}}
		if at.before(span[0]) || span[1].before(at) {
			return false
		}
		s.function = &span // an inner function, found later, wins
		return true
	})
	return s, nil
}

// coverage is which tests of one test package run each block of the
// mutated package's code, found by running each test alone with a coverage
// profile.
type coverage struct {
	dir    string // the test package's directory
	tests  []testRun
	blocks map[string][]block // by the file's path in the profile
	ranBy  map[block][]string // the tests whose run reached the block
}

// profileLine is a line of a coverage profile: file:startLine.startCol,
// endLine.endCol statements count.
var profileLine = regexp.MustCompile(`^(.+):(\d+)\.(\d+),(\d+)\.(\d+) \d+ (\d+)$`)

// readProfile adds what one test's profile says to c.
func (c *coverage) readProfile(test string, r io.Reader) error {
	s := bufio.NewScanner(r)
	for s.Scan() {
		m := profileLine.FindStringSubmatch(s.Text())
		if m == nil {
			continue // the mode line
		}
		n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
		b := block{file: m[1], start: position{n(2), n(3)}, end: position{n(4), n(5)}}
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

// selection is the tests of one test package a mutant is tried against.
type selection struct {
	tests []string
	// all is set when every test of the package is: the mutant is outside
	// any function, where no profile can say which tests use it.
	all bool
	// notCovered is set when none of the package's tests can reach it.
	notCovered bool
}

// testsFor returns the tests that run the code at the site: those whose
// profile reached a block around it. Where the profile has no block there
// (a case clause's expression), it is those that ran any block of the
// function around it, which are all that can have evaluated it. Outside any
// function (a package-level variable's initialiser, a constant) no profile
// tells: every test of the mutated package's own is, and none of another's.
func (c *coverage) testsFor(s site, own bool) selection {
	suffix := "/" + filepath.ToSlash(s.file)
	var found bool
	var tests []string
	ran := func(b block) {
		for _, t := range c.ranBy[b] {
			if !slices.Contains(tests, t) {
				tests = append(tests, t)
			}
		}
	}
	for name, blocks := range c.blocks {
		if !strings.HasSuffix(name, suffix) {
			continue
		}
		for _, b := range blocks {
			if b.contains(s.at) {
				found = true
				ran(b)
			}
		}
		if found || s.function == nil {
			continue
		}
		for _, b := range blocks {
			if !b.start.before(s.function[0]) && !s.function[1].before(b.end) {
				ran(b)
			}
		}
	}
	switch {
	case !found && s.function == nil && own:
		return selection{all: true}
	case len(tests) == 0:
		return selection{notCovered: true}
	}
	// In the package's own order, so that a run reads as go test's does.
	index := func(name string) int {
		return slices.IndexFunc(c.tests, func(r testRun) bool { return r.name == name })
	}
	slices.SortFunc(tests, func(a, b string) int { return index(a) - index(b) })
	return selection{tests: tests}
}

// quickTest is how long a test may take and still be among those run
// before the slow ones (the cli's fault matrix), which run only for the
// mutants that lived through the rest.
const quickTest = 20 * time.Second

// byCost splits a selection into the runs that try it, cheapest first:
// the quickest test alone (most mutants that die are killed by any test
// that runs their line, so one quick test usually settles it), then the
// other quick ones together, then the slow ones. A run is left out when
// it would have no test.
func (c *coverage) byCost(sel selection) []selection {
	var quick, slow []testRun
	for _, r := range c.tests {
		if !sel.all && !slices.Contains(sel.tests, r.name) {
			continue
		}
		if r.took <= quickTest {
			quick = append(quick, r)
		} else {
			slow = append(slow, r)
		}
	}
	names := func(rs []testRun) []string {
		out := make([]string, 0, len(rs))
		for _, r := range rs {
			out = append(out, r.name)
		}
		return out
	}
	var runs []selection
	if len(quick) > 0 {
		first := 0
		for i, r := range quick {
			if r.took < quick[first].took {
				first = i
			}
		}
		runs = append(runs, selection{tests: []string{quick[first].name}})
		if rest := slices.Delete(slices.Clone(quick), first, first+1); len(rest) > 0 {
			runs = append(runs, selection{tests: names(rest)})
		}
	}
	if len(slow) > 0 {
		runs = append(runs, selection{tests: names(slow)})
	}
	return runs
}

// expected is how long the selected tests should take together, run
// -parallel at once: the longest of them, or their sum spread over the
// parallel slots, whichever is longer.
func (c *coverage) expected(sel selection, parallel int) time.Duration {
	var sum, longest time.Duration
	for _, r := range c.tests {
		if !sel.all && !slices.Contains(sel.tests, r.name) {
			continue
		}
		sum += r.took
		longest = max(longest, r.took)
	}
	return max(longest, sum/time.Duration(max(parallel, 1)))
}

// measureCoverage builds the tests of the package in dir with coverage of
// the package in mutated on, lists them, and runs each alone, workers at
// once. A test that fails unmutated is tried once more, then left out with
// a warning: a verdict against a failing test would mean nothing.
func (t tester) measureCoverage(ctx context.Context, dir, mutated string, workers int, stderr io.Writer) (*coverage, error) {
	bin := filepath.Join(t.work, "cover.test")
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-cover", "-covermode=set", "-coverpkg=./"+filepath.ToSlash(mutated), "-o", bin, "./"+filepath.ToSlash(dir)) //nolint:gosec // G204: the developer's own packages
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the tests of %s with coverage: %w\n%s", dir, err, out)
	}
	list := exec.CommandContext(ctx, bin, "-test.list", ".") //nolint:gosec // G204: the test binary just built
	list.Dir = dir
	out, err := list.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the tests of %s: %w", dir, err)
	}
	c := &coverage{dir: dir, blocks: map[string][]block{}, ranBy: map[block][]string{}}
	var all []testRun
	for _, name := range strings.Fields(string(out)) {
		if strings.HasPrefix(name, "Test") || strings.HasPrefix(name, "Fuzz") || strings.HasPrefix(name, "Example") {
			all = append(all, testRun{name: name})
		}
	}
	profiles := filepath.Join(t.work, "profiles")
	if err := os.MkdirAll(profiles, 0o700); err != nil {
		return nil, fmt.Errorf("making a directory for the profiles: %w", err)
	}
	var wg sync.WaitGroup
	failures := make([][]byte, len(all))
	slots := make(chan struct{}, max(workers, 1))
	for i := range all {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			profile := filepath.Join(profiles, strconv.Itoa(i)+".out")
			for range 2 {
				run := exec.CommandContext(ctx, bin, "-test.run", "^"+all[i].name+"$", "-test.parallel", strconv.Itoa(t.parallel), "-test.coverprofile", profile) //nolint:gosec // G204: the test binary just built
				run.Dir = dir
				start := time.Now()
				out, err := run.CombinedOutput()
				if err == nil {
					all[i].took, failures[i] = time.Since(start), nil
					return
				}
				failures[i] = out
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, r := range all {
		if failures[i] != nil {
			fmt.Fprintf(stderr, "mutants: %s of %s fails unmutated, twice; no mutant is tried against it:\n%s\n", r.name, dir, failures[i])
			continue
		}
		f, err := os.Open(filepath.Join(profiles, strconv.Itoa(i)+".out"))
		if err != nil {
			return nil, fmt.Errorf("reading the coverage of %s: %w", r.name, err)
		}
		err = c.readProfile(r.name, f)
		_ = f.Close()
		if err != nil {
			return nil, err
		}
		c.tests = append(c.tests, r)
	}
	return c, nil
}
