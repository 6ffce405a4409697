// Command watch measures how the deployment watcher performs against the
// sandbox's simulated ECS:
//
//   - latency: the time from the sandbox marking a deployment complete (the
//     service deployment's finishedAt) to the watcher returning, against the
//     same kind of rollout watched by `aws ecs wait services-stable`;
//   - canary: for a CANARY deployment watched by our watcher and, at the
//     same time, by `aws ecs wait services-stable`, the time from the
//     sandbox completing the last stage to our watcher returning, and each
//     watcher's API calls per minute of watching;
//   - fan-out: the wall time of one run deploying many services against one
//     run deploying one, under the sandbox's default ECS throttling limits,
//     and the errors and warnings the runs met.
//
// It is a benchmark, not a test: it prints figures and the targets they are
// held to, and exits non-zero only when it cannot measure.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/bench/internal/stats"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

const (
	account = "111122223333"
	roleARN = "arn:aws:iam::111122223333:role/gha-deploy"
	cluster = "prod-cluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench watch:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	runs := flag.Int("runs", 5, "rollouts watched by each watcher")
	rollout := flag.Float64("rollout-seconds", 6, "simulated rollout time of the latency runs")
	fanout := flag.Int("services", 20, "services deployed in one run for the fan-out figure")
	fanoutRollout := flag.Float64("fanout-rollout-seconds", 30, "simulated rollout time of the fan-out runs")
	awsPath := flag.String("aws", "/usr/bin/aws", "the AWS CLI to compare with (Debian's awscli)")
	skipCLI := flag.Bool("skip-cli", false, "measure our watcher only")
	canaryRuns := flag.Int("canary-runs", 3, "canary deployments watched by both watchers at once")
	flag.Parse()

	if err := latency(ctx, *runs, *rollout, *awsPath, *skipCLI); err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	if err := canary(ctx, *canaryRuns, *awsPath, *skipCLI); err != nil {
		return fmt.Errorf("canary: %w", err)
	}
	if err := fanOut(ctx, *fanout, *fanoutRollout); err != nil {
		return fmt.Errorf("fan-out: %w", err)
	}
	return nil
}

// env is a running sandbox and a client configured as the action's.
type env struct {
	sb   *sandbox.Sandbox
	cfg  aws.Config
	ecs  *ecs.Client
	repo string
}

func start(ctx context.Context, w *sandbox.World) (*env, error) {
	sb, err := sandbox.Start(ctx, w, sandbox.Options{})
	if err != nil {
		return nil, err
	}
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), roleARN, "")
	return &env{sb: sb, cfg: cfg, ecs: ecs.NewFromConfig(cfg), repo: sb.RegistryHost(account) + "/web-api"}, nil
}

// push pushes a random image under tag and returns its digest.
func (e *env) push(ctx context.Context, tag string) (string, error) {
	return sandboxtest.PushRandomImage(ctx, e.sb, e.cfg, e.repo+":"+tag)
}

// finishedAt is when the sandbox marked a service deployment finished.
func (e *env) finishedAt(ctx context.Context, arn string) (time.Time, string, error) {
	out, err := e.ecs.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}})
	if err != nil {
		return time.Time{}, "", err
	}
	if len(out.ServiceDeployments) != 1 {
		return time.Time{}, "", fmt.Errorf("service deployment %s not found", arn)
	}
	sd := out.ServiceDeployments[0]
	return aws.ToTime(sd.FinishedAt), string(sd.Status), nil
}

// counter is a deploy.Logger that prints nothing and counts warnings and errors.
type counter struct{ warnings, errors atomic.Int64 }

func (c *counter) Infof(string, ...any)      {}
func (c *counter) Warningf(string, ...any)   { c.warnings.Add(1) }
func (c *counter) Errorf(string, ...any)     { c.errors.Add(1) }
func (c *counter) Group(string) (end func()) { return func() {} }
func (c *counter) Annotate(level ghaction.Level, _ ghaction.Annotation, _ string, _ ...any) {
	switch level {
	case ghaction.LevelError:
		c.errors.Add(1)
	case ghaction.LevelWarning:
		c.warnings.Add(1)
	}
}

// latency compares the time each watcher takes to notice a finished rollout.
func latency(ctx context.Context, runs int, rolloutSeconds float64, awsPath string, skipCLI bool) error {
	w := sandbox.DemoWorld()
	w.ECS = &sandbox.ECSSettings{
		// Drained deployments leave deployments[] at once, so that the AWS
		// CLI's waiter (which wants a single deployment) is judged on its
		// polling alone.
		InactiveDeploymentSeconds: 0.001,
	}
	w.Accounts[account].Clusters[cluster].Services["api-service"].RolloutSeconds = rolloutSeconds
	e, err := start(ctx, w)
	if err != nil {
		return err
	}
	defer func() { _ = e.sb.Close() }()

	var ours, cli []time.Duration
	for i := range runs {
		// Ours: deploy and watch.
		d, err := e.push(ctx, fmt.Sprintf("ours-%d", i))
		if err != nil {
			return fmt.Errorf("push: %w", err)
		}
		log := &counter{}
		results, err := deploy.Run(ctx, e.ecs, request(e, d, true), log)
		returned := time.Now()
		if err != nil {
			return fmt.Errorf("deploy run %d: %w", i, err)
		}
		fin, status, err := e.finishedAt(ctx, results[0].ServiceDeploymentARN)
		if err != nil {
			return err
		}
		ours = append(ours, returned.Sub(fin))
		fmt.Printf("  ours run %d: %s after the sandbox marked the deployment %s\n", i+1, returned.Sub(fin).Round(time.Millisecond), status)

		if skipCLI {
			continue
		}
		// The AWS CLI: the same rollout started by us without waiting,
		// then watched by its waiter.
		d, err = e.push(ctx, fmt.Sprintf("cli-%d", i))
		if err != nil {
			return fmt.Errorf("push: %w", err)
		}
		results, err = deploy.Run(ctx, e.ecs, request(e, d, false), log)
		if err != nil {
			return fmt.Errorf("deploy run %d without waiting: %w", i, err)
		}
		if err := awsWait(ctx, e, e.sb.AWSEndpoint(), awsPath); err != nil {
			return err
		}
		returned = time.Now()
		fin, status, err = e.finishedAt(ctx, results[0].ServiceDeploymentARN)
		if err != nil {
			return err
		}
		cli = append(cli, returned.Sub(fin))
		fmt.Printf("  aws ecs wait services-stable run %d: %s after the sandbox marked the deployment %s\n", i+1, returned.Sub(fin).Round(time.Millisecond), status)
	}
	fmt.Printf("latency from completion to the watcher returning (median of %d, %g s rollouts):\n", runs, rolloutSeconds)
	fmt.Printf("  ours:                         %s\n", stats.Median(ours).Round(time.Millisecond))
	if !skipCLI {
		ratio := float64(stats.Median(ours)) / float64(stats.Median(cli))
		fmt.Printf("  aws ecs wait services-stable: %s\n", stats.Median(cli).Round(time.Millisecond))
		fmt.Printf("  ratio: %.3f (target <= 0.25) %s\n", ratio, verdict(ratio <= 0.25))
	}
	return nil
}

func request(e *env, digest string, wait bool) deploy.Request {
	return deploy.Request{
		Cluster:     cluster,
		Services:    []string{"api-service"},
		Image:       deploy.Image{RepositoryURI: e.repo, Digest: digest},
		Wait:        wait,
		WaitTimeout: 10 * time.Minute,
	}
}

// awsWait runs `aws ecs wait services-stable` against endpoint with the
// session's credentials
// in its environment, isolated from any AWS configuration on the machine.
func awsWait(ctx context.Context, e *env, endpoint, awsPath string) error {
	creds, err := e.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("credentials for the AWS CLI: %w", err)
	}
	cmd := exec.CommandContext(ctx, awsPath, "ecs", "wait", "services-stable",
		"--cluster", cluster, "--services", "api-service",
		"--endpoint-url", endpoint, "--region", e.sb.Region())
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.TempDir(),
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + creds.SessionToken,
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("aws ecs wait services-stable: %w: %s", err, out)
	}
	return nil
}

// fanOut compares one run deploying n services with one deploying a single
// service, each service its own task definition family, under the
// sandbox's default throttling.
func fanOut(ctx context.Context, n int, rolloutSeconds float64) error {
	one, _, err := fanOutRun(ctx, 1, rolloutSeconds)
	if err != nil {
		return err
	}
	many, log, err := fanOutRun(ctx, n, rolloutSeconds)
	if err != nil {
		return err
	}
	ratio := float64(many) / float64(one)
	fmt.Printf("fan-out (%g s rollouts, default ECS throttling):\n", rolloutSeconds)
	fmt.Printf("  1 service:   %s\n", one.Round(time.Millisecond))
	fmt.Printf("  %d services: %s, %d errors, %d warnings\n", n, many.Round(time.Millisecond), log.errors.Load(), log.warnings.Load())
	fmt.Printf("  ratio: %.2f (target <= 1.5) %s; errors: %s\n", ratio, verdict(ratio <= 1.5), verdict(log.errors.Load() == 0))
	return nil
}

func fanOutRun(ctx context.Context, n int, rolloutSeconds float64) (time.Duration, *counter, error) {
	w := sandbox.DemoWorld()
	w.ECS = &sandbox.ECSSettings{}
	acct := w.Accounts[account]
	services := acct.Clusters[cluster].Services
	clear(services)
	// CodeDeploy's deployment group names a service of the cleared cluster.
	acct.CodeDeployApplications = nil
	var names []string
	for i := range n {
		family := fmt.Sprintf("web-api-%02d", i+1)
		svc := fmt.Sprintf("api-%02d", i+1)
		td, err := json.Marshal(map[string]any{
			"family": family, "networkMode": "awsvpc", "requiresCompatibilities": []string{"FARGATE"},
			"cpu": "256", "memory": "512", "executionRoleArn": "arn:aws:iam::111122223333:role/ecsTaskExecutionRole",
			"containerDefinitions": []map[string]any{{"name": "web", "image": "{{ecr:111122223333}}/web-api:bootstrap", "essential": true}},
		})
		if err != nil {
			return 0, nil, err
		}
		acct.TaskDefinitions = append(acct.TaskDefinitions, td)
		services[svc] = &sandbox.ServiceSpec{TaskDefinition: family + ":1", DesiredCount: 3, CircuitBreaker: true, RolloutSeconds: rolloutSeconds}
		names = append(names, svc)
	}
	e, err := start(ctx, w)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = e.sb.Close() }()
	d, err := e.push(ctx, "fanout")
	if err != nil {
		return 0, nil, err
	}
	log := &counter{}
	req := request(e, d, true)
	req.Services = names
	began := time.Now()
	results, err := deploy.Run(ctx, e.ecs, req, log)
	took := time.Since(began)
	if err != nil {
		return 0, nil, fmt.Errorf("deploy %d services: %w", n, err)
	}
	for _, r := range results {
		if r.Outcome != deploy.OutcomeSucceeded {
			return 0, nil, errors.New(r.Service + ": " + string(r.Outcome))
		}
	}
	return took, log, nil
}

func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "NOT MET"
}
