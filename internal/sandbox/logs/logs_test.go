package logs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

const testAccount = "111122223333"

// migrateLines are what the test world's migration writes, through the
// awslogs driver of the demo's web container.
var migrateLines = []string{"migrate: applying 0042_orders.sql", "migrate: ERROR: relation \"orders\" already exists"}

// startLogsSandbox starts the demo world, sped up, with an "operator" role
// allowed everything a task's logs need, a "log-reader" allowed to read
// the demo's log group alone, and the migration the tests run.
func startLogsSandbox(tb testing.TB) *sandbox.Sandbox {
	tb.Helper()
	w := sandbox.DemoWorld()
	w.ECS = &sandbox.ECSSettings{TimeScale: 0.05}
	acct := w.Accounts[testAccount]
	acct.Roles["operator"] = &sandbox.Role{Permissions: sandbox.PolicyDocument{Statement: []sandbox.Statement{
		{Effect: "Allow", Action: sandbox.StringList{"ecs:*", "logs:*", "iam:PassRole"}, Resource: sandbox.StringList{"*"}},
	}}}
	acct.Roles["log-reader"] = &sandbox.Role{Permissions: sandbox.PolicyDocument{Statement: []sandbox.Statement{
		{Effect: "Allow", Action: sandbox.StringList{"logs:GetLogEvents"}, Resource: sandbox.StringList{"arn:aws:logs:us-east-1:111122223333:log-group:/ecs/web-api:*"}},
	}}}
	acct.Commands = []sandbox.ECSCommand{{Command: []string{"bin/migrate", "up"}, ExitCode: 3, Seconds: 4, Logs: migrateLines}}
	return sandboxtest.StartWorld(tb, w, sandbox.Options{})
}

// runMigration starts the migration as a one-off task of the demo's
// revision and returns its ARN and the awslogs stream of its web container.
func runMigration(tb testing.TB, client *ecs.Client) (taskARN, stream string) {
	tb.Helper()
	out, err := client.RunTask(context.Background(), &ecs.RunTaskInput{
		Cluster: aws.String("prod-cluster"), TaskDefinition: aws.String("web-api:1"),
		NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
			Subnets: []string{"subnet-0123456789abcdef0"}, SecurityGroups: []string{"sg-0123456789abcdef0"},
		}},
		Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("web"), Command: []string{"bin/migrate", "up"}}}},
	})
	if err != nil || len(out.Tasks) != 1 {
		tb.Fatalf("RunTask: %v %+v", err, out)
	}
	taskARN = aws.ToString(out.Tasks[0].TaskArn)
	return taskARN, "web-api/web/" + taskARN[strings.LastIndex(taskARN, "/")+1:]
}

// TestGetLogEventsFollowsATask reads a running task's stream as a client
// that follows it does, then pages it from the end.
func TestGetLogEventsFollowsATask(t *testing.T) {
	t.Parallel()
	sb := startLogsSandbox(t)
	client := ecs.NewFromConfig(sandboxtest.RoleConfig(sb, testAccount, "operator", "logs-test"))
	logsClient := cloudwatchlogs.NewFromConfig(sandboxtest.RoleConfig(sb, testAccount, "operator", "logs-test"))
	ctx := context.Background()
	taskARN, stream := runMigration(t, client)

	// Follow the stream as a client does while the task runs: the stream
	// appears once the container starts, and the forward token stays put
	// until new events come.
	var got []string
	var token *string
	deadline := time.Now().Add(20 * time.Second)
	stopped := false
	for !stopped || token == nil {
		out, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod-cluster"), Tasks: []string{taskARN}})
		if err != nil {
			t.Fatal(err)
		}
		stopped = aws.ToString(out.Tasks[0].LastStatus) == "STOPPED"
		page, err := logsClient.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String("/ecs/web-api"), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true), NextToken: token,
		})
		if _, notYet := errors.AsType[*logtypes.ResourceNotFoundException](err); notYet && !stopped {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatalf("GetLogEvents: %v", err)
		}
		for _, ev := range page.Events {
			got = append(got, aws.ToString(ev.Message))
		}
		if len(page.Events) == 0 && token != nil && aws.ToString(page.NextForwardToken) != aws.ToString(token) {
			t.Errorf("an empty page moved the forward token from %s to %s", aws.ToString(token), aws.ToString(page.NextForwardToken))
		}
		token = page.NextForwardToken
		if time.Now().After(deadline) {
			t.Fatal("task did not stop in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if diff := cmp.Diff(migrateLines, got); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}

	// From the end, with no token: the latest events; a backward token
	// pages back to the first.
	last, err := logsClient.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/ecs/web-api"), LogStreamName: aws.String(stream), Limit: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(last.Events) != 1 || aws.ToString(last.Events[0].Message) != migrateLines[1] {
		t.Errorf("latest event = %+v, want %q", last.Events, migrateLines[1])
	}
	back, err := logsClient.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/ecs/web-api"), LogStreamName: aws.String(stream), NextToken: last.NextBackwardToken})
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Events) != 1 || aws.ToString(back.Events[0].Message) != migrateLines[0] {
		t.Errorf("page before = %+v, want %q", back.Events, migrateLines[0])
	}
}

func TestGetLogEventsErrors(t *testing.T) {
	t.Parallel()
	sb := startLogsSandbox(t)
	client := cloudwatchlogs.NewFromConfig(sandboxtest.RoleConfig(sb, testAccount, "log-reader", "logs-test"))
	ctx := context.Background()
	tests := []struct {
		name string
		in   *cloudwatchlogs.GetLogEventsInput
		code string
		msg  string
	}{
		{"missing_stream", &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/ecs/web-api"), LogStreamName: aws.String("web-api/web/0123")},
			"ResourceNotFoundException", "The specified log stream does not exist."},
		{"group_denied", &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/ecs/other"), LogStreamName: aws.String("s")},
			"AccessDeniedException", "logs:GetLogEvents"},
		{"name_and_identifier", &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/ecs/web-api"), LogGroupIdentifier: aws.String("/ecs/web-api"), LogStreamName: aws.String("s")},
			"InvalidParameterException", "mutually exclusive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := client.GetLogEvents(ctx, tc.in)
			code, _, msg := sandboxtest.APIError(t, err)
			if code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Errorf("GetLogEvents: %s: %s; want %s: %s", code, msg, tc.code, tc.msg)
			}
		})
	}
}
