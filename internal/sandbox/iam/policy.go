// Package iam stands in for AWS IAM: roles and their policies, OIDC
// identity providers, the sessions STS issues, and the one policy evaluator
// that both identity policies (what a session may do) and trust policies
// (who may assume a role) go through.
package iam

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// PolicyDocument is an IAM policy document.
type PolicyDocument struct {
	Version   string      `json:"Version,omitempty"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of an IAM policy. Action, Resource and the
// Principal values accept a string or a list of strings, as IAM does.
type Statement struct {
	Sid       string                           `json:"Sid,omitempty"`
	Effect    string                           `json:"Effect"`
	Principal map[string]StringList            `json:"Principal,omitempty"`
	Action    StringList                       `json:"Action"`
	Resource  StringList                       `json:"Resource,omitempty"`
	Condition map[string]map[string]StringList `json:"Condition,omitempty"`
}

// StringList is an IAM value that may be written as one string or a list.
type StringList []string

// UnmarshalJSON accepts "x" as well as ["x", "y"].
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

// Role is an IAM role.
type Role struct {
	// Path is the role's path, / by default: it is part of the role's ARN
	// (arn:aws:iam::ACCOUNT:role/PATH/NAME), and STS finds the role only by
	// that whole ARN.
	Path string `json:"path,omitempty"`
	// TrustPolicy is the IAM trust policy document, in AWS's own JSON form.
	TrustPolicy PolicyDocument `json:"trustPolicy"`
	// Permissions is the identity policy that governs what sessions of the
	// role may call. An empty policy allows nothing.
	Permissions PolicyDocument `json:"permissions"`
	// MaxSessionDuration is in seconds, 3600 to 43200; 0 means 3600.
	MaxSessionDuration int `json:"maxSessionDuration,omitempty"`
}

// rolePathPattern is IAM's constraint on paths: / alone, or printable ASCII
// between a leading and a trailing slash (the pathType of IAM's API model).
var rolePathPattern = regexp.MustCompile(`^(/|/[\x21-\x7e]+/)$`)

// Normalize fills in the role's defaults and checks its bounds, as IAM
// does when a role is created.
func (r *Role) Normalize() error {
	if r.Path == "" {
		r.Path = "/"
	}
	if !rolePathPattern.MatchString(r.Path) || len(r.Path) > 512 {
		return fmt.Errorf("path %q: a path is / or /PART/.../, at most 512 printable ASCII characters", r.Path)
	}
	if r.MaxSessionDuration == 0 {
		r.MaxSessionDuration = 3600
	}
	if r.MaxSessionDuration < 3600 || r.MaxSessionDuration > 43200 {
		return fmt.Errorf("maxSessionDuration %d is outside 3600-43200", r.MaxSessionDuration)
	}
	return nil
}

// OIDCProvider is an IAM OpenID Connect provider.
type OIDCProvider struct {
	// URL is the issuer without its scheme, e.g. token.actions.githubusercontent.com.
	URL string `json:"url"`
	// ClientIDs are the accepted audiences, e.g. sts.amazonaws.com.
	ClientIDs []string `json:"clientIds"`
}

// ProviderHost is an issuer URL as IAM names its OIDC provider: without
// scheme or trailing slash.
func ProviderHost(issuer string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(issuer, "https://"), "http://"), "/")
}
