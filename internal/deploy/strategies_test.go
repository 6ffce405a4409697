package deploy_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/httpclient"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// everyStage are the lifecycle stages of a deployment that starts with one
// revision active, in order.
var everyStage = []string{
	"PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT",
	"PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP",
}

// stagedWorld is the demo world whose api-service deploys with a
// strategy: stages of 0.3 s and minutes of a second, so that the watch
// sees some stages come and others pass between its looks.
func stagedWorld(tb testing.TB, edit func(svc *sandbox.ServiceSpec)) *sandbox.World {
	tb.Helper()
	w := sandbox.DemoWorld()
	w.ECS = &sandbox.ECSSettings{TaskStartSeconds: 0.5, StageSeconds: 0.3, MinuteSeconds: 1}
	svc := w.Accounts[account].Clusters[cluster].Services["api-service"]
	svc.RolloutSeconds = 0
	edit(svc)
	return w
}

func minutes(n int) *int { return &n }

func canary(svc *sandbox.ServiceSpec) {
	pct := 10.0
	svc.Strategy = "CANARY"
	svc.BakeTimeInMinutes = minutes(2)
	svc.CanaryConfiguration = &sandbox.CanaryConfiguration{CanaryPercent: &pct, CanaryBakeTimeInMinutes: minutes(5)}
}

// pauseAt adds a PAUSE hook at stage.
func pauseAt(stage string) func(svc *sandbox.ServiceSpec) {
	return func(svc *sandbox.ServiceSpec) {
		canary(svc)
		svc.LifecycleHooks = []sandbox.LifecycleHook{{TargetType: "PAUSE", LifecycleStages: []string{stage}}}
	}
}

// stageLines are the lifecycle stages the log names, in order, each time
// it names one.
func stageLines(log string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?m)Lifecycle stage ([A-Z_]+)`).FindAllStringSubmatch(log, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestStrategiesPrintEveryStageOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*sandbox.ServiceSpec)
		want []string // lines the log must have
	}{
		// Bake times of 4 s (a minute is a second here) outlast a few looks
		// of the watch on a loaded machine, so that it sees each one.
		{"blue_green", func(svc *sandbox.ServiceSpec) { svc.Strategy = "BLUE_GREEN"; svc.BakeTimeInMinutes = minutes(4) },
			[]string{"production traffic 100% new, 0% old", "bake time 4m0s, "}},
		{"canary", func(svc *sandbox.ServiceSpec) { canary(svc); svc.BakeTimeInMinutes = minutes(4) },
			[]string{"production traffic 10% new, 90% old", "production traffic 100% new, 0% old", "bake time 4m0s, "}},
		{"linear", func(svc *sandbox.ServiceSpec) {
			step := 50.0
			svc.Strategy = "LINEAR"
			svc.BakeTimeInMinutes = minutes(4)
			svc.LinearConfiguration = &sandbox.LinearConfiguration{StepPercent: &step, StepBakeTimeInMinutes: minutes(4)}
		}, []string{"production traffic 50% new, 50% old", "production traffic 100% new, 0% old", "bake time 4m0s, "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := startSandbox(t, stagedWorld(t, tc.edit))
			digest := e.pushRandomImage(t, "sha-4f2c8e1")
			runner, logs := newRunner(t)
			results, err := deploy.Run(context.Background(), e.ecs, e.request(digest), runner)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if r := results[0]; r.Outcome != deploy.OutcomeSucceeded {
				t.Fatalf("result %+v, want succeeded", r)
			}
			out := logs.String()
			if got := stageLines(out); !equalStrings(got, everyStage) {
				t.Errorf("stages printed %v, want each of %v once, in order", got, everyStage)
			}
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q", want)
				}
			}
			if !strings.Contains(out, "succeeded in") {
				t.Error("log does not say the deployment succeeded")
			}
		})
	}
}

func equalStrings(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// TestRollbackAtAStageFails: a deployment rolled back at any stage is a
// failure that names the stage and the reason, never a success.
func TestRollbackAtAStageFails(t *testing.T) {
	t.Parallel()
	const fn = "arn:aws:lambda:us-east-1:111122223333:function:smoke-test"
	tests := []struct {
		name   string
		edit   func(*sandbox.ServiceSpec)
		fault  sandbox.Fault
		stage  string
		reason string
	}{
		{"hook_fails_at_test_traffic_shift", func(svc *sandbox.ServiceSpec) {
			canary(svc)
			svc.LifecycleHooks = []sandbox.LifecycleHook{{TargetType: "AWS_LAMBDA", HookTargetArn: fn, RoleArn: "arn:aws:iam::111122223333:role/ecs-hooks", LifecycleStages: []string{"TEST_TRAFFIC_SHIFT"}}}
		}, sandbox.Fault{Service: "ecs", Operation: "lifecycle-hook", Stage: "TEST_TRAFFIC_SHIFT"}, "TEST_TRAFFIC_SHIFT", fn + " returned FAILED"},
		{"alarm_during_bake_time", func(svc *sandbox.ServiceSpec) {
			canary(svc)
			svc.Alarms = &sandbox.DeploymentAlarms{AlarmNames: []string{"api-5xx"}, Enable: true, Rollback: true}
		}, sandbox.Fault{Service: "ecs", Operation: "alarm", Stage: "BAKE_TIME"}, "BAKE_TIME", "alarm api-5xx went into ALARM state"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := startSandbox(t, stagedWorld(t, tc.edit))
			e.sb.InjectFault(tc.fault)
			digest := e.pushRandomImage(t, "sha-4f2c8e1")
			runner, logs := newRunner(t)
			results, err := deploy.Run(context.Background(), e.ecs, e.request(digest), runner)
			if err == nil {
				t.Fatal("Run succeeded, want a failure")
			}
			r := results[0]
			if r.Outcome != deploy.OutcomeFailed {
				t.Errorf("outcome %s, want failed", r.Outcome)
			}
			for _, want := range []string{"at lifecycle stage " + tc.stage, tc.reason} {
				if !strings.Contains(err.Error(), want) || !strings.Contains(r.Failure, want) {
					t.Errorf("error %q (result %q) does not say %q", err, r.Failure, want)
				}
			}
			out := logs.String()
			if strings.Contains(out, "succeeded in") {
				t.Errorf("the log says a rolled-back deployment succeeded:\n%s", out)
			}
			stages := stageLines(out)
			if n := len(stages); n == 0 || stages[n-1] != tc.stage || !equalStrings(stages, everyStage[:n]) {
				t.Errorf("stages printed %v, want each stage in order up to %s", stages, tc.stage)
			}
		})
	}
}

// testListener serves status on a 127.0.0.1 port and counts requests.
func testListener(tb testing.TB, status int) (string, *atomic.Int64) {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var hits atomic.Int64
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(status)
	})}
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String() + "/healthz", &hits
}

func pauseCheck(url string) *deploy.PauseCheck {
	return &deploy.PauseCheck{URL: url, Successes: 3, Timeout: 3 * time.Second, Interval: 100 * time.Millisecond, Client: httpclient.New(httpclient.Timeouts{})}
}

// runCheckedPause deploys with a PAUSE hook after the test traffic shift
// and a check of a 127.0.0.1 listener answering status.
func runCheckedPause(tb testing.TB, status int) (e *testEnv, url string, hits *atomic.Int64, results []deploy.ServiceResult, logs *sandboxtest.SyncBuffer, err error) {
	tb.Helper()
	e = startSandbox(tb, stagedWorld(tb, pauseAt("POST_TEST_TRAFFIC_SHIFT")))
	url, hits = testListener(tb, status)
	digest := e.pushRandomImage(tb, "sha-4f2c8e1")
	runner, logs := newRunner(tb)
	req := e.request(digest)
	req.PauseCheck = pauseCheck(url)
	results, err = deploy.Run(context.Background(), e.ecs, req, runner)
	return e, url, hits, results, logs, err
}

func TestPauseHookContinuedAfterPassingCheck(t *testing.T) {
	t.Parallel()
	_, url, hits, results, logs, err := runCheckedPause(t, http.StatusOK)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if results[0].Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("result %+v, want succeeded", results[0])
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("the check made %d requests, want 3", n)
	}
	out := logs.String()
	for _, want := range []string{
		"is paused at POST_TEST_TRAFFIC_SHIFT by a PAUSE lifecycle hook: checking the new revision at " + url,
		"(3 of 3 in a row)",
		"Check passed: continued deployment",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if got := stageLines(out); !equalStrings(got, everyStage) {
		t.Errorf("stages printed %v, want each once, in order", got)
	}
}

func TestPauseHookStoppedAfterFailingCheck(t *testing.T) {
	t.Parallel()
	e, url, _, results, logs, err := runCheckedPause(t, http.StatusServiceUnavailable)
	if err == nil {
		t.Fatal("Run succeeded, want a failure")
	}
	for _, want := range []string{"stopped with a rollback at lifecycle stage POST_TEST_TRAFFIC_SHIFT", "the check of " + url + " failed", "503 Service Unavailable", "StopServiceDeployment"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if results[0].Outcome != deploy.OutcomeFailed || strings.Contains(logs.String(), "succeeded in") {
		t.Errorf("result %+v; a stopped deployment must fail", results[0])
	}
	// ECS rolls the service back to the revision it ran.
	sd := waitFinished(t, e, results[0].ServiceDeploymentARN)
	if sd.Status != types.ServiceDeploymentStatusRollbackSuccessful {
		t.Errorf("service deployment %s, want ROLLBACK_SUCCESSFUL", sd.Status)
	}
	if got, want := aws.ToString(e.describeService(t, "api-service").TaskDefinition), "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:1"; got != want {
		t.Errorf("service runs %s, want %s again", got, want)
	}
}

// waitFinished waits for a service deployment to end.
func waitFinished(tb testing.TB, e *testEnv, arn string) types.ServiceDeployment {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := e.ecs.DescribeServiceDeployments(context.Background(), &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}})
		if err != nil || len(out.ServiceDeployments) != 1 {
			tb.Fatalf("DescribeServiceDeployments: %v", err)
		}
		sd := out.ServiceDeployments[0]
		switch sd.Status {
		case types.ServiceDeploymentStatusSuccessful, types.ServiceDeploymentStatusStopped, types.ServiceDeploymentStatusRollbackSuccessful, types.ServiceDeploymentStatusRollbackFailed:
			return sd
		}
		if time.Now().After(deadline) {
			tb.Fatalf("service deployment still %s", sd.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPauseHookWithoutCheckWaits: without a check the run says it waits
// for someone else, who continues the deployment.
func TestPauseHookWithoutCheckWaits(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, stagedWorld(t, pauseAt("POST_SCALE_UP")))
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	runner, logs := newRunner(t)
	done := make(chan error, 1)
	var results []deploy.ServiceResult
	go func() {
		var err error
		results, err = deploy.Run(context.Background(), e.ecs, e.request(digest), runner)
		done <- err
	}()
	hookID := regexp.MustCompile(`--hook-id (\S+)\n`)
	var m []string
	for deadline := time.Now().Add(30 * time.Second); m == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the run never said it waits:\n%s", logs.String())
		}
		m = hookID.FindStringSubmatch(logs.String())
	}
	out := logs.String()
	if !strings.Contains(out, "waiting for someone to continue it (no test-url to check it with)") || !strings.Contains(out, "ROLLBACK, at ") {
		t.Errorf("log does not say the run waits, and until when:\n%s", out)
	}
	arn := regexp.MustCompile(`--service-deployment-arn (\S+)`).FindStringSubmatch(out)[1]
	if _, err := e.ecs.ContinueServiceDeployment(context.Background(), &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn), HookId: aws.String(m[1])}); err != nil {
		t.Fatalf("ContinueServiceDeployment with what the log says: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if results[0].Outcome != deploy.OutcomeSucceeded {
		t.Errorf("result %+v, want succeeded", results[0])
	}
}

// TestRollbackOnCancel: with rollback-on-cancel, a run interrupted while
// its deployment is in progress stops it with a rollback; without it ECS
// goes on.
func TestRollbackOnCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		rollback bool
		fault    sandbox.Fault // on StopServiceDeployment
		// says is what the report says of the stop; empty: nothing.
		says string
	}{
		{name: "rollback", rollback: true, says: "As rollback-on-cancel asks, the run stopped it with a rollback (StopServiceDeployment)"},
		{name: "go_on"},
		{name: "rollback_too_late", rollback: true, fault: sandbox.Fault{Code: "ConflictException", Message: "no longer stoppable on purpose"},
			says: "rollback-on-cancel found it no longer stoppable (operation error ECS: StopServiceDeployment"},
		{name: "rollback_denied", rollback: true, fault: sandbox.Fault{Code: "AccessDeniedException", Message: "denied on purpose"},
			says: "rollback-on-cancel could not stop it (operation error ECS: StopServiceDeployment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := startSandbox(t, stagedWorld(t, pauseAt("POST_SCALE_UP")))
			if tt.fault.Code != "" {
				tt.fault.Service, tt.fault.Operation, tt.fault.Times = "ecs", "StopServiceDeployment", 1
				e.sb.InjectFault(tt.fault)
			}
			digest := e.pushRandomImage(t, "sha-4f2c8e1")
			runner, logs := newRunner(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				for !strings.Contains(logs.String(), "waiting for someone to continue it") && ctx.Err() == nil {
					time.Sleep(50 * time.Millisecond)
				}
				cancel()
			}()
			req := e.request(digest)
			req.RollbackOnCancel = tt.rollback
			results, err := deploy.Run(ctx, e.ecs, req, runner)
			if !errors.Is(err, context.Canceled) || results[0].Outcome != deploy.OutcomeInterrupted {
				t.Fatalf("Run = %v, %+v; want interrupted", err, results[0])
			}
			sd := describeServiceDeployment(t, e, results[0].ServiceDeploymentARN)
			out := logs.String()
			if tt.says == "" {
				if sd.Status != types.ServiceDeploymentStatusInProgress || strings.Contains(out, "rollback-on-cancel") {
					t.Errorf("service deployment %s after the interrupt, want IN_PROGRESS and nothing said of rollback-on-cancel", sd.Status)
				}
				return
			}
			if !strings.Contains(out, tt.says) {
				t.Errorf("log lacks %q:\n%s", tt.says, out)
			}
			if tt.fault.Code == "AccessDeniedException" && !strings.Contains(out, "Allow ecs:StopServiceDeployment on the service deployment for the run's role.") {
				t.Errorf("log does not say which permission the stop needs:\n%s", out)
			}
			stopped := sd.Status == types.ServiceDeploymentStatusRollbackRequested || sd.Status == types.ServiceDeploymentStatusRollbackInProgress || sd.Status == types.ServiceDeploymentStatusRollbackSuccessful
			if stopped != (tt.fault.Code == "") {
				t.Errorf("service deployment %s after the interrupt; rolled back: %v, want %v", sd.Status, stopped, tt.fault.Code == "")
			}
		})
	}
}

// TestRollbackOnCancelOfCodeDeploy: an interrupted CodeDeploy deployment
// is stopped with a rollback when rollback-on-cancel asks, and the report
// says what became of the stop.
func TestRollbackOnCancelOfCodeDeploy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault string // StopDeployment's error code, if any
		says  string
	}{
		{"stopped", "", "As rollback-on-cancel asks, the run stopped it with a rollback (CodeDeploy StopDeployment): CodeDeploy returns the service to its previous task set."},
		{"already ended", "DeploymentAlreadyCompletedException", "rollback-on-cancel found it already ended ("},
		{"denied", "AccessDeniedException", "rollback-on-cancel could not stop it ("},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := codeDeployWorld(t)
			// Slow enough to be interrupted before it ends.
			w.ECS = &sandbox.ECSSettings{TaskStartSeconds: 5, StageSeconds: 5, MinuteSeconds: 10}
			e := startSandbox(t, w)
			if tt.fault != "" {
				e.sb.InjectFault(sandbox.Fault{Service: "codedeploy", Operation: "StopDeployment", Code: tt.fault, Times: 1})
			}
			digest := e.pushRandomImage(t, "sha-4f2c8e1")
			runner, logs := newRunner(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				for !strings.Contains(logs.String(), "Started CodeDeploy deployment") && ctx.Err() == nil {
					time.Sleep(50 * time.Millisecond)
				}
				cancel()
			}()
			req := e.request(digest, "checkout-service")
			req.CodeDeploy = codedeploy.NewFromConfig(e.cfg)
			req.RollbackOnCancel = true
			results, err := deploy.Run(ctx, e.ecs, req, runner)
			if !errors.Is(err, context.Canceled) || results[0].Outcome != deploy.OutcomeInterrupted {
				t.Fatalf("Run = %v, %+v; want interrupted", err, results[0])
			}
			if out := logs.String(); !strings.Contains(out, tt.says) || !strings.Contains(out, "aws deploy get-deployment --deployment-id "+results[0].DeploymentID) {
				t.Errorf("log lacks %q and how to follow the deployment:\n%s", tt.says, out)
			}
			if tt.fault == "AccessDeniedException" && !strings.Contains(logs.String(), "Allow codedeploy:StopDeployment") {
				t.Errorf("log does not say which permission the stop needs:\n%s", logs.String())
			}
		})
	}
}

func describeServiceDeployment(tb testing.TB, e *testEnv, arn string) types.ServiceDeployment {
	tb.Helper()
	out, err := e.ecs.DescribeServiceDeployments(context.Background(), &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}})
	if err != nil || len(out.ServiceDeployments) != 1 {
		tb.Fatalf("DescribeServiceDeployments %s: %v", arn, err)
	}
	return out.ServiceDeployments[0]
}

// codeDeployWorld is the demo world whose checkout-service CodeDeploy
// deploys quickly.
func codeDeployWorld(tb testing.TB) *sandbox.World {
	tb.Helper()
	w := sandbox.DemoWorld()
	w.ECS = &sandbox.ECSSettings{TaskStartSeconds: 0.5, StageSeconds: 0.3, MinuteSeconds: 1}
	w.Accounts[account].Clusters[cluster].Services["checkout-service"].RolloutSeconds = 0
	return w
}

// codeDeployEvents are the CodeDeploy lifecycle events the log names with
// status, in order.
func codeDeployEvents(log, status string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?m)CodeDeploy lifecycle event (\w+): `+status).FindAllStringSubmatch(log, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestCodeDeploySucceeds(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, codeDeployWorld(t))
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	runner, logs := newRunner(t)
	req := e.request(digest, "checkout-service")
	req.CodeDeploy = codedeploy.NewFromConfig(e.cfg)
	results, err := deploy.Run(context.Background(), e.ecs, req, runner)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	r := results[0]
	if r.Outcome != deploy.OutcomeSucceeded || !regexp.MustCompile(`^d-[A-Z0-9]{9}$`).MatchString(r.DeploymentID) {
		t.Fatalf("result %+v, want succeeded with a CodeDeploy deployment ID", r)
	}
	if want := "CodeDeploy Succeeded, task sets green 100% (2/2 running)"; r.Rollout != want {
		t.Errorf("rollout %q, want %q: where the deployment stands, in one line", r.Rollout, want)
	}
	out := logs.String()
	want := []string{"BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"}
	if got := codeDeployEvents(out, "Succeeded"); !equalStrings(got, want) {
		t.Errorf("lifecycle events printed as Succeeded %v, want each of %v once, in order", got, want)
	}
	for _, want := range []string{
		"Started CodeDeploy deployment " + r.DeploymentID + " of " + r.TaskDefinitionARN + " (application AppECS-prod-cluster-checkout-service, deployment group DgpECS-prod-cluster-checkout-service)",
		"task sets: blue 100% (2/2 running), green 0% (2/2 running)",
		"green 100%",
		"CodeDeploy deployment " + r.DeploymentID + ": Succeeded",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if got := aws.ToString(e.describeService(t, "checkout-service").TaskDefinition); got != r.TaskDefinitionARN {
		t.Errorf("service runs %s, want %s", got, r.TaskDefinitionARN)
	}
}

func TestCodeDeployRolledBackFails(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, codeDeployWorld(t))
	digest := e.pushRandomImage(t, "sha-4f2c8e1")
	e.sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: "task-crash", Image: digest})
	runner, logs := newRunner(t)
	req := e.request(digest, "checkout-service")
	req.CodeDeploy = codedeploy.NewFromConfig(e.cfg)
	results, err := deploy.Run(context.Background(), e.ecs, req, runner)
	if err == nil {
		t.Fatal("Run succeeded, want a failure")
	}
	r := results[0]
	if want := "CodeDeploy Failed, Install Failed, task sets blue 100% (2/2 running)"; r.Rollout != want {
		t.Errorf("rollout %q, want %q", r.Rollout, want)
	}
	for _, want := range []string{
		"CodeDeploy deployment " + r.DeploymentID + " failed at lifecycle event Install (ECS_UPDATE_ERROR)",
		"failed to start",
		"CodeDeploy rolls the service back to arn:aws:ecs:us-east-1:111122223333:task-definition/checkout:1 with deployment d-",
		"Lifecycle events:\n  BeforeInstall: Succeeded\n  Install: Failed (UnknownError: ",
		" tasks of the replacement task set failed to start.)\n",
		"AllowTraffic: Skipped",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	out := logs.String()
	for _, want := range []string{"CodeDeploy lifecycle event BeforeInstall: Succeeded\n", "CodeDeploy lifecycle event Install: Failed (UnknownError: "} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	// The replacement task set is the one whose external ID is the
	// CodeDeploy deployment's: asking ECS for the tasks it started finds
	// the stopped ones at once, without a second look by service.
	if n := e.sb.Calls("ecs", "ListTasks"); n != 1 {
		t.Errorf("the stopped tasks took %d ListTasks calls, want 1: by the replacement task set", n)
	}
	if r.Outcome != deploy.OutcomeFailed || strings.Contains(out, "succeeded in") {
		t.Errorf("result %+v; a rolled-back deployment must fail", r)
	}
	if !strings.Contains(out, "Stopped tasks:") || !strings.Contains(out, "Essential container in task exited") {
		t.Errorf("the failure does not show the replacement's stopped tasks:\n%s", out)
	}
}

// TestCodeDeployRefusedOrCutOff: a CreateDeployment that CodeDeploy refuses
// fails the service as not started, with what to change; one the run's
// cancellation cut off before CodeDeploy answered leaves it unknown.
func TestCodeDeployRefusedOrCutOff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault sandbox.Fault
		// want is what the failure says, outcome the service's outcome.
		want    []string
		outcome deploy.Outcome
	}{
		{name: "application that does not exist", fault: sandbox.Fault{Service: "codedeploy", Operation: "CreateDeployment", Code: "ApplicationDoesNotExistException", Times: 1},
			want:    []string{"ApplicationDoesNotExistException", "set codedeploy-application to the application of the service (the console names it AppECS-prod-cluster-checkout-service)"},
			outcome: deploy.OutcomeNotStarted},
		{name: "deployment group that does not exist", fault: sandbox.Fault{Service: "codedeploy", Operation: "CreateDeployment", Code: "DeploymentGroupDoesNotExistException", Times: 1},
			want:    []string{"DeploymentGroupDoesNotExistException", "set codedeploy-deployment-group to the service's deployment group (the console names it DgpECS-prod-cluster-checkout-service)"},
			outcome: deploy.OutcomeNotStarted},
		{name: "another deployment in progress", fault: sandbox.Fault{Service: "codedeploy", Operation: "CreateDeployment", Code: "DeploymentLimitExceededException", Times: 1},
			want:    []string{"DeploymentLimitExceededException", "another deployment of the group is in progress"},
			outcome: deploy.OutcomeNotStarted},
		{name: "access denied", fault: sandbox.Fault{Service: "codedeploy", Operation: "CreateDeployment", Code: "AccessDeniedException", Times: 1},
			want:    []string{"AccessDeniedException", "allow codedeploy:CreateDeployment on the deployment group"},
			outcome: deploy.OutcomeNotStarted},
		{name: "cut off by the run's cancellation", fault: sandbox.Fault{Service: "codedeploy", Operation: "CreateDeployment", BlackHole: true, Times: 1},
			want:    []string{"the run was interrupted before CodeDeploy answered; whether it started a deployment is unknown"},
			outcome: deploy.OutcomeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := startSandbox(t, codeDeployWorld(t))
			digest := e.pushRandomImage(t, "sha-4f2c8e1")
			e.sb.InjectFault(tt.fault)
			runner, _ := newRunner(t)
			req := e.request(digest, "checkout-service")
			req.CodeDeploy = codedeploy.NewFromConfig(e.cfg)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.fault.BlackHole {
				go func() {
					// Cancel once CreateDeployment has been sent.
					for e.sb.Calls("codedeploy", "CreateDeployment") == 0 {
						time.Sleep(10 * time.Millisecond)
					}
					cancel()
				}()
			}
			results, err := deploy.Run(ctx, e.ecs, req, runner)
			if err == nil {
				t.Fatal("Run succeeded, want a failure")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if r := results[0]; r.Outcome != tt.outcome {
				t.Errorf("outcome %q, want %q", r.Outcome, tt.outcome)
			}
		})
	}
}

// TestPauseHookActionRefused: when ECS refuses the run's continue or stop
// at a PAUSE hook, the run says so and how the deployment stays; a hook
// someone else acted on first is no failure of the run's.
func TestPauseHookActionRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int // the test URL's answer
		fault  sandbox.Fault
		says   string
		// failed is set when the run fails for it; otherwise it is
		// interrupted once it said so.
		failed bool
	}{
		{name: "continue denied", status: http.StatusOK, fault: sandbox.Fault{Operation: "ContinueServiceDeployment", Code: "AccessDeniedException"}, failed: true,
			says: "passed, but continuing deployment "},
		{name: "stop denied", status: http.StatusServiceUnavailable, fault: sandbox.Fault{Operation: "StopServiceDeployment", Code: "AccessDeniedException"}, failed: true,
			says: "failed (no 3 answers 2xx in a row within "},
		{name: "continued by someone else first", status: http.StatusOK, fault: sandbox.Fault{Operation: "ContinueServiceDeployment", Code: "ConflictException"},
			says: "Check passed, but the hook is no longer waiting (someone acted on it first): "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := startSandbox(t, stagedWorld(t, pauseAt("POST_TEST_TRAFFIC_SHIFT")))
			tt.fault.Service, tt.fault.Times = "ecs", 1
			e.sb.InjectFault(tt.fault)
			url, _ := testListener(t, tt.status)
			runner, logs := newRunner(t)
			req := e.request(e.pushRandomImage(t, "sha-4f2c8e1"))
			req.PauseCheck = pauseCheck(url)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if !tt.failed {
				go func() {
					for !strings.Contains(logs.String(), tt.says) && ctx.Err() == nil {
						time.Sleep(50 * time.Millisecond)
					}
					cancel()
				}()
			}
			results, err := deploy.Run(ctx, e.ecs, req, runner)
			if !tt.failed {
				if !errors.Is(err, context.Canceled) || !strings.Contains(logs.String(), tt.says) {
					t.Fatalf("Run = %v, want it interrupted once the log said %q:\n%s", err, tt.says, logs.String())
				}
				return
			}
			if err == nil || results[0].Outcome != deploy.OutcomeFailed {
				t.Fatalf("Run = %v, %+v; want a failure", err, results[0])
			}
			action := map[string]string{"ContinueServiceDeployment": "continues it", "StopServiceDeployment": "acts"}[tt.fault.Operation]
			for _, want := range []string{tt.says, "it stays paused at POST_TEST_TRAFFIC_SHIFT until someone " + action, "Allow ecs:" + tt.fault.Operation + " on the service deployment for the run's role."} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

// TestCodeDeployWatchReadErrors: a CodeDeploy deployment whose targets are
// not there yet is watched on; one the run cannot read fails the watch,
// saying which read.
func TestCodeDeployWatchReadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		op, code string
		want     string // empty: the deployment succeeds all the same
	}{
		{"ListDeploymentTargets", "DeploymentNotStartedException", ""},
		{"GetDeployment", "InvalidDeploymentIdException", "get CodeDeploy deployment d-"},
		{"ListDeploymentTargets", "InvalidDeploymentIdException", "list the targets of CodeDeploy deployment d-"},
		{"BatchGetDeploymentTargets", "InvalidDeploymentIdException", "read the target of CodeDeploy deployment d-"},
	}
	for _, tt := range tests {
		t.Run(tt.op+" "+tt.code, func(t *testing.T) {
			t.Parallel()
			e := startSandbox(t, codeDeployWorld(t))
			e.sb.InjectFault(sandbox.Fault{Service: "codedeploy", Operation: tt.op, Code: tt.code, Message: "refused on purpose", Times: 1})
			runner, logs := newRunner(t)
			req := e.request(e.pushRandomImage(t, "sha-4f2c8e1"), "checkout-service")
			req.CodeDeploy = codedeploy.NewFromConfig(e.cfg)
			results, err := deploy.Run(context.Background(), e.ecs, req, runner)
			if tt.want == "" {
				if err != nil || results[0].Outcome != deploy.OutcomeSucceeded {
					t.Fatalf("Run = %v, %+v; want the deployment watched to its success\n%s", err, results[0], logs.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "refused on purpose") {
				t.Errorf("Run = %v, want %q and CodeDeploy's message", err, tt.want)
			}
		})
	}
}
