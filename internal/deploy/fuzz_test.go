package deploy

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// describedOnly are the members DescribeTaskDefinition returns that
// RegisterTaskDefinition does not take, as ECS documents them: no new
// revision may carry one.
var describedOnly = []string{
	"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
	"registeredAt", "registeredBy", "deregisteredAt", "deleteRequestedAt",
}

// fuzzDigest is the digest every fuzzed render pins.
const fuzzDigest = "sha256:abababababababababababababababababababababababababababababababab"

// FuzzTaskDefinitionFile reads a task definition file of any bytes and
// renders the new revision from it with the image pinned by digest, in the
// named containers (names, comma-separated) or else in those whose image is
// in repository. What holds for any file:
//   - a refusal is a *FileError on the file, on one line, whose line and
//     column are within the file's text (or 0, for a problem with no place);
//   - an accepted file says nothing the base revision drops or invents: the
//     members it gives, read-only ones aside, are those the SDK sends to
//     RegisterTaskDefinition, with the same values (a zero the SDK leaves
//     out aside);
//   - the rendered revision goes to ECS as the SDK's RegisterTaskDefinition
//     JSON, with no read-only member, and that JSON reads back as the very
//     same input;
//   - every matched container gets exactly the pinned image, and nothing
//     else changes: no other member, no other container, not the base.
func FuzzTaskDefinitionFile(f *testing.F) {
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, file []byte, names, repository string) {
		path := filepath.Join(dir, "task-definition.json")
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		td, err := readTaskDefinitionFile(path)
		if err != nil {
			checkFileError(t, path, file, err)
			return
		}
		base := td.input
		baseWire := wireJSON(t, base)
		checkWire(t, base, baseWire)
		checkFileKept(t, file, baseWire)

		var list []string
		if names != "" {
			list = strings.Split(names, ",")
		}
		image := Image{RepositoryURI: repository, Digest: fuzzDigest}
		out, changed, err := render(base, image, list)
		again, err2 := readTaskDefinitionFile(path)
		if err2 != nil {
			t.Fatalf("the file read once does not read again: %v", err2)
		}
		if diff := cmp.Diff(again.input, base, sdkStructs); diff != "" {
			t.Fatalf("render changed its base (-file +base):\n%s", diff)
		}
		matched := func(c types.ContainerDefinition) bool {
			if list != nil {
				return slices.Contains(list, aws.ToString(c.Name))
			}
			return inRepository(aws.ToString(c.Image), repository)
		}
		var want []string
		for _, c := range base.ContainerDefinitions {
			if matched(c) {
				want = append(want, aws.ToString(c.Name))
			}
		}
		if err != nil {
			if want != nil {
				t.Fatalf("render refused although containers %q match: %v", want, err)
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") {
				t.Errorf("render's refusal spans lines: %q", msg)
			}
			return
		}
		if !slices.Equal(changed, want) {
			t.Errorf("render changed %q, want the matching containers %q", changed, want)
		}
		for i, c := range out.ContainerDefinitions {
			b := base.ContainerDefinitions[i]
			wantImage := b.Image
			if matched(b) {
				wantImage = aws.String(image.Reference())
			}
			if got := aws.ToString(c.Image); got != aws.ToString(wantImage) || (c.Image == nil) != (wantImage == nil) {
				t.Errorf("container %d (%q) has image %q, want %q", i, aws.ToString(c.Name), got, aws.ToString(wantImage))
			}
			c.Image = b.Image
			if diff := cmp.Diff(b, c, sdkStructs); diff != "" {
				t.Errorf("container %d changed beyond its image (-base +rendered):\n%s", i, diff)
			}
		}
		rest, baseRest := *out, *base
		rest.ContainerDefinitions, baseRest.ContainerDefinitions = nil, nil
		if diff := cmp.Diff(&baseRest, &rest, sdkStructs); diff != "" {
			t.Errorf("the revision changed beyond its containers (-base +rendered):\n%s", diff)
		}
		checkWire(t, out, wireJSON(t, out))
	})
}

// sdkStructs compares the SDK's structures by their exported members.
var sdkStructs = cmpopts.IgnoreUnexported(allStructs(reflect.TypeOf(ecs.RegisterTaskDefinitionInput{}))...)

// inRepository reports whether image names an image of repository: the
// repository itself, then nothing, a tag, a digest, or both.
func inRepository(image, repository string) bool {
	rest, ok := strings.CutPrefix(image, repository)
	if !ok {
		return false
	}
	tag, _, _ := strings.Cut(rest, "@")
	return rest == "" || rest[0] == '@' || (rest[0] == ':' && !strings.Contains(tag, "/"))
}

// checkFileError: a refusal is a *FileError on the file, one line, at a
// place within the file's text.
func checkFileError(t *testing.T, path string, file []byte, err error) {
	t.Helper()
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("refusal %v is not a *FileError", err)
	}
	if fe.File != path || !strings.Contains(err.Error(), path) {
		t.Errorf("refusal %q does not name the file %s", err, path)
	}
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Errorf("refusal spans lines: %q", err)
	}
	lines := strings.Split(string(fileText(file)), "\n")
	switch {
	case fe.Line == 0 && fe.Column == 0:
	case fe.Line < 1 || fe.Line > len(lines):
		t.Errorf("refusal %q at line %d of a file of %d lines", err, fe.Line, len(lines))
	case fe.Column < 1 || fe.Column > len(lines[fe.Line-1])+1:
		t.Errorf("refusal %q at line %d, column %d of a line of %d bytes", err, fe.Line, fe.Column, len(lines[fe.Line-1]))
	}
}

// fileText is the file's text as an editor reads it: UTF-16 when it says
// so by a byte-order mark or by the zero bytes of its first characters,
// UTF-8 otherwise (less its byte-order mark).
func fileText(file []byte) []byte {
	decode := func(data []byte, order binary.ByteOrder) []byte {
		units := make([]uint16, len(data)/2)
		for i := range units {
			units[i] = order.Uint16(data[2*i:])
		}
		return []byte(string(utf16.Decode(units)))
	}
	switch {
	case bytes.HasPrefix(file, []byte{0xFF, 0xFE}):
		return decode(file[2:], binary.LittleEndian)
	case bytes.HasPrefix(file, []byte{0xFE, 0xFF}):
		return decode(file[2:], binary.BigEndian)
	case len(file) >= 4 && file[0] != 0 && file[1] == 0 && file[2] != 0 && file[3] == 0:
		return decode(file, binary.LittleEndian)
	case len(file) >= 4 && file[0] == 0 && file[1] != 0 && file[2] == 0 && file[3] != 0:
		return decode(file, binary.BigEndian)
	}
	return bytes.TrimPrefix(file, []byte{0xEF, 0xBB, 0xBF})
}

// wireHTTP answers the SDK's request with an empty result and keeps the
// body it sent: what RegisterTaskDefinition would send ECS, with no
// network at all.
type wireHTTP struct{ body []byte }

func (w *wireHTTP) Do(r *http.Request) (*http.Response, error) {
	var err error
	if w.body, err = io.ReadAll(r.Body); err != nil {
		return nil, err
	}
	return &http.Response{
		StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
		Body: io.NopCloser(strings.NewReader("{}")), Request: r,
	}, nil
}

// wireJSON is the JSON the SDK sends ECS to register in.
func wireJSON(t *testing.T, in *ecs.RegisterTaskDefinitionInput) []byte {
	t.Helper()
	capture := &wireHTTP{}
	client := ecs.New(ecs.Options{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:  capture,
		Retryer:     aws.NopRetryer{},
	})
	if _, err := client.RegisterTaskDefinition(context.Background(), in); err != nil {
		t.Fatalf("the SDK does not send the revision: %v", err)
	}
	return capture.body
}

// checkWire: the SDK's JSON of in has no read-only member and reads back as
// in itself.
func checkWire(t *testing.T, in *ecs.RegisterTaskDefinitionInput, wire []byte) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(wire, &top); err != nil {
		t.Fatalf("the SDK's JSON %s: %v", wire, err)
	}
	for _, k := range describedOnly {
		if _, ok := top[k]; ok {
			t.Errorf("the revision sent to ECS has the read-only %s: %s", k, wire)
		}
	}
	again, err := parseTaskDefinition(wire)
	if err != nil {
		t.Fatalf("the SDK's JSON of the revision does not read back: %v\n%s", err, wire)
	}
	if diff := cmp.Diff(in, again, sdkStructs); diff != "" {
		t.Errorf("the revision read back from the SDK's JSON differs (-sent +read):\n%s", diff)
	}
}

// checkFileKept: the members the file gives (read-only ones aside, and in
// DescribeTaskDefinition's output shape its tags beside the definition)
// are exactly those the SDK sends, with the same values. Null says
// nothing; a zero may be left out, as the SDK leaves zero numbers, false
// and empty enums out.
func checkFileKept(t *testing.T, file, wire []byte) {
	t.Helper()
	given := decodeJSON(t, fileText(file))
	obj := given.(map[string]any)
	if inner, ok := obj["taskDefinition"].(map[string]any); ok {
		if tags, ok := obj["tags"]; ok {
			inner["tags"] = tags
		}
		obj = inner
	}
	for _, k := range describedOnly {
		delete(obj, k)
	}
	sameJSON(t, "", obj, decodeJSON(t, wire))
}

func decodeJSON(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", data, err)
	}
	return v
}

// sameJSON compares what a file gives at path with what the SDK sends.
func sameJSON(t *testing.T, path string, given, sent any) {
	t.Helper()
	switch g := given.(type) {
	case map[string]any:
		s, ok := sent.(map[string]any)
		if !ok {
			t.Errorf("%s: the file gives an object, the SDK sends %v", path, sent)
			return
		}
		for k, gv := range g {
			sv, ok := s[k]
			switch {
			case gv == nil && !ok:
			case !ok && isZero(gv):
			case !ok:
				t.Errorf("%s: the file gives %v, the SDK does not send it", joinPath(path, k), gv)
			default:
				sameJSON(t, joinPath(path, k), gv, sv)
			}
		}
		for k, sv := range s {
			if gv, ok := g[k]; !ok || gv == nil {
				t.Errorf("%s: the SDK sends %v, which the file does not give", joinPath(path, k), sv)
			}
		}
	case []any:
		s, ok := sent.([]any)
		if !ok || len(s) != len(g) {
			t.Errorf("%s: the file gives %d elements, the SDK sends %v", path, len(g), sent)
			return
		}
		for i := range g {
			sameJSON(t, path+"["+strconv.Itoa(i)+"]", g[i], s[i])
		}
	case json.Number:
		s, ok := sent.(json.Number)
		if !ok || !sameNumber(g, s) {
			t.Errorf("%s: the file gives %s, the SDK sends %v", path, g, sent)
		}
	default:
		if !reflect.DeepEqual(given, sent) {
			t.Errorf("%s: the file gives %#v, the SDK sends %#v", path, given, sent)
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// sameNumber compares two JSON numbers as the SDK's double or integer
// holds them.
func sameNumber(a, b json.Number) bool {
	x, _, errA := big.ParseFloat(a.String(), 10, 53, big.ToNearestEven)
	y, _, errB := big.ParseFloat(b.String(), 10, 53, big.ToNearestEven)
	return errA == nil && errB == nil && x.Cmp(y) == 0
}

// isZero reports a JSON zero: 0, false or "".
func isZero(v any) bool {
	switch v := v.(type) {
	case json.Number:
		f, _, err := big.ParseFloat(v.String(), 10, 53, big.ToNearestEven)
		return err == nil && f.Sign() == 0
	case bool:
		return !v
	case string:
		return v == ""
	}
	return false
}
