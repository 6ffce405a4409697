package iam

import (
	"fmt"
	"slices"
	"sync"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
)

// Authorization is one authorization decision: who asked to do what, on
// what, with which condition keys, and the policy's answer.
type Authorization struct {
	// Caller is the caller's ARN (an assumed role's, a user's, or for a
	// trust decision the principal asking); empty for an anonymous call.
	Caller   string
	Action   string
	Resource string
	Context  Context
	// Trust is set for a role's trust policy deciding who may assume it;
	// otherwise the caller's identity policies decided.
	Trust bool
	Decision
}

// Authorizer decides whether a session may make a call, by the identity
// policies of its role (or user), and records every decision it makes.
type Authorizer struct {
	roles  *Directory
	region string

	mu        sync.Mutex
	decisions []Authorization
}

// NewAuthorizer returns an authorizer that reads roles from roles and sets
// aws:RequestedRegion to region.
func NewAuthorizer(roles *Directory, region string) *Authorizer {
	return &Authorizer{roles: roles, region: region}
}

// Decisions returns every decision made so far, in order.
func (a *Authorizer) Decisions() []Authorization {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.decisions)
}

func (a *Authorizer) record(d Authorization) {
	a.mu.Lock()
	a.decisions = append(a.decisions, d)
	a.mu.Unlock()
}

// namedPolicy is one identity policy and what IAM calls it.
type namedPolicy struct {
	name string
	doc  PolicyDocument
}

// identityPolicies are the policies that govern a caller: a role's inline
// and attached managed policies, or a user's AdministratorAccess.
func (a *Authorizer) identityPolicies(caller *awsproto.Session) []namedPolicy {
	if caller.IsUser() {
		return []namedPolicy{{name: AdministratorAccessARN, doc: administratorAccess}}
	}
	role := a.roles.Role(caller.Account, caller.RoleName)
	if role == nil {
		return nil
	}
	inline := role.InlinePolicies()
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range inline {
			if !yield(n) {
				return
			}
		}
	})
	var out []namedPolicy
	for _, n := range names {
		out = append(out, namedPolicy{name: n, doc: inline[n]})
	}
	for _, arn := range role.AttachedPolicies {
		if _, mp, ok := a.roles.ManagedPolicy(caller.Account, arn); ok {
			out = append(out, namedPolicy{name: arn, doc: mp.Document})
		}
	}
	return out
}

// Decide evaluates the caller's identity policies for action on resource,
// as IAM does across several policies: a Deny in any wins, otherwise an
// Allow in any allows. keys are the request's own condition keys
// (ecs:cluster, iam:PassedToService, ...); the global keys
// aws:PrincipalArn, aws:PrincipalAccount and aws:RequestedRegion are always
// present. The decision is recorded.
func (a *Authorizer) Decide(caller *awsproto.Session, action, resource string, keys map[string]string) Authorization {
	out := Authorization{Action: action, Resource: resource, Context: Context{}, Decision: Decision{Statement: -1}}
	defer func() { a.record(out) }()
	if caller == nil {
		return out
	}
	out.Caller = caller.PrincipalARN()
	principal := caller.RoleARN()
	if caller.IsUser() {
		principal = caller.PrincipalARN()
	}
	out.Context.Set("aws:PrincipalArn", principal)
	out.Context.Set("aws:PrincipalAccount", caller.Account)
	out.Context.Set("aws:RequestedRegion", a.region)
	for k, v := range keys {
		out.Context.Set(k, v)
	}
	for _, p := range a.identityPolicies(caller) {
		d := Evaluate(p.doc, Request{Action: action, Resource: resource, Context: out.Context})
		d.Policy = p.name
		switch {
		case !d.Allowed && d.Statement >= 0:
			// An explicit Deny ends the evaluation.
			out.Decision = d
			return out
		case d.Allowed && !out.Allowed:
			out.Decision = d
		}
	}
	return out
}

// Trust evaluates a role's trust policy for a principal asking to assume
// it, and records the decision.
func (a *Authorizer) Trust(role *Role, roleARN string, req Request) Decision {
	d := Evaluate(role.TrustPolicy, req)
	d.Policy = "trust policy"
	caller := ""
	if req.Principal != nil && len(req.Principal.Names) > 0 {
		caller = req.Principal.Names[0]
	}
	a.record(Authorization{Caller: caller, Action: req.Action, Resource: roleARN, Context: req.Context, Trust: true, Decision: d})
	return d
}

// Authorize is Decide with the error AWS returns to an awsJson1_1 caller
// that is denied; nil when the call is allowed.
func (a *Authorizer) Authorize(caller *awsproto.Session, action, resource string, keys map[string]string) *awsproto.Error {
	if caller == nil {
		a.record(Authorization{Action: action, Resource: resource, Decision: Decision{Statement: -1}})
		return &awsproto.Error{Status: 400, Code: "AccessDeniedException", Message: "anonymous callers are not authorized to perform: " + action}
	}
	if a.Decide(caller, action, resource, keys).Allowed {
		return nil
	}
	return &awsproto.Error{Status: 400, Code: "AccessDeniedException", Message: deniedMessage(caller, action, resource)}
}

// deniedMessage is what AWS says to a caller its policies do not allow.
func deniedMessage(caller *awsproto.Session, action, resource string) string {
	return fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
		caller.PrincipalARN(), action, resource, action)
}
