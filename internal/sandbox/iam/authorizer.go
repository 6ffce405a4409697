package iam

import (
	"fmt"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
)

// Authorization is one authorization decision: who asked to do what, on
// what, with which condition keys, and the policy's answer.
type Authorization struct {
	// Caller is the caller's assumed-role ARN; empty for an anonymous call.
	Caller   string
	Action   string
	Resource string
	Context  Context
	Decision
}

// Authorizer decides whether a session may make a call, by its role's
// identity policy.
type Authorizer struct {
	roles  *Directory
	region string
}

// NewAuthorizer returns an authorizer that reads roles from roles and sets
// aws:RequestedRegion to region.
func NewAuthorizer(roles *Directory, region string) *Authorizer {
	return &Authorizer{roles: roles, region: region}
}

// Decide evaluates the caller's role permissions for action on resource.
// keys are the request's own condition keys (ecs:cluster,
// iam:PassedToService, ...); the global keys aws:PrincipalArn,
// aws:PrincipalAccount and aws:RequestedRegion are always present.
func (a *Authorizer) Decide(caller *awsproto.Session, action, resource string, keys map[string]string) Authorization {
	out := Authorization{Action: action, Resource: resource, Context: Context{}, Decision: Decision{Statement: -1}}
	if caller == nil {
		return out
	}
	out.Caller = caller.AssumedRoleARN()
	out.Context.Set("aws:PrincipalArn", caller.RoleARN())
	out.Context.Set("aws:PrincipalAccount", caller.Account)
	out.Context.Set("aws:RequestedRegion", a.region)
	for k, v := range keys {
		out.Context.Set(k, v)
	}
	if role := a.roles.Role(caller.Account, caller.RoleName); role != nil {
		out.Decision = Evaluate(role.Permissions, Request{Action: action, Resource: resource, Context: out.Context})
	}
	return out
}

// Authorize is Decide with the error AWS returns to an awsJson1_1 caller
// that is denied; nil when the call is allowed.
func (a *Authorizer) Authorize(caller *awsproto.Session, action, resource string, keys map[string]string) *awsproto.Error {
	if caller == nil {
		return &awsproto.Error{Status: 400, Code: "AccessDeniedException", Message: "anonymous callers are not authorized to perform: " + action}
	}
	if a.Decide(caller, action, resource, keys).Allowed {
		return nil
	}
	return &awsproto.Error{Status: 400, Code: "AccessDeniedException", Message: fmt.Sprintf(
		"User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
		caller.AssumedRoleARN(), action, resource, action)}
}
