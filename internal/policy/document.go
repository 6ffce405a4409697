package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// PolicyVersion is the IAM policy language version every document uses.
const PolicyVersion = "2012-10-17"

// Document is an IAM policy document in AWS's JSON form.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a policy. Fields marshal in the order IAM's
// own documentation writes them.
type Statement struct {
	Sid       string     `json:"Sid,omitempty"`
	Effect    string     `json:"Effect"`
	Principal Principal  `json:"Principal,omitempty"`
	Action    StringList `json:"Action,omitempty"`
	// NotAction and NotResource are read from policies others wrote (the
	// doctor flags them); generated policies never use them.
	NotAction   StringList `json:"NotAction,omitempty"`
	Resource    StringList `json:"Resource,omitempty"`
	NotResource StringList `json:"NotResource,omitempty"`
	Condition   Condition  `json:"Condition,omitempty"`
}

// Principal names who a trust policy statement lets in: "Federated" for an
// identity provider, "AWS" for a role.
type Principal map[string]StringList

// Condition maps an operator (StringEquals, ArnEquals) to condition keys and
// their accepted values.
type Condition map[string]map[string]StringList

// StringList is a policy value that IAM accepts as one string or a list: it
// marshals as a string when it holds one value, and reads either form.
type StringList []string

// MarshalJSON writes one value as a string, several as a list.
func (s StringList) MarshalJSON() ([]byte, error) {
	if len(s) == 1 {
		return json.Marshal(s[0])
	}
	return json.Marshal([]string(s))
}

// UnmarshalJSON reads "x" as well as ["x", "y"].
func (s *StringList) UnmarshalJSON(data []byte) error {
	var one string
	if err := json.Unmarshal(data, &one); err == nil {
		*s = StringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	*s = many
	return nil
}

// JSON renders the document as IAM's consoles and the README show it:
// indented by two spaces, with a final newline.
func (d Document) JSON() string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		// Every field is a string, a list or a map of them.
		panic("encode policy document: " + err.Error())
	}
	return buf.String()
}

// Compact renders the document on one line, as IAM's API takes it.
func (d Document) Compact() string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		panic("encode policy document: " + err.Error())
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// ParseDocument reads a policy document in AWS's JSON form.
func ParseDocument(data []byte) (Document, error) {
	var d Document
	if err := json.Unmarshal(data, &d); err != nil {
		return Document{}, fmt.Errorf("parse policy document: %w", err)
	}
	return d, nil
}
