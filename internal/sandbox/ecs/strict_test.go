package ecs_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

const (
	executionRole = "arn:aws:iam::111122223333:role/ecsTaskExecutionRole"
	taskRole      = "arn:aws:iam::111122223333:role/web-api-task"
	// otherAccountImage is an image in another account's ECR registry, as
	// AWS's own images are (the FireLens log router).
	otherAccountImage = "906394416424.dkr.ecr.us-east-1.amazonaws.com/aws-for-fluent-bit:stable"
)

// unthrottled turns ECS's API throttling off, for tests that make many
// calls at once.
func unthrottled(w *sandbox.World) { w.ECS.NoThrottle = true }

// fargateInput is a Fargate task definition of the web-api family with
// one container running image, which change adjusts.
func fargateInput(image string, change func(*ecs.RegisterTaskDefinitionInput)) *ecs.RegisterTaskDefinitionInput {
	in := &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String("web-api"),
		NetworkMode:             types.NetworkModeAwsvpc,
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		Cpu:                     aws.String("256"),
		Memory:                  aws.String("512"),
		ExecutionRoleArn:        aws.String(executionRole),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("web"), Image: aws.String(image), Essential: aws.Bool(true),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080)}},
		}},
	}
	if change != nil {
		change(in)
	}
	return in
}

// TestRegisterTaskDefinitionAsECS registers, with the real SDK, task
// definitions that ECS refuses, each refused with ECS's code and message,
// and some it accepts that a stricter stand-in might refuse.
func TestRegisterTaskDefinitionAsECS(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, unthrottled, sandbox.Options{})
	client := ecsClient(t, sb)
	ecrImage := sb.RegistryHost(testAccount) + "/web-api:bootstrap"
	awslogs := &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{"awslogs-group": "/ecs/web-api", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"}}
	ec2 := func(in *ecs.RegisterTaskDefinitionInput) {
		in.RequiresCompatibilities, in.NetworkMode, in.Cpu, in.Memory = nil, types.NetworkModeBridge, nil, aws.String("512")
		in.ContainerDefinitions[0].PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(8080), HostPort: aws.Int32(0)}}
	}
	noExecutionRole := func(in *ecs.RegisterTaskDefinitionInput) { in.ExecutionRoleArn = nil }
	tests := []struct {
		name        string
		in          *ecs.RegisterTaskDefinitionInput
		wantMessage string // empty: ECS registers it
	}{
		{name: "fargate_ecr_image_without_execution_role", in: fargateInput(ecrImage, noExecutionRole),
			wantMessage: "Fargate requires task definition to have execution role ARN to support ECR images."},
		{name: "fargate_other_accounts_ecr_image_without_execution_role", in: fargateInput(otherAccountImage, noExecutionRole),
			wantMessage: "Fargate requires task definition to have execution role ARN to support ECR images."},
		{name: "fargate_awslogs_without_execution_role", in: fargateInput("public.ecr.aws/nginx/nginx:1", func(in *ecs.RegisterTaskDefinitionInput) {
			noExecutionRole(in)
			in.ContainerDefinitions[0].LogConfiguration = awslogs
		}), wantMessage: "Fargate requires task definition to have execution role ARN to support log driver awslogs."},
		{name: "ec2_ecr_image_and_awslogs_without_execution_role", in: fargateInput(ecrImage, func(in *ecs.RegisterTaskDefinitionInput) {
			ec2(in)
			noExecutionRole(in)
			in.ContainerDefinitions[0].LogConfiguration = awslogs
		})},
		{name: "secrets_without_execution_role", in: fargateInput("public.ecr.aws/nginx/nginx:1", func(in *ecs.RegisterTaskDefinitionInput) {
			ec2(in)
			noExecutionRole(in)
			in.ContainerDefinitions[0].Secrets = []types.Secret{{Name: aws.String("DB_PASSWORD"), ValueFrom: aws.String("arn:aws:ssm:us-east-1:111122223333:parameter/db")}}
		}), wantMessage: "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'."},
		{name: "private_registry_without_execution_role", in: fargateInput("registry.example.invalid/web:1", func(in *ecs.RegisterTaskDefinitionInput) {
			ec2(in)
			noExecutionRole(in)
			in.ContainerDefinitions[0].RepositoryCredentials = &types.RepositoryCredentials{CredentialsParameter: aws.String("arn:aws:secretsmanager:us-east-1:111122223333:secret:registry")}
		}), wantMessage: "Private repository authentication requires that the task definition specify a value for executionRoleArn."},
		{name: "task_role_that_is_no_role", in: fargateInput(ecrImage, func(in *ecs.RegisterTaskDefinitionInput) {
			in.TaskRoleArn = aws.String("arn:aws:cloudformation:us-east-1:111122223333:stack/web/0a1b2c3d")
		}), wantMessage: "Role is not valid"},
		{name: "execution_role_of_another_partition", in: fargateInput(ecrImage, func(in *ecs.RegisterTaskDefinitionInput) {
			in.ExecutionRoleArn = aws.String("arn:aws-cn:iam::111122223333:role/ecsTaskExecutionRole")
		}), wantMessage: "Role is not valid"},
		{name: "task_role_with_a_space", in: fargateInput(ecrImage, func(in *ecs.RegisterTaskDefinitionInput) {
			in.TaskRoleArn = aws.String("web api task")
		}), wantMessage: "Role is not valid"},
		{name: "awsvpc_host_port_not_the_container_port", in: fargateInput(ecrImage, func(in *ecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions[0].PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(8080), HostPort: aws.Int32(80)}}
		}), wantMessage: "When networkMode=awsvpc, the host ports and container ports in port mappings must match."},
		{name: "bridge_host_port_not_the_container_port", in: fargateInput(ecrImage, func(in *ecs.RegisterTaskDefinitionInput) {
			ec2(in)
			in.ContainerDefinitions[0].PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(8080), HostPort: aws.Int32(80)}}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := client.RegisterTaskDefinition(context.Background(), tt.in)
			if tt.wantMessage == "" {
				if err != nil {
					t.Fatalf("RegisterTaskDefinition: %v", err)
				}
				return
			}
			code, status, msg := sandboxtest.APIError(t, err)
			if code != "ClientException" || status != 400 || msg != tt.wantMessage {
				t.Errorf("RegisterTaskDefinition = %s (%d) %q, want ClientException (400) %q", code, status, msg, tt.wantMessage)
			}
		})
	}
}

// TestRegisteredAsECSStoresIt: what ECS fills in is filled in: a role
// given by name becomes its ARN, an awsvpc port mapping without a host
// port gets its container port, and only a task definition that requires
// FARGATE is compatible with it.
func TestRegisteredAsECSStoresIt(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, nil, sandbox.Options{})
	client := ecsClient(t, sb)
	out, err := client.RegisterTaskDefinition(context.Background(), fargateInput(sb.RegistryHost(testAccount)+"/web-api:bootstrap", func(in *ecs.RegisterTaskDefinitionInput) {
		in.TaskRoleArn, in.ExecutionRoleArn = aws.String("web-api-task"), aws.String("ecsTaskExecutionRole")
	}))
	if err != nil {
		t.Fatalf("RegisterTaskDefinition: %v", err)
	}
	td := out.TaskDefinition
	if got := []string{aws.ToString(td.TaskRoleArn), aws.ToString(td.ExecutionRoleArn)}; got[0] != taskRole || got[1] != executionRole {
		t.Errorf("roles given by name are stored as %v, want %s and %s", got, taskRole, executionRole)
	}
	if pm := td.ContainerDefinitions[0].PortMappings[0]; aws.ToInt32(pm.HostPort) != 8080 {
		t.Errorf("awsvpc port mapping's host port = %v, want the container port 8080", pm.HostPort)
	}
	if got := td.Compatibilities; len(got) != 2 || got[0] != types.CompatibilityEc2 || got[1] != types.CompatibilityFargate {
		t.Errorf("compatibilities = %v, want [EC2 FARGATE]", got)
	}
	out, err = client.RegisterTaskDefinition(context.Background(), fargateInput("public.ecr.aws/nginx/nginx:1", func(in *ecs.RegisterTaskDefinitionInput) {
		in.RequiresCompatibilities = nil
	}))
	if err != nil {
		t.Fatalf("RegisterTaskDefinition without requiresCompatibilities: %v", err)
	}
	if got := out.TaskDefinition.Compatibilities; len(got) != 1 || got[0] != types.CompatibilityEc2 {
		t.Errorf("compatibilities of a task definition that does not require FARGATE = %v, want [EC2], whatever its shape", got)
	}
}

// launchTypeWorld adds an EC2 service of bridge tasks, legacy-service, to
// the demo world.
func launchTypeWorld(w *sandbox.World) {
	acct := w.Accounts[testAccount]
	acct.TaskDefinitions = append(acct.TaskDefinitions, json.RawMessage(`{
		"family": "legacy", "networkMode": "bridge", "requiresCompatibilities": ["EC2"],
		"containerDefinitions": [{"name": "web", "image": "public.ecr.aws/nginx/nginx:1", "memory": 256,
			"portMappings": [{"containerPort": 80, "hostPort": 0}]}]}`))
	acct.Clusters["prod-cluster"].Services["legacy-service"] = &sandbox.ServiceSpec{TaskDefinition: "legacy:1", DesiredCount: 1, LaunchType: "EC2"}
}

// TestUpdateServiceLaunchType: UpdateService refuses a revision the
// service's launch type cannot run, as ECS does, and rolls out one it can.
func TestUpdateServiceLaunchType(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, func(w *sandbox.World) { launchTypeWorld(w); unthrottled(w) }, sandbox.Options{})
	client := ecsClient(t, sb)
	register := func(in *ecs.RegisterTaskDefinitionInput) string {
		t.Helper()
		out, err := client.RegisterTaskDefinition(context.Background(), in)
		if err != nil {
			t.Fatalf("RegisterTaskDefinition: %v", err)
		}
		return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
	}
	image := "public.ecr.aws/nginx/nginx:1"
	fargate := register(fargateInput(image, nil))
	fargateShapeWithoutRequiring := register(fargateInput(image, func(in *ecs.RegisterTaskDefinitionInput) { in.RequiresCompatibilities = nil }))
	bridge := register(fargateInput(image, func(in *ecs.RegisterTaskDefinitionInput) {
		in.RequiresCompatibilities, in.NetworkMode, in.Cpu = nil, types.NetworkModeBridge, nil
	}))
	noTaskSize := register(fargateInput(image, func(in *ecs.RegisterTaskDefinitionInput) {
		in.RequiresCompatibilities, in.Cpu, in.Memory = nil, nil, nil
		in.ContainerDefinitions[0].Memory = aws.Int32(256)
	}))
	tests := []struct {
		service, taskDefinition, wantMessage string
	}{
		{"api-service", fargateShapeWithoutRequiring, "Task definition does not support launch_type FARGATE."},
		{"api-service", bridge, "Task definition does not support launch_type FARGATE."},
		{"api-service", noTaskSize, "Task definition does not support launch_type FARGATE."},
		{"legacy-service", fargate, "Network Configuration must be provided when networkMode 'awsvpc' is specified."},
		{"legacy-service", bridge, ""},
		{"api-service", fargate, ""},
	}
	for _, tt := range tests {
		_, err := client.UpdateService(context.Background(), &ecs.UpdateServiceInput{
			Cluster: aws.String("prod-cluster"), Service: aws.String(tt.service), TaskDefinition: aws.String(tt.taskDefinition),
		})
		if tt.wantMessage == "" {
			if err != nil {
				t.Errorf("UpdateService %s to %s: %v", tt.service, tt.taskDefinition, err)
			}
			continue
		}
		code, _, msg := sandboxtest.APIError(t, err)
		if code != "InvalidParameterException" || msg != tt.wantMessage {
			t.Errorf("UpdateService %s to %s = %s %q, want InvalidParameterException %q", tt.service, tt.taskDefinition, code, msg, tt.wantMessage)
		}
	}
	legacy := describeService(t, client, "legacy-service")
	if legacy.LaunchType != types.LaunchTypeEc2 || legacy.PlatformVersion != nil || legacy.NetworkConfiguration != nil {
		t.Errorf("EC2 service = launch type %s, platform version %v, network configuration %v; want EC2 with neither", legacy.LaunchType, legacy.PlatformVersion, legacy.NetworkConfiguration)
	}
}

// TestUpdateServiceLaunchTypeWithAWSCLI: the AWS CLI meets the same
// refusals: a Fargate task definition of an ECR image without an execution
// role, and a revision Fargate cannot run.
func TestUpdateServiceLaunchTypeWithAWSCLI(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, nil, sandbox.Options{})
	creds := sb.RoleCredentials(testAccount, "gha-deploy", "cli")
	env := []string{"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey, "AWS_SESSION_TOKEN=" + creds.SessionToken}
	dir := t.TempDir()
	file := filepath.Join(dir, "taskdef.json")
	write := func(td string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(td), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"family": "web-api", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
		"containerDefinitions": [{"name": "web", "image": "` + sb.RegistryHost(testAccount) + `/web-api:bootstrap"}]}`)
	stderr := sandboxtest.AWSCLIRefused(t, sb, env, "ecs", "register-task-definition", "--cli-input-json", "file://"+file)
	if !strings.Contains(stderr, "(ClientException)") || !strings.Contains(stderr, "Fargate requires task definition to have execution role ARN to support ECR images.") {
		t.Errorf("aws ecs register-task-definition printed %q, want ECS's ClientException about the execution role", stderr)
	}

	write(`{"family": "web-api", "networkMode": "awsvpc", "cpu": "256", "memory": "512",
		"containerDefinitions": [{"name": "web", "image": "public.ecr.aws/nginx/nginx:1"}]}`)
	var registered struct {
		TaskDefinition struct {
			TaskDefinitionArn string   `json:"taskDefinitionArn"`
			Compatibilities   []string `json:"compatibilities"`
		} `json:"taskDefinition"`
	}
	sandboxtest.AWSCLI(t, sb, env, &registered, "ecs", "register-task-definition", "--cli-input-json", "file://"+file)
	stderr = sandboxtest.AWSCLIRefused(t, sb, env, "ecs", "update-service", "--cluster", "prod-cluster", "--service", "api-service",
		"--task-definition", registered.TaskDefinition.TaskDefinitionArn)
	if !strings.Contains(stderr, "(InvalidParameterException)") || !strings.Contains(stderr, "Task definition does not support launch_type FARGATE.") {
		t.Errorf("aws ecs update-service printed %q, want InvalidParameterException: Task definition does not support launch_type FARGATE.", stderr)
	}
}

// TestARNParametersReadWhole: every ARN parameter is read whole. Another
// region's ARN is refused as ECS refuses it; another account's (or
// partition's) resource is none of the caller's, whatever IAM allows; a
// service ARN must be of the cluster named; an ARN that is not one is a
// syntax error.
func TestARNParametersReadWhole(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, func(w *sandbox.World) {
		// Allowed on every resource, so that what is refused is ECS's
		// answer, not IAM's.
		unthrottled(w)
		role := w.Accounts[testAccount].Roles["gha-deploy"]
		role.Permissions.Statement = append(role.Permissions.Statement, sandbox.Statement{
			Effect: "Allow", Action: sandbox.StringList{"ecs:Describe*", "ecs:UpdateService"}, Resource: sandbox.StringList{"*"},
		})
	}, sandbox.Options{})
	client := ecsClient(t, sb)
	const (
		ours          = "arn:aws:ecs:us-east-1:111122223333:"
		otherAccount  = "arn:aws:ecs:us-east-1:444455556666:"
		otherRegion   = "arn:aws:ecs:eu-west-1:111122223333:"
		otherPartiton = "arn:aws-cn:ecs:us-east-1:111122223333:"
	)
	describe := func(cluster string, services ...string) (*ecs.DescribeServicesOutput, error) {
		return client.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: services})
	}
	wantError := func(t *testing.T, what string, err error, code, message string) {
		t.Helper()
		gotCode, _, gotMsg := sandboxtest.APIError(t, err)
		if gotCode != code || gotMsg != message {
			t.Errorf("%s = %s %q, want %s %q", what, gotCode, gotMsg, code, message)
		}
	}

	t.Run("cluster_arn", func(t *testing.T) {
		t.Parallel()
		if out, err := describe(ours+"cluster/prod-cluster", "api-service"); err != nil || len(out.Services) != 1 {
			t.Errorf("DescribeServices with our cluster's ARN = %v, %v", out, err)
		}
		_, err := describe(otherRegion+"cluster/prod-cluster", "api-service")
		wantError(t, "cluster ARN of another region", err, "InvalidParameterException", "Invalid Region in ARN")
		_, err = describe(otherAccount+"cluster/prod-cluster", "api-service")
		wantError(t, "cluster ARN of another account", err, "ClusterNotFoundException", "Cluster not found.")
		_, err = describe(otherPartiton+"cluster/prod-cluster", "api-service")
		wantError(t, "cluster ARN of another partition", err, "ClusterNotFoundException", "Cluster not found.")
		_, err = describe("arn:aws:ecs:us-east-1:111122223333", "api-service")
		wantError(t, "an ARN without a resource", err, "ClientException",
			"com.amazon.arn.ARNSyntaxException: Fifth colon (namespace/relative-id delimiter) not found: arn:aws:ecs:us-east-1:111122223333")
	})

	t.Run("service_arn", func(t *testing.T) {
		t.Parallel()
		out, err := describe("prod-cluster", ours+"service/prod-cluster/api-service", ours+"service/api-service",
			otherAccount+"service/prod-cluster/api-service", otherPartiton+"service/prod-cluster/api-service")
		if err != nil {
			t.Fatalf("DescribeServices: %v", err)
		}
		if len(out.Services) != 2 {
			t.Errorf("DescribeServices found %d services, want api-service by its long and its short ARN", len(out.Services))
		}
		var missing []string
		for _, f := range out.Failures {
			missing = append(missing, aws.ToString(f.Arn)+" "+aws.ToString(f.Reason))
		}
		want := []string{otherAccount + "service/prod-cluster/api-service MISSING", otherPartiton + "service/prod-cluster/api-service MISSING"}
		if strings.Join(missing, ",") != strings.Join(want, ",") {
			t.Errorf("failures = %v, want %v", missing, want)
		}
		_, err = describe("prod-cluster", ours+"service/staging/api-service")
		wantError(t, "service ARN of another cluster", err, "InvalidParameterException", "Invalid identifier: Identifier is for cluster staging. Your cluster is prod-cluster")
		_, err = describe("prod-cluster", otherRegion+"service/prod-cluster/api-service")
		wantError(t, "service ARN of another region", err, "InvalidParameterException", "Invalid Region in ARN")
		_, err = client.UpdateService(context.Background(), &ecs.UpdateServiceInput{Cluster: aws.String("prod-cluster"), Service: aws.String(otherAccount + "service/prod-cluster/api-service"), ForceNewDeployment: true})
		wantError(t, "UpdateService of another account's service", err, "ServiceNotFoundException", "Service not found.")
	})

	t.Run("task_definition_arn", func(t *testing.T) {
		t.Parallel()
		if _, err := client.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(ours + "task-definition/web-api:1")}); err != nil {
			t.Errorf("DescribeTaskDefinition of our revision by ARN: %v", err)
		}
		_, err := client.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(otherAccount + "task-definition/web-api:1")})
		wantError(t, "DescribeTaskDefinition of another account's revision", err, "ClientException", "Unable to describe task definition.")
		_, err = client.UpdateService(context.Background(), &ecs.UpdateServiceInput{Cluster: aws.String("prod-cluster"), Service: aws.String("api-service"), TaskDefinition: aws.String(otherRegion + "task-definition/web-api:1")})
		wantError(t, "UpdateService to a revision of another region", err, "InvalidParameterException", "Invalid Region in ARN")
		_, err = client.UpdateService(context.Background(), &ecs.UpdateServiceInput{Cluster: aws.String("prod-cluster"), Service: aws.String("api-service"), TaskDefinition: aws.String(otherAccount + "task-definition/web-api:1")})
		wantError(t, "UpdateService to another account's revision", err, "ClientException", "TaskDefinition not found.")
	})
}

// TestImagesOfRegistriesNotHosted: an image in an ECR registry the sandbox
// does not serve (AWS's own images live in AWS's accounts) is pulled as
// ECS's execution role pulls it, unless the world marks it missing.
func TestImagesOfRegistriesNotHosted(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		missing []string
		want    types.ServiceDeploymentStatus
	}{
		{"pullable", nil, types.ServiceDeploymentStatusSuccessful},
		{"marked_missing", []string{"906394416424.dkr.ecr.us-east-1.amazonaws.com/aws-for-fluent-bit"}, types.ServiceDeploymentStatusRollbackSuccessful},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sb := startECSSandbox(t, func(w *sandbox.World) { w.ECS.MissingImages = tt.missing }, sandbox.Options{})
			client := ecsClient(t, sb)
			image, _ := pushImage(t, sb, "web-api", "v2")
			out, err := client.RegisterTaskDefinition(context.Background(), fargateInput(image, func(in *ecs.RegisterTaskDefinitionInput) {
				in.ContainerDefinitions = append(in.ContainerDefinitions, types.ContainerDefinition{
					Name: aws.String("log-router"), Image: aws.String(otherAccountImage), Essential: aws.Bool(true),
					FirelensConfiguration: &types.FirelensConfiguration{Type: types.FirelensConfigurationTypeFluentbit},
				})
			}))
			if err != nil {
				t.Fatalf("RegisterTaskDefinition: %v", err)
			}
			_, sdARN := deploy(t, client, "api-service", aws.ToString(out.TaskDefinition.TaskDefinitionArn))
			if sd := waitServiceDeployment(t, client, sdARN, 10*time.Second); sd.Status != tt.want {
				t.Errorf("service deployment %s (%s), want %s", sd.Status, aws.ToString(sd.StatusReason), tt.want)
			}
		})
	}
}

// TestRollbackIsSeenInProgress: a circuit breaker's rollback is not done
// the moment it starts. On a stepped clock the service deployment is seen
// ROLLBACK_IN_PROGRESS, with our deployment still in deployments[] as
// ACTIVE and FAILED beside the rollback's PRIMARY, until ECS has drained
// it and seen the service steady; then ROLLBACK_SUCCESSFUL, and ours is
// gone. With a lag, DescribeServiceDeployments answers what was true that
// long before.
func TestRollbackIsSeenInProgress(t *testing.T) {
	t.Parallel()
	clock := sandboxtest.NewSteppedClock()
	w := sandbox.DemoWorld()
	w.ECS = &sandbox.ECSSettings{ServiceDeploymentLagSeconds: 2}
	sb := sandboxtest.StartWorld(t, w, sandbox.Options{Now: clock.Now})
	client := ecsClient(t, sb)
	image, digest := pushImage(t, sb, "web-api", "v2")
	sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "task-crash", Image: digest})
	td := registerWebAPI(t, client, image)
	id, sdARN := deploy(t, client, "api-service", aws.ToString(td.TaskDefinitionArn))

	// The demo service's 6-second rollout: tasks start in 3 s, crash 1.5 s
	// later, and the breaker trips at the third failure.
	clock.Step(5 * time.Second)
	svc := describeService(t, client, "api-service")
	var ours *types.Deployment
	for i := range svc.Deployments {
		if aws.ToString(svc.Deployments[i].Id) == id {
			ours = &svc.Deployments[i]
		}
	}
	if ours == nil || aws.ToString(ours.Status) != "ACTIVE" || ours.RolloutState != types.DeploymentRolloutStateFailed ||
		aws.ToString(svc.Deployments[0].Id) == id || svc.Deployments[0].RolloutState != types.DeploymentRolloutStateInProgress {
		t.Fatalf("deployments during the rollback = %+v, want the rollback PRIMARY IN_PROGRESS and ours ACTIVE FAILED", svc.Deployments)
	}
	// Two seconds behind, the service deployment is still in progress.
	if sd := describeServiceDeployment(t, client, sdARN); sd.Status != types.ServiceDeploymentStatusInProgress {
		t.Errorf("lagging service deployment = %s, want IN_PROGRESS still", sd.Status)
	}
	clock.Step(2 * time.Second)
	if sd := describeServiceDeployment(t, client, sdARN); sd.Status != types.ServiceDeploymentStatusRollbackInProgress {
		t.Errorf("service deployment = %s, want ROLLBACK_IN_PROGRESS", sd.Status)
	}
	clock.Step(time.Minute)
	svc = describeService(t, client, "api-service")
	if len(svc.Deployments) != 1 || aws.ToString(svc.Deployments[0].Id) == id || svc.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted {
		t.Errorf("deployments after the rollback = %+v, want the rollback alone, COMPLETED", svc.Deployments)
	}
	clock.Step(3 * time.Second)
	if sd := describeServiceDeployment(t, client, sdARN); sd.Status != types.ServiceDeploymentStatusRollbackSuccessful {
		t.Errorf("service deployment = %s, want ROLLBACK_SUCCESSFUL", sd.Status)
	}
}
