// Command shelljob benchmarks the deploy job this action replaces against
// the action itself. The shell job runs for real, with Debian's AWS CLI and
// the docker CLI, against the standalone sandbox:
//
//	aws sts assume-role-with-web-identity (what configure-aws-credentials does)
//	aws ecr get-login-password | docker login --password-stdin
//	docker tag; docker push
//	aws ecs update-service --force-new-deployment
//	aws ecs wait services-stable
//
// and the action, started exactly as the runner starts a container action,
// does the same deploy in force-new-deployment mode and, separately, in its
// default mode (a new revision pinned by digest). Every run gets a fresh
// sandbox and repository, the same image and the same simulated rollout; the
// three alternate. It reports median wall times and their ratios, the
// binary's time from start to its first request, and the image size.
//
// It needs a Docker engine and a registry (scripts/services.sh starts both)
// and is run by scripts/bench.sh.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/bench/internal/stats"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/actiontest"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

const (
	region  = "us-east-1"
	roleARN = "arn:aws:iam::111122223333:role/gha-deploy"
	cluster = "prod-cluster"
	service = "api-service"
)

// The modes compared.
const (
	modeShell   = "shell"   // the AWS CLI and docker job
	modeForce   = "force"   // the action with force-new-deployment: true
	modeDefault = "default" // the action registering a new revision
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench shelljob:", err)
		os.Exit(1)
	}
}

type options struct {
	registry     string
	dockerHost   string
	aws          string
	runs         int
	rollout      float64
	modes        []string
	startupRuns  int
	imageLayerMB int
}

// bench holds what every run shares.
type bench struct {
	o      options
	work   string
	binary string // the action, built as the Dockerfile builds it
	cli    string // the command-line tool, for the standalone sandbox
	image  string // the application image, in the Docker engine
	nonce  string
	meta   *actiontest.Metadata
}

func run() error {
	var o options
	var modes string
	flag.StringVar(&o.registry, "registry", os.Getenv("OIDC_ECS_DEPLOY_TEST_REGISTRY"), "host:port of the registry behind the ECR front")
	flag.StringVar(&o.dockerHost, "docker-host", os.Getenv("OIDC_ECS_DEPLOY_TEST_DOCKER_HOST"), "DOCKER_HOST of the engine")
	flag.StringVar(&o.aws, "aws", "/usr/bin/aws", "the AWS CLI of the shell job (Debian's)")
	flag.IntVar(&o.runs, "runs", 5, "runs of each mode")
	flag.Float64Var(&o.rollout, "rollout-seconds", 20, "how long the simulated rollout takes")
	flag.StringVar(&modes, "modes", "shell,force,default", "modes to compare: shell, force, default")
	flag.IntVar(&o.startupRuns, "startup-runs", 10, "runs of the start-to-first-request measurement")
	flag.IntVar(&o.imageLayerMB, "layer-mb", 8, "size of each of the application image's three layers, in MB")
	flag.Parse()
	o.modes = strings.Split(modes, ",")
	if o.registry == "" || o.dockerHost == "" {
		return errors.New("no registry or Docker engine: run through scripts/bench.sh, which starts them")
	}
	if slices.Contains(o.modes, modeShell) {
		if _, err := exec.LookPath(o.aws); err != nil {
			return fmt.Errorf("the shell job needs the AWS CLI at %s: %w", o.aws, err)
		}
		if _, err := exec.LookPath("docker"); err != nil {
			return fmt.Errorf("the shell job needs the docker CLI: %w", err)
		}
	}

	ctx := context.Background()
	root, err := actiontest.ModuleRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bench-shelljob-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }()
	b := &bench{o: o, work: work, nonce: randomHex(8)}
	if b.meta, err = actiontest.LoadMetadata(filepath.Join(root, "action.yml")); err != nil {
		return err
	}
	fmt.Println("building the action binary as the Dockerfile does")
	if b.binary, err = actiontest.BuildBinary(ctx, root, work); err != nil {
		return err
	}
	if b.cli, err = actiontest.BuildCLI(ctx, root, work); err != nil {
		return err
	}
	eng, err := actiontest.NewEngine(o.dockerHost)
	if err != nil {
		return err
	}

	size, err := imageSize(ctx, eng, root, b.binary)
	if err != nil {
		return err
	}

	fmt.Printf("building the application image: 3 incompressible layers of %d MB\n", o.imageLayerMB)
	var files []actiontest.StageFile
	dockerfile := "FROM scratch\n"
	for i := range 3 {
		data := make([]byte, o.imageLayerMB<<20)
		rand.Read(data)
		files = append(files, actiontest.StageFile{Path: fmt.Sprintf("/app/layer%d/data", i), Data: data, Mode: 0o644})
		dockerfile += fmt.Sprintf("COPY --from=app /app/layer%d/ /srv/layer%d/\n", i, i)
	}
	buildCtx, err := actiontest.FinalStageContext(dockerfile, files)
	if err != nil {
		return err
	}
	b.image = "bench-shelljob:" + b.nonce
	if _, err := eng.Build(ctx, buildCtx, b.image); err != nil {
		return err
	}
	defer func() { _ = eng.Remove(context.Background(), b.image) }()

	fmt.Printf("== deploy job: %s, %d runs each, a simulated rollout of %.0f s, alternating\n", strings.Join(o.modes, ", "), o.runs, o.rollout)
	times := map[string][]time.Duration{}
	for i := range o.runs {
		order := append(slices.Clone(o.modes[i%len(o.modes):]), o.modes[:i%len(o.modes)]...)
		var line []string
		for _, mode := range order {
			d, err := b.runOnce(ctx, mode, i)
			if err != nil {
				return fmt.Errorf("run %d, %s: %w", i+1, mode, err)
			}
			times[mode] = append(times[mode], d)
			line = append(line, fmt.Sprintf("%s %.1f s", mode, d.Seconds()))
		}
		fmt.Printf("run %d: %s\n", i+1, strings.Join(line, ", "))
	}

	startup, err := b.startToFirstRequest(ctx)
	if err != nil {
		return err
	}

	fmt.Println("== results")
	shell := stats.Median(times[modeShell])
	for _, mode := range o.modes {
		m := stats.Median(times[mode])
		fmt.Printf("median %-8s %6.1f s", mode, m.Seconds())
		if mode != modeShell && shell > 0 {
			fmt.Printf("   %.2f× the shell job", m.Seconds()/shell.Seconds())
		}
		fmt.Println()
	}
	if f := stats.Median(times[modeForce]); shell > 0 && f > 0 {
		fmt.Printf("same mode (force-new-deployment): %.2f× — %s the target of ≤ 0.75×\n", f.Seconds()/shell.Seconds(), meets(f.Seconds()/shell.Seconds() <= 0.75))
	}
	fmt.Printf("binary start to first request: median %s over %d runs — %s the target of ≤ %s\n",
		startup.Round(10*time.Microsecond), o.startupRuns, meets(startup <= targetStartup), targetStartup)
	fmt.Printf("image size: %.2f MB (%d bytes) — %s the target of ≤ %.0f MB\n",
		float64(size)/1e6, size, meets(size <= targetImageBytes), float64(targetImageBytes)/1e6)
	return nil
}

// The targets of the action's binary: its first request soon after it
// starts, and its image small.
const (
	targetStartup    = 20 * time.Millisecond
	targetImageBytes = 10_000_000
)

func meets(ok bool) string {
	if ok {
		return "meets"
	}
	return "MISSES"
}

// imageSize builds the Dockerfile's final stage around the binary and
// returns the image's size.
func imageSize(ctx context.Context, eng *actiontest.Engine, root, binary string) (int64, error) {
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		return 0, err
	}
	data, err := os.ReadFile(binary)
	if err != nil {
		return 0, err
	}
	buildCtx, err := actiontest.FinalStageContext(string(dockerfile), actiontest.ActionImageFiles(data))
	if err != nil {
		return 0, err
	}
	tag := "bench-shelljob-action:" + randomHex(8)
	if _, err := eng.Build(ctx, buildCtx, tag); err != nil {
		return 0, err
	}
	defer func() { _ = eng.Remove(context.Background(), tag) }()
	info, err := eng.Inspect(ctx, tag)
	if err != nil {
		return 0, err
	}
	return info.Size, nil
}

// worldTemplate is the world of one run: the deploy role, a repository of
// the run's own, and a service whose task definition uses the tag the run
// pushes, so force-new-deployment makes ECS pull the new image.
const worldTemplate = `{
  "region": "us-east-1",
  "github": {"claims": {
    "repository": "acme/web-api", "repository_owner": "acme", "ref": "refs/heads/main",
    "ref_type": "branch", "sha": "{{sha}}", "environment": "production", "actor": "octocat",
    "event_name": "push", "workflow": "deploy", "run_id": "9876543210", "run_attempt": "1",
    "job_workflow_ref": "acme/web-api/.github/workflows/deploy.yml@refs/heads/main"
  }},
  "accounts": {"111122223333": {
    "oidcProviders": [{"url": "token.actions.githubusercontent.com", "clientIds": ["sts.amazonaws.com"]}],
    "roles": {"gha-deploy": {
      "trustPolicy": {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
          "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
          "token.actions.githubusercontent.com:sub": "repo:acme/web-api:environment:production"}}
      }]},
      "permissions": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ecr:*", "ecs:*", "iam:PassRole"], "Resource": "*"}
      ]}
    }},
    "repositories": {"{{repository}}": {}},
    "clusters": {"prod-cluster": {"services": {
      "api-service": {"taskDefinition": "web-api:1", "desiredCount": 2, "circuitBreaker": true, "rolloutSeconds": {{rollout}}}
    }}},
    "taskDefinitions": [{
      "family": "web-api", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
      "cpu": "256", "memory": "512", "executionRoleArn": "arn:aws:iam::111122223333:role/ecsTaskExecutionRole",
      "containerDefinitions": [{"name": "web", "image": "{{ecr:111122223333}}/{{repository}}:{{sha}}", "essential": true}]
    }]
  }}
}`

// runOnce runs one deploy in mode against a fresh sandbox and returns its
// wall time.
func (b *bench) runOnce(ctx context.Context, mode string, i int) (time.Duration, error) {
	dir, err := os.MkdirTemp(b.work, mode+"-")
	if err != nil {
		return 0, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	repo := fmt.Sprintf("bench-shelljob-%s-%s-%d", mode, b.nonce, i)
	sha := randomHex(40)
	world := strings.NewReplacer("{{sha}}", sha, "{{repository}}", repo, "{{rollout}}", fmt.Sprint(b.o.rollout)).Replace(worldTemplate)
	worldFile := filepath.Join(dir, "world.json")
	if err := os.WriteFile(worldFile, []byte(world), 0o644); err != nil {
		return 0, err
	}
	sb, err := actiontest.StartSandbox(ctx, b.cli, worldFile, "http://"+b.o.registry, dir, "--quiet")
	if err != nil {
		return 0, err
	}
	defer func() { _ = sb.Stop() }()
	clients, err := newClients(ctx, sb.Env)
	if err != nil {
		return 0, err
	}
	// The shell job knows its registry host beforehand, as a real one
	// writes ACCOUNT.dkr.ecr.REGION.amazonaws.com. Its docker push goes
	// through the Docker engine, which can be given neither the sandbox's
	// CA nor a mapping of that name: it pushes to the registry's plain
	// loopback entrance, which the engine takes as insecure.
	repos, err := clients.ecr.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{repo}})
	if err != nil {
		return 0, fmt.Errorf("describe the repository: %w", err)
	}
	registryID := aws.ToString(repos.Repositories[0].RegistryId)
	registryHost := sb.Registry["SANDBOX_ECR_PLAIN_"+registryID]
	if registryHost == "" {
		return 0, fmt.Errorf("the sandbox wrote no plain entrance for the registry of account %s", registryID)
	}

	var d time.Duration
	switch mode {
	case modeShell:
		d, err = b.shellJob(ctx, sb.Env, dir, registryHost, repo, sha)
	case modeForce, modeDefault:
		// The action reaches the ECR registry host by name over TLS,
		// through the sandbox's proxy, trusting its CA.
		env := maps.Clone(sb.Env)
		env["HTTPS_PROXY"], env["SSL_CERT_FILE"] = sb.Registry["HTTPS_PROXY"], sb.Registry["SSL_CERT_FILE"]
		d, err = b.action(ctx, env, dir, repo, sha, mode == modeForce)
	default:
		return 0, fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return 0, err
	}
	// Whatever the job believed, the rollout must really have completed.
	svcs, err := clients.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{service}})
	if err != nil {
		return 0, fmt.Errorf("check the service after the deploy: %w", err)
	}
	if len(svcs.Services) != 1 {
		return 0, fmt.Errorf("check the service after the deploy: %d services described, want 1", len(svcs.Services))
	}
	for _, dep := range svcs.Services[0].Deployments {
		if aws.ToString(dep.Status) == "PRIMARY" && dep.RolloutState != "COMPLETED" {
			return 0, fmt.Errorf("the job ended with the primary deployment %s", dep.RolloutState)
		}
	}
	return d, nil
}

// shellScript is the deploy job the action replaces, as teams write it.
const shellScript = `set -euo pipefail
read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN < <(
  "$AWS" sts assume-role-with-web-identity --endpoint-url "$EP" --region "$REGION" \
    --role-arn "$ROLE" --role-session-name shelljob --web-identity-token "$ID_TOKEN" \
    --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text)
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
unset ID_TOKEN
"$AWS" ecr get-login-password --endpoint-url "$EP" --region "$REGION" |
  docker login --username AWS --password-stdin "$REGISTRY" >/dev/null 2>&1
docker tag "$IMAGE" "$REGISTRY/$REPO:$SHA"
docker push --quiet "$REGISTRY/$REPO:$SHA" >/dev/null
"$AWS" ecs update-service --endpoint-url "$EP" --region "$REGION" \
  --cluster "$CLUSTER" --service "$SERVICE" --force-new-deployment >/dev/null
"$AWS" ecs wait services-stable --endpoint-url "$EP" --region "$REGION" \
  --cluster "$CLUSTER" --services "$SERVICE"
docker rmi "$REGISTRY/$REPO:$SHA" >/dev/null
`

// shellJob runs the shell deploy job and returns its wall time, from the ID
// token request (what configure-aws-credentials starts with) to the end.
func (b *bench) shellJob(ctx context.Context, env map[string]string, dir, registryHost, repo, sha string) (time.Duration, error) {
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(filepath.Join(home, ".docker"), 0o700); err != nil {
		return 0, err
	}
	start := time.Now()
	token, err := sandboxtest.IDToken(ctx, env, sandboxtest.STSAudience)
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, "bash", "-c", shellScript)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"DOCKER_HOST=" + b.o.dockerHost,
		"DOCKER_CONFIG=" + filepath.Join(home, ".docker"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"AWS=" + b.o.aws,
		"EP=" + env["AWS_ENDPOINT_URL"],
		"REGION=" + region,
		"ROLE=" + roleARN,
		"ID_TOKEN=" + token,
		"REGISTRY=" + registryHost,
		"REPO=" + repo,
		"SHA=" + sha,
		"IMAGE=" + b.image,
		"CLUSTER=" + cluster,
		"SERVICE=" + service,
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		// The script prints no secret: credentials go to variables only.
		return 0, fmt.Errorf("the shell job: %w\n%s", err, out.String())
	}
	return time.Since(start), nil
}

// actionEnv is the environment the runner gives the action's container.
func (b *bench) actionEnv(env map[string]string, dir, repo, sha string, force bool) ([]string, error) {
	with := map[string]string{
		"role-to-assume": roleARN,
		"aws-region":     region,
		"image":          b.image,
		"repository":     repo,
		"cluster":        cluster,
		"service":        service,
	}
	if force {
		with["force-new-deployment"] = "true"
	}
	inputs, err := b.meta.InputEnv(with)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"home", "workspace", "temp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	for k, v := range env {
		if strings.HasPrefix(k, "GITHUB_") || strings.HasPrefix(k, "ACTIONS_ID_TOKEN_") || k == "AWS_ENDPOINT_URL" || k == "HTTPS_PROXY" || k == "SSL_CERT_FILE" {
			inputs[k] = v
		}
	}
	for k, v := range map[string]string{
		"GITHUB_ACTIONS":      "true",
		"CI":                  "true",
		"GITHUB_SHA":          sha,
		"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
		"GITHUB_WORKSPACE":    filepath.Join(dir, "workspace"),
		"HOME":                filepath.Join(dir, "home"),
		"RUNNER_TEMP":         filepath.Join(dir, "temp"),
		"DOCKER_HOST":         b.o.dockerHost,
	} {
		inputs[k] = v
	}
	var list []string
	for k, v := range inputs {
		list = append(list, k+"="+v)
	}
	return list, nil
}

// action runs the action's binary as the runner does and returns its wall time.
func (b *bench) action(ctx context.Context, env map[string]string, dir, repo, sha string, force bool) (time.Duration, error) {
	list, err := b.actionEnv(env, dir, repo, sha, force)
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, b.binary)
	cmd.Env = list
	cmd.Dir = filepath.Join(dir, "workspace")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	if err != nil {
		// Secrets in the log are masked by the action itself; print only
		// the annotations, which say why it failed.
		var why []string
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(line, "::error") {
				why = append(why, line)
			}
		}
		return 0, fmt.Errorf("the action: %w\n%s", err, strings.Join(why, "\n"))
	}
	return d, nil
}

// startToFirstRequest measures how long the action's binary takes from
// being started to its first connection out: every endpoint it could reach
// first (the token service, AWS, the Docker engine) is one listener that
// notes when a connection arrives, after which the process is stopped.
func (b *bench) startToFirstRequest(ctx context.Context) (time.Duration, error) {
	var samples []time.Duration
	for range b.o.startupRuns {
		var lc net.ListenConfig
		l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		accepted := make(chan time.Time, 1)
		go func() {
			c, err := l.Accept()
			if err == nil {
				accepted <- time.Now()
				_ = c.Close()
			}
		}()
		addr := l.Addr().String()
		dir, err := os.MkdirTemp(b.work, "startup-")
		if err != nil {
			_ = l.Close()
			return 0, err
		}
		env := map[string]string{
			"ACTIONS_ID_TOKEN_REQUEST_URL":   "http://" + addr + "/token?api-version=2.0",
			"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "startup-measurement",
			"AWS_ENDPOINT_URL":               "http://" + addr,
			"GITHUB_REPOSITORY":              "acme/web-api",
			"GITHUB_RUN_ID":                  "1",
			"GITHUB_RUN_ATTEMPT":             "1",
		}
		list, err := b.actionEnv(env, dir, "web-api", randomHex(40), false)
		if err != nil {
			_ = l.Close()
			return 0, err
		}
		list = append(list, "DOCKER_HOST=tcp://"+addr)
		cmd := exec.CommandContext(ctx, b.binary)
		cmd.Env = list
		cmd.Dir = filepath.Join(dir, "workspace")
		start := time.Now()
		if err := cmd.Start(); err != nil {
			_ = l.Close()
			return 0, err
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case t := <-accepted:
			samples = append(samples, t.Sub(start))
			_ = cmd.Process.Kill()
			<-exited //nolint:errcheck // killed: the exit status says so
		case err := <-exited:
			_ = l.Close()
			return 0, fmt.Errorf("the action exited (%w) before its first request", err)
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited //nolint:errcheck // killed: the exit status says so
			_ = l.Close()
			return 0, errors.New("the action made no request within 30 s")
		}
		_ = l.Close()
		_ = os.RemoveAll(dir)
	}
	return stats.Median(samples), nil
}

// clients are SDK clients acting as the deploy role, for checks outside the
// timed runs.
type clients struct {
	ecr *ecr.Client
	ecs *ecs.Client
}

func newClients(ctx context.Context, env map[string]string) (*clients, error) {
	cfg := sandboxtest.WebIdentityConfig(env, roleARN, "bench-check")
	cfg.Region = region
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("assume the deploy role: %w", err)
	}
	return &clients{ecr: ecr.NewFromConfig(cfg), ecs: ecs.NewFromConfig(cfg)}, nil
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
