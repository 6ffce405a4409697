// Package ecsschema walks decoded JSON along the AWS SDK's Smithy schemas of
// ECS shapes: the one reading of ECS's wire JSON against its model, shared
// by the deploy flow (task definition files) and the sandbox's ECS
// (RegisterTaskDefinition requests). It imports neither.
package ecsschema

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/aws/smithy-go"
)

// Kind is the JSON value a schema wants at a place.
type Kind int

// The kinds of JSON value a schema wants.
const (
	Structure Kind = iota + 1
	List
	Map
	String
	Boolean
	Integer
	Number
)

// Mismatch is a value whose JSON type is not what the schema wants there.
type Mismatch struct {
	// Path names the value, e.g. containerDefinitions[0].memory; empty for
	// the top level.
	Path string
	// Want is what the schema wants there.
	Want Kind
	// Got is the value as decoded, numbers as json.Number.
	Got any
}

// Result is a value walked along a schema.
type Result struct {
	// Value is the value as the model has it: members the schema does not
	// have are dropped, as are null members; integers are int64 and other
	// numbers float64.
	Value any
	// Unknown are the paths of the members the schema does not have.
	Unknown []string
	// Mismatches are the values of the wrong type, which Value leaves out.
	Mismatches []Mismatch
	// Nulls are the paths of the nulls in lists and maps (as values of a
	// map's keys), which Value keeps: ECS's lists and maps are not sparse,
	// so a reader that would turn them into zero values refuses them
	// instead. A null member of a structure is no value, and not listed.
	Nulls []string
}

// Conform walks v, decoded with json.Decoder.UseNumber, along schema.
// Object keys are visited in sorted order, so Unknown and Mismatches come
// in a stable order.
func Conform(schema *smithy.Schema, v any) Result {
	var r Result
	r.Value = r.walk(schema, v, "")
	return r
}

// joinPath is the path of key inside the value at path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (r *Result) walk(s *smithy.Schema, v any, path string) any {
	if v == nil {
		return nil
	}
	want := kindOf(s)
	mismatch := func() any {
		r.Mismatches = append(r.Mismatches, Mismatch{Path: path, Want: want, Got: v})
		return nil
	}
	switch want {
	case Structure:
		obj, ok := v.(map[string]any)
		if !ok {
			return mismatch()
		}
		out := make(map[string]any, len(obj))
		for _, k := range sortedKeys(obj) {
			m := s.Member(k)
			if m == nil {
				r.Unknown = append(r.Unknown, joinPath(path, k))
				continue
			}
			if cv := r.walk(m, obj[k], joinPath(path, k)); cv != nil {
				out[k] = cv
			}
		}
		return out
	case List:
		arr, ok := v.([]any)
		if !ok {
			return mismatch()
		}
		out := make([]any, 0, len(arr))
		for i, ev := range arr {
			elem := fmt.Sprintf("%s[%d]", path, i)
			if ev == nil {
				r.Nulls = append(r.Nulls, elem)
			}
			out = append(out, r.walk(s.ListMember(), ev, elem))
		}
		return out
	case Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return mismatch()
		}
		out := make(map[string]any, len(obj))
		for _, k := range sortedKeys(obj) {
			if obj[k] == nil {
				r.Nulls = append(r.Nulls, joinPath(path, k))
			}
			out[k] = r.walk(s.MapValue(), obj[k], joinPath(path, k))
		}
		return out
	case String:
		if _, ok := v.(string); !ok {
			return mismatch()
		}
		return v
	case Boolean:
		if _, ok := v.(bool); !ok {
			return mismatch()
		}
		return v
	case Integer:
		n, ok := v.(json.Number)
		if !ok {
			return mismatch()
		}
		i, err := strconv.ParseInt(n.String(), 10, integerBits(s.Type()))
		if err != nil {
			return mismatch()
		}
		return i
	case Number:
		n, ok := v.(json.Number)
		if !ok {
			return mismatch()
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) {
			return mismatch()
		}
		return f
	}
	return v
}

// kindOf is the JSON kind a shape is written as on awsJson's wire; 0 for
// documents, which take any value.
func kindOf(s *smithy.Schema) Kind {
	switch s.Type() {
	case smithy.ShapeTypeStructure, smithy.ShapeTypeUnion:
		return Structure
	case smithy.ShapeTypeList, smithy.ShapeTypeSet:
		return List
	case smithy.ShapeTypeMap:
		return Map
	case smithy.ShapeTypeString, smithy.ShapeTypeEnum, smithy.ShapeTypeBlob:
		return String
	case smithy.ShapeTypeBoolean:
		return Boolean
	case smithy.ShapeTypeByte, smithy.ShapeTypeShort, smithy.ShapeTypeInteger, smithy.ShapeTypeLong, smithy.ShapeTypeIntEnum, smithy.ShapeTypeBigInteger:
		return Integer
	case smithy.ShapeTypeFloat, smithy.ShapeTypeDouble, smithy.ShapeTypeBigDecimal, smithy.ShapeTypeTimestamp:
		return Number
	}
	return 0
}

// integerBits is the size of an integer shape, which bounds its values.
func integerBits(t smithy.ShapeType) int {
	switch t {
	case smithy.ShapeTypeByte:
		return 8
	case smithy.ShapeTypeShort:
		return 16
	case smithy.ShapeTypeInteger, smithy.ShapeTypeIntEnum:
		return 32
	}
	return 64
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
