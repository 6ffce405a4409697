package ecs_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

const (
	testAccount = "111122223333"
	demoRoleARN = "arn:aws:iam::111122223333:role/gha-deploy"
)

// startECSSandbox starts the demo world, changed by edit, with rollouts
// sped up twentyfold (the demo services' 6-second rollouts take 0.3 s).
func startECSSandbox(tb testing.TB, edit func(*sandbox.World), opts sandbox.Options) *sandbox.Sandbox {
	tb.Helper()
	w := sandbox.DemoWorld()
	w.ECS = &sandbox.ECSSettings{TimeScale: 0.05}
	if edit != nil {
		edit(w)
	}
	return sandboxtest.StartWorld(tb, w, opts)
}

// ecsClientFor is the real SDK client with a session of role in the demo
// account. Retries are off so that tests see every error as it comes.
func ecsClientFor(tb testing.TB, sb *sandbox.Sandbox, role string) *ecs.Client {
	tb.Helper()
	return ecs.NewFromConfig(sandboxtest.RoleConfig(sb, testAccount, role, "ecs-test"))
}

// ecsClient is a client with the credentials a deploy job gets: the demo
// role, assumed with a GitHub ID token through STS.
func ecsClient(tb testing.TB, sb *sandbox.Sandbox) *ecs.Client {
	tb.Helper()
	out := sandboxtest.WebIdentity(tb, sb, demoRoleARN, "ecs-test")
	return ecs.New(ecs.Options{
		Region:       sb.Region(),
		BaseEndpoint: aws.String(sb.AWSEndpoint()),
		Credentials:  sandboxtest.StaticCredentials(out.Credentials),
		Retryer:      aws.NopRetryer{},
	})
}

// pushImage stores a random image in the registry backend under the
// account's ECR repository and returns its reference on the ECR front and
// its digest.
func pushImage(tb testing.TB, sb *sandbox.Sandbox, repo, tag string) (string, string) {
	tb.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		tb.Fatal(err)
	}
	ref, err := name.NewTag(sb.BackendRepository(testAccount, repo)+":"+tag, name.Insecure)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		tb.Fatalf("push %s: %v", ref, err)
	}
	digest, err := img.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return sb.RegistryHost(testAccount) + "/" + repo + ":" + tag, digest.String()
}

// registerWebAPI registers a revision of the demo's web-api family running image.
func registerWebAPI(tb testing.TB, client *ecs.Client, image string) *types.TaskDefinition {
	tb.Helper()
	out, err := client.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String("web-api"),
		NetworkMode:             types.NetworkModeAwsvpc,
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		Cpu:                     aws.String("256"),
		Memory:                  aws.String("512"),
		ExecutionRoleArn:        aws.String("arn:aws:iam::111122223333:role/ecsTaskExecutionRole"),
		TaskRoleArn:             aws.String("arn:aws:iam::111122223333:role/web-api-task"),
		ContainerDefinitions: []types.ContainerDefinition{
			{Name: aws.String("web"), Image: aws.String(image), Essential: aws.Bool(true)},
			{Name: aws.String("log-router"), Image: aws.String("public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"), Essential: aws.Bool(false)},
		},
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("payments")}},
	})
	if err != nil {
		tb.Fatalf("RegisterTaskDefinition: %v", err)
	}
	return out.TaskDefinition
}

func describeService(tb testing.TB, client *ecs.Client, service string) types.Service {
	tb.Helper()
	out, err := client.DescribeServices(context.Background(), &ecs.DescribeServicesInput{
		Cluster: aws.String("prod-cluster"), Services: []string{service},
	})
	if err != nil {
		tb.Fatalf("DescribeServices: %v", err)
	}
	if len(out.Services) != 1 {
		tb.Fatalf("DescribeServices: %d services, failures %+v", len(out.Services), out.Failures)
	}
	return out.Services[0]
}

// serviceDeploymentFor finds the service deployment that carries out the
// deployment UpdateService started, by its target revision.
func describeServiceDeployment(tb testing.TB, client *ecs.Client, arn string) types.ServiceDeployment {
	tb.Helper()
	out, err := client.DescribeServiceDeployments(context.Background(), &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}})
	if err != nil {
		tb.Fatalf("DescribeServiceDeployments: %v", err)
	}
	if len(out.ServiceDeployments) != 1 {
		tb.Fatalf("DescribeServiceDeployments: failures %+v", out.Failures)
	}
	return out.ServiceDeployments[0]
}

// waitServiceDeployment polls until the service deployment reaches one of
// the final states, and fails the test after timeout.
func waitServiceDeployment(tb testing.TB, client *ecs.Client, arn string, timeout time.Duration) types.ServiceDeployment {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		sd := describeServiceDeployment(tb, client, arn)
		switch sd.Status {
		case types.ServiceDeploymentStatusSuccessful, types.ServiceDeploymentStatusStopped,
			types.ServiceDeploymentStatusRollbackSuccessful, types.ServiceDeploymentStatusRollbackFailed:
			return sd
		}
		if time.Now().After(deadline) {
			tb.Fatalf("service deployment still %s after %v", sd.Status, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deployAndFindServiceDeployment updates the service to td and returns the
// deployment ID UpdateService reports and the ARN of its service deployment.
func deploy(tb testing.TB, client *ecs.Client, service, td string) (string, string) {
	tb.Helper()
	ctx := context.Background()
	out, err := client.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster: aws.String("prod-cluster"), Service: aws.String(service), TaskDefinition: aws.String(td),
	})
	if err != nil {
		tb.Fatalf("UpdateService: %v", err)
	}
	primary := out.Service.Deployments[0]
	if got, want := aws.ToString(primary.Status), "PRIMARY"; got != want {
		tb.Fatalf("UpdateService: first deployment is %s, want %s", got, want)
	}
	if got := aws.ToString(primary.TaskDefinition); got != td {
		tb.Fatalf("UpdateService: primary runs %s, want %s", got, td)
	}
	if !regexp.MustCompile(`^ecs-svc/\d{19}$`).MatchString(aws.ToString(primary.Id)) {
		tb.Errorf("deployment id %q is not ecs-svc/<19 digits>", aws.ToString(primary.Id))
	}
	if primary.RolloutState != types.DeploymentRolloutStateInProgress {
		tb.Errorf("new deployment rolloutState = %s, want IN_PROGRESS", primary.RolloutState)
	}
	list, err := client.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{
		Cluster: aws.String("prod-cluster"), Service: aws.String(service),
	})
	if err != nil {
		tb.Fatalf("ListServiceDeployments: %v", err)
	}
	if len(list.ServiceDeployments) == 0 {
		tb.Fatal("ListServiceDeployments: none")
	}
	newest := list.ServiceDeployments[0]
	if got, want := aws.ToString(newest.ServiceDeploymentArn), aws.ToString(out.Service.CurrentServiceDeployment); got != want {
		tb.Errorf("newest service deployment %s, service's current %s", got, want)
	}
	return aws.ToString(primary.Id), aws.ToString(newest.ServiceDeploymentArn)
}

func eventMessages(svc types.Service) []string {
	var out []string
	for _, ev := range svc.Events {
		out = append(out, aws.ToString(ev.Message))
	}
	return out
}

func hasEvent(svc types.Service, pattern string) bool {
	re := regexp.MustCompile(pattern)
	return slices.ContainsFunc(eventMessages(svc), re.MatchString)
}

func TestRegisterAndDescribeTaskDefinition(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, func(w *sandbox.World) {
		w.Accounts[testAccount].Roles["admin"] = &sandbox.Role{Permissions: sandbox.PolicyDocument{Statement: []sandbox.Statement{
			{Effect: "Allow", Action: sandbox.StringList{"ecs:*"}, Resource: sandbox.StringList{"*"}},
		}}}
		w.Accounts[testAccount].Roles["reader"] = &sandbox.Role{Permissions: sandbox.PolicyDocument{Statement: []sandbox.Statement{
			{Effect: "Allow", Action: sandbox.StringList{"ecs:Describe*", "ecs:List*"}, Resource: sandbox.StringList{"*"}},
		}}}
	}, sandbox.Options{})
	client := ecsClient(t, sb)
	ctx := context.Background()
	before := time.Now().Add(-time.Second)

	image := sb.RegistryHost(testAccount) + "/web-api@sha256:" + strings.Repeat("ab", 32)
	td := registerWebAPI(t, client, image)
	if got, want := aws.ToString(td.TaskDefinitionArn), "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:2"; got != want {
		t.Errorf("taskDefinitionArn = %s, want %s", got, want)
	}
	if td.Revision != 2 || td.Status != types.TaskDefinitionStatusActive {
		t.Errorf("revision %d status %s, want 2 ACTIVE", td.Revision, td.Status)
	}
	if got, want := aws.ToString(td.RegisteredBy), "arn:aws:sts::111122223333:assumed-role/gha-deploy/ecs-test"; got != want {
		t.Errorf("registeredBy = %s, want %s", got, want)
	}
	if td.RegisteredAt == nil || td.RegisteredAt.Before(before) || td.RegisteredAt.After(time.Now().Add(time.Second)) {
		t.Errorf("registeredAt = %v, want about now", td.RegisteredAt)
	}
	if diff := cmp.Diff([]types.Compatibility{"EC2", "FARGATE"}, td.Compatibilities); diff != "" {
		t.Errorf("compatibilities (-want +got):\n%s", diff)
	}
	var attrs []string
	for _, a := range td.RequiresAttributes {
		attrs = append(attrs, aws.ToString(a.Name))
	}
	for _, want := range []string{"com.amazonaws.ecs.capability.ecr-auth", "ecs.capability.execution-role-ecr-pull", "com.amazonaws.ecs.capability.task-iam-role", "ecs.capability.task-eni"} {
		if !slices.Contains(attrs, want) {
			t.Errorf("requiresAttributes %v lack %s", attrs, want)
		}
	}
	if got := aws.ToString(td.ContainerDefinitions[0].Image); got != image {
		t.Errorf("image = %s, want %s", got, image)
	}

	for _, ref := range []string{"web-api", "web-api:2", aws.ToString(td.TaskDefinitionArn)} {
		out, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(ref), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
		if err != nil {
			t.Fatalf("DescribeTaskDefinition(%s): %v", ref, err)
		}
		if diff := cmp.Diff(asJSON(t, td), asJSON(t, out.TaskDefinition)); diff != "" {
			t.Errorf("DescribeTaskDefinition(%s) differs from what RegisterTaskDefinition returned (-want +got):\n%s", ref, diff)
		}
		if len(out.Tags) != 1 || aws.ToString(out.Tags[0].Key) != "team" || aws.ToString(out.Tags[0].Value) != "payments" {
			t.Errorf("DescribeTaskDefinition(%s) tags = %+v, want team=payments", ref, out.Tags)
		}
	}
	out, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web-api:1")})
	if err != nil {
		t.Fatalf("DescribeTaskDefinition(web-api:1): %v", err)
	}
	if out.Tags != nil {
		t.Errorf("tags without include TAGS: %+v", out.Tags)
	}
	if got, want := aws.ToString(out.TaskDefinition.ContainerDefinitions[0].Image), sb.RegistryHost(testAccount)+"/web-api:bootstrap"; got != want {
		t.Errorf("world image = %s, want %s ({{ecr:ACCOUNT}} substituted)", got, want)
	}
	if got := out.TaskDefinition.ContainerDefinitions[0].PortMappings; len(got) != 1 || aws.ToInt32(got[0].ContainerPort) != 8080 {
		t.Errorf("portMappings = %+v, want the world's 8080", got)
	}

	// Deregistering the latest revision makes the family name the previous one.
	if _, err := ecsClientFor(t, sb, "reader").DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web-api:2")}); err == nil {
		t.Error("DeregisterTaskDefinition without ecs:DeregisterTaskDefinition succeeded")
	}
	admin := ecsClientFor(t, sb, "admin")
	dereg, err := admin.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web-api:2")})
	if err != nil {
		t.Fatalf("DeregisterTaskDefinition: %v", err)
	}
	if dereg.TaskDefinition.Status != types.TaskDefinitionStatusInactive || dereg.TaskDefinition.DeregisteredAt == nil {
		t.Errorf("deregistered: status %s deregisteredAt %v, want INACTIVE with a time", dereg.TaskDefinition.Status, dereg.TaskDefinition.DeregisteredAt)
	}
	if out, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web-api")}); err != nil || out.TaskDefinition.Revision != 1 {
		t.Errorf("DescribeTaskDefinition(web-api) after deregistering 2: %v, %v; want revision 1", out, err)
	}
	list, err := admin.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{})
	if err != nil {
		t.Fatalf("ListTaskDefinitions: %v", err)
	}
	if diff := cmp.Diff([]string{
		"arn:aws:ecs:us-east-1:111122223333:task-definition/checkout:1",
		"arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:1",
		"arn:aws:ecs:us-east-1:111122223333:task-definition/web-worker:1",
	}, list.TaskDefinitionArns); diff != "" {
		t.Errorf("ListTaskDefinitions (-want +got):\n%s", diff)
	}
	_, err = client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("no-such-family")})
	if code, _, msg := sandboxtest.APIError(t, err); code != "ClientException" || msg != "Unable to describe task definition." {
		t.Errorf("DescribeTaskDefinition(no-such-family): %s: %s", code, msg)
	}
}

// asJSON renders an SDK value by its exported fields, for comparisons.
func asJSON(tb testing.TB, v any) string {
	tb.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return string(data)
}

func TestRegisterTaskDefinitionInvalid(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, nil, sandbox.Options{})
	client := ecsClient(t, sb)
	valid := func() *ecs.RegisterTaskDefinitionInput {
		return &ecs.RegisterTaskDefinitionInput{
			Family:                  aws.String("web-api"),
			NetworkMode:             types.NetworkModeAwsvpc,
			RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
			Cpu:                     aws.String("256"),
			Memory:                  aws.String("512"),
			ContainerDefinitions:    []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("public.ecr.aws/nginx/nginx:1")}},
		}
	}
	tests := []struct {
		name   string
		change func(*ecs.RegisterTaskDefinitionInput)
		code   string
		msg    string
	}{
		{"bad_family", func(in *ecs.RegisterTaskDefinitionInput) { in.Family = aws.String("web api") }, "ClientException", "Family contains invalid characters"},
		{"fargate_without_cpu", func(in *ecs.RegisterTaskDefinitionInput) { in.Cpu = nil }, "ClientException", "Fargate requires that 'cpu' be defined at the task level."},
		{"fargate_bridge", func(in *ecs.RegisterTaskDefinitionInput) { in.NetworkMode = types.NetworkModeBridge }, "ClientException", "Fargate only supports network mode 'awsvpc'."},
		{"fargate_size", func(in *ecs.RegisterTaskDefinitionInput) { in.Memory = aws.String("4096") }, "ClientException", "No Fargate configuration exists for given values: 256 CPU, 4096 memory."},
		{"no_essential", func(in *ecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions[0].Essential = aws.Bool(false) }, "ClientException", "Task definition does not have any essential container."},
		{"no_image", func(in *ecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions[0].Image = nil }, "ClientException", "Container.image should not be null or empty."},
		{"duplicate_names", func(in *ecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions = append(in.ContainerDefinitions, in.ContainerDefinitions[0])
		}, "ClientException", "Duplicate container names"},
		{"unsubstituted_template", func(in *ecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions[0].Image = aws.String("{{ecr:111122223333}}/web-api:x")
		}, "ClientException", "Invalid image reference"},
		{"reserved_tag", func(in *ecs.RegisterTaskDefinitionInput) {
			in.Tags = []types.Tag{{Key: aws.String("aws:owner"), Value: aws.String("x")}}
		}, "InvalidParameterException", "reserved"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := valid()
			tc.change(in)
			_, err := client.RegisterTaskDefinition(context.Background(), in)
			code, _, msg := sandboxtest.APIError(t, err)
			if code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Errorf("error %s: %s, want %s containing %q", code, msg, tc.code, tc.msg)
			}
		})
	}
}

func TestDescribeServicesMissingAndClusterNotFound(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, func(w *sandbox.World) {
		w.Accounts[testAccount].Roles["admin"] = &sandbox.Role{Permissions: sandbox.PolicyDocument{Statement: []sandbox.Statement{
			{Effect: "Allow", Action: sandbox.StringList{"ecs:*"}, Resource: sandbox.StringList{"*"}},
		}}}
	}, sandbox.Options{})
	// IAM is asked before ECS looks a cluster up: a role allowed only on
	// prod-cluster (the demo's) hears AccessDeniedException about any other.
	client := ecsClientFor(t, sb, "admin")
	ctx := context.Background()

	out, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{
		Cluster: aws.String("prod-cluster"), Services: []string{"api-service", "no-such-service"},
	})
	if err != nil {
		t.Fatalf("DescribeServices: %v", err)
	}
	if len(out.Services) != 1 || aws.ToString(out.Services[0].ServiceName) != "api-service" {
		t.Errorf("services = %+v, want api-service only", out.Services)
	}
	wantFailures := []types.Failure{{Arn: aws.String("arn:aws:ecs:us-east-1:111122223333:service/prod-cluster/no-such-service"), Reason: aws.String("MISSING")}}
	if diff := cmp.Diff(asJSON(t, wantFailures), asJSON(t, out.Failures)); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	svc := out.Services[0]
	if svc.Status == nil || *svc.Status != "ACTIVE" || svc.DesiredCount != 3 || svc.RunningCount != 3 || len(svc.Deployments) != 1 {
		t.Errorf("api-service: status %v desired %d running %d deployments %d, want ACTIVE 3 3 1", aws.ToString(svc.Status), svc.DesiredCount, svc.RunningCount, len(svc.Deployments))
	}
	if got, want := aws.ToString(svc.TaskDefinition), "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:1"; got != want {
		t.Errorf("taskDefinition = %s, want %s", got, want)
	}
	if cb := svc.DeploymentConfiguration.DeploymentCircuitBreaker; cb == nil || !cb.Enable || !cb.Rollback {
		t.Errorf("circuit breaker = %+v, want enabled with rollback", cb)
	}

	_, err = ecsClient(t, sb).DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("no-such-cluster"), Services: []string{"api-service"}})
	if code, _, _ := sandboxtest.APIError(t, err); code != "AccessDeniedException" {
		t.Errorf("demo role on another cluster: %s, want AccessDeniedException", code)
	}

	tests := []struct {
		name string
		call func() error
	}{
		{"describe_services", func() error {
			_, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("no-such-cluster"), Services: []string{"api-service"}})
			return err
		}},
		{"default_cluster", func() error {
			_, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Services: []string{"api-service"}})
			return err
		}},
		{"update_service", func() error {
			_, err := client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("arn:aws:ecs:us-east-1:111122223333:cluster/prod-clusterx"), Service: aws.String("api-service")})
			return err
		}},
	}
	for _, tc := range tests {
		err := tc.call()
		var nf *types.ClusterNotFoundException
		if !errors.As(err, &nf) || nf.ErrorMessage() != "Cluster not found." {
			t.Errorf("%s: error %v, want ClusterNotFoundException: Cluster not found.", tc.name, err)
		}
	}
	_, err = client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod-cluster"), Service: aws.String("no-such-service")})
	var snf *types.ServiceNotFoundException
	if !errors.As(err, &snf) {
		t.Errorf("UpdateService of a missing service: %v, want ServiceNotFoundException", err)
	}
}

func TestDrainingServiceIsNotActive(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, func(w *sandbox.World) {
		w.Accounts[testAccount].Clusters["prod-cluster"].Services["api-service"].Status = "DRAINING"
	}, sandbox.Options{})
	client := ecsClient(t, sb)
	if got := describeService(t, client, "api-service"); aws.ToString(got.Status) != "DRAINING" {
		t.Errorf("status = %s, want DRAINING", aws.ToString(got.Status))
	}
	_, err := client.UpdateService(context.Background(), &ecs.UpdateServiceInput{
		Cluster: aws.String("prod-cluster"), Service: aws.String("api-service"), ForceNewDeployment: true,
	})
	var na *types.ServiceNotActiveException
	if !errors.As(err, &na) || na.ErrorMessage() != "Service was not ACTIVE." {
		t.Errorf("UpdateService of a DRAINING service: %v, want ServiceNotActiveException: Service was not ACTIVE.", err)
	}
}

func TestHealthyRollout(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, nil, sandbox.Options{})
	client := ecsClient(t, sb)
	ctx := context.Background()
	image, digest := pushImage(t, sb, "web-api", "v2")
	td := registerWebAPI(t, client, image)
	tdARN := aws.ToString(td.TaskDefinitionArn)

	start := time.Now()
	id, sdARN := deploy(t, client, "api-service", tdARN)
	sd := waitServiceDeployment(t, client, sdARN, 10*time.Second)
	if sd.Status != types.ServiceDeploymentStatusSuccessful {
		t.Fatalf("service deployment %s (%s), want SUCCESSFUL", sd.Status, aws.ToString(sd.StatusReason))
	}
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Errorf("a 0.3 s rollout completed in %v", took)
	}
	if sd.FinishedAt == nil || sd.StartedAt == nil || !sd.FinishedAt.After(*sd.StartedAt) {
		t.Errorf("startedAt %v finishedAt %v", sd.StartedAt, sd.FinishedAt)
	}
	if got := sd.TargetServiceRevision; got == nil || got.RunningTaskCount != 3 || got.RequestedTaskCount != 3 {
		t.Errorf("target revision = %+v, want 3 of 3 running", got)
	}
	if len(sd.SourceServiceRevisions) != 1 || sd.SourceServiceRevisions[0].RunningTaskCount != 0 {
		t.Errorf("source revisions = %+v, want one, drained", sd.SourceServiceRevisions)
	}
	if cb := sd.DeploymentCircuitBreaker; cb == nil || cb.Status != types.ServiceDeploymentRollbackMonitorsStatusMonitoringComplete || cb.Threshold != 3 || cb.FailureCount != 0 {
		t.Errorf("circuit breaker = %+v, want MONITORING_COMPLETE 0/3", cb)
	}

	svc := describeService(t, client, "api-service")
	if len(svc.Deployments) != 1 {
		t.Fatalf("deployments = %+v, want only ours", svc.Deployments)
	}
	d := svc.Deployments[0]
	if aws.ToString(d.Id) != id || d.RolloutState != types.DeploymentRolloutStateCompleted || d.RunningCount != 3 || d.PendingCount != 0 || d.FailedTasks != 0 {
		t.Errorf("deployment %s %s running %d pending %d failed %d, want %s COMPLETED 3 0 0", aws.ToString(d.Id), d.RolloutState, d.RunningCount, d.PendingCount, d.FailedTasks, id)
	}
	if aws.ToString(svc.TaskDefinition) != tdARN || svc.RunningCount != 3 {
		t.Errorf("service on %s running %d, want %s 3", aws.ToString(svc.TaskDefinition), svc.RunningCount, tdARN)
	}
	for _, want := range []string{
		`^\(service api-service\) has reached a steady state\.$`,
		`^\(service api-service\) \(deployment ` + regexp.QuoteMeta(id) + `\) deployment completed\.$`,
		`^\(service api-service\) has started 3 tasks: \(task [0-9a-f]{32}\) \(task [0-9a-f]{32}\) \(task [0-9a-f]{32}\)\.$`,
		`^\(service api-service\) has stopped 3 running tasks: (\(task [0-9a-f]{32}\) ?){3}\.$`,
	} {
		if !hasEvent(svc, want) {
			t.Errorf("no event matches %s in\n%s", want, strings.Join(eventMessages(svc), "\n"))
		}
	}
	if got := aws.ToString(svc.Events[0].Message); got != "(service api-service) has reached a steady state." {
		t.Errorf("newest event %q, want the steady state", got)
	}

	// The tasks run our image, pulled by digest from the ECR front.
	list, err := client.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod-cluster"), ServiceName: aws.String("api-service")})
	if err != nil {
		t.Fatalf("ListTasks: %v", err)
	}
	if len(list.TaskArns) != 3 {
		t.Fatalf("ListTasks: %d running tasks, want 3", len(list.TaskArns))
	}
	tasks, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod-cluster"), Tasks: list.TaskArns})
	if err != nil {
		t.Fatalf("DescribeTasks: %v", err)
	}
	for _, task := range tasks.Tasks {
		if aws.ToString(task.LastStatus) != "RUNNING" || aws.ToString(task.StartedBy) != id || aws.ToString(task.TaskDefinitionArn) != tdARN {
			t.Errorf("task %s: %s started by %s on %s", aws.ToString(task.TaskArn), aws.ToString(task.LastStatus), aws.ToString(task.StartedBy), aws.ToString(task.TaskDefinitionArn))
		}
		if got := aws.ToString(task.Containers[0].ImageDigest); got != digest {
			t.Errorf("task %s pulled %s, want %s", aws.ToString(task.TaskArn), got, digest)
		}
	}

	// The services-stable waiter, as `aws ecs wait services-stable` uses it,
	// agrees that the service is stable.
	waiter := ecs.NewServicesStableWaiter(client)
	if err := waiter.Wait(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod-cluster"), Services: []string{"api-service"}}, 5*time.Second, func(o *ecs.ServicesStableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
	}); err != nil {
		t.Errorf("services-stable waiter: %v", err)
	}
}

// waitCircuitBreaker deploys a revision whose tasks fail and waits for the
// rollback; it returns our deployment ID and its final service deployment.
func deployFailing(tb testing.TB, sb *sandbox.Sandbox, client *ecs.Client, image string) (string, types.ServiceDeployment) {
	tb.Helper()
	td := registerWebAPI(tb, client, image)
	id, sdARN := deploy(tb, client, "api-service", aws.ToString(td.TaskDefinitionArn))
	sd := waitServiceDeployment(tb, client, sdARN, 10*time.Second)
	if sd.Status != types.ServiceDeploymentStatusRollbackSuccessful {
		tb.Fatalf("service deployment %s (%s), want ROLLBACK_SUCCESSFUL", sd.Status, aws.ToString(sd.StatusReason))
	}
	if cb := sd.DeploymentCircuitBreaker; cb == nil || cb.Status != types.ServiceDeploymentRollbackMonitorsStatusTriggered || cb.FailureCount < 3 || cb.Threshold != 3 {
		tb.Errorf("circuit breaker = %+v, want TRIGGERED at 3 failures", cb)
	}
	if sd.Rollback == nil || sd.Rollback.StartedAt == nil || !strings.Contains(aws.ToString(sd.Rollback.Reason), "circuit breaker") {
		tb.Errorf("rollback = %+v, want one started by the circuit breaker", sd.Rollback)
	} else if len(sd.SourceServiceRevisions) != 1 || aws.ToString(sd.Rollback.ServiceRevisionArn) != aws.ToString(sd.SourceServiceRevisions[0].Arn) {
		tb.Errorf("rolled back to %s, want the source revision %+v", aws.ToString(sd.Rollback.ServiceRevisionArn), sd.SourceServiceRevisions)
	}

	// The service is stable again, on the old revision: "stable" is not
	// "our deployment succeeded".
	svc := describeService(tb, client, "api-service")
	if got, want := aws.ToString(svc.TaskDefinition), "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:1"; got != want {
		tb.Errorf("service runs %s after the rollback, want %s", got, want)
	}
	if len(svc.Deployments) != 1 || svc.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted || aws.ToString(svc.Deployments[0].Id) == id || svc.RunningCount != 3 {
		tb.Errorf("deployments after the rollback = %+v, want one COMPLETED rollback deployment", svc.Deployments)
	}
	for _, want := range []string{
		`^\(service api-service\) \(deployment ` + regexp.QuoteMeta(id) + `\) deployment failed: tasks failed to start\.$`,
		`^\(service api-service\) rolling back to deployment ecs-svc/\d{19}\.$`,
		`^\(service api-service\) has reached a steady state\.$`,
	} {
		if !hasEvent(svc, want) {
			tb.Errorf("no event matches %s in\n%s", want, strings.Join(eventMessages(svc), "\n"))
		}
	}
	return id, sd
}

// stoppedTasksOf describes the stopped tasks our deployment started.
func stoppedTasksOf(tb testing.TB, client *ecs.Client, deploymentID string) []types.Task {
	tb.Helper()
	ctx := context.Background()
	list, err := client.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod-cluster"), StartedBy: aws.String(deploymentID), DesiredStatus: types.DesiredStatusStopped})
	if err != nil {
		tb.Fatalf("ListTasks: %v", err)
	}
	if len(list.TaskArns) < 3 {
		tb.Fatalf("ListTasks: %d stopped tasks of %s, want at least 3", len(list.TaskArns), deploymentID)
	}
	var failed []types.Task
	for page := range slices.Chunk(list.TaskArns, 100) {
		out, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod-cluster"), Tasks: page})
		if err != nil {
			tb.Fatalf("DescribeTasks: %v", err)
		}
		for _, task := range out.Tasks {
			// Tasks still starting when the rollback began were stopped by
			// the scheduler; the others failed on their own.
			if task.StopCode != types.TaskStopCodeServiceSchedulerInitiated {
				failed = append(failed, task)
			} else if got := aws.ToString(task.StoppedReason); !strings.HasPrefix(got, "Scaling activity initiated by (deployment ecs-svc/") {
				tb.Errorf("task stopped by the scheduler with reason %q", got)
			}
		}
	}
	if len(failed) < 3 {
		tb.Fatalf("%d tasks of %s failed, want at least the circuit breaker's 3", len(failed), deploymentID)
	}
	return failed
}

func TestMissingImageRollsBack(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, nil, sandbox.Options{})
	client := ecsClient(t, sb)
	image := sb.RegistryHost(testAccount) + "/web-api:no-such-tag"
	id, _ := deployFailing(t, sb, client, image)
	wantReason := "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref " + image + ": not found"
	for _, task := range stoppedTasksOf(t, client, id) {
		if got := aws.ToString(task.StoppedReason); got != wantReason {
			t.Errorf("stoppedReason = %q, want %q", got, wantReason)
		}
		if task.StopCode != types.TaskStopCodeTaskFailedToStart || aws.ToString(task.LastStatus) != "STOPPED" || task.StartedAt != nil {
			t.Errorf("task %s: stopCode %s lastStatus %s startedAt %v, want TaskFailedToStart STOPPED never started", aws.ToString(task.TaskArn), task.StopCode, aws.ToString(task.LastStatus), task.StartedAt)
		}
		if got := aws.ToString(task.Containers[0].Reason); got != wantReason {
			t.Errorf("container reason = %q, want %q", got, wantReason)
		}
	}
}

func TestCrashLoopRollsBack(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, func(w *sandbox.World) {
		w.Faults = append(w.Faults, sandbox.Fault{Service: "ecs", Operation: "task-crash", Image: "web-api:crash"})
	}, sandbox.Options{})
	client := ecsClient(t, sb)
	image, _ := pushImage(t, sb, "web-api", "crash")
	id, _ := deployFailing(t, sb, client, image)
	for _, task := range stoppedTasksOf(t, client, id) {
		if got, want := aws.ToString(task.StoppedReason), "Essential container in task exited"; got != want {
			t.Errorf("stoppedReason = %q, want %q", got, want)
		}
		if task.StopCode != types.TaskStopCodeEssentialContainerExited || task.StartedAt == nil {
			t.Errorf("task %s: stopCode %s startedAt %v, want EssentialContainerExited after starting", aws.ToString(task.TaskArn), task.StopCode, task.StartedAt)
		}
		if got := task.Containers[0].ExitCode; got == nil || *got != 1 {
			t.Errorf("essential container exitCode = %v, want 1", got)
		}
	}
}

// TestInjectedReasonAndEvent: a task-crash fault's message is what the
// container runtime says about the crash, and a service-event fault's is an
// event of the service, once per deployment it is given to.
func TestInjectedReasonAndEvent(t *testing.T) {
	t.Parallel()
	const reason = "CannotStartContainerError: exec: \"serve\": not found\n::error::x"
	const event = "(service api-service) (target-group tg) is unhealthy:\r\n502 | `x`"
	sb := startECSSandbox(t, func(w *sandbox.World) {
		w.Faults = append(w.Faults,
			sandbox.Fault{Service: "ecs", Operation: "task-crash", Image: "web-api:crash", Message: reason},
			sandbox.Fault{Service: "ecs", Operation: "service-event", Message: event, Times: 1})
	}, sandbox.Options{})
	client := ecsClient(t, sb)
	image, _ := pushImage(t, sb, "web-api", "crash")
	id, _ := deployFailing(t, sb, client, image)
	for _, task := range stoppedTasksOf(t, client, id) {
		if got := aws.ToString(task.Containers[0].Reason); got != reason {
			t.Errorf("the crashed container's reason = %q, want %q", got, reason)
		}
	}
	var seen int
	for _, e := range describeService(t, client, "api-service").Events {
		if aws.ToString(e.Message) == event {
			seen++
		}
	}
	// The rollback is a deployment too; the fault was for one only.
	if seen != 1 {
		t.Errorf("the injected event shows %d times, want once", seen)
	}
}

func TestWithoutCircuitBreakerRetries(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, func(w *sandbox.World) {
		w.Accounts[testAccount].Clusters["prod-cluster"].Services["api-service"].CircuitBreaker = false
	}, sandbox.Options{})
	client := ecsClient(t, sb)
	td := registerWebAPI(t, client, sb.RegistryHost(testAccount)+"/web-api:no-such-tag")
	id, sdARN := deploy(t, client, "api-service", aws.ToString(td.TaskDefinitionArn))
	deadline := time.Now().Add(10 * time.Second)
	for {
		svc := describeService(t, client, "api-service")
		d := svc.Deployments[0]
		if aws.ToString(d.Id) != id || d.RolloutState != types.DeploymentRolloutStateInProgress {
			t.Fatalf("primary %s %s, want ours still IN_PROGRESS", aws.ToString(d.Id), d.RolloutState)
		}
		if d.FailedTasks >= 9 {
			if !hasEvent(svc, `^\(service api-service\) is unable to consistently start tasks successfully\.`) {
				t.Errorf("no 'unable to consistently start tasks' event in\n%s", strings.Join(eventMessages(svc), "\n"))
			}
			if svc.RunningCount != 3 {
				t.Errorf("running %d, want the old 3 kept", svc.RunningCount)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d failed tasks after 10 s", d.FailedTasks)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sd := describeServiceDeployment(t, client, sdARN); sd.Status != types.ServiceDeploymentStatusInProgress {
		t.Errorf("service deployment %s, want IN_PROGRESS", sd.Status)
	}
}

func TestNewDeploymentSupersedesOld(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, func(w *sandbox.World) { w.ECS.TimeScale = 1 }, sandbox.Options{})
	client := ecsClient(t, sb)
	td := registerWebAPI(t, client, "public.ecr.aws/nginx/nginx:1")
	_, first := deploy(t, client, "api-service", aws.ToString(td.TaskDefinitionArn))
	_, second := deploy(t, client, "api-service", "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:1")
	if sd := describeServiceDeployment(t, client, first); sd.Status != types.ServiceDeploymentStatusStopped || sd.StoppedAt == nil {
		t.Errorf("superseded service deployment %s stoppedAt %v, want STOPPED", sd.Status, sd.StoppedAt)
	}
	if sd := describeServiceDeployment(t, client, second); sd.Status != types.ServiceDeploymentStatusInProgress || len(sd.SourceServiceRevisions) != 2 {
		t.Errorf("newest service deployment %s with %d sources, want IN_PROGRESS from 2", sd.Status, len(sd.SourceServiceRevisions))
	}
	// The superseded deployment's tasks had not started: they stopped at
	// once and the deployment left the list; the original still runs.
	svc := describeService(t, client, "api-service")
	var states []string
	for _, d := range svc.Deployments {
		states = append(states, aws.ToString(d.Status)+" "+string(d.RolloutState))
	}
	if diff := cmp.Diff([]string{"PRIMARY IN_PROGRESS", "ACTIVE COMPLETED"}, states); diff != "" {
		t.Errorf("deployments (-want +got):\n%s", diff)
	}
}

func TestThrottling(t *testing.T) {
	t.Parallel()
	clock := &sandboxtest.Clock{}
	sb := startECSSandbox(t, func(w *sandbox.World) {
		w.ECS.Throttle = map[string]sandbox.ECSThrottle{"DescribeServices": {Rate: 1, Burst: 3}}
	}, sandbox.Options{Now: clock.Now})
	client := ecsClient(t, sb)
	ctx := context.Background()
	in := &ecs.DescribeServicesInput{Cluster: aws.String("prod-cluster"), Services: []string{"api-service"}}
	for i := range 3 {
		if _, err := client.DescribeServices(ctx, in); err != nil {
			t.Fatalf("call %d within the burst: %v", i+1, err)
		}
	}
	_, err := client.DescribeServices(ctx, in)
	if code, _, msg := sandboxtest.APIError(t, err); code != "ThrottlingException" || msg != "Rate exceeded" {
		t.Errorf("call beyond the burst: %s: %s, want ThrottlingException: Rate exceeded", code, msg)
	}
	// Buckets are per action: another action still has its tokens.
	if _, err := client.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("prod-cluster"), Service: aws.String("api-service")}); err != nil {
		t.Errorf("ListServiceDeployments while DescribeServices is throttled: %v", err)
	}
	clock.Advance(1100 * time.Millisecond)
	if _, err := client.DescribeServices(ctx, in); err != nil {
		t.Errorf("after a second's refill: %v", err)
	}
	if _, err := client.DescribeServices(ctx, in); err == nil {
		t.Error("a second's refill gave more than one token")
	}

	// The SDK's standard retryer rides out a throttled moment.
	retrying := ecs.New(client.Options(), func(o *ecs.Options) { o.Retryer = retry.NewStandard() })
	done := make(chan error, 1)
	go func() { _, err := retrying.DescribeServices(ctx, in); done <- err }()
	time.Sleep(100 * time.Millisecond)
	clock.Advance(2 * time.Second)
	if err := <-done; err != nil {
		t.Errorf("DescribeServices with retries: %v", err)
	}
}

func TestAccessDenied(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, func(w *sandbox.World) {
		w.Accounts[testAccount].Roles["read-only"] = &sandbox.Role{Permissions: sandbox.PolicyDocument{Statement: []sandbox.Statement{
			{Effect: "Allow", Action: sandbox.StringList{"ecs:Describe*", "ecs:RegisterTaskDefinition"}, Resource: sandbox.StringList{"*"}},
		}}}
	}, sandbox.Options{})
	client := ecsClientFor(t, sb, "read-only")
	ctx := context.Background()
	describeService(t, client, "api-service")

	_, err := client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod-cluster"), Service: aws.String("api-service"), ForceNewDeployment: true})
	var denied *types.AccessDeniedException
	want := "User: arn:aws:sts::111122223333:assumed-role/read-only/ecs-test is not authorized to perform: ecs:UpdateService on resource: arn:aws:ecs:us-east-1:111122223333:service/prod-cluster/api-service"
	if !errors.As(err, &denied) || !strings.HasPrefix(denied.ErrorMessage(), want) {
		t.Errorf("UpdateService: %v, want AccessDeniedException: %s ...", err, want)
	}
	// Tags on a new revision need ecs:TagResource too.
	_, err = client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("web-api"),
		Memory:               aws.String("512"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("public.ecr.aws/nginx/nginx:1")}},
		Tags:                 []types.Tag{{Key: aws.String("team"), Value: aws.String("payments")}},
	})
	if !errors.As(err, &denied) || !strings.Contains(denied.ErrorMessage(), "ecs:TagResource") {
		t.Errorf("RegisterTaskDefinition with tags: %v, want AccessDeniedException for ecs:TagResource", err)
	}
	// Nothing was registered: the family's latest is still revision 1.
	out, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web-api")})
	if err != nil || out.TaskDefinition.Revision != 1 {
		t.Errorf("DescribeTaskDefinition(web-api) = %v, %v; want revision 1", out, err)
	}
}

// TestECSPermissionConditions checks the permission checks that depend on
// condition keys, as IAM makes them: iam:PassRole for the task definition's
// roles (only to ECS tasks), ecs:CreateAction on tagging a new revision, and
// ListTasks narrowed to a cluster with ecs:cluster.
func TestPermissionConditions(t *testing.T) {
	t.Parallel()
	const taskRole = "arn:aws:iam::111122223333:role/web-api-task"
	const execRole = "arn:aws:iam::111122223333:role/ecsTaskExecutionRole"
	base := []sandbox.Statement{
		{Effect: "Allow", Action: sandbox.StringList{"ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"}, Resource: sandbox.StringList{"*"}},
		{Effect: "Allow", Action: sandbox.StringList{"ecs:TagResource"}, Resource: sandbox.StringList{"*"},
			Condition: map[string]map[string]sandbox.StringList{"StringEquals": {"ecs:CreateAction": {"RegisterTaskDefinition"}}}},
		{Effect: "Allow", Action: sandbox.StringList{"ecs:ListTasks"}, Resource: sandbox.StringList{"*"},
			Condition: map[string]map[string]sandbox.StringList{"ArnEquals": {"ecs:cluster": {"arn:aws:ecs:us-east-1:111122223333:cluster/other-cluster"}}}},
	}
	passRole := func(service string, roles ...string) sandbox.Statement {
		return sandbox.Statement{Effect: "Allow", Action: sandbox.StringList{"iam:PassRole"}, Resource: roles,
			Condition: map[string]map[string]sandbox.StringList{"StringEquals": {"iam:PassedToService": {service}}}}
	}
	tests := []struct {
		name     string
		extra    []sandbox.Statement
		deniedOn string // the resource named in the AccessDenied message; empty: allowed
	}{
		{"both_roles_passed_to_ecs_tasks", []sandbox.Statement{passRole("ecs-tasks.amazonaws.com", taskRole, execRole)}, ""},
		{"no_pass_role", nil, "iam:PassRole on resource: " + taskRole},
		{"execution_role_missing", []sandbox.Statement{passRole("ecs-tasks.amazonaws.com", taskRole)}, "iam:PassRole on resource: " + execRole},
		{"passed_to_another_service", []sandbox.Statement{passRole("lambda.amazonaws.com", taskRole, execRole)}, "iam:PassRole on resource: " + taskRole},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sb := startECSSandbox(t, func(w *sandbox.World) {
				w.Accounts[testAccount].Roles["registrar"] = &sandbox.Role{Permissions: sandbox.PolicyDocument{Statement: append(append([]sandbox.Statement{}, base...), tc.extra...)}}
			}, sandbox.Options{})
			client := ecsClientFor(t, sb, "registrar")
			_, err := client.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
				Family: aws.String("web-api"), Memory: aws.String("512"),
				TaskRoleArn: aws.String(taskRole), ExecutionRoleArn: aws.String(execRole),
				ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("public.ecr.aws/nginx/nginx:1")}},
				Tags:                 []types.Tag{{Key: aws.String("team"), Value: aws.String("payments")}},
			})
			var denied *types.AccessDeniedException
			switch {
			case tc.deniedOn == "" && err != nil:
				t.Errorf("RegisterTaskDefinition: %v, want it allowed", err)
			case tc.deniedOn != "" && (!errors.As(err, &denied) || !strings.Contains(denied.ErrorMessage(), tc.deniedOn)):
				t.Errorf("RegisterTaskDefinition: %v, want AccessDeniedException for %s", err, tc.deniedOn)
			}
			// ListTasks is allowed only in the cluster the condition names.
			_, err = client.ListTasks(context.Background(), &ecs.ListTasksInput{Cluster: aws.String("prod-cluster")})
			if !errors.As(err, &denied) || !strings.Contains(denied.ErrorMessage(), "ecs:ListTasks") {
				t.Errorf("ListTasks in prod-cluster: %v, want AccessDeniedException: the policy allows only other-cluster", err)
			}
		})
	}
}

func TestWorldValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*sandbox.World)
		want string
	}{
		{"unknown_task_definition", func(w *sandbox.World) {
			w.Accounts[testAccount].Clusters["prod-cluster"].Services["api-service"].TaskDefinition = "web-api:9"
		}, "web-api:9"},
		{"bad_status", func(w *sandbox.World) {
			w.Accounts[testAccount].Clusters["prod-cluster"].Services["api-service"].Status = "PAUSED"
		}, "PAUSED"},
		{"bad_throttle", func(w *sandbox.World) {
			w.ECS = &sandbox.ECSSettings{Throttle: map[string]sandbox.ECSThrottle{"*": {Rate: 1}}}
		}, "burst"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := sandbox.DemoWorld()
			tc.edit(w)
			sb, err := sandbox.Start(context.Background(), w, sandbox.Options{})
			if err == nil {
				t.Fatal(errors.Join(errors.New("Start succeeded"), sb.Close()))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start: %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// cliTime is a timestamp as the AWS CLI prints it: epoch seconds (version 1)
// or ISO 8601 (version 2).
type cliTime struct{ time.Time }

func (t *cliTime) UnmarshalJSON(data []byte) error {
	var secs float64
	if err := json.Unmarshal(data, &secs); err == nil {
		t.Time = time.Unix(0, int64(secs*1e9))
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	parsed, err := time.Parse(time.RFC3339Nano, s)
	t.Time = parsed
	return err
}

// TestECSAWSCLI reads the stand-in with the real AWS CLI, whose parser
// checks every timestamp and structure against ECS's model.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	sb := startECSSandbox(t, nil, sandbox.Options{})
	creds := sb.RoleCredentials(testAccount, "gha-deploy", "cli")
	env := []string{"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey, "AWS_SESSION_TOKEN=" + creds.SessionToken}

	client := ecsClient(t, sb)
	td := registerWebAPI(t, client, "public.ecr.aws/nginx/nginx:1")
	_, sdARN := deploy(t, client, "api-service", aws.ToString(td.TaskDefinitionArn))
	waitServiceDeployment(t, client, sdARN, 10*time.Second)

	var services struct {
		Services []struct {
			ServiceName    string `json:"serviceName"`
			TaskDefinition string `json:"taskDefinition"`
			Deployments    []struct {
				RolloutState string  `json:"rolloutState"`
				CreatedAt    cliTime `json:"createdAt"`
			} `json:"deployments"`
			Events []struct {
				Message string `json:"message"`
			} `json:"events"`
		} `json:"services"`
	}
	sandboxtest.AWSCLI(t, sb, env, &services, "ecs", "describe-services", "--cluster", "prod-cluster", "--services", "api-service")
	if len(services.Services) != 1 || services.Services[0].TaskDefinition != aws.ToString(td.TaskDefinitionArn) ||
		len(services.Services[0].Deployments) != 1 || services.Services[0].Deployments[0].RolloutState != "COMPLETED" {
		t.Errorf("aws ecs describe-services = %+v, want api-service COMPLETED on %s", services, aws.ToString(td.TaskDefinitionArn))
	}
	if d := services.Services[0].Deployments; len(d) == 1 && time.Since(d[0].CreatedAt.Time) > time.Minute {
		t.Errorf("createdAt as the CLI prints it: %v, want about now", d[0].CreatedAt)
	}
	// Debian's CLI (2.9) predates the ServiceDeployment API, which the SDK
	// tests cover; every version reads task definitions.
	var described struct {
		TaskDefinition struct {
			TaskDefinitionArn string  `json:"taskDefinitionArn"`
			RegisteredAt      cliTime `json:"registeredAt"`
			RegisteredBy      string  `json:"registeredBy"`
		} `json:"taskDefinition"`
	}
	sandboxtest.AWSCLI(t, sb, env, &described, "ecs", "describe-task-definition", "--task-definition", aws.ToString(td.TaskDefinitionArn))
	if got := described.TaskDefinition; got.TaskDefinitionArn != aws.ToString(td.TaskDefinitionArn) || got.RegisteredBy == "" || got.RegisteredAt.IsZero() {
		t.Errorf("aws ecs describe-task-definition = %+v, want %s with its registration", got, aws.ToString(td.TaskDefinitionArn))
	}
}
