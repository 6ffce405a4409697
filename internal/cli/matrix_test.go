package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// The fault matrix: every call the action makes, as the sandbox names it
// (service and operation), meets each kind of trouble AWS and GitHub give:
// throttling, server errors and latency must be survived; a refusal (access
// denied, not found) must fail the run at once, on that call, with a
// message that says which; and no run may report a success that the
// sandbox does not confirm.

// The scenarios a call is made in.
const (
	// scenarioDeploy pushes the image and deploys it to api-service.
	scenarioDeploy = "deploy"
	// scenarioChain does the same through the role chain, in the chain's
	// account.
	scenarioChain = "chain"
	// scenarioRollback deploys an image whose tasks crash, so that ECS rolls
	// the deployment back and the run reads why the tasks stopped.
	scenarioRollback = "rollback"
)

const (
	matrixAccount = "111122223333"
	chainAccount  = "444455556666"
	auditorRole   = "matrix-auditor"
)

// matrixCall is one call the action makes, and how it is refused.
type matrixCall struct {
	service, op string
	scenario    string
	// denied and notFound refuse the call as AWS (or GitHub, or the
	// registry) would; nil when the call cannot be refused that way (no
	// permission guards GetCallerIdentity; a missing blob is a normal
	// answer to a blob HEAD).
	denied, notFound *refusal
}

// refusal is one way a call is refused, and what the run must do then.
type refusal struct {
	// world makes the refusal: a permission denied by the role's policy, a
	// resource the world lacks, or a fault answering what AWS answers.
	world func(w *sandbox.World)
	// optional: the action goes on without the call, with a warning; the
	// run must still succeed (or, in the rollback scenario, still fail for
	// the rollback).
	optional bool
	// says are what the failure (or the warning) must say, every one.
	says []string
}

// deny refuses action to the deploying role with an explicit deny, as an
// organisation's policy would; ECS, ECR and the registry answer it.
func deny(account, role, action string, says ...string) *refusal {
	return &refusal{
		world: func(w *sandbox.World) {
			r := w.Accounts[account].Roles[role]
			r.Permissions.Statement = append(r.Permissions.Statement, sandbox.Statement{
				Effect: "Deny", Action: sandbox.StringList{action}, Resource: sandbox.StringList{"*"},
			})
		},
		says: append([]string{action}, says...),
	}
}

// optionally marks a refusal of a call the action can do without.
func optionally(r *refusal) *refusal { r.optional = true; return r }

// answer refuses the call with an error the service itself gives.
func answer(service, op string, status int, code, message string, says ...string) *refusal {
	return &refusal{
		world: func(w *sandbox.World) {
			w.Faults = append(w.Faults, sandbox.Fault{Service: service, Operation: op, Status: status, Code: code, Message: message})
		},
		says: says,
	}
}

// matrixCalls is every call the action makes (the sandbox's request log of
// a deploy, a deploy through the role chain, and a rolled-back deploy).
func matrixCalls() []matrixCall {
	const role = "gha-deploy"
	return []matrixCall{
		{service: "github", op: "token", scenario: scenarioDeploy,
			denied:   answer("github", "token", 403, "", "", "token service refused the request (HTTP 403)"),
			notFound: answer("github", "token", 404, "", "", "token service answered HTTP 404")},
		{service: "sts", op: "AssumeRoleWithWebIdentity", scenario: scenarioDeploy,
			denied: &refusal{world: func(w *sandbox.World) {
				// The trust policy names another environment than the job's.
				r := w.Accounts[matrixAccount].Roles[role]
				for i := range r.TrustPolicy.Statement {
					for _, cond := range r.TrustPolicy.Statement[i].Condition {
						for k, v := range cond {
							if strings.HasSuffix(k, ":sub") {
								cond[k] = sandbox.StringList{strings.Replace(v[0], "environment:production", "environment:staging", 1)}
							}
						}
					}
				}
			}, says: []string{"STS answered AccessDenied", "A trust policy statement that allows exactly this run"}},
			notFound: &refusal{world: func(w *sandbox.World) { w.Accounts[matrixAccount].OIDCProviders = nil },
				says: []string{"No OpenIDConnect provider found", "has no IAM OIDC identity provider", "aws iam create-open-id-connect-provider"}}},
		{service: "sts", op: "GetCallerIdentity", scenario: scenarioDeploy},
		{service: "sts", op: "AssumeRole", scenario: scenarioChain,
			denied: answer("sts", "AssumeRole", 403, "AccessDenied",
				"User: arn:aws:sts::111122223333:assumed-role/gha-deploy/acme-web-api-9876543210-1 is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::444455556666:role/prod-deploy",
				"role-chain hop 1", "AccessDenied", "sts:AssumeRole")},
		{service: "ecr", op: "DescribeRepositories", scenario: scenarioDeploy,
			denied: optionally(deny(matrixAccount, role, "ecr:DescribeRepositories")),
			notFound: &refusal{world: func(w *sandbox.World) { delete(w.Accounts[matrixAccount].Repositories, "web-api") },
				says: []string{`ECR repository "web-api" does not exist`}}},
		{service: "ecr", op: "GetAuthorizationToken", scenario: scenarioDeploy,
			denied: deny(matrixAccount, role, "ecr:GetAuthorizationToken")},
		{service: "registry", op: "ping", scenario: scenarioDeploy,
			notFound: answer("registry", "ping", 404, "NOT_FOUND", "not a registry", "404")},
		{service: "registry", op: "manifest-get", scenario: scenarioDeploy,
			denied: optionally(deny(matrixAccount, role, "ecr:BatchGetImage"))},
		{service: "registry", op: "blob-head", scenario: scenarioDeploy,
			denied: deny(matrixAccount, role, "ecr:BatchCheckLayerAvailability")},
		{service: "registry", op: "blob-upload-start", scenario: scenarioDeploy,
			denied:   deny(matrixAccount, role, "ecr:InitiateLayerUpload"),
			notFound: answer("registry", "blob-upload-start", 404, "NAME_UNKNOWN", "repository name not known to registry", "NAME_UNKNOWN")},
		{service: "registry", op: "blob-upload", scenario: scenarioDeploy,
			denied:   deny(matrixAccount, role, "ecr:UploadLayerPart"),
			notFound: answer("registry", "blob-upload", 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", "BLOB_UPLOAD_UNKNOWN")},
		{service: "registry", op: "manifest-put", scenario: scenarioDeploy,
			denied:   deny(matrixAccount, role, "ecr:PutImage"),
			notFound: answer("registry", "manifest-put", 404, "NAME_UNKNOWN", "repository name not known to registry", "NAME_UNKNOWN")},
		{service: "ecs", op: "DescribeServices", scenario: scenarioDeploy,
			denied: deny(matrixAccount, role, "ecs:DescribeServices"),
			notFound: &refusal{world: func(w *sandbox.World) {
				delete(w.Accounts[matrixAccount].Clusters["prod-cluster"].Services, "api-service")
			},
				says: []string{`service "api-service" not found in cluster "prod-cluster"`}}},
		{service: "ecs", op: "DescribeTaskDefinition", scenario: scenarioDeploy,
			denied:   deny(matrixAccount, role, "ecs:DescribeTaskDefinition"),
			notFound: answer("ecs", "DescribeTaskDefinition", 400, "ClientException", "Unable to describe task definition.", "Unable to describe task definition.")},
		{service: "ecs", op: "RegisterTaskDefinition", scenario: scenarioDeploy,
			denied: deny(matrixAccount, role, "ecs:RegisterTaskDefinition")},
		{service: "ecs", op: "UpdateService", scenario: scenarioDeploy,
			denied:   deny(matrixAccount, role, "ecs:UpdateService"),
			notFound: answer("ecs", "UpdateService", 400, "ServiceNotFoundException", "Service not found.", "ServiceNotFoundException", "Service not found.")},
		{service: "ecs", op: "DescribeServiceDeployments", scenario: scenarioDeploy,
			denied: optionally(deny(matrixAccount, role, "ecs:DescribeServiceDeployments"))},
		{service: "ecs", op: "ListTasks", scenario: scenarioRollback,
			denied: optionally(deny(matrixAccount, role, "ecs:ListTasks"))},
		{service: "ecs", op: "DescribeTasks", scenario: scenarioRollback,
			denied: optionally(deny(matrixAccount, role, "ecs:DescribeTasks"))},
	}
}

// transientFaults are the troubles a run must ride out, as service
// answers them: each strikes the call twice.
func transientFaults(service, op string) map[string]sandbox.Fault {
	f := func(status int, code string) sandbox.Fault {
		return sandbox.Fault{Service: service, Operation: op, Status: status, Code: code, Times: 2}
	}
	faults := map[string]sandbox.Fault{"latency": {Service: service, Operation: op, LatencyMillis: 300, Times: 2}}
	switch service {
	case "github":
		faults["throttling"], faults["5xx"] = f(429, ""), f(503, "")
	case "registry":
		faults["throttling"], faults["5xx"] = f(429, "TOOMANYREQUESTS"), f(503, "UNAVAILABLE")
	case "sts":
		faults["throttling"], faults["5xx"] = f(400, "Throttling"), f(500, "InternalFailure")
	default:
		faults["throttling"], faults["5xx"] = f(400, "ThrottlingException"), f(500, "ServerException")
	}
	return faults
}

// Outcomes of one cell of the matrix.
const (
	outcomeSurvived = "survived"
	outcomeFailed   = "failed fast"
)

// matrixTally counts the matrix's cells as they end.
type matrixTally struct {
	injected, survived, failedFast, falseSuccesses, wrong atomic.Int32
	// optional counts the survivals that were refusals of a call the
	// action can do without (it warned and went on).
	optional atomic.Int32
}

func TestFaultMatrix(t *testing.T) { //nolint:tparallel // the cells group waits for its parallel cells, then the counts are printed
	t.Parallel()
	var tally matrixTally
	// The cells run in parallel inside this group; the counts are printed
	// once every one has ended.
	t.Run("cells", func(t *testing.T) {
		for _, call := range matrixCalls() {
			kinds := transientFaults(call.service, call.op)
			for _, kind := range []string{"throttling", "5xx", "latency"} {
				fault := kinds[kind]
				t.Run(call.service+"_"+call.op+"/"+kind, func(t *testing.T) {
					t.Parallel()
					runCell(t, &tally, call, func(w *sandbox.World) { w.Faults = append(w.Faults, fault) }, nil)
				})
			}
			for kind, r := range map[string]*refusal{"access_denied": call.denied, "not_found": call.notFound} {
				if r == nil {
					continue
				}
				t.Run(call.service+"_"+call.op+"/"+kind, func(t *testing.T) {
					t.Parallel()
					runCell(t, &tally, call, r.world, r)
				})
			}
		}
	})
	t.Logf("fault matrix: %d faults injected, %d survived (%d of them refusals of optional calls, with a warning), %d failed fast, %d false successes, %d wrong outcomes",
		tally.injected.Load(), tally.survived.Load(), tally.optional.Load(), tally.failedFast.Load(), tally.falseSuccesses.Load(), tally.wrong.Load())
	if n := tally.falseSuccesses.Load(); n != 0 {
		t.Errorf("%d false successes: a run reported success that the sandbox does not confirm", n)
	}
}

// runCell runs the call's scenario in a world changed by fault, and
// checks the outcome: survived for a transient fault or a refused optional
// call, failed fast with the refusal's message otherwise.
func runCell(t *testing.T, tally *matrixTally, call matrixCall, fault func(w *sandbox.World), refused *refusal) {
	t.Helper()
	tally.injected.Add(1)
	var mu sync.Mutex
	requests := map[string]int{}
	w := sandbox.DemoWorld()
	w.ECS = &sandbox.ECSSettings{TimeScale: 0.1}
	addAuditor(w)
	if call.scenario == scenarioRollback {
		w.Faults = append(w.Faults, sandbox.Fault{Service: "ecs", Operation: "task-crash"})
	}
	fault(w)
	sb := sandboxtest.StartWorld(t, w, sandbox.Options{Logf: func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		requests[requestKey(fmt.Sprintf(format, args...))]++
	}})
	account := matrixAccount
	run := runInActions(t, sb, func(rc *runConfig) {
		if call.scenario == scenarioChain {
			account = chainAccount
			rc.cfg.RoleChain = []config.ChainRole{{RoleARN: "arn:aws:iam::" + chainAccount + ":role/prod-deploy", ExternalID: "acme-prod-7f3c"}}
		}
	})
	said := run.log + "\n" + fmt.Sprint(run.err)
	mu.Lock()
	calls := requests[call.service+" "+call.op]
	mu.Unlock()

	if run.err == nil && call.scenario != scenarioRollback {
		if err := confirmDeployed(sb, account, run.res); err != nil {
			tally.falseSuccesses.Add(1)
			t.Errorf("FALSE SUCCESS: the run succeeded, but %v\n%s", err, run.log)
			return
		}
	}
	if run.err == nil && call.scenario == scenarioRollback {
		tally.falseSuccesses.Add(1)
		t.Errorf("FALSE SUCCESS: the run succeeded although ECS rolled the deployment back\n%s", run.log)
		return
	}

	switch {
	case refused == nil || refused.optional:
		// Transient trouble, or a refused call the action can do without:
		// the run ends as it would have without it.
		if call.scenario == scenarioRollback {
			if !strings.Contains(said, "rolled the service back") && !strings.Contains(said, "rolling back") {
				tally.wrong.Add(1)
				t.Errorf("the rolled-back deploy did not say it was rolled back:\n%s", said)
				return
			}
			if refused == nil && !strings.Contains(said, "Stopped tasks:") {
				tally.wrong.Add(1)
				t.Errorf("the rolled-back deploy did not say why its tasks stopped:\n%s", said)
				return
			}
		} else if run.err != nil {
			tally.wrong.Add(1)
			t.Errorf("the run did not survive (%d %s calls): %v\n%s", calls, call.op, run.err, run.log)
			return
		}
		if refused != nil {
			for _, want := range refused.says {
				if !strings.Contains(said, want) {
					tally.wrong.Add(1)
					t.Errorf("the run without %s does not say %q:\n%s", call.op, want, said)
					return
				}
			}
		}
		tally.survived.Add(1)
		if refused != nil {
			tally.optional.Add(1)
		}
	default:
		if run.err == nil {
			tally.wrong.Add(1)
			t.Errorf("the run succeeded although %s %s was refused\n%s", call.service, call.op, run.log)
			return
		}
		for _, want := range refused.says {
			if !strings.Contains(said, want) {
				tally.wrong.Add(1)
				t.Errorf("the failure does not say %q:\n%s", want, said)
				return
			}
		}
		// Fails once: nothing refused is retried.
		if strings.Contains(run.log, "retrying") {
			tally.wrong.Add(1)
			t.Errorf("a refusal was retried:\n%s", run.log)
			return
		}
		tally.failedFast.Add(1)
	}
	t.Logf("%s %s: %s (%d calls)", call.service, call.op, outcomeOf(refused), calls)
}

func outcomeOf(refused *refusal) string {
	if refused == nil || refused.optional {
		return outcomeSurvived
	}
	return outcomeFailed
}

// requestKey is "service operation" of a line of the sandbox's request
// log: "ecs UpdateService", "registry ACCOUNT blob-upload REPO" or
// "github GET PATH".
func requestKey(line string) string {
	f := strings.Fields(line)
	switch {
	case len(f) >= 3 && f[0] == "registry":
		return "registry " + f[2]
	case len(f) >= 3 && f[0] == "github" && strings.HasSuffix(f[2], "/token"):
		return "github token"
	case len(f) >= 2:
		return f[0] + " " + f[1]
	}
	return line
}

// addAuditor gives each account a role that may read what a deploy leaves,
// whatever the deploying role is refused, to confirm a success.
func addAuditor(w *sandbox.World) {
	for _, a := range w.Accounts {
		a.Roles[auditorRole] = &sandbox.Role{
			TrustPolicy: sandbox.PolicyDocument{Version: "2012-10-17"},
			Permissions: sandbox.PolicyDocument{Version: "2012-10-17", Statement: []sandbox.Statement{{
				Effect:   "Allow",
				Action:   sandbox.StringList{"ecs:DescribeServices", "ecs:DescribeTaskDefinition", "ecr:BatchGetImage"},
				Resource: sandbox.StringList{"*"},
			}}},
		}
	}
}

// confirmDeployed checks, as the sandbox's auditor sees it, what a
// successful run claims: the service runs the run's revision under the
// run's deployment, completed; the revision's container runs the pushed
// image by digest; the commit's tag points at that digest.
func confirmDeployed(sb *sandbox.Sandbox, account string, res Result) error {
	ctx := context.Background()
	creds := sb.RoleCredentials(account, auditorRole, "matrix")
	cfg := aws.Config{
		Region:       sb.Region(),
		BaseEndpoint: aws.String(sb.AWSEndpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken),
	}
	if len(res.Services) != 1 {
		return fmt.Errorf("it reports %d services, want 1", len(res.Services))
	}
	got := res.Services[0]
	out, err := ecs.NewFromConfig(cfg).DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod-cluster"), Services: []string{got.Service}})
	if err != nil {
		return fmt.Errorf("the service cannot be read: %w", err)
	}
	if len(out.Services) != 1 {
		return fmt.Errorf("DescribeServices answers %d services, want 1", len(out.Services))
	}
	svc := out.Services[0]
	if aws.ToString(svc.TaskDefinition) != got.TaskDefinitionARN {
		return fmt.Errorf("the service runs %s, not the reported %s", aws.ToString(svc.TaskDefinition), got.TaskDefinitionARN)
	}
	var primary *types.Deployment
	for i := range svc.Deployments {
		if aws.ToString(svc.Deployments[i].Status) == "PRIMARY" {
			primary = &svc.Deployments[i]
		}
	}
	if primary == nil || aws.ToString(primary.Id) != got.DeploymentID || primary.RolloutState != types.DeploymentRolloutStateCompleted {
		return fmt.Errorf("the primary deployment is %+v, not the reported %s completed", primary, got.DeploymentID)
	}
	td, err := ecs.NewFromConfig(cfg).DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(got.TaskDefinitionARN)})
	if err != nil {
		return fmt.Errorf("the revision cannot be read: %w", err)
	}
	pinned := false
	for _, c := range td.TaskDefinition.ContainerDefinitions {
		pinned = pinned || aws.ToString(c.Image) == res.Image
	}
	if !pinned {
		return fmt.Errorf("no container of %s runs the pushed image %s", got.TaskDefinitionARN, res.Image)
	}
	tag := res.ImageURI[strings.LastIndex(res.ImageURI, ":")+1:]
	images, err := ecr.NewFromConfig(cfg).BatchGetImage(ctx, &ecr.BatchGetImageInput{
		RegistryId: aws.String(account), RepositoryName: aws.String("web-api"),
		ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String(tag)}},
	})
	if err != nil {
		return fmt.Errorf("the tag cannot be read: %w", err)
	}
	if len(images.Images) != 1 || aws.ToString(images.Images[0].ImageId.ImageDigest) != res.ImageDigest {
		return errors.New("the pushed tag does not point at the reported digest")
	}
	return nil
}
