package deploy_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

var _ deploy.Logger = (*ghaction.Runner)(nil)

const (
	account  = "111122223333"
	roleARN  = "arn:aws:iam::111122223333:role/gha-deploy"
	repoName = "web-api"
)

// testEnv is a running sandbox and the clients a deployment uses, with
// credentials obtained as the action obtains them.
type testEnv struct {
	sb      *sandbox.Sandbox
	cfg     aws.Config
	ecs     *ecs.Client
	repoURI string
}

// fastWorld is the demo world with rollouts a test can wait for.
func fastWorld(tb testing.TB) *sandbox.World {
	tb.Helper()
	w := sandbox.DemoWorld()
	w.ECS = &sandbox.ECSSettings{TimeScale: 0.25}
	return w
}

// startSandbox starts a sandbox serving world and returns clients for it.
func startSandbox(tb testing.TB, world *sandbox.World) *testEnv {
	tb.Helper()
	sb := sandboxtest.StartWorld(tb, world, sandbox.Options{})
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), roleARN, "deploy-test")
	return &testEnv{
		sb:      sb,
		cfg:     cfg,
		ecs:     ecs.NewFromConfig(cfg),
		repoURI: sb.RegistryHost(account) + "/" + repoName,
	}
}

// pushRandomImage pushes a random image to the sandbox's ECR front under
// tag and returns its digest.
func (e *testEnv) pushRandomImage(tb testing.TB, tag string) string {
	tb.Helper()
	digest, err := sandboxtest.PushRandomImage(context.Background(), e.sb, e.cfg, e.repoURI+":"+tag)
	if err != nil {
		tb.Fatal(err)
	}
	return digest
}

// newRunner returns the workflow runner printing to a buffer, plain (not in
// Actions mode) so that tests read what a person would.
func newRunner(tb testing.TB) (*ghaction.Runner, *sandboxtest.SyncBuffer) {
	tb.Helper()
	buf := &sandboxtest.SyncBuffer{}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("deployment log:\n%s", buf.String())
		}
	})
	return ghaction.New(buf, func(string) string { return "" }), buf
}
