package ghaction

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file is the one printer for untrusted text: everything the action
// prints passes through it, so that nothing that did not come from this
// program's code can become a workflow command.
//
// The runner reads each line of a step's stdout (lines end at LF, CR or
// CRLF) and obeys it as a command when, after leading whitespace, it starts
// with "::" (::error::, ::add-mask::, ::stop-commands::TOKEN, which
// suspends every later command, our masks and annotations included until
// ::TOKEN::), or when it contains "##[" anywhere followed by a command name
// and "]" (the legacy form, still parsed). Untrusted text is therefore
// escaped rather than fenced with ::stop-commands::<random>:
//   - escaping keeps every record on one line, readable and prefixable
//     ("[api-service] 12:00:01 <event>"), in the log and in a terminal alike;
//   - a fence is itself a command: while it is open the runner ignores our
//     own ::add-mask:: and annotations, so a secret masked by another
//     goroutine in that window would print in clear;
//   - a fence does nothing for the legacy "##[" form, for a lone CR (which
//     the runner reads as a line break), or for ANSI escape sequences that
//     repaint the log; escaping handles all of them the same way.
//
// What the printer does to text it prints as log lines:
//   - control characters (C0 but tab, DEL, C1, U+2028/U+2029) and Unicode
//     format characters (bidirectional overrides, zero-width spaces) become
//     visible escapes: \n, \r, \x1b, \u202e. In one-line text LF is escaped
//     too; in text that keeps its lines (our multi-line explanations that
//     embed an AWS message), LF stays and each line is neutralised;
//   - a line whose first non-blank characters are "::" gets a backslash
//     before them ("\::error::"), and "##[" anywhere becomes "##\[".
//
// Workflow-command messages (annotations, group titles, masks) are escaped
// as the runner unescapes them (%25, %0D, %0A; in properties also %3A,
// %2C) by go-githubactions, after the same control-character escaping.

// Line returns untrusted text as one line of plain text: CR, LF and other
// control characters become visible escapes (\n, \r, \x1b), "::" at its
// start gets a backslash and "##[" becomes "##\[". Use it where another
// package composes a message (an error, a list of reasons) from untrusted
// values; the Runner's printers apply it to their arguments themselves.
func Line(untrusted string) string {
	return neutraliseLines(escapeControls(untrusted, false))
}

// Lines is Line for text whose line breaks are meant to show: LF is kept,
// and every line is neutralised on its own.
func Lines(untrusted string) string {
	return neutraliseLines(escapeControls(untrusted, true))
}

// escapeControls turns every character that can break a line, move the
// cursor, recolour the log or reorder what is shown into a visible escape.
// LF is kept when keepLF is set. The result is valid UTF-8.
func escapeControls(s string, keepLF bool) string {
	clean := true
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if mustEscape(r, size, keepLF) {
			clean = false
			break
		}
		i += size
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !mustEscape(r, size, keepLF) {
			b.WriteString(s[i : i+size])
			i += size
			continue
		}
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += size
	}
	return b.String()
}

func mustEscape(r rune, size int, keepLF bool) bool {
	switch {
	case r == utf8.RuneError && size == 1: // a byte that is not UTF-8
		return true
	case r == '\n':
		return !keepLF
	case r == '\t':
		return false
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		return true
	case r == '\u2028' || r == '\u2029':
		return true
	case r == '\u200d': // joins emoji; harmless
		return false
	}
	return unicode.Is(unicode.Cf, r)
}

// neutraliseLines makes sure no line of s is a workflow command: a line
// whose first non-blank characters are "::" gets a backslash before them,
// and "##[" becomes "##\[". s must already be free of CR and other line
// breaks but LF (escapeControls does that).
func neutraliseLines(s string) string {
	if !strings.Contains(s, "::") && !strings.Contains(s, "##[") {
		return s
	}
	s = strings.ReplaceAll(s, "##[", `##\[`)
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		if at := commandStart(line); at >= 0 {
			lines[i] = line[:at] + `\` + line[at:]
		}
	}
	return strings.Join(lines, "\n")
}

// commandStart returns where "::" starts in line when only blanks precede
// it, as the runner (.NET's TrimStart) sees blanks; -1 otherwise. Format
// characters count as blanks too, to err on the safe side.
func commandStart(line string) int {
	i := 0
	// At len(line) the decoder gives RuneError, which is no blank: the
	// loop would stop there even without its condition.
	for i < len(line) {
		r, size := utf8.DecodeRuneInString(line[i:])
		if !unicode.IsSpace(r) && !unicode.Is(unicode.Zs, r) && !unicode.Is(unicode.Cf, r) {
			break
		}
		i += size
	}
	if strings.HasPrefix(line[i:], "::") {
		return i
	}
	return -1
}

// untrustedArg formats one argument of a printer: the value is formatted
// with the verb it was given, redacted, then escaped, so that whatever it
// holds stays text. Errors keep their line breaks: their messages are our
// own explanations, several lines long, around the untrusted parts (which
// the boundary neutralises line by line).
type untrustedArg struct {
	v      any
	redact func(string) string
}

// Format implements fmt.Formatter.
func (a untrustedArg) Format(f fmt.State, verb rune) {
	s := a.redact(fmt.Sprintf(fmt.FormatString(f, verb), a.v))
	_, keepLF := a.v.(error)
	_, _ = f.Write([]byte(escapeControls(s, keepLF)))
}

// sprintf formats our format string with every argument treated as
// untrusted text.
func sprintf(redact func(string) string, format string, args []any) string {
	wrapped := make([]any, len(args))
	for i, a := range args {
		switch a.(type) {
		case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, bool:
			// Numbers and booleans cannot hold text; left as they are, they
			// still work as the width or precision of a '*' verb.
			wrapped[i] = a
		default:
			wrapped[i] = untrustedArg{v: a, redact: redact}
		}
	}
	return fmt.Sprintf(format, wrapped...)
}
