package sandbox

import "strings"

// trustRequest is a request to assume a role, as the role's trust policy
// sees it.
type trustRequest struct {
	// Action is sts:AssumeRole or sts:AssumeRoleWithWebIdentity.
	Action string
	// PrincipalType is the Principal element that names the caller: AWS for
	// IAM sessions, Federated for identity providers.
	PrincipalType string
	// Principals are every value that names the caller in that element: its
	// role ARN, its account root, its bare account ID, or the provider ARN.
	Principals []string
	// Context holds the condition keys of the request, keyed in lower case
	// because IAM matches key names case-insensitively; values stay as given.
	Context map[string][]string
}

// trustAllows evaluates a role's trust policy as IAM does: a matching Deny
// wins, otherwise some Allow must match the principal, the action and every
// condition.
func trustAllows(p PolicyDocument, req trustRequest) bool {
	allowed := false
	for _, st := range p.Statement {
		if !matchesAny(st.Action, req.Action, true) {
			continue
		}
		if !principalMatches(st.Principal, req.PrincipalType, req.Principals) {
			continue
		}
		if !conditionsHold(st.Condition, req.Context) {
			continue
		}
		switch st.Effect {
		case "Deny":
			return false
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

// principalMatches reports whether a statement's Principal names the caller.
// "*" names everyone.
func principalMatches(principal map[string]StringList, kind string, callers []string) bool {
	for k, values := range principal {
		if k != kind && k != "*" {
			continue
		}
		for _, v := range values {
			if v == "*" {
				return true
			}
			for _, c := range callers {
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
func conditionsHold(cond map[string]map[string]StringList, ctx map[string][]string) bool {
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
		return globMatch, false, true
	case "StringNotLike", "ArnNotLike":
		return globMatch, true, true
	}
	return nil, false, false
}
