package awsauth

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/aws/smithy-go"
)

// PermissionsHelp points at the least-privilege policy in the README.
const PermissionsHelp = "the README's \"Permissions\" section lists every action this action calls in each mode, scoped to the repository, cluster and services"

// deniedPattern reads the action and the resource out of the message AWS
// services give with AccessDeniedException.
var deniedPattern = regexp.MustCompile(`not authorized to perform: (\S+) on resource: (\S+)`)

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
	return fmt.Sprintf("%v\nwhat to change: allow %s on %s in the permissions policy of the role this job assumes (the last role of the chain, if any); %s",
		e.Err, e.Action, e.Resource, PermissionsHelp)
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
	if m := deniedPattern.FindStringSubmatch(apiErr.ErrorMessage()); m != nil {
		d.Action, d.Resource = m[1], m[2]
	}
	return d
}
