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
	"time"
)

// PolicyDocument is an IAM policy document.
type PolicyDocument struct {
	Version   string      `json:"Version,omitempty"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of an IAM policy. Action, Resource and the
// Principal values accept a string or a list of strings, as IAM does.
type Statement struct {
	Sid       string                `json:"Sid,omitempty"`
	Effect    string                `json:"Effect"`
	Principal map[string]StringList `json:"Principal,omitempty"`
	Action    StringList            `json:"Action,omitempty"`
	// NotAction matches every action but those it lists.
	NotAction StringList `json:"NotAction,omitempty"`
	Resource  StringList `json:"Resource,omitempty"`
	// NotResource matches every resource but those it lists.
	NotResource StringList                       `json:"NotResource,omitempty"`
	Condition   map[string]map[string]StringList `json:"Condition,omitempty"`
}

// StringList is an IAM value that may be written as one string or a list.
type StringList []string

// MarshalJSON writes one value as a string, several as a list, as IAM's
// own documents do.
func (s StringList) MarshalJSON() ([]byte, error) {
	if len(s) == 1 {
		return json.Marshal(s[0])
	}
	return json.Marshal([]string(s))
}

// JSON is the document's JSON text, as IAM returns a document it holds
// only in parsed form (the world's).
func (d PolicyDocument) JSON() string {
	data, err := json.Marshal(d)
	if err != nil {
		panic("policy document: " + err.Error())
	}
	return string(data)
}

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
	// Description is the role's description.
	Description string `json:"description,omitempty"`
	// TrustPolicy is the IAM trust policy document, in AWS's own JSON form.
	TrustPolicy PolicyDocument `json:"trustPolicy"`
	// Permissions is the identity policy that governs what sessions of the
	// role may call, listed by IAM as the inline policy "permissions". An
	// empty policy allows nothing.
	Permissions PolicyDocument `json:"permissions"`
	// Policies are more inline policies, by name, as PutRolePolicy adds them.
	Policies map[string]PolicyDocument `json:"policies,omitempty"`
	// AttachedPolicies are the ARNs of the managed policies attached to the
	// role: AWS's arn:aws:iam::aws:policy/AdministratorAccess, or one of
	// the account's managedPolicies.
	AttachedPolicies []string `json:"attachedPolicies,omitempty"`
	// MaxSessionDuration is in seconds, 3600 to 43200; 0 means 3600.
	MaxSessionDuration int `json:"maxSessionDuration,omitempty"`
	// Created is when the role was created: the sandbox's start for the
	// world's roles.
	Created time.Time `json:"-"`
	// texts are the documents' texts as the IAM API was given them, which
	// it returns as they were: the trust policy's under trustKey, inline
	// policies' under their names.
	texts map[string]string
}

// rolePathPattern is IAM's constraint on paths: / alone, or printable ASCII
// between a leading and a trailing slash (the pathType of IAM's API model).
var rolePathPattern = regexp.MustCompile(`^(/|/[\x21-\x7e]+/)$`)

// PermissionsPolicyName is the name IAM lists a world role's permissions
// policy under.
const PermissionsPolicyName = "permissions"

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

// InlinePolicies are the role's inline policies by name: its permissions
// (when it has any) and those PutRolePolicy added.
func (r *Role) InlinePolicies() map[string]PolicyDocument {
	out := make(map[string]PolicyDocument, len(r.Policies)+1)
	if len(r.Permissions.Statement) > 0 {
		out[PermissionsPolicyName] = r.Permissions
	}
	for name, doc := range r.Policies {
		out[name] = doc
	}
	return out
}

// ManagedPolicy is a customer managed policy of an account.
type ManagedPolicy struct {
	// Path is the policy's path, / by default.
	Path string `json:"path,omitempty"`
	// Document is the policy's (only, default) version, v1.
	Document PolicyDocument `json:"document"`
}

// AdministratorAccessARN is AWS's managed policy that allows everything,
// in the aws partition; administratorAccessSuffix is its ARN's end in any.
const (
	AdministratorAccessARN    = "arn:aws:iam::aws:policy/AdministratorAccess"
	administratorAccessSuffix = ":iam::aws:policy/AdministratorAccess"
)

// administratorAccess is that policy's document.
var administratorAccess = PolicyDocument{Version: "2012-10-17", Statement: []Statement{{Effect: "Allow", Action: StringList{"*"}, Resource: StringList{"*"}}}}

// Administrator is an IAM user of an account with AdministratorAccess and
// a long-term access key: the person who runs setup and doctor.
type Administrator struct {
	// UserName is the user's name; administrator by default.
	UserName string `json:"userName,omitempty"`
	// AccessKeyID (AKIA...) and SecretAccessKey are the user's access key;
	// generated when the world gives none.
	AccessKeyID     string `json:"accessKeyId,omitempty"`
	SecretAccessKey string `json:"secretAccessKey,omitempty"`
}

// OIDCProvider is an IAM OpenID Connect provider.
type OIDCProvider struct {
	// URL is the issuer without its scheme, e.g. token.actions.githubusercontent.com.
	URL string `json:"url"`
	// ClientIDs are the accepted audiences, e.g. sts.amazonaws.com.
	ClientIDs []string `json:"clientIds"`
	// Thumbprints are the certificate thumbprints given when it was created.
	Thumbprints []string `json:"thumbprints,omitempty"`
	// Created is when it was created: the sandbox's start for the world's.
	Created time.Time `json:"-"`
}

// ProviderHost is an issuer URL as IAM names its OIDC provider: without
// scheme or trailing slash.
func ProviderHost(issuer string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(issuer, "https://"), "http://"), "/")
}
