package deploy

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

// TestTaskReason: a stopped task is told on one line: ECS's reason, or its
// stop code when it gives none, then each container's reason and exit code.
func TestTaskReason(t *testing.T) {
	t.Parallel()
	one := int32(1)
	tests := []struct {
		task types.Task
		want string
	}{
		{types.Task{StopCode: types.TaskStopCodeTaskFailedToStart}, "TaskFailedToStart"},
		{types.Task{StoppedReason: aws.String("Essential container in task exited"), StopCode: types.TaskStopCodeEssentialContainerExited, Containers: []types.Container{
			{Name: aws.String("web"), Reason: aws.String("OutOfMemoryError"), ExitCode: &one},
			{Name: aws.String("sidecar")},
			{Name: aws.String("log-router"), ExitCode: &one},
		}}, "Essential container in task exited [container web: OutOfMemoryError, exit code 1; container log-router: exit code 1]"},
		{types.Task{StoppedReason: aws.String("two\nlines")}, `two\nlines`},
	}
	for _, tt := range tests {
		if got := taskReason(tt.task); got != tt.want {
			t.Errorf("taskReason = %q, want %q", got, tt.want)
		}
	}
}

// TestStartedTask: a task is our deployment's when ECS says our deployment
// started it; without that mark, when it runs our revision and did not stop
// before our update.
func TestStartedTask(t *testing.T) {
	t.Parallel()
	const ours, theirs = "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:2", "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:1"
	updated := time.Unix(1000, 0)
	s := &serviceState{updatedAt: updated}
	s.result.DeploymentID, s.result.TaskDefinitionARN = "ecs-svc/2", ours
	tests := []struct {
		name string
		task types.Task
		want bool
	}{
		{"started by our deployment", types.Task{StartedBy: aws.String("ecs-svc/2"), TaskDefinitionArn: aws.String(theirs)}, true},
		{"started by another", types.Task{StartedBy: aws.String("ecs-svc/1"), TaskDefinitionArn: aws.String(ours)}, false},
		{"unmarked, our revision", types.Task{TaskDefinitionArn: aws.String(ours)}, true},
		{"unmarked, another revision", types.Task{TaskDefinitionArn: aws.String(theirs)}, false},
		{"unmarked, stopped well before the update", types.Task{TaskDefinitionArn: aws.String(ours), StoppedAt: aws.Time(updated.Add(-6 * time.Second))}, false},
		{"unmarked, stopped within the clocks' skew", types.Task{TaskDefinitionArn: aws.String(ours), StoppedAt: aws.Time(updated.Add(-4 * time.Second))}, true},
	}
	for _, tt := range tests {
		if got := s.startedTask(tt.task); got != tt.want {
			t.Errorf("%s: startedTask = %v, want %v", tt.name, got, tt.want)
		}
	}
	// A CodeDeploy deployment's tasks are those of our revision, whichever
	// task set started them.
	s.codeDeploy = &codeDeployWatch{replacement: "ecs-svc/green"}
	if !s.startedTask(types.Task{StartedBy: aws.String("ecs-svc/blue"), TaskDefinitionArn: aws.String(ours)}) || s.startedTask(types.Task{StartedBy: aws.String("ecs-svc/green"), TaskDefinitionArn: aws.String(theirs)}) {
		t.Error("a CodeDeploy deployment's tasks are not told by their revision")
	}
	if s.startedBy() != "ecs-svc/green" {
		t.Errorf("startedBy = %q, want the replacement task set", s.startedBy())
	}
}

// TestErrorCodeAndMessage: an AWS error is told by its code and message;
// the SDK's retries running out by what that means; anything else as is.
func TestErrorCodeAndMessage(t *testing.T) {
	t.Parallel()
	api := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	if errorCode(api) != "ThrottlingException" || errorMessage(api) != "Rate exceeded" {
		t.Errorf("an API error: %q, %q", errorCode(api), errorMessage(api))
	}
	retried := &awsretry.MaxAttemptsError{Attempt: 3, Err: errors.New("connection reset")}
	if errorCode(retried) != "repeated errors" {
		t.Errorf("retries run out: %q, want %q", errorCode(retried), "repeated errors")
	}
	plain := errors.New("no route to host")
	if errorCode(plain) != "an error" || errorMessage(plain) != "no route to host" || errorMessage(nil) != "" {
		t.Errorf("a plain error: %q, %q; nil: %q", errorCode(plain), errorMessage(plain), errorMessage(nil))
	}
	for _, code := range []string{"AccessDeniedException", "AccessDenied", "UnsupportedFeatureException"} {
		if !accessDenied(&smithy.GenericAPIError{Code: code}) {
			t.Errorf("%s is not taken for a denial", code)
		}
	}
	if accessDenied(api) || accessDenied(plain) {
		t.Error("a throttle or a plain error is taken for a denial")
	}
}
