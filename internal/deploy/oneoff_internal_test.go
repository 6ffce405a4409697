package deploy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// asJSON is v as the JSON the SDK's shapes marshal to, without the fields
// left unset (null, false or ""), for cmp to compare without reaching into
// the shapes' unexported fields.
func asJSON(tb testing.TB, v any) map[string]any {
	tb.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		tb.Fatal(err)
	}
	return setFields(out).(map[string]any)
}

// setFields drops the unset fields of decoded JSON, at every depth.
func setFields(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, field := range v {
			if field == nil || field == false || field == "" {
				delete(v, k)
				continue
			}
			v[k] = setFields(field)
		}
	case []any:
		for i := range v {
			v[i] = setFields(v[i])
		}
	}
	return v
}

// oneOffPlan is a plan of one service, whose base task definition has the
// containers given, run as placed, with a one-off task o, logging to log.
func oneOffPlan(log *sandboxtest.SyncBuffer, o OneOff, pl placement, containers ...types.ContainerDefinition) *Plan {
	p := &Plan{req: Request{Cluster: "prod-cluster", OneOff: &o, Region: "us-east-1"}, log: &syncLogger{log: ghaction.New(log, func(string) string { return "" })}}
	s := &serviceState{name: "api-service", placement: pl}
	if containers != nil {
		s.base = &taskDef{input: &ecs.RegisterTaskDefinitionInput{ContainerDefinitions: containers}}
	}
	p.services = []*serviceState{s}
	return p
}

// TestRunTaskInput: the one-off task runs the revision where the service
// runs its tasks, with each of the inputs' overrides on its own.
func TestRunTaskInput(t *testing.T) {
	t.Parallel()
	const td = "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:2"
	containers := []types.ContainerDefinition{
		{Name: aws.String("log-router"), Essential: aws.Bool(false)},
		{Name: aws.String("web")},
		{Name: aws.String("worker"), Essential: aws.Bool(true)},
	}
	fargate := placement{
		launchType: types.LaunchTypeFargate, platformVersion: "1.4.0",
		network: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
			Subnets: []string{"subnet-1"}, SecurityGroups: []string{"sg-1"}, AssignPublicIp: types.AssignPublicIpDisabled,
		}},
	}
	spot := []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}
	tests := []struct {
		name       string
		oneOff     OneOff
		placement  placement
		containers []types.ContainerDefinition
		want       string // the request as JSON; empty when wantErr is set
		target     string
		wantErr    string
	}{
		{name: "the service's placement and the first essential container's own command", placement: fargate, containers: containers, target: "web",
			want: `{"Cluster":"prod-cluster","TaskDefinition":"` + td + `","Count":1,"LaunchType":"FARGATE","PlatformVersion":"1.4.0",
				"NetworkConfiguration":{"AwsvpcConfiguration":{"Subnets":["subnet-1"],"SecurityGroups":["sg-1"],"AssignPublicIp":"DISABLED"}}}`},
		{name: "a command for a named container, started by", placement: fargate, containers: containers, target: "worker",
			oneOff: OneOff{Container: "worker", Command: []string{"bin/migrate", "up"}, StartedBy: "oidc-ecs-deploy"},
			want: `{"Cluster":"prod-cluster","TaskDefinition":"` + td + `","Count":1,"StartedBy":"oidc-ecs-deploy","LaunchType":"FARGATE","PlatformVersion":"1.4.0",
				"Overrides":{"ContainerOverrides":[{"Name":"worker","Command":["bin/migrate","up"]}]},
				"NetworkConfiguration":{"AwsvpcConfiguration":{"Subnets":["subnet-1"],"SecurityGroups":["sg-1"],"AssignPublicIp":"DISABLED"}}}`},
		{name: "a command for the first essential container", placement: fargate, containers: containers, target: "web",
			oneOff: OneOff{Command: []string{"true"}, Subnets: []string{"subnet-2", "subnet-3"}},
			want: `{"Cluster":"prod-cluster","TaskDefinition":"` + td + `","Count":1,"LaunchType":"FARGATE","PlatformVersion":"1.4.0",
				"Overrides":{"ContainerOverrides":[{"Name":"web","Command":["true"]}]},
				"NetworkConfiguration":{"AwsvpcConfiguration":{"Subnets":["subnet-2","subnet-3"],"SecurityGroups":["sg-1"],"AssignPublicIp":"DISABLED"}}}`},
		{name: "security groups and public IP on their own, on EC2", placement: fargate, containers: containers, target: "web",
			oneOff: OneOff{LaunchType: types.LaunchTypeEc2, SecurityGroups: []string{"sg-2"}, AssignPublicIP: types.AssignPublicIpEnabled},
			want: `{"Cluster":"prod-cluster","TaskDefinition":"` + td + `","Count":1,"LaunchType":"EC2",
				"NetworkConfiguration":{"AwsvpcConfiguration":{"Subnets":["subnet-1"],"SecurityGroups":["sg-2"],"AssignPublicIp":"ENABLED"}}}`},
		{name: "the input's capacity providers", placement: fargate, containers: containers, target: "web", oneOff: OneOff{CapacityProviders: spot},
			want: `{"Cluster":"prod-cluster","TaskDefinition":"` + td + `","Count":1,"PlatformVersion":"1.4.0",
				"CapacityProviderStrategy":[{"CapacityProvider":"FARGATE_SPOT","Base":0,"Weight":1}],
				"NetworkConfiguration":{"AwsvpcConfiguration":{"Subnets":["subnet-1"],"SecurityGroups":["sg-1"],"AssignPublicIp":"DISABLED"}}}`},
		{name: "the service's capacity providers, no network", placement: placement{capacityProviders: spot}, containers: containers, target: "web",
			want: `{"Cluster":"prod-cluster","TaskDefinition":"` + td + `","Count":1,
				"CapacityProviderStrategy":[{"CapacityProvider":"FARGATE_SPOT","Base":0,"Weight":1}]}`},
		{name: "security groups without subnets make no network", placement: placement{launchType: types.LaunchTypeEc2}, containers: containers, target: "web",
			oneOff: OneOff{SecurityGroups: []string{"sg-2"}},
			want:   `{"Cluster":"prod-cluster","TaskDefinition":"` + td + `","Count":1,"LaunchType":"EC2"}`},
		{name: "the task definition not read: the named container", placement: placement{launchType: types.LaunchTypeEc2}, target: "web",
			oneOff: OneOff{Container: "web", Command: []string{"true"}},
			want: `{"Cluster":"prod-cluster","TaskDefinition":"` + td + `","Count":1,"LaunchType":"EC2",
				"Overrides":{"ContainerOverrides":[{"Name":"web","Command":["true"]}]}}`},
		{name: "a container the task definition lacks", placement: fargate, containers: containers, oneOff: OneOff{Container: "migrate"},
			wantErr: `run-task-container "migrate" is not a container of ` + td + ` (its containers: log-router, web, worker). Nothing was deployed`},
		{name: "a command, and no container known", placement: fargate, oneOff: OneOff{Command: []string{"true"}},
			wantErr: "could not be read to find its first essential container: name the container in run-task-container"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var log sandboxtest.SyncBuffer
			p := oneOffPlan(&log, tt.oneOff, tt.placement, tt.containers...)
			in, target, err := p.runTaskInput(p.services[0], td)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("runTaskInput = %v, want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, asJSON(t, in)); diff != "" || target != tt.target {
				t.Errorf("runTaskInput = container %q, want %q; request (-want +got):\n%s", target, tt.target, diff)
			}
		})
	}
}

// TestLogFollowers: the containers whose awslogs streams can be named are
// followed, each marked when there are several; the others are said why
// not, when the reason is the configuration's.
func TestLogFollowers(t *testing.T) {
	t.Parallel()
	awslogs := func(name string, options map[string]string) types.ContainerDefinition {
		return types.ContainerDefinition{Name: aws.String(name), LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: options}}
	}
	task := types.Task{TaskArn: aws.String("arn:aws:ecs:us-east-1:111122223333:task/prod-cluster/0123456789abcdef")}
	containers := []types.ContainerDefinition{
		{Name: aws.String("no-logs")},
		{Name: aws.String("splunk"), LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverSplunk}},
		awslogs("no-group", map[string]string{"awslogs-stream-prefix": "ecs"}),
		awslogs("no-prefix", map[string]string{"awslogs-group": "/ecs/web"}),
		awslogs("elsewhere", map[string]string{"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "ecs", "awslogs-region": "eu-west-1"}),
		awslogs("web", map[string]string{"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "ecs", "awslogs-region": "us-east-1"}),
		awslogs("worker", map[string]string{"awslogs-group": "/ecs/worker", "awslogs-stream-prefix": "app"}),
	}
	var log sandboxtest.SyncBuffer
	p := oneOffPlan(&log, OneOff{}, placement{}, containers...)
	p.req.Logs = noLogs{}
	got := p.logFollowers(p.services[0], task)
	want := []*logFollower{
		{container: "web", group: "/ecs/web", stream: "ecs/web/0123456789abcdef", prefix: "[web] "},
		{container: "worker", group: "/ecs/worker", stream: "app/worker/0123456789abcdef", prefix: "[worker] "},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(logFollower{})); diff != "" {
		t.Errorf("logFollowers (-want +got):\n%s", diff)
	}
	for _, say := range []string{
		"container no-prefix logs to /ecs/web without awslogs-stream-prefix",
		"container elsewhere logs to /ecs/web in eu-west-1, not in aws-region us-east-1",
	} {
		if !strings.Contains(log.String(), say) {
			t.Errorf("log lacks %q:\n%s", say, log.String())
		}
	}
	if n := strings.Count(log.String(), "\n"); n != 2 {
		t.Errorf("log has %d lines, want the two warnings:\n%s", n, log.String())
	}

	// One container followed is not marked.
	one := oneOffPlan(&log, OneOff{}, placement{}, containers[5])
	one.req.Logs = noLogs{}
	if got := one.logFollowers(one.services[0], task); len(got) != 1 || got[0].prefix != "" {
		t.Errorf("logFollowers of one container = %+v, want it unmarked", got)
	}
	// Without a logs client, or the task definition, nothing is followed.
	one.req.Logs = nil
	if got := one.logFollowers(one.services[0], task); got != nil {
		t.Errorf("logFollowers without a logs client = %+v", got)
	}
	unread := oneOffPlan(&log, OneOff{}, placement{})
	unread.req.Logs = noLogs{}
	if got := unread.logFollowers(unread.services[0], task); got != nil {
		t.Errorf("logFollowers without the task definition = %+v", got)
	}
}

// noLogs is a logs client that is never called: logFollowers only checks
// that there is one.
type noLogs struct{ LogsAPI }

// TestJudgeOneOff: the task succeeded when every essential container
// exited 0; the counted container's exit code is the result's, and a
// failure quotes the codes, ECS's reason and the last log lines.
func TestJudgeOneOff(t *testing.T) {
	t.Parallel()
	code := func(c int32) *int32 { return &c }
	containers := []types.ContainerDefinition{
		{Name: aws.String("log-router"), Essential: aws.Bool(false)},
		{Name: aws.String("web")},
		{Name: aws.String("worker"), Essential: aws.Bool(true)},
	}
	tests := []struct {
		name      string
		target    string
		task      []types.Container
		exitCode  *int32
		container string
		wantErr   []string // empty for a success
	}{
		{name: "every essential container exited 0, a non-essential one did not", target: "web",
			task:     []types.Container{{Name: aws.String("log-router"), ExitCode: code(1)}, {Name: aws.String("web"), ExitCode: code(0)}, {Name: aws.String("worker"), ExitCode: code(0)}},
			exitCode: code(0), container: "web"},
		{name: "the counted container exited 3", target: "web",
			task:     []types.Container{{Name: aws.String("web"), ExitCode: code(3), Reason: aws.String("migration failed")}, {Name: aws.String("worker"), ExitCode: code(0)}},
			exitCode: code(3), container: "web",
			wantErr: []string{"one-off task arn:task failed: container web exited with code 3 (migration failed); ECS stopped it: EssentialContainerExited: Essential container in task exited. Nothing was deployed",
				"The last lines of web (/ecs/web ecs/web/1):\n  applying 0042\n  error: relation exists"}},
		{name: "another essential container never ran", target: "web",
			task:     []types.Container{{Name: aws.String("web"), ExitCode: code(0)}, {Name: aws.String("worker")}},
			exitCode: code(0), container: "web",
			wantErr: []string{"container worker never ran;"}},
		{name: "no container counted yet: the first", target: "",
			task:     []types.Container{{Name: aws.String("sidecar")}, {Name: aws.String("web"), ExitCode: code(0)}},
			exitCode: nil, container: "sidecar",
			wantErr: []string{"container sidecar never ran;"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var log sandboxtest.SyncBuffer
			p := oneOffPlan(&log, OneOff{}, placement{}, containers...)
			res := &OneOffResult{TaskARN: "arn:task", Container: tt.target}
			followers := []*logFollower{
				{container: "log-router", group: "/ecs/router", stream: "ecs/log-router/1"},
				{container: "web", group: "/ecs/web", stream: "ecs/web/1", last: []string{"applying 0042", "error: relation exists"}},
			}
			task := types.Task{Containers: tt.task, StopCode: types.TaskStopCodeEssentialContainerExited, StoppedReason: aws.String("Essential container in task exited")}
			err := p.judgeOneOff(res, task, followers)
			if res.Container != tt.container || !cmp.Equal(res.ExitCode, tt.exitCode) || res.StopCode != "EssentialContainerExited" {
				t.Errorf("result %+v, want container %s with exit code %v", res, tt.container, tt.exitCode)
			}
			if tt.wantErr == nil {
				if err != nil || !res.Succeeded || !strings.Contains(log.String(), "One-off task arn:task succeeded: container web, exit code 0") {
					t.Errorf("judgeOneOff = %v, succeeded %v, log %q; want a success", err, res.Succeeded, log.String())
				}
				return
			}
			if err == nil || res.Succeeded {
				t.Fatalf("judgeOneOff succeeded, want a failure")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "The last lines of log-router") {
				t.Errorf("error %q quotes a container that logged nothing", err)
			}
		})
	}
}
