package cli

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// legacyWorld is fastWorld with legacy-service, an EC2 service of bridge
// tasks of the web-legacy family, beside the Fargate api-service.
func legacyWorld(w *sandbox.World) {
	fastWorld(w)
	acct := w.Accounts["111122223333"]
	acct.TaskDefinitions = append(acct.TaskDefinitions, json.RawMessage(`{
		"family": "web-legacy", "networkMode": "bridge", "requiresCompatibilities": ["EC2"],
		"containerDefinitions": [{"name": "web", "image": "public.ecr.aws/nginx/nginx:1", "memory": 512,
			"portMappings": [{"containerPort": 8080, "hostPort": 0}]}]}`))
	acct.Clusters["prod-cluster"].Services["legacy-service"] = &sandbox.ServiceSpec{
		TaskDefinition: "web-legacy:1", DesiredCount: 1, LaunchType: "EC2", CircuitBreaker: true, RolloutSeconds: 6,
	}
}

// powerShellCopy writes the fixture as Windows PowerShell's Out-File
// writes it, UTF-16 LE with a byte-order mark and CRLF line ends, and
// returns its path.
func powerShellCopy(t *testing.T, fixture string) string {
	t.Helper()
	text, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	out := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(strings.ReplaceAll(string(text), "\n", "\r\n"))) {
		out = binary.LittleEndian.AppendUint16(out, u)
	}
	path := filepath.Join(t.TempDir(), "task-definition.json")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTaskDefinitionFixtures runs the task definition files in
// testdata/taskdefs, written in the shapes teams use (exports of
// describe-task-definition with read-only fields and nulls, the console's
// JSON, FireLens, EFS volumes, secrets, an App Mesh proxy, EC2 bridge mode,
// and the mistakes made in them), through the whole flow: authenticate,
// push, register, update, watch. Each ends with the verdict ECS would give:
// deployed, or refused at registration or at UpdateService with ECS's own
// message; or the action refuses the file before anything changes.
func TestTaskDefinitionFixtures(t *testing.T) {
	t.Parallel()
	const (
		deployed     = "deployed"
		ecsRefuses   = "ECS refuses it"
		actionRefuse = "the action refuses it"
	)
	tests := []struct {
		file    string
		service string
		verdict string
		want    string // the refusal's words
	}{
		{file: "describe-export-nulls.json", verdict: deployed},
		{file: "describe-export-definition-only.json", verdict: deployed},
		{file: "console-template.json", verdict: deployed},
		{file: "firelens.json", verdict: deployed},
		{file: "efs-volume.json", verdict: deployed},
		{file: "secrets.json", verdict: deployed},
		{file: "appmesh-proxy.json", verdict: deployed},
		{file: "ec2-bridge.json", service: "legacy-service", verdict: deployed},
		{file: "console-template.json (saved by PowerShell)", verdict: deployed},
		{file: "ec2-bridge.json", verdict: ecsRefuses, want: "InvalidParameterException: Task definition does not support launch_type FARGATE."},
		{file: "fargate-shape-without-requires-compatibilities.json", verdict: ecsRefuses, want: "InvalidParameterException: Task definition does not support launch_type FARGATE."},
		{file: "secrets-without-execution-role.json", service: "legacy-service", verdict: ecsRefuses,
			want: "ClientException: When you are specifying container secrets, you must also specify a value for 'executionRoleArn'."},
		{file: "fargate-ecr-without-execution-role.json", verdict: ecsRefuses, want: "ClientException: Fargate requires task definition to have execution role ARN to support ECR images."},
		{file: "awsvpc-host-port.json", verdict: ecsRefuses, want: "ClientException: When networkMode=awsvpc, the host ports and container ports in port mappings must match."},
		{file: "placeholder-left-in.json", verdict: ecsRefuses, want: "ClientException: Role is not valid"},
		{file: "unknown-key.json", verdict: actionRefuse, want: "containerDefinitions[0].memoryReservaton"},
	}
	for _, tt := range tests {
		service := tt.service
		if service == "" {
			service = "api-service"
		}
		t.Run(tt.file+" on "+service, func(t *testing.T) {
			t.Parallel()
			file, _ := filepath.Abs(filepath.Join("testdata", "taskdefs", strings.TrimSuffix(tt.file, " (saved by PowerShell)")))
			if strings.HasSuffix(tt.file, "(saved by PowerShell)") {
				file = powerShellCopy(t, file)
			}
			sb := sandboxtest.Start(t, legacyWorld)
			client := ecs.NewFromConfig(sandboxtest.WebIdentityConfig(sb.Env(), "arn:aws:iam::111122223333:role/gha-deploy", "fixtures"))
			before := describeServiceTaskDefinition(t, client, service)
			run := runInActions(t, sb, func(rc *runConfig) {
				rc.cfg.TaskDefinition = file
				rc.cfg.Services = []string{service}
				rc.cfg.ContainerNames = []string{"web"}
			})
			after := describeServiceTaskDefinition(t, client, service)
			switch tt.verdict {
			case deployed:
				if run.err != nil {
					t.Fatalf("the run failed: %v\n%s", run.err, run.log)
				}
				arn := run.outputs[OutputTaskDefinitionARN]
				if after != arn || arn == before {
					t.Errorf("the service runs %s, want the new revision %s", after, arn)
				}
				td, err := client.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arn)})
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range td.TaskDefinition.ContainerDefinitions {
					if aws.ToString(c.Name) == "web" && aws.ToString(c.Image) != run.res.Image {
						t.Errorf("container web runs %s, want the pushed image pinned by digest, %s", aws.ToString(c.Image), run.res.Image)
					}
				}
			default:
				if run.err == nil || !strings.Contains(run.err.Error(), tt.want) {
					t.Fatalf("the run = %v, want a failure saying %q\n%s", run.err, tt.want, run.log)
				}
				if after != before {
					t.Errorf("the service runs %s after a refusal, want %s still", after, before)
				}
			}
		})
	}
}

// describeServiceTaskDefinition is the task definition a service runs.
func describeServiceTaskDefinition(t *testing.T, client *ecs.Client, service string) string {
	t.Helper()
	out, err := client.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String("prod-cluster"), Services: []string{service}})
	if err != nil || len(out.Services) != 1 {
		t.Fatalf("DescribeServices %s: %v %+v", service, err, out)
	}
	return aws.ToString(out.Services[0].TaskDefinition)
}
