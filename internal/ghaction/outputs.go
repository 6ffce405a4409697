package ghaction

import (
	"fmt"
	"strings"
)

// ParseOutputs reads a GITHUB_OUTPUT file, the counterpart of SetOutput: name=value lines and multi-line
// name<<DELIMITER blocks, as the runner reads them. A name written twice
// keeps its last value, as on the runner.
func ParseOutputs(data []byte) (map[string]string, error) {
	out := map[string]string{}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line == "" {
			continue
		}
		eq := strings.Index(line, "=")
		heredoc := strings.Index(line, "<<")
		// "<<" and "=" never start at the same index, so heredoc < eq
		// and heredoc <= eq read alike.
		if heredoc >= 0 && (eq < 0 || heredoc < eq) {
			name, delim := line[:heredoc], line[heredoc+2:]
			if name == "" || delim == "" {
				return nil, fmt.Errorf("output line %d: %q has no name or delimiter", i+1, line)
			}
			var value []string
			closed := false
			for i++; i < len(lines); i++ {
				if lines[i] == delim {
					closed = true
					break
				}
				value = append(value, lines[i])
			}
			if !closed {
				return nil, fmt.Errorf("output %q: delimiter %q never closes", name, delim)
			}
			out[name] = strings.Join(value, "\n")
			continue
		}
		if eq <= 0 {
			return nil, fmt.Errorf("output line %d: %q is neither name=value nor name<<DELIMITER", i+1, line)
		}
		out[line[:eq]] = line[eq+1:]
	}
	return out, nil
}
