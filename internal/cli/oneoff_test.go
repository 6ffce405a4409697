package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/testenv"
)

// failingMigration is what the failing migration writes before it exits 3.
var failingMigration = []string{
	"migrate: applying 20250611093000_add_orders_customer_index.sql",
	`migrate: ERROR: relation "orders_customer_idx" already exists`,
}

// migrationWorld is the demo world, sped up, whose account runs
// "bin/migrate up" (exit 0) and "bin/migrate up --broken" (exit 3).
func migrationWorld(w *sandbox.World) {
	fastWorld(w)
	acct := w.Accounts["111122223333"]
	acct.Commands = append(acct.Commands, sandbox.ECSCommand{
		Command: []string{"bin/migrate", "up", "--broken"}, ExitCode: 3, Seconds: 2, Logs: failingMigration,
	})
}

// withMigration sets the run's one-off task to command.
func withMigration(command ...string) func(*runConfig) {
	return func(rc *runConfig) {
		rc.cfg.RunTask = true
		rc.cfg.RunTaskOptions.Command = command
	}
}

func TestMigrationSucceedsThenDeploys(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, migrationWorld)
	run := runInActions(t, sb, withMigration("bin/migrate", "up"))
	if run.err != nil {
		t.Fatalf("Run: %v\n%s", run.err, run.log)
	}
	// The lines the world's migration writes, streamed, and the service
	// updated only once the task had stopped.
	succeeded := strings.Index(run.log, "One-off task arn:aws:ecs:us-east-1:111122223333:task/prod-cluster/")
	started := strings.Index(run.log, "Started deployment")
	for _, line := range []string{"migrate: connected to postgres://db.internal:5432/app", "migrate: applied 1 migration; schema is at version 20250611093000"} {
		if i := strings.Index(run.log, line); i < 0 || i > succeeded {
			t.Errorf("log lacks %q before the task's end:\n%s", line, run.log)
		}
	}
	if succeeded < 0 || started < succeeded {
		t.Errorf("the task's success (at %d) does not come before the deployment (at %d):\n%s", succeeded, started, run.log)
	}
	arn := run.outputs[OutputRunTaskARN]
	if !strings.HasPrefix(arn, "arn:aws:ecs:us-east-1:111122223333:task/prod-cluster/") || run.outputs[OutputRunTaskExitCode] != "0" {
		t.Errorf("outputs run-task-arn %q, run-task-exit-code %q; want the task and 0", arn, run.outputs[OutputRunTaskExitCode])
	}
	if got := run.res.Services; len(got) != 1 || got[0].Outcome != deploy.OutcomeSucceeded {
		t.Errorf("services = %+v, want api-service succeeded", got)
	}

	// ECS ran the new revision, with the service's network configuration
	// and the command override, before the service was updated to it.
	client := ecs.NewFromConfig(sandboxtest.WebIdentityConfig(sb.Env(), "arn:aws:iam::111122223333:role/gha-deploy", "check"))
	out, err := client.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String("prod-cluster"), Tasks: []string{arn}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("DescribeTasks: %v %+v", err, out)
	}
	task := out.Tasks[0]
	if got, want := aws.ToString(task.TaskDefinitionArn), run.outputs[OutputTaskDefinitionARN]; got != want {
		t.Errorf("the task ran %s, want the new revision %s", got, want)
	}
	if got := aws.ToString(task.StartedBy); got != config.DefaultRunTaskStartedBy {
		t.Errorf("startedBy = %q", got)
	}
	if o := task.Overrides; o == nil || len(o.ContainerOverrides) != 1 || aws.ToString(o.ContainerOverrides[0].Name) != "web" ||
		strings.Join(o.ContainerOverrides[0].Command, " ") != "bin/migrate up" {
		t.Errorf("overrides = %+v, want web running bin/migrate up", o)
	}
	if !strings.Contains(run.summary, "| One\\-off task exit code | `0` |") {
		t.Errorf("summary lacks the task's exit code:\n%s", run.summary)
	}
}

func TestMigrationFailsBeforeUpdateService(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, migrationWorld)
	run := runInActions(t, sb, withMigration("bin/migrate", "up", "--broken"))
	if run.err == nil || run.code != ExitFailure {
		t.Fatalf("Run succeeded (exit %d), want the failing migration to fail it:\n%s", run.code, run.log)
	}
	if n := sb.Calls("ecs", "UpdateService"); n != 0 {
		t.Errorf("UpdateService was called %d times after the migration failed", n)
	}
	if n := sb.Calls("ecs", "RegisterTaskDefinition"); n != 1 {
		t.Errorf("RegisterTaskDefinition called %d times, want once: the task runs the new revision", n)
	}
	msg := run.err.Error()
	for _, want := range append([]string{"container web exited with code 3", "EssentialContainerExited: Essential container in task exited", "Nothing was deployed"}, failingMigration...) {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	// Streamed while it ran, and in the error annotation (escaped as the
	// runner reads it).
	for _, line := range failingMigration {
		if !strings.Contains(run.log, line+"\n") {
			t.Errorf("log lacks the streamed line %q", line)
		}
	}
	if !strings.Contains(run.log, "::error::") || !strings.Contains(run.log, "exited with code 3") {
		t.Errorf("no error annotation naming the exit code:\n%s", run.log)
	}
	if got := run.outputs[OutputRunTaskExitCode]; got != "3" {
		t.Errorf("output run-task-exit-code = %q, want 3", got)
	}
	if got := run.res.Services; len(got) != 1 || got[0].Outcome != deploy.OutcomeNotStarted {
		t.Errorf("services = %+v, want api-service not started", got)
	}
}

func TestMigrationThatCannotStart(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, func(w *sandbox.World) {
		migrationWorld(w)
		delete(w.Accounts["111122223333"].LogGroups, "/ecs/web-api")
	})
	run := runInActions(t, sb, withMigration("bin/migrate", "up"))
	if run.err == nil {
		t.Fatalf("Run succeeded, want the task that cannot start to fail it:\n%s", run.log)
	}
	if n := sb.Calls("ecs", "UpdateService"); n != 0 {
		t.Errorf("UpdateService was called %d times", n)
	}
	for _, want := range []string{"container web never ran", "TaskFailedToStart", "ResourceNotFoundException: The specified log group does not exist."} {
		if !strings.Contains(run.err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, run.err)
		}
	}
	if _, ok := run.outputs[OutputRunTaskExitCode]; ok {
		t.Errorf("output run-task-exit-code = %q for a task that never ran", run.outputs[OutputRunTaskExitCode])
	}
}

// TestKeepRevisions deploys five times keeping 3 revisions, with another
// service on the family's first revision, then once keeping 1.
func TestKeepRevisions(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, func(w *sandbox.World) {
		fastWorld(w)
		w.ECS.NoThrottle = true
		w.Accounts["111122223333"].Clusters["prod-cluster"].Services["admin-service"] = &sandbox.ServiceSpec{
			TaskDefinition: "web-api:1", DesiredCount: 1, LaunchType: "FARGATE",
		}
	})
	client := ecs.NewFromConfig(sandboxtest.WebIdentityConfig(sb.Env(), "arn:aws:iam::111122223333:role/gha-deploy", "check"))
	active := func() []string {
		out, err := client.ListTaskDefinitions(context.Background(), &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("web-api"), Sort: types.SortOrderDesc})
		if err != nil {
			t.Fatal(err)
		}
		var revs []string
		for _, arn := range out.TaskDefinitionArns {
			revs = append(revs, arn[strings.LastIndex(arn, "/")+1:])
		}
		return revs
	}
	deploy := func(keep int) actionRun {
		run := runInActions(t, sb, func(rc *runConfig) { rc.cfg.KeepRevisions = keep })
		if run.err != nil {
			t.Fatalf("Run: %v\n%s", run.err, run.log)
		}
		return run
	}
	var last actionRun
	for range 5 {
		last = deploy(3)
	}
	if diff := cmp.Diff([]string{"web-api:6", "web-api:5", "web-api:4", "web-api:1"}, active()); diff != "" {
		t.Errorf("ACTIVE revisions after five deploys keeping 3 (-want +got):\n%s", diff)
	}
	for _, want := range []string{"keep-revisions: deregistered 1 revision(s) of web-api: web-api:3; kept the newest 3",
		"keep-revisions: kept arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:1: service admin-service runs it"} {
		if !strings.Contains(last.log, want) {
			t.Errorf("the fifth run's log lacks %q:\n%s", want, last.log)
		}
	}

	// Keeping 1: the revision api-service ran before (a rollback's target)
	// stays, as does admin-service's.
	last = deploy(1)
	if diff := cmp.Diff([]string{"web-api:7", "web-api:6", "web-api:1"}, active()); diff != "" {
		t.Errorf("ACTIVE revisions after a deploy keeping 1 (-want +got):\n%s", diff)
	}
	if want := "kept arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:6: service api-service ran it before this deploy, and a rollback returns to it"; !strings.Contains(last.log, want) {
		t.Errorf("log lacks %q:\n%s", want, last.log)
	}
}

// TestRunTaskSeenByTheAWSCLI runs a migration against the standalone
// sandbox, then reads the task with Debian's AWS CLI, and runs the same
// command again with it: both see what the action saw.
func TestRunTaskSeenByTheAWSCLI(t *testing.T) {
	t.Parallel()
	bin := testenv.Command(t, "aws")
	dir := t.TempDir()
	world := sandbox.DemoWorld()
	migrationWorld(world)
	data, err := json.Marshal(world)
	if err != nil {
		t.Fatal(err)
	}
	worldFile := filepath.Join(dir, "world.json")
	if err := os.WriteFile(worldFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	env, _ := standalone(t, "--world", worldFile)
	ctx := context.Background()

	getenv := getenvOf(env)
	var out sandboxtest.SyncBuffer
	runner := ghaction.New(&out, getenv)
	gh, err := runner.Context()
	if err != nil {
		t.Fatal(err)
	}
	cfg := demoConfig()
	cfg.AWSRegion, cfg.RoleSessionName = env["AWS_REGION"], config.DefaultSessionName(gh)
	cfg.Cluster, cfg.Services, cfg.ForceNewDeployment = "prod-cluster", []string{"api-service"}, true
	cfg.RunTask, cfg.RunTaskOptions.Command = true, []string{"bin/migrate", "up", "--broken"}
	res, runErr := Run(ctx, cfg, Deps{Getenv: getenv, Runner: runner, Retry: fastRetry})
	if runErr == nil || res.OneOff == nil || res.OneOff.TaskARN == "" {
		t.Fatalf("Run: %v, one-off %+v; want the failing migration to fail it\n%s", runErr, res.OneOff, out.String())
	}
	seen := res.OneOff

	creds := webIdentityWithCLI(t, bin, env)
	cli := awsCLI(t, bin, env["AWS_ENDPOINT_URL"], env["AWS_REGION"], creds)
	type cliTask struct {
		TaskArn           string `json:"taskArn"`
		TaskDefinitionArn string `json:"taskDefinitionArn"`
		LastStatus        string `json:"lastStatus"`
		StopCode          string `json:"stopCode"`
		StoppedReason     string `json:"stoppedReason"`
		Containers        []struct {
			Name     string `json:"name"`
			ExitCode *int32 `json:"exitCode"`
		} `json:"containers"`
	}
	exitOf := func(t cliTask, name string) string {
		for _, c := range t.Containers {
			if c.Name == name && c.ExitCode != nil {
				return fmt.Sprint(*c.ExitCode)
			}
		}
		return "none"
	}
	var described struct {
		Tasks []cliTask `json:"tasks"`
	}
	cli(&described, "ecs", "describe-tasks", "--cluster", "prod-cluster", "--tasks", seen.TaskARN)
	if len(described.Tasks) != 1 {
		t.Fatalf("aws ecs describe-tasks: %+v", described)
	}
	got := described.Tasks[0]
	if got.TaskDefinitionArn != seen.TaskDefinitionARN || got.LastStatus != "STOPPED" || got.StopCode != seen.StopCode ||
		got.StoppedReason != seen.StoppedReason || exitOf(got, seen.Container) != fmt.Sprint(aws.ToInt32(seen.ExitCode)) {
		t.Errorf("aws ecs describe-tasks = %+v; the action saw %+v (exit %d)", got, seen, aws.ToInt32(seen.ExitCode))
	}

	// The same task, run by the CLI, ends the same way.
	var ran struct {
		Tasks []cliTask `json:"tasks"`
	}
	overrides := `{"containerOverrides":[{"name":"web","command":["bin/migrate","up","--broken"]}]}`
	cli(&ran, "ecs", "run-task", "--cluster", "prod-cluster", "--task-definition", seen.TaskDefinitionARN, "--overrides", overrides,
		"--network-configuration", "awsvpcConfiguration={subnets=[subnet-0a1b2c3d4e5f60718],securityGroups=[sg-0a1b2c3d4e5f60718]}")
	if len(ran.Tasks) != 1 {
		t.Fatalf("aws ecs run-task: %+v", ran)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cli(&described, "ecs", "describe-tasks", "--cluster", "prod-cluster", "--tasks", ran.Tasks[0].TaskArn)
		if len(described.Tasks) == 1 && described.Tasks[0].LastStatus == "STOPPED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the CLI's task did not stop: %+v", described)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := described.Tasks[0]; got.StopCode != seen.StopCode || exitOf(got, "web") != fmt.Sprint(aws.ToInt32(seen.ExitCode)) {
		t.Errorf("the CLI's task ended %s with exit code %s; the action's %s with %d", got.StopCode, exitOf(got, "web"), seen.StopCode, aws.ToInt32(seen.ExitCode))
	}
}
