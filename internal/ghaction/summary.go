package ghaction

import (
	"fmt"
	"net/url"
	"strings"
)

// Summary builds the markdown of a job summary in which every piece of
// untrusted text is redacted, then escaped for where it goes: markdown and
// HTML in text and table cells, pipes and line breaks in cells, backtick
// runs in code spans, and code blocks whose fence no content can close.
// The markdown around it (headings, tables, lists) is this package's. Get
// one from Runner.NewSummary; the zero Summary is not usable.
type Summary struct {
	runner *Runner
	b      strings.Builder
}

// NewSummary starts a job summary that AppendSummary will accept.
func (r *Runner) NewSummary() *Summary { return &Summary{runner: r} }

// String returns the markdown built so far.
func (s *Summary) String() string { return s.b.String() }

func (s *Summary) redact(text string) string { return s.runner.Redact(text) }

// Cell is a piece of untrusted text for a table cell or a list item, shown
// as prose (Plain) or as code (Code).
type Cell struct {
	text string
	code bool
	// link is where the text links to, an https URL; empty for none.
	link string
}

// Plain is text shown as it reads: markdown and HTML in it are escaped.
func Plain(text string) Cell { return Cell{text: text} }

// Code is text shown in a code span: identifiers, ARNs, digests, messages
// quoted verbatim.
func Code(text string) Cell { return Cell{text: text, code: true} }

// Link is text shown as Plain that links to target, which must be an
// absolute https URL with a host (a console page); any other target is
// dropped and the text shown alone.
func Link(text, target string) Cell {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return Plain(text)
	}
	return Cell{text: text, link: u.String()}
}

// linkDestination writes an https URL as a markdown link destination:
// between angle brackets, with every byte outside the URL's own characters
// percent-encoded (so no space, bracket, pipe or line break can end it)
// and & written as the entity it decodes from (so that no entity in the
// URL can decode into something else).
func linkDestination(u string) string {
	var b strings.Builder
	b.WriteByte('<')
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case c == '&':
			b.WriteString("&amp;")
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-._~:/?#[]@!$'*+,;=%", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	b.WriteByte('>')
	return b.String()
}

// inline renders the cell on one line. In a table, pipes in code are
// escaped too: GitHub splits table cells on them even in code spans (and
// drops the escaping backslash there, but nowhere else).
func (s *Summary) inline(c Cell, inTable bool) string {
	if c.link != "" {
		text := markdownText(s.redact(c.text))
		if text == "" {
			text = markdownText(c.link)
		}
		return "[" + text + "](" + linkDestination(s.redact(c.link)) + ")"
	}
	if !c.code {
		return markdownText(s.redact(c.text))
	}
	return codeSpan(s.redact(c.text), inTable)
}

// Heading writes a heading of the given level (1 to 6): format is our
// markdown, and every argument is untrusted text (see Paragraph).
func (s *Summary) Heading(level int, format string, args ...any) {
	level = min(max(level, 1), 6)
	s.b.WriteString(strings.Repeat("#", level) + " " + s.sprintf(format, args) + "\n\n")
}

// Paragraph writes a paragraph: format is our markdown, and every argument
// is untrusted text, escaped as Plain (pass a Cell to show one as Code) and
// formatted with %s.
func (s *Summary) Paragraph(format string, args ...any) {
	s.b.WriteString(s.sprintf(format, args) + "\n\n")
}

// sprintf formats our markdown with its untrusted arguments escaped on one
// line each.
func (s *Summary) sprintf(format string, args []any) string {
	cells := make([]any, len(args))
	for i, a := range args {
		c, ok := a.(Cell)
		if !ok {
			c = Plain(fmt.Sprint(a))
		}
		cells[i] = s.inline(c, false)
	}
	return fmt.Sprintf(format, cells...)
}

// Table writes a table with the given header (our words) and rows of cells.
// Rows shorter than the header are padded; longer ones are cut.
func (s *Summary) Table(header []string, rows [][]Cell) {
	if len(header) == 0 {
		return
	}
	for i, h := range header {
		if i == 0 {
			s.b.WriteString("|")
		}
		s.b.WriteString(" " + markdownText(h) + " |")
	}
	s.b.WriteString("\n|" + strings.Repeat("---|", len(header)) + "\n")
	for _, row := range rows {
		s.b.WriteString("|")
		for i := range header {
			cell := ""
			if i < len(row) {
				cell = s.inline(row[i], true)
			}
			s.b.WriteString(" " + cell + " |")
		}
		s.b.WriteString("\n")
	}
	s.b.WriteString("\n")
}

// List writes a bulleted list, one item per cell.
func (s *Summary) List(items []Cell) {
	for _, it := range items {
		s.b.WriteString("- " + s.inline(it, false) + "\n")
	}
	s.b.WriteString("\n")
}

// CodeBlock writes untrusted text verbatim in a fenced code block, fenced
// with more backticks than any run inside it, so nothing in it can close
// the block.
func (s *Summary) CodeBlock(text string) {
	text = escapeControls(s.redact(text), true)
	fence := strings.Repeat("`", max(3, longestRun(text, '`')+1))
	s.b.WriteString(fence + "\n" + strings.TrimSuffix(text, "\n") + "\n" + fence + "\n\n")
}

// markdownText escapes untrusted text for inline markdown in a paragraph,
// a heading, a list item or a table cell. CommonMark lets any ASCII
// punctuation mark be backslash-escaped and then shows it as itself, so
// every one is: no emphasis, link, image, HTML, entity, mention, emoji,
// math (GitHub's $...$), strikethrough or table pipe can come out of it,
// and no block (a heading, a list, a quote) can start with it. Line breaks
// and other control characters become visible escapes (\n), so the text
// stays in its cell.
func markdownText(text string) string {
	// Leading blanks could make a list item's content an indented code
	// block, and keep emphasis around the text from taking; the renderer
	// drops them at the ends anyway.
	text = strings.TrimSpace(escapeControls(text, false))
	var b strings.Builder
	b.Grow(len(text) + 8)
	for i := 0; i < len(text); i++ {
		c := text[i]
		if strings.IndexByte(asciiPunctuation, c) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// asciiPunctuation is CommonMark's set of escapable characters.
const asciiPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// codeSpan shows untrusted text as inline code on one line: the backtick
// fence is longer than any run of backticks inside, and in a table cell
// pipes are escaped.
func codeSpan(text string, inTable bool) string {
	text = escapeControls(text, false)
	if inTable {
		text = strings.ReplaceAll(text, "|", `\|`)
	}
	if text == "" {
		return ""
	}
	fence := strings.Repeat("`", longestRun(text, '`')+1)
	// A space on each side keeps a backtick at either end off the fence,
	// and is taken off again by the renderer, as is one space of text
	// that starts and ends with one, which the padding keeps.
	spaced := strings.HasPrefix(text, " ") && strings.HasSuffix(text, " ") && strings.Trim(text, " ") != ""
	if strings.HasPrefix(text, "`") || strings.HasSuffix(text, "`") || spaced {
		text = " " + text + " "
	}
	return fence + text + fence
}

// longestRun is the length of the longest run of c in s.
func longestRun(s string, c byte) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}
