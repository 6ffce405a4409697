package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
)

// FileError is a problem in a task definition file, with where in the file
// it is, so that it can be shown there (an annotation at the file and line).
type FileError struct {
	// File is the file as the task-definition input names it.
	File string
	// Line and Column are where the problem is, from 1; 0 when it has no
	// one place (a missing key).
	Line, Column int
	// Err is the problem.
	Err error
}

func (e *FileError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("task definition file %s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("task definition file %s, line %d: %v", e.File, e.Line, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// Annotation is where the runner shows the problem: the file, at its line
// and column.
func (e *FileError) Annotation() ghaction.Annotation {
	return ghaction.Annotation{Title: "task definition file", File: e.File, Line: e.Line, Col: e.Column}
}

// problemAt is a problem in a task definition file's JSON at a path, as
// ecsschema names paths (containerDefinitions[0].imagee), or at a byte
// offset: where it is, once the file's text is at hand.
type problemAt struct {
	err    error
	path   string
	offset int64 // used when path is empty
}

func (p *problemAt) Error() string { return p.err.Error() }
func (p *problemAt) Unwrap() error { return p.err }

// atPath marks err as a problem with the member at path.
func atPath(path string, err error) error { return &problemAt{err: err, path: path} }

// locate turns a parse error into a FileError, at the line and column of
// the member or the byte it names.
func locate(file string, data []byte, err error) *FileError {
	fe := &FileError{File: file, Err: err}
	offset := int64(-1)
	var syntax *json.SyntaxError
	var at *problemAt
	switch {
	case errors.As(err, &syntax):
		// The offset is just past the byte that could not be read.
		offset = max(syntax.Offset-1, 0)
	case errors.As(err, &at) && at.path != "":
		offset = memberOffset(data, at.path)
	case errors.As(err, &at):
		offset = at.offset
	}
	if offset >= 0 && offset <= int64(len(data)) {
		before := data[:offset]
		fe.Line = bytes.Count(before, []byte("\n")) + 1
		fe.Column = len(before) - bytes.LastIndexByte(before, '\n')
	}
	return fe
}

// memberOffset returns where the member at path starts in the JSON data:
// its key in an object, the element itself in a list; -1 when there is no
// such member. A path of a task definition inside DescribeTaskDefinition's
// output ({"taskDefinition": {...}}) is found there too.
func memberOffset(data []byte, path string) int64 {
	offsets := memberOffsets(data)
	if off, ok := offsets[path]; ok {
		return off
	}
	if off, ok := offsets["taskDefinition."+path]; ok {
		return off
	}
	return -1
}

// memberOffsets maps the path of every member of the JSON data, named as
// ecsschema names them, to where it starts.
func memberOffsets(data []byte) map[string]int64 {
	offsets := map[string]int64{}
	dec := json.NewDecoder(bytes.NewReader(data))
	// container is an object or a list being read.
	type container struct {
		path      string
		object    bool
		expectKey bool   // in an object: the next token is a key (or the end)
		key       string // in an object: the key of the value being read
		index     int    // in a list: the next element's index
	}
	var stack []*container
	join := func(path, key string) string {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	for {
		// The next token starts after the previous one, past blanks and
		// the separators no token includes.
		at := skipSeparators(data, dec.InputOffset())
		tok, err := dec.Token()
		if err != nil {
			return offsets
		}
		closing := tok == json.Delim('}') || tok == json.Delim(']')
		var path string
		if n := len(stack); n > 0 && !closing {
			top := stack[n-1]
			switch {
			case top.object && top.expectKey:
				top.key, _ = tok.(string)
				top.expectKey = false
				offsets[join(top.path, top.key)] = at
				continue
			case top.object:
				path = join(top.path, top.key)
			default:
				path = top.path + "[" + strconv.Itoa(top.index) + "]"
				offsets[path] = at
				top.index++
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &container{path: path, object: true, expectKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &container{path: path})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: its object expects the next key.
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].expectKey = true
		}
	}
}

// skipSeparators returns the offset of the first byte at or after off that
// is neither blank nor a separator (a comma or a colon) in the JSON data.
func skipSeparators(data []byte, off int64) int64 {
	for off < int64(len(data)) && bytes.IndexByte([]byte(" \t\r\n,:"), data[off]) >= 0 {
		off++
	}
	return off
}
