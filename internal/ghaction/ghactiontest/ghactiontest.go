// Package ghactiontest reads a step's stdout the way the GitHub Actions
// runner does, so tests can check which workflow commands a run issued and
// that nothing else in its log could be taken for one.
package ghactiontest

import (
	"strings"
	"unicode"
)

// Command is a line the runner would take for a workflow command.
type Command struct {
	// Line is the line as printed.
	Line string
	// Name is the command's name (error, add-mask, stop-commands, ...); for
	// a line that merely looks like a command it may be anything.
	Name string
	// Properties are the key=value pairs before the message, unescaped.
	Properties map[string]string
	// Data is the message, unescaped as the runner unescapes it.
	Data string
	// Legacy is set for the old "##[name]data" form, which the runner
	// finds anywhere in a line.
	Legacy bool
}

// Lines splits stdout into lines as the runner reads them: a line ends at
// LF, CR or CRLF (.NET's StreamReader.ReadLine).
func Lines(stdout string) []string {
	stdout = strings.ReplaceAll(stdout, "\r\n", "\n")
	stdout = strings.ReplaceAll(stdout, "\r", "\n")
	return strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
}

// Commands returns every line of stdout that the runner could take for a
// workflow command, in order. It errs on the side of finding too many: a
// line counts when, after whitespace as .NET's TrimStart sees it (and
// Unicode format characters), it starts with "::", whether or not the name
// is one the runner knows; or when it holds "##[" anywhere.
func Commands(stdout string) []Command {
	var out []Command
	for _, line := range Lines(stdout) {
		trimmed := strings.TrimLeftFunc(line, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.Is(unicode.Zs, r) || unicode.Is(unicode.Cf, r)
		})
		switch {
		case strings.HasPrefix(trimmed, "::"):
			out = append(out, parseV2(line, trimmed[2:]))
		case strings.Contains(line, "##["):
			rest := line[strings.Index(line, "##[")+3:]
			name, data, _ := strings.Cut(rest, "]")
			out = append(out, Command{Line: line, Name: name, Data: data, Legacy: true})
		}
	}
	return out
}

// parseV2 reads "name key=value,key=value::data" as the runner does.
func parseV2(line, rest string) Command {
	c := Command{Line: line, Properties: map[string]string{}}
	info, data, _ := strings.Cut(rest, "::")
	c.Data = unescapeData(data)
	name, props, _ := strings.Cut(info, " ")
	c.Name = name
	for _, p := range strings.Split(props, ",") {
		if k, v, ok := strings.Cut(p, "="); ok && k != "" {
			c.Properties[k] = unescapeProperty(v)
		}
	}
	return c
}

func unescapeData(s string) string {
	return strings.NewReplacer("%0D", "\r", "%0A", "\n", "%25", "%").Replace(s)
}

func unescapeProperty(s string) string {
	return strings.NewReplacer("%0D", "\r", "%0A", "\n", "%3A", ":", "%2C", ",", "%25", "%").Replace(s)
}
