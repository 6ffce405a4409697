//go:build !action

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/httpclient"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
)

// Scenario is a story the demo can tell: a change to the built-in world,
// to the job's inputs or to its environment, and what the user should see.
type Scenario struct {
	// Name is what --scenario takes.
	Name string
	// Description says what happens, in one line.
	Description string
	// Fails says the scenario ends in a failed run, as it should.
	Fails bool
	// World changes the built-in world before the sandbox starts.
	World func(w *sandbox.World)
	// Inputs are action inputs (by input name) set on top of the demo's.
	Inputs map[string]string
	// Unset lists environment variables the job does not have.
	Unset []string
	// Faults are injected once the sandbox runs.
	Faults []sandbox.Fault
	// Prepare runs once the sandbox runs and the demo image is built, for
	// scenarios that need either: it may inject faults and return more
	// inputs.
	Prepare func(sb *sandbox.Sandbox, image v1.Image, dir string) (map[string]string, error)
	// TestURLStatus, when set, is the HTTP status the new revision's test
	// endpoint answers: a listener on 127.0.0.1 that the demo gives as the
	// test-url input.
	TestURLStatus int
}

// demoInputs are the action inputs of the demo job.
func demoInputs(sb *sandbox.Sandbox) map[string]string {
	return map[string]string{
		config.InputRoleToAssume: "arn:aws:iam::111122223333:role/gha-deploy",
		config.InputAWSRegion:    sb.Region(),
		// The image is generated in memory (Deps.ImageSource); this name
		// is what the log calls it.
		config.InputImage:      "web-api:demo",
		config.InputRepository: "web-api",
		config.InputCluster:    "prod-cluster",
		config.InputService:    "api-service",
	}
}

// Scenarios lists the demo's scenarios; the first is the default.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "success", Description: "the deploy role trusts this job's environment: credentials are issued"},
		{Name: "role-chain", Description: "assume the deploy role, then chain into the production account with its external ID",
			Inputs: map[string]string{config.InputRoleChain: "arn:aws:iam::444455556666:role/prod-deploy external-id=acme-prod-7f3c"}},
		{Name: "sts-throttling", Description: "STS throttles once and fails once with IDPCommunicationError; the retries carry the run through",
			Faults: []sandbox.Fault{
				{Service: "sts", Operation: "AssumeRoleWithWebIdentity", Code: "Throttling", Times: 1},
				{Service: "sts", Operation: "AssumeRoleWithWebIdentity", Code: "IDPCommunicationError", Times: 1},
			}},
		{Name: "access-denied", Fails: true, Description: "the job runs on a feature branch without an environment; the trust policy refuses it and the log explains why",
			World: func(w *sandbox.World) {
				w.GitHub.Claims["ref"] = "refs/heads/feature-x"
				w.GitHub.Claims["job_workflow_ref"] = w.GitHub.Claims["repository"] + "/.github/workflows/deploy.yml@refs/heads/feature-x"
				delete(w.GitHub.Claims, "environment")
			}},
		{Name: "no-id-token-permission", Fails: true, Description: "the workflow lacks permissions: id-token: write",
			Unset: []string{"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"}},
		{Name: "wrong-audience", Fails: true, Description: "the token is requested for an audience the IAM OIDC provider does not list",
			Inputs: map[string]string{config.InputAudience: "api://acme-deploy"}},
		{Name: "expired-token", Fails: true, Description: "the token service's clock is ten minutes behind: STS sees expired tokens",
			World: func(w *sandbox.World) { w.GitHub.IssuedAtOffsetSeconds = -600 }},
		{Name: "unknown-issuer", Fails: true, Description: "the token comes from an issuer the account has no IAM OIDC provider for",
			World: func(w *sandbox.World) { w.GitHub.Issuer = "https://token.example.invalid" }},
		{Name: "wrong-external-id", Fails: true, Description: "the role chain sends the wrong external ID to the production account",
			Inputs: map[string]string{config.InputRoleChain: "arn:aws:iam::444455556666:role/prod-deploy external-id=acme-prod-0000"}},
		{Name: "two-services", Description: "the API and the worker are deployed in parallel from one push",
			Inputs: map[string]string{config.InputService: "api-service\nworker-service"}},
		{Name: "crash-loop", Fails: true, Description: "the new image crashes on start: the circuit breaker rolls the service back, and the deploy fails",
			Prepare: func(sb *sandbox.Sandbox, image v1.Image, _ string) (map[string]string, error) {
				digest, err := image.Digest()
				if err != nil {
					return nil, err
				}
				sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "task-crash", Image: digest.String()})
				return nil, nil
			}},
		{Name: "missing-image", Fails: true, Description: "the task definition's log sidecar names a tag nobody pushed: its tasks cannot pull it, and the deploy fails",
			Prepare: func(sb *sandbox.Sandbox, _ v1.Image, dir string) (map[string]string, error) {
				path, err := writeDemoTaskDefinition(sb, dir, "metrics-sidecar:2.1")
				if err != nil {
					return nil, err
				}
				return map[string]string{config.InputTaskDefinition: path}, nil
			}},
		{Name: "canary", Description: "api-service deploys as a CANARY: 10% of production traffic for two minutes, then all of it, then a bake time; each lifecycle stage is printed with the traffic split (a minute lasts 2 s here)",
			World: func(w *sandbox.World) {
				svc := stagedDemoService(w, "CANARY")
				svc.CanaryConfiguration = &sandbox.CanaryConfiguration{CanaryPercent: ptr(10.0), CanaryBakeTimeInMinutes: ptr(2)}
			}},
		{Name: "blue-green-rolled-back", Fails: true, Description: "a blue/green deployment pauses at a PAUSE hook once test traffic reaches the new revision, whose test URL answers 503: the action stops it with a rollback, and the deploy fails",
			World: func(w *sandbox.World) {
				svc := stagedDemoService(w, "BLUE_GREEN")
				svc.LifecycleHooks = []sandbox.LifecycleHook{{TargetType: "PAUSE", LifecycleStages: []string{"POST_TEST_TRAFFIC_SHIFT"}}}
			},
			TestURLStatus: http.StatusServiceUnavailable,
			Inputs:        map[string]string{config.InputTestURLSuccesses: "3", config.InputTestURLTimeoutSeconds: "5"}},
		{Name: "codedeploy", Description: "checkout-service's deployment controller is CODE_DEPLOY: the new revision goes out as a CodeDeploy blue/green deployment, watched lifecycle event by lifecycle event",
			Inputs: map[string]string{config.InputService: "checkout-service"}},
		{Name: "migration", Description: "the database migration runs as a one-off task of the new revision, its log streamed, then the service is deployed; old revisions beyond the newest 3 are deregistered",
			Inputs: map[string]string{config.InputRunTask: "true", config.InputRunTaskCommand: "bin/migrate up", config.InputKeepRevisions: "3"}},
		{Name: "failing-migration", Fails: true, Description: "the migration exits 3: the run fails with its exit code and log lines, and no service is touched",
			Inputs: map[string]string{config.InputRunTask: "true", config.InputRunTaskCommand: "bin/migrate up"},
			World: func(w *sandbox.World) {
				w.Accounts["111122223333"].Commands = []sandbox.ECSCommand{{
					Command: []string{"bin/migrate", "up"}, ExitCode: 3, Seconds: 3,
					Logs: []string{
						"migrate: connected to postgres://db.internal:5432/app",
						"migrate: applying 20250611093000_add_orders_customer_index.sql",
						`migrate: ERROR: relation "orders_customer_idx" already exists (SQLSTATE 42P07)`,
						"migrate: rolled back 20250611093000_add_orders_customer_index.sql",
					},
				}}
			}},
	}
}

// stagedDemoService gives the demo's api-service a strategy with a
// two-minute bake time, and makes the world's minutes last 2 s so that
// the demo does not take minutes.
func stagedDemoService(w *sandbox.World, strategy string) *sandbox.ServiceSpec {
	if w.ECS == nil {
		w.ECS = &sandbox.ECSSettings{}
	}
	w.ECS.MinuteSeconds = 2
	svc := w.Accounts["111122223333"].Clusters["prod-cluster"].Services["api-service"]
	svc.Strategy = strategy
	svc.BakeTimeInMinutes = ptr(2)
	return svc
}

func ptr[T any](v T) *T { return &v }

// testEndpoint serves the new revision's test endpoint on 127.0.0.1,
// answering status to every request, until stop.
func testEndpoint(ctx context.Context, status int) (url string, stop func(), err error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen for the test endpoint: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
	})}
	go func() { _ = srv.Serve(l) }() // ends with ErrServerClosed when stopped
	return "http://" + l.Addr().String() + "/healthz", func() { _ = srv.Close() }, nil
}

// writeDemoTaskDefinition writes a task definition file for the demo's
// api-service whose second container runs sidecar (repository:tag) from
// the demo account's registry.
func writeDemoTaskDefinition(sb *sandbox.Sandbox, dir, sidecar string) (string, error) {
	host := sb.RegistryHost("111122223333")
	td := map[string]any{
		"family":                  "web-api",
		"networkMode":             "awsvpc",
		"requiresCompatibilities": []string{"FARGATE"},
		"cpu":                     "256",
		"memory":                  "512",
		"executionRoleArn":        "arn:aws:iam::111122223333:role/ecsTaskExecutionRole",
		"taskRoleArn":             "arn:aws:iam::111122223333:role/web-api-task",
		"containerDefinitions": []map[string]any{
			{"name": "web", "image": host + "/web-api:bootstrap", "essential": true,
				"portMappings": []map[string]any{{"containerPort": 8080, "protocol": "tcp"}}},
			{"name": "metrics", "image": host + "/" + sidecar, "essential": true},
		},
	}
	data, err := json.MarshalIndent(td, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "task-definition.json")
	return path, os.WriteFile(path, data, 0o600)
}

// demoCommand starts the sandbox in-process with the built-in world and
// runs the real flow against it, as a container action would run: inputs
// from INPUT_* variables, the token request variables and AWS_ENDPOINT_URL
// from the sandbox. The process environment is never changed; the flow gets
// a getenv that overlays the sandbox's on the real one.
func demoCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return runDemo(ctx, args, getenv, stdout, stderr, demoHooks{})
}

// demoHooks let tests see into a demo run: world changes the world before
// the sandbox starts (tests speed up its clock); started is handed the
// running sandbox (tests collect its secrets from it).
type demoHooks struct {
	world   func(*sandbox.World)
	started func(*sandbox.Sandbox)
}

// runDemo is demoCommand, with hooks for tests.
func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, hooks demoHooks) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("scenario", Scenarios()[0].Name, "the scenario to run (see --list)")
	list := fs.Bool("list", false, "list the scenarios")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if *list {
		for _, s := range Scenarios() {
			fmt.Fprintf(stdout, "%-24s %s\n", s.Name, s.Description)
		}
		return ExitOK
	}
	var scenario *Scenario
	var names []string
	for _, s := range Scenarios() {
		names = append(names, s.Name)
		if s.Name == *name {
			scenario = &s
		}
	}
	if scenario == nil || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unknown scenario %q; the scenarios are: %s\n", *name, strings.Join(names, ", "))
		return ExitUsage
	}

	world := sandbox.DemoWorld()
	if scenario.World != nil {
		scenario.World(world)
	}
	if hooks.world != nil {
		hooks.world(world)
	}
	sb, err := sandbox.Start(ctx, world, sandbox.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "start the sandbox: %v\n", err)
		return ExitFailure
	}
	defer func() { warnOnError(stderr, "stop the sandbox", sb.Close()) }()
	if hooks.started != nil {
		hooks.started(sb)
	}
	for _, f := range scenario.Faults {
		sb.InjectFault(f)
	}

	overlay := map[string]string{}
	for k, v := range sb.Env() {
		overlay[k] = v
	}
	for _, k := range scenario.Unset {
		overlay[k] = ""
	}
	inputs := demoInputs(sb)
	for k, v := range scenario.Inputs {
		inputs[k] = v
	}
	image, err := demoImage(sb.Env()["GITHUB_SHA"])
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return ExitFailure
	}
	if scenario.Prepare != nil {
		dir, err := os.MkdirTemp("", "oidc-ecs-deploy-demo-")
		if err != nil {
			fmt.Fprintf(stderr, "demo: %v\n", err)
			return ExitFailure
		}
		defer func() { warnOnError(stderr, "remove "+dir, os.RemoveAll(dir)) }()
		more, err := scenario.Prepare(sb, image, dir)
		if err != nil {
			fmt.Fprintf(stderr, "demo scenario %s: %v\n", scenario.Name, err)
			return ExitFailure
		}
		for k, v := range more {
			inputs[k] = v
		}
	}
	if scenario.TestURLStatus != 0 {
		url, stop, err := testEndpoint(ctx, scenario.TestURLStatus)
		if err != nil {
			fmt.Fprintf(stderr, "demo: %v\n", err)
			return ExitFailure
		}
		defer stop()
		inputs[config.InputTestURL] = url
	}
	for k, v := range inputs {
		overlay[config.InputEnvName(k)] = v
	}
	demoGetenv := func(k string) string {
		if v, ok := overlay[k]; ok {
			return v
		}
		// The demo's inputs are exactly the ones above, whatever the
		// process environment holds.
		if strings.HasPrefix(k, "INPUT_") {
			return ""
		}
		return getenv(k)
	}

	runner := ghaction.New(stdout, demoGetenv)
	runner.Infof("oidc-ecs-deploy demo, scenario %q: %s", scenario.Name, scenario.Description)
	runner.Infof("Sandbox: GitHub token service at %s, AWS (STS, ECR, ECS) at %s, region %s, ECR registry %s served over TLS at %s",
		sb.GitHubURL(), sb.AWSEndpoint(), sb.Region(), sb.RegistryHost("111122223333"), sb.RegistryAddress())
	run, err := runner.Context()
	if err != nil {
		return report(ctx, runner, err)
	}
	cfg, err := config.FromInputs(runner.Input, run)
	if err != nil {
		return report(ctx, runner, err)
	}
	// The sandbox's ECR registry hosts are reached by name, over TLS, as
	// ECR is: the run's client maps those names to the sandbox and trusts
	// its CA. The action has no such mapping; only the demo, which runs
	// the sandbox in the same process, wires one in.
	client := &http.Client{Transport: sb.Transport(httpclient.NewTransport(httpclient.Timeouts{}))}
	defer client.CloseIdleConnections()
	_, err = Run(ctx, cfg, Deps{Getenv: demoGetenv, Runner: runner, ImageSource: image, HTTPClient: client})
	code := report(ctx, runner, err)
	runner.Infof("demo finished: exit code %d", code)
	return code
}

// warnOnError says on stderr that a clean-up failed: the command's result
// stands, but what it leaves behind should be known.
func warnOnError(stderr io.Writer, what string, err error) {
	if err != nil {
		fmt.Fprintf(stderr, "warning: %s: %v\n", what, err)
	}
}
