package ecs_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// migrateLines are what the test world's migration writes.
var migrateLines = []string{"migrate: applying 0042_orders.sql", "migrate: ERROR: relation \"orders\" already exists"}

// startRunTaskSandbox starts the demo world, sped up, with an "operator"
// role allowed everything and the commands the tests run.
func startRunTaskSandbox(tb testing.TB, edit func(*sandbox.World)) *sandbox.Sandbox {
	tb.Helper()
	return startECSSandbox(tb, func(w *sandbox.World) {
		acct := w.Accounts[testAccount]
		acct.Roles["operator"] = &sandbox.Role{Permissions: sandbox.PolicyDocument{Statement: []sandbox.Statement{
			{Effect: "Allow", Action: sandbox.StringList{"ecs:*", "logs:*", "iam:PassRole"}, Resource: sandbox.StringList{"*"}},
		}}}
		acct.Commands = []sandbox.ECSCommand{
			{Command: []string{"bin/migrate", "up"}, ExitCode: 3, Seconds: 4, Logs: migrateLines},
			{Command: []string{"true"}, ExitCode: 0, Seconds: 1},
		}
		if edit != nil {
			edit(w)
		}
	}, sandbox.Options{})
}

// demoNetwork is a network configuration for the demo's awsvpc revisions.
func demoNetwork() *types.NetworkConfiguration {
	return &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
		Subnets: []string{"subnet-0123456789abcdef0"}, SecurityGroups: []string{"sg-0123456789abcdef0"},
	}}
}

func runTask(tb testing.TB, client *ecs.Client, in *ecs.RunTaskInput) types.Task {
	tb.Helper()
	out, err := client.RunTask(context.Background(), in)
	if err != nil {
		tb.Fatalf("RunTask: %v", err)
	}
	if len(out.Tasks) != 1 || len(out.Failures) != 0 {
		tb.Fatalf("RunTask: %d tasks, failures %+v; want one task", len(out.Tasks), out.Failures)
	}
	return out.Tasks[0]
}

// waitStopped polls DescribeTasks until the task is STOPPED.
func waitStopped(tb testing.TB, client *ecs.Client, arn string) types.Task {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := client.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String("prod-cluster"), Tasks: []string{arn}})
		if err != nil {
			tb.Fatalf("DescribeTasks: %v", err)
		}
		if len(out.Tasks) != 1 {
			tb.Fatalf("DescribeTasks: %+v", out)
		}
		if t := out.Tasks[0]; aws.ToString(t.LastStatus) == "STOPPED" {
			return t
		}
		if time.Now().After(deadline) {
			tb.Fatalf("task %s not STOPPED in time: %s", arn, aws.ToString(out.Tasks[0].LastStatus))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func container(tb testing.TB, t types.Task, name string) types.Container {
	tb.Helper()
	for _, c := range t.Containers {
		if aws.ToString(c.Name) == name {
			return c
		}
	}
	tb.Fatalf("task has no container %s", name)
	return types.Container{}
}

// TestRunTaskExitCode runs a task whose essential container exits 3. What
// it writes through the awslogs driver is read back in the tests of
// internal/sandbox/logs.
func TestRunTaskExitCode(t *testing.T) {
	t.Parallel()
	sb := startRunTaskSandbox(t, nil)
	client := ecsClientFor(t, sb, "operator")
	ctx := context.Background()

	task := runTask(t, client, &ecs.RunTaskInput{
		Cluster: aws.String("prod-cluster"), TaskDefinition: aws.String("web-api:1"), StartedBy: aws.String("oidc-ecs-deploy"),
		NetworkConfiguration: demoNetwork(),
		Overrides:            &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("web"), Command: []string{"bin/migrate", "up"}}}},
	})
	if got, want := aws.ToString(task.Group), "family:web-api"; got != want {
		t.Errorf("group = %q, want %q", got, want)
	}
	if got := aws.ToString(task.LastStatus); got != "PROVISIONING" {
		t.Errorf("lastStatus at start = %q, want PROVISIONING", got)
	}

	done := waitStopped(t, client, aws.ToString(task.TaskArn))
	if got, want := done.StopCode, types.TaskStopCodeEssentialContainerExited; got != want {
		t.Errorf("stopCode = %q, want %q", got, want)
	}
	if got, want := aws.ToString(done.StoppedReason), "Essential container in task exited"; got != want {
		t.Errorf("stoppedReason = %q, want %q", got, want)
	}
	if c := container(t, done, "web"); aws.ToInt32(c.ExitCode) != 3 {
		t.Errorf("web exit code = %v, want 3", c.ExitCode)
	}
	if got, want := aws.ToString(done.StartedBy), "oidc-ecs-deploy"; got != want {
		t.Errorf("startedBy = %q, want %q", got, want)
	}
	if o := done.Overrides; o == nil || len(o.ContainerOverrides) != 1 || !slices.Equal(o.ContainerOverrides[0].Command, []string{"bin/migrate", "up"}) {
		t.Errorf("overrides = %+v, want the command override", o)
	}

	// ListTasks finds it by startedBy and family.
	list, err := client.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod-cluster"), StartedBy: aws.String("oidc-ecs-deploy"), DesiredStatus: types.DesiredStatusStopped})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(list.TaskArns, []string{aws.ToString(task.TaskArn)}) {
		t.Errorf("ListTasks(startedBy) = %v, want [%s]", list.TaskArns, aws.ToString(task.TaskArn))
	}
}

func TestRunTaskFailures(t *testing.T) {
	t.Parallel()
	sb := startRunTaskSandbox(t, func(w *sandbox.World) {
		delete(w.Accounts[testAccount].LogGroups, "/ecs/web-api")
		w.Accounts[testAccount].Roles["no-pass-role"] = &sandbox.Role{Permissions: sandbox.PolicyDocument{Statement: []sandbox.Statement{
			{Effect: "Allow", Action: sandbox.StringList{"ecs:*"}, Resource: sandbox.StringList{"*"}},
		}}}
	})
	client := ecsClientFor(t, sb, "operator")
	ctx := context.Background()

	// The log group does not exist: the task cannot start.
	task := runTask(t, client, &ecs.RunTaskInput{Cluster: aws.String("prod-cluster"), TaskDefinition: aws.String("web-api"), NetworkConfiguration: demoNetwork()})
	done := waitStopped(t, client, aws.ToString(task.TaskArn))
	if done.StopCode != types.TaskStopCodeTaskFailedToStart || !strings.Contains(aws.ToString(done.StoppedReason), "ResourceNotFoundException: The specified log group does not exist.") {
		t.Errorf("stopped %q: %q, want TaskFailedToStart for the missing log group", done.StopCode, aws.ToString(done.StoppedReason))
	}
	if c := container(t, done, "web"); c.ExitCode != nil {
		t.Errorf("a container that never ran has exit code %d", aws.ToInt32(c.ExitCode))
	}

	tests := []struct {
		name   string
		client *ecs.Client
		in     *ecs.RunTaskInput
		code   string
		msg    string
	}{
		{"no_network_configuration", client, &ecs.RunTaskInput{Cluster: aws.String("prod-cluster"), TaskDefinition: aws.String("web-api:1")},
			"InvalidParameterException", "Network Configuration must be provided when networkMode 'awsvpc' is specified."},
		{"launch_type_and_capacity_providers", client, &ecs.RunTaskInput{Cluster: aws.String("prod-cluster"), TaskDefinition: aws.String("web-api:1"), NetworkConfiguration: demoNetwork(),
			LaunchType: types.LaunchTypeFargate, CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}},
			"InvalidParameterException", "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again."},
		{"override_of_unknown_container", client, &ecs.RunTaskInput{Cluster: aws.String("prod-cluster"), TaskDefinition: aws.String("web-api:1"), NetworkConfiguration: demoNetwork(),
			Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("migrate"), Command: []string{"true"}}}}},
			"InvalidParameterException", "Override for container named migrate is not a container in the TaskDefinition."},
		{"missing_revision", client, &ecs.RunTaskInput{Cluster: aws.String("prod-cluster"), TaskDefinition: aws.String("web-api:9"), NetworkConfiguration: demoNetwork()},
			"ClientException", "TaskDefinition not found."},
		{"missing_cluster", client, &ecs.RunTaskInput{Cluster: aws.String("staging"), TaskDefinition: aws.String("web-api:1"), NetworkConfiguration: demoNetwork()},
			"ClusterNotFoundException", "Cluster not found."},
		{"roles_not_passable", ecsClientFor(t, sb, "no-pass-role"), &ecs.RunTaskInput{Cluster: aws.String("prod-cluster"), TaskDefinition: aws.String("web-api:1"), NetworkConfiguration: demoNetwork()},
			"AccessDeniedException", "iam:PassRole"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.client.RunTask(ctx, tc.in)
			code, _, msg := sandboxtest.APIError(t, err)
			if code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Errorf("RunTask: %s: %s; want %s: %s", code, msg, tc.code, tc.msg)
			}
		})
	}
}

func TestRunTaskIdempotentAndStopTask(t *testing.T) {
	t.Parallel()
	sb := startRunTaskSandbox(t, nil)
	client := ecsClientFor(t, sb, "operator")
	ctx := context.Background()
	in := &ecs.RunTaskInput{
		Cluster: aws.String("prod-cluster"), TaskDefinition: aws.String("web-api:1"), NetworkConfiguration: demoNetwork(),
		ClientToken:              aws.String("token-1"),
		CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}},
		Overrides:                &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("web"), Command: []string{"bin/migrate", "up"}}}},
	}
	first := runTask(t, client, in)
	again := runTask(t, client, in)
	if aws.ToString(first.TaskArn) != aws.ToString(again.TaskArn) {
		t.Errorf("RunTask with the same clientToken started %s, then %s", aws.ToString(first.TaskArn), aws.ToString(again.TaskArn))
	}
	if got := aws.ToString(first.CapacityProviderName); got != "FARGATE_SPOT" {
		t.Errorf("capacityProviderName = %q, want FARGATE_SPOT", got)
	}
	out, err := client.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod-cluster"), Task: first.TaskArn, Reason: aws.String("deploy cancelled")})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Task; aws.ToString(got.LastStatus) != "STOPPED" || got.StopCode != types.TaskStopCodeUserInitiated || aws.ToString(got.StoppedReason) != "deploy cancelled" {
		t.Errorf("StopTask: %s %s %q, want STOPPED UserInitiated \"deploy cancelled\"", aws.ToString(got.LastStatus), got.StopCode, aws.ToString(got.StoppedReason))
	}
	_, err = client.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod-cluster"), Task: aws.String("0123456789abcdef0123456789abcdef")})
	if code, _, msg := sandboxtest.APIError(t, err); code != "InvalidParameterException" || msg != "The referenced task was not found." {
		t.Errorf("StopTask of an unknown task: %s: %s", code, msg)
	}

	// A task-exit fault overrides the command's exit code.
	sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "task-exit", Image: "web-api:bootstrap", ExitCode: 70, Times: 1})
	in.ClientToken = nil
	in.Overrides.ContainerOverrides[0].Command = []string{"true"}
	faulted := waitStopped(t, client, aws.ToString(runTask(t, client, in).TaskArn))
	if c := container(t, faulted, "web"); aws.ToInt32(c.ExitCode) != 70 {
		t.Errorf("exit code under the task-exit fault = %v, want 70", c.ExitCode)
	}
	in.ClientToken = nil // the SDK filled in the last one
	clean := waitStopped(t, client, aws.ToString(runTask(t, client, in).TaskArn))
	if c := container(t, clean, "web"); aws.ToInt32(c.ExitCode) != 0 {
		t.Errorf("exit code once the fault is spent = %d (%s: %s), want 0", aws.ToInt32(c.ExitCode), clean.StopCode, aws.ToString(clean.StoppedReason))
	}
}

func TestListAndDeregisterTaskDefinitions(t *testing.T) {
	t.Parallel()
	sb := startRunTaskSandbox(t, func(w *sandbox.World) {
		w.ECS.NoThrottle = true
	})
	client := ecsClientFor(t, sb, "operator")
	ctx := context.Background()
	// web-api:2..6, and a family whose name starts with web-api.
	for range 5 {
		registerWebAPI(t, client, "public.ecr.aws/nginx/nginx:1")
	}
	if _, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("web-api-admin"), ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("admin"), Image: aws.String("public.ecr.aws/nginx/nginx:1"), Memory: aws.Int32(128)}},
	}); err != nil {
		t.Fatal(err)
	}
	for _, rev := range []string{"web-api:2", "web-api:4"} {
		out, err := client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(rev)})
		if err != nil {
			t.Fatal(err)
		}
		if out.TaskDefinition.Status != types.TaskDefinitionStatusInactive || out.TaskDefinition.DeregisteredAt == nil {
			t.Errorf("DeregisterTaskDefinition(%s): status %s, deregisteredAt %v", rev, out.TaskDefinition.Status, out.TaskDefinition.DeregisteredAt)
		}
	}
	list := func(status types.TaskDefinitionStatus, sort types.SortOrder) []string {
		var arns []string
		pages := ecs.NewListTaskDefinitionsPaginator(client, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("web-api"), Status: status, Sort: sort, MaxResults: aws.Int32(2)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			arns = append(arns, page.TaskDefinitionArns...)
		}
		return arns
	}
	arn := func(revs ...int) []string {
		var out []string
		for _, r := range revs {
			out = append(out, fmt.Sprintf("arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:%d", r))
		}
		return out
	}
	if diff := cmp.Diff(arn(6, 5, 3, 1), list(types.TaskDefinitionStatusActive, types.SortOrderDesc)); diff != "" {
		t.Errorf("ACTIVE, DESC (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(arn(2, 4), list(types.TaskDefinitionStatusInactive, "")); diff != "" {
		t.Errorf("INACTIVE (-want +got):\n%s", diff)
	}
	_, err := client.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod-cluster"), TaskDefinition: aws.String("web-api:2"), NetworkConfiguration: demoNetwork()})
	if code, _, msg := sandboxtest.APIError(t, err); code != "ClientException" || msg != "TaskDefinition is inactive" {
		t.Errorf("RunTask of an INACTIVE revision: %s: %s", code, msg)
	}

	// ListServices pages through the cluster's services.
	var services []string
	pages := ecs.NewListServicesPaginator(client, &ecs.ListServicesInput{Cluster: aws.String("prod-cluster"), MaxResults: aws.Int32(1)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		services = append(services, page.ServiceArns...)
	}
	want := []string{"arn:aws:ecs:us-east-1:111122223333:service/prod-cluster/api-service", "arn:aws:ecs:us-east-1:111122223333:service/prod-cluster/checkout-service",
		"arn:aws:ecs:us-east-1:111122223333:service/prod-cluster/worker-service"}
	if diff := cmp.Diff(want, services); diff != "" {
		t.Errorf("ListServices (-want +got):\n%s", diff)
	}
}
