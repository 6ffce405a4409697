package iam

import (
	"strings"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/iamglob"
)

// Context holds a request's condition keys. Keys are stored in lower case
// because IAM matches key names case-insensitively; values stay as given.
type Context map[string][]string

// Set sets key to values.
func (c Context) Set(key string, values ...string) { c[strings.ToLower(key)] = values }

// Principal names the caller of a request as a resource-based (trust)
// policy's Principal element does.
type Principal struct {
	// Type is the Principal element that names the caller: AWS for IAM
	// sessions, Federated for identity providers.
	Type string
	// Names are every value that names the caller in that element: its role
	// ARN, its account root, its bare account ID, or the provider ARN.
	Names []string
}

// Request is a request as a policy sees it.
type Request struct {
	// Action is the IAM action, e.g. ecs:UpdateService or sts:AssumeRole.
	Action string
	// Resource is the ARN acted on, which identity policies' Resource
	// elements match.
	Resource string
	// Principal, for a resource-based policy such as a role's trust policy,
	// is who asks; such policies name no Resource. Nil for identity
	// policies.
	Principal *Principal
	// Context holds the request's condition keys.
	Context Context
}

// Decision is the outcome of evaluating a policy for a request.
type Decision struct {
	// Allowed is true when an Allow statement applies and no Deny does.
	Allowed bool
	// Statement is the index of the statement that decided: the Deny that
	// applies, or the first Allow that does; -1 when none applies (an
	// implicit deny).
	Statement int
	// Policy names the policy whose statement decided: an inline policy's
	// name, a managed policy's ARN, or "trust policy".
	Policy string
}

// Evaluate evaluates a policy as IAM does: a statement applies when its
// Action, its Resource (identity policies) or Principal (resource-based
// policies), and every condition match; an applying Deny wins, otherwise an
// applying Allow allows.
func Evaluate(p PolicyDocument, req Request) Decision {
	d := Decision{Statement: -1}
	for i, st := range p.Statement {
		if len(st.NotAction) > 0 {
			if iamglob.MatchAny(st.NotAction, req.Action, true) {
				continue
			}
		} else if !iamglob.MatchAny(st.Action, req.Action, true) {
			continue
		}
		if req.Principal != nil {
			if !principalMatches(st.Principal, *req.Principal) {
				continue
			}
		} else if len(st.NotResource) > 0 {
			if iamglob.MatchAny(st.NotResource, req.Resource, false) {
				continue
			}
		} else {
			res := st.Resource
			if len(res) == 0 {
				res = StringList{"*"}
			}
			if !iamglob.MatchAny(res, req.Resource, false) {
				continue
			}
		}
		if !conditionsHold(st.Condition, req.Context) {
			continue
		}
		switch st.Effect {
		case "Deny":
			return Decision{Allowed: false, Statement: i}
		case "Allow":
			if !d.Allowed {
				d = Decision{Allowed: true, Statement: i}
			}
		}
	}
	return d
}

// principalMatches reports whether a statement's Principal names the caller.
// "*" names everyone.
func principalMatches(principal map[string]StringList, caller Principal) bool {
	for k, values := range principal {
		if k != caller.Type && k != "*" {
			continue
		}
		for _, v := range values {
			if v == "*" {
				return true
			}
			for _, c := range caller.Names {
				if v == c {
					return true
				}
			}
		}
	}
	return false
}

// conditionsHold evaluates a Condition block: every operator, and every key
// under it, must hold (values under one key are alternatives).
func conditionsHold(cond map[string]map[string]StringList, ctx Context) bool {
	for op, keys := range cond {
		for key, want := range keys {
			got, present := ctx[strings.ToLower(key)]
			if !conditionHolds(op, got, present, want) {
				return false
			}
		}
	}
	return true
}

// conditionHolds evaluates one condition operator on one key. It follows
// IAM's rules for absent keys: a positive operator fails, a negated one
// (StringNotEquals, StringNotLike) holds, ...IfExists holds, ForAllValues
// holds vacuously and ForAnyValue fails. An operator the sandbox does not
// know fails, so a typo never widens a trust policy.
func conditionHolds(op string, got []string, present bool, want []string) bool {
	set := ""
	if prefix, rest, ok := strings.Cut(op, ":"); ok {
		set, op = prefix, rest
	}
	ifExists := false
	if base, ok := strings.CutSuffix(op, "IfExists"); ok {
		op, ifExists = base, true
	}
	if op == "Null" {
		// "Null": "true" holds when the key is absent.
		for _, w := range want {
			if (strings.EqualFold(w, "true") && !present) || (strings.EqualFold(w, "false") && present) {
				return true
			}
		}
		return false
	}
	match, negated, known := stringOperator(op)
	if !known {
		return false
	}
	if !present || len(got) == 0 {
		switch {
		case ifExists:
			return true
		case strings.EqualFold(set, "ForAllValues"):
			return true
		case strings.EqualFold(set, "ForAnyValue"):
			return false
		default:
			return negated
		}
	}
	// matchesOne reports whether a context value matches one of the policy's
	// values under the positive form of the operator.
	matchesOne := func(v string) bool {
		for _, w := range want {
			if match(w, v) {
				return true
			}
		}
		return false
	}
	// holdsFor applies the operator, negated or not, to one context value.
	holdsFor := func(v string) bool { return matchesOne(v) != negated }
	switch strings.ToLower(set) {
	case "forallvalues":
		for _, v := range got {
			if !holdsFor(v) {
				return false
			}
		}
		return true
	case "foranyvalue":
		for _, v := range got {
			if holdsFor(v) {
				return true
			}
		}
		return false
	case "":
		// A single-valued key: holds when its value matches; a negated
		// operator holds when no value matches.
		if negated {
			for _, v := range got {
				if matchesOne(v) {
					return false
				}
			}
			return true
		}
		for _, v := range got {
			if matchesOne(v) {
				return true
			}
		}
		return false
	default:
		return false
	}
}

// stringOperator returns the comparison behind an IAM string condition
// operator, whether the operator negates it, and whether it is known.
func stringOperator(op string) (match func(pattern, value string) bool, negated, known bool) {
	equal := func(p, v string) bool { return p == v }
	equalFold := strings.EqualFold
	switch op {
	case "StringEquals", "ArnEquals":
		return equal, false, true
	case "StringNotEquals", "ArnNotEquals":
		return equal, true, true
	case "StringEqualsIgnoreCase":
		return equalFold, false, true
	case "StringNotEqualsIgnoreCase":
		return equalFold, true, true
	case "StringLike", "ArnLike":
		return iamglob.Match, false, true
	case "StringNotLike", "ArnNotLike":
		return iamglob.Match, true, true
	}
	return nil, false, false
}
