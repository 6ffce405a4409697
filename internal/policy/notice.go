package policy

import (
	"fmt"
	"regexp"
)

// deniedPattern reads the action and the resource out of AWS's refusal:
// "User: ARN is not authorized to perform: ACTION on resource: RESOURCE ...".
var deniedPattern = regexp.MustCompile(`not authorized to perform: ([A-Za-z0-9-]+:[A-Za-z0-9]+) on resource: (\S+)`)

// ParseDenied reads which action was denied, on which resource, from the
// message of an AccessDenied answer (ECR's and ECS's APIs, STS, and the
// ECR registry's DENIED errors word it alike).
func ParseDenied(message string) (action, resource string, ok bool) {
	m := deniedPattern.FindStringSubmatch(message)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// callOf is the call the flow makes with an action: the one it cannot do
// without, when there is one.
func callOf(action string) (Call, bool) {
	var found Call
	ok := false
	for _, c := range Calls() {
		if c.Action != action {
			continue
		}
		if c.Required() {
			return c, true
		}
		if !ok {
			found, ok = c, true
		}
	}
	return found, ok
}

// Notice is the one line the flow prints, once a run, when a call it can
// do without is denied: the permission, on which resource, what the run
// does without it, and what allowing it would add.
func (c Call) Notice(resource string) string {
	return fmt.Sprintf("%s is not allowed on %s, so the run goes on without it: %s. Allowing it would %s (statement %s of the policy `oidc-ecs-deploy policy` prints).",
		c.Action, resource, c.Without, c.For, c.Sid)
}

// Denied says what to change when a call the run cannot do without is
// denied: the one format every such failure ends with, naming the
// permission to add and its resource.
func Denied(action, resource string) string {
	why := ""
	if c, ok := callOf(action); ok {
		why = ", which the run needs to " + c.For
	}
	return fmt.Sprintf("what to change: allow %s on %s%s, in the permissions policy of the role the job assumes (the last role of the chain, if any); `oidc-ecs-deploy policy` prints that policy for these inputs, and `oidc-ecs-deploy doctor` checks the role against it",
		action, resource, why)
}
