package iam

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
)

// maxTrustPolicyChars is IAM's default quota on a role's trust policy,
// counted without whitespace.
const maxTrustPolicyChars = 2048

// syntaxError is what IAM says of a document it cannot read.
func syntaxError() *awsproto.Error { return malformed("Syntax errors in policy.") }

// rawStatement is a statement as written: every field IAM knows, so that
// any other is a syntax error.
type rawStatement struct {
	Sid          string                           `json:"Sid"`
	Effect       string                           `json:"Effect"`
	Principal    json.RawMessage                  `json:"Principal"`
	NotPrincipal json.RawMessage                  `json:"NotPrincipal"`
	Action       StringList                       `json:"Action"`
	NotAction    StringList                       `json:"NotAction"`
	Resource     StringList                       `json:"Resource"`
	NotResource  StringList                       `json:"NotResource"`
	Condition    map[string]map[string]StringList `json:"Condition"`
}

// parseDocument reads a policy document as IAM does: Version, Id and
// Statement (one statement or a list), each statement with IAM's fields
// only, Effect Allow or Deny, and actions prefixed by their service.
func parseDocument(text string) (PolicyDocument, []rawStatement, *awsproto.Error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&top); err != nil || dec.More() {
		return PolicyDocument{}, nil, syntaxError()
	}
	doc := PolicyDocument{}
	for k, v := range top {
		switch k {
		case "Version":
			if json.Unmarshal(v, &doc.Version) != nil || doc.Version != "2012-10-17" && doc.Version != "2008-10-17" {
				return doc, nil, malformed("The policy failed legacy parsing")
			}
		case "Id":
		case "Statement":
		default:
			return doc, nil, syntaxError()
		}
	}
	raw := bytes.TrimSpace(top["Statement"])
	if len(raw) == 0 {
		return doc, nil, syntaxError()
	}
	if raw[0] == '{' {
		raw = append(append([]byte{'['}, raw...), ']')
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return doc, nil, syntaxError()
	}
	var statements []rawStatement
	for _, item := range items {
		var st rawStatement
		d := json.NewDecoder(bytes.NewReader(item))
		d.DisallowUnknownFields()
		if err := d.Decode(&st); err != nil {
			return doc, nil, syntaxError()
		}
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return doc, nil, malformed("Invalid effect: %s", st.Effect)
		}
		if len(st.Action) == 0 && len(st.NotAction) == 0 {
			return doc, nil, malformed("Policy statement must contain actions.")
		}
		for _, a := range append(append(StringList{}, st.Action...), st.NotAction...) {
			if a != "*" && !strings.Contains(a, ":") {
				return doc, nil, malformed("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
			}
		}
		statements = append(statements, st)
		doc.Statement = append(doc.Statement, Statement{
			Sid: st.Sid, Effect: st.Effect, Action: st.Action, NotAction: st.NotAction,
			Resource: st.Resource, NotResource: st.NotResource, Condition: st.Condition,
		})
	}
	return doc, statements, nil
}

// parseIdentityPolicy reads a permissions policy: no principal, and
// resources in every statement.
func parseIdentityPolicy(text string) (PolicyDocument, *awsproto.Error) {
	doc, raws, apiErr := parseDocument(text)
	if apiErr != nil {
		return doc, apiErr
	}
	for _, st := range raws {
		if len(st.Principal) > 0 || len(st.NotPrincipal) > 0 {
			return doc, malformed("Policy document should not specify a principal.")
		}
		if len(st.Resource) == 0 && len(st.NotResource) == 0 {
			return doc, malformed("Policy statement must contain resources.")
		}
	}
	return doc, nil
}

var (
	accountPrincipal = regexp.MustCompile(`^(\d{12})$|^arn:[a-z-]+:iam::(\d{12}):root$`)
	rolePrincipal    = regexp.MustCompile(`^arn:[a-z-]+:iam::(\d{12}):role/(?:[\x21-\x7e]*/)?([\w+=,.@-]+)$`)
	userPrincipal    = regexp.MustCompile(`^arn:[a-z-]+:iam::(\d{12}):user/(?:[\x21-\x7e]*/)?([\w+=,.@-]+)$`)
	oidcPrincipal    = regexp.MustCompile(`^arn:[a-z-]+:iam::(\d{12}):oidc-provider/(.+)$`)
	servicePrincipal = regexp.MustCompile(`^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$`)
	// webIdentityProviders are the public identity providers IAM knows
	// without a provider of the account.
	webIdentityProviders = []string{"cognito-identity.amazonaws.com", "accounts.google.com", "graph.facebook.com", "www.amazon.com"}
)

// parseTrust reads a role's trust policy for account: principals in every
// statement and no resources, only STS's assume actions, every principal
// one that exists, and within IAM's size quota.
func (s *Service) parseTrust(account, text string) (PolicyDocument, *awsproto.Error) {
	if n := len(withoutSpace(text)); n > maxTrustPolicyChars {
		return PolicyDocument{}, limitExceeded("Cannot exceed quota for ACLSizePerRole: %d", maxTrustPolicyChars)
	}
	doc, raws, apiErr := parseDocument(text)
	if apiErr != nil {
		return doc, apiErr
	}
	for i, st := range raws {
		if len(st.Resource) > 0 || len(st.NotResource) > 0 {
			return doc, malformed("Has prohibited field Resource")
		}
		if len(st.Principal) == 0 && len(st.NotPrincipal) == 0 {
			return doc, malformed("Missing required field Principal")
		}
		for _, a := range st.Action {
			if !strings.HasPrefix(strings.ToLower(a), "sts:") {
				return doc, malformed("AssumeRole policy may only specify STS AssumeRole actions.")
			}
		}
		principal, apiErr := s.principal(account, st.Principal)
		if apiErr != nil {
			return doc, apiErr
		}
		doc.Statement[i].Principal = principal
	}
	return doc, nil
}

// principal reads a Principal element ("*", or a map of kinds to one value
// or a list) and checks that everything it names exists.
func (s *Service) principal(account string, raw json.RawMessage) (map[string]StringList, *awsproto.Error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star != "*" {
			return nil, syntaxError()
		}
		return map[string]StringList{"AWS": {"*"}}, nil
	}
	var m map[string]StringList
	if json.Unmarshal(raw, &m) != nil {
		return nil, syntaxError()
	}
	for kind, values := range m {
		for _, v := range values {
			if !s.principalExists(account, kind, v) {
				return nil, malformed("Invalid principal in policy: %q:%q", kind, v)
			}
		}
	}
	return m, nil
}

// principalExists reports whether IAM would accept a principal: it must
// name an account, or an entity that exists.
func (s *Service) principalExists(account, kind, v string) bool {
	switch kind {
	case "AWS":
		if v == "*" || accountPrincipal.MatchString(v) {
			return true
		}
		if m := rolePrincipal.FindStringSubmatch(v); m != nil {
			return s.dir.Role(m[1], m[2]) != nil
		}
		if m := userPrincipal.FindStringSubmatch(v); m != nil {
			found := false
			s.dir.read(m[1], func(a *Account) { found = a != nil && a.Administrator.UserName == m[2] })
			return found
		}
		return false
	case "Federated":
		for _, p := range webIdentityProviders {
			if v == p {
				return true
			}
		}
		if m := oidcPrincipal.FindStringSubmatch(v); m != nil {
			return m[1] == account && s.dir.OIDCProvider(m[1], m[2]) != nil
		}
		return false
	case "Service":
		return servicePrincipal.MatchString(v)
	}
	return false
}
