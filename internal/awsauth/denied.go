package awsauth

import (
	"errors"
	"fmt"

	"github.com/aws/smithy-go"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
)

// PermissionsHelp says where the least-privilege policy is, when AWS did
// not say which permission it refused.
const PermissionsHelp = "`oidc-ecs-deploy policy` prints the policy for these inputs, every action each mode calls on the narrowest resource, and `oidc-ecs-deploy doctor` checks the role against it"

// DeniedError is an AWS API call that the role's permissions do not allow.
type DeniedError struct {
	// Action is the IAM action, e.g. ecr:DescribeRepositories; empty when
	// the service did not say.
	Action string
	// Resource is the ARN the action was denied on.
	Resource string
	Err      error
}

func (e *DeniedError) Error() string {
	if e.Action == "" {
		return fmt.Sprintf("%v\nwhat to change: allow the call in the role's permissions policy; %s", e.Err, PermissionsHelp)
	}
	return fmt.Sprintf("%v\n%s", e.Err, policy.Denied(e.Action, e.Resource))
}

func (e *DeniedError) Unwrap() error { return e.Err }

// explainDenied turns an AccessDeniedException from ECR or ECS into a
// DeniedError that says which permission is missing.
func explainDenied(err error) error {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return err
	}
	switch apiErr.ErrorCode() {
	case "AccessDeniedException", "AccessDenied":
	default:
		return err
	}
	var already *DeniedError
	if errors.As(err, &already) {
		return err
	}
	d := &DeniedError{Err: err}
	d.Action, d.Resource, _ = policy.ParseDenied(apiErr.ErrorMessage())
	return d
}
