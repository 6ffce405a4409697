package main

import (
	"bufio"
	"context"
	"fmt"
	"go/scanner"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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

// mutantLine is a mutant of a gremlins report that gremlins did not test:
// RUNNABLE in a dry run, NOT COVERED in a dry run or a run.
var mutantLine = regexp.MustCompile(`^\s*(?:RUNNABLE|NOT COVERED) (\S+) at (\S+):(\d+):(\d+)\s*$`)

// ParseReport returns the mutants of a gremlins report that gremlins did
// not test (all of them, for a dry run's report), in its order.
func ParseReport(r io.Reader) ([]Mutant, error) {
	var ms []Mutant
	s := bufio.NewScanner(r)
	for s.Scan() {
		m := mutantLine.FindStringSubmatch(s.Text())
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

// decidedLine is a verdict that holds for as long as the mutated code is
// unchanged and the tests only grow: the tests failed, hung, or the mutant
// did not compile.
var decidedLine = regexp.MustCompile(`^\s*(KILLED|TIMED OUT|NOT VIABLE) (\S+) at (\S+):(\d+):(\d+)\s*$`)

// ParseDecided returns the verdicts of a verdicts file that hold for as
// long as the mutated code is unchanged, by mutant. A LIVED or NOT COVERED
// verdict is not among them: a test added since may kill the mutant.
func ParseDecided(verdicts string) map[Mutant]string {
	out := map[Mutant]string{}
	for line := range strings.SplitSeq(verdicts, "\n") {
		m := decidedLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		l, _ := strconv.Atoi(m[4])
		c, _ := strconv.Atoi(m[5])
		out[Mutant{Kind: m[2], File: m[3], Line: l, Column: c}] = m[1]
	}
	return out
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

// hunk is one hunk of a `git diff -U0`: old lines from, count of them,
// replaced by added lines.
type hunk struct{ from, count, added int }

var hunkHeader = regexp.MustCompile(`^@@ -(\d+)(?:,(\d+))? \+\d+(?:,(\d+))? @@`)

// parseHunks reads the hunk headers of a `git diff -U0` of one file.
func parseHunks(diff string) []hunk {
	var hs []hunk
	for line := range strings.SplitSeq(diff, "\n") {
		m := hunkHeader.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		count := func(s string) int {
			if s == "" {
				return 1
			}
			n, _ := strconv.Atoi(s)
			return n
		}
		from, _ := strconv.Atoi(m[1])
		hs = append(hs, hunk{from: from, count: count(m[2]), added: count(m[3])})
	}
	return hs
}

// movedLine is where line old of the file the hunks were taken from is
// now; false when the diff changed or removed it.
func movedLine(hs []hunk, old int) (int, bool) {
	shift := 0
	for _, h := range hs {
		switch {
		case h.count == 0: // added after line h.from
			if old > h.from {
				shift += h.added
			}
		case old >= h.from+h.count:
			shift += h.added - h.count
		case old >= h.from:
			return 0, false
		}
	}
	return old + shift, true
}

// carryDecided moves verdicts reached on the code of commit to the lines
// that code is on now; a verdict on a line changed since is dropped, as
// its mutant is not the same. dir is the package directory, relative to
// the module's root (the working directory), that the mutants' files are
// relative to.
func carryDecided(ctx context.Context, decided map[Mutant]string, commit, dir string) (map[Mutant]string, error) {
	diffs := map[string][]hunk{}
	out := map[Mutant]string{}
	for m, v := range decided {
		hs, ok := diffs[m.File]
		if !ok {
			path := filepath.Join(dir, filepath.FromSlash(m.File))
			diff, err := exec.CommandContext(ctx, "git", "diff", "-U0", "--no-color", "--no-ext-diff", commit, "--", path).Output() //nolint:gosec // G204: the developer's own commit and file
			if err != nil {
				return nil, fmt.Errorf("compare %s with %s: %w", path, commit, err)
			}
			hs = parseHunks(string(diff))
			diffs[m.File] = hs
		}
		if line, ok := movedLine(hs, m.Line); ok {
			m.Line = line
			out[m] = v
		}
	}
	return out, nil
}
