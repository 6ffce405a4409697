package cli

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/httpclient"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// blackHole listens on loopback, accepts every connection and never
// answers; it returns its base URL.
func blackHole(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

// TestStalledEndpointFailsNamingIt puts a black hole in place of each
// endpoint the run talks to: the run fails on its own bounds (never the
// test's deadline), naming the endpoint and the phase.
func TestStalledEndpointFailsNamingIt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   func(hole string) map[string]string
		phase string
		what  string
	}{
		{"token_service", func(h string) map[string]string {
			return map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": h + "/token?api-version=2.0"}
		}, "authenticate", "token service"},
		{"sts", func(h string) map[string]string { return map[string]string{"AWS_ENDPOINT_URL_STS": h} }, "authenticate", "STS AssumeRoleWithWebIdentity"},
		{"ecr_api", func(h string) map[string]string { return map[string]string{"AWS_ENDPOINT_URL_ECR": h} }, "push image", "ECR"},
		// The deploy is planned while the image uploads, and the plan must hold
		// before a tag moves: a stalled ECS stops the push.
		{"ecs", func(h string) map[string]string { return map[string]string{"AWS_ENDPOINT_URL_ECS": h} }, "push image", "ECS DescribeServices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sb := sandboxtest.Start(t, fastWorld)
			hole := blackHole(t)
			stalledEndpointRun(t, sb, hole, tt.env(hole), tt.phase, tt.what)
		})
	}
}

// TestStalledRegistryFailsNamingIt: the ECR registry front accepts every
// request and never answers.
func TestStalledRegistryFailsNamingIt(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, func(w *sandbox.World) {
		fastWorld(w)
		w.Faults = append(w.Faults, sandbox.Fault{Service: "registry", BlackHole: true})
	})
	stalledEndpointRun(t, sb, "http://"+sb.RegistryHost("111122223333"), nil, "push image", "")
}

// stalledEndpointRun runs the flow against sb, with env over its
// environment, where the endpoint hole never answers; the run must fail on
// its own bounds, naming the phase, what stalled and its host.
func stalledEndpointRun(t *testing.T, sb *sandbox.Sandbox, hole string, env map[string]string, phase, what string) {
	t.Helper()
	// The test's deadline is far beyond the run's own bound: five
	// tries of 200 ms each, and their backoff.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := runInActions(t, sb, func(rc *runConfig) {
		rc.env = env
		rc.deps = func(d *Deps) { d.Timeouts = httpclient.Timeouts{ResponseHeader: 200 * time.Millisecond} }
		rc.ctx = ctx
	})
	if ctx.Err() != nil {
		t.Fatalf("the run hung until the test's deadline: %v", run.err)
	}
	if run.err == nil {
		t.Fatalf("Run succeeded with a black hole at %s", hole)
	}
	host := strings.TrimPrefix(hole, "http://")
	msg := run.err.Error()
	if !strings.HasPrefix(msg, phase+": ") || !strings.Contains(msg, host) || !strings.Contains(msg, what) {
		t.Errorf("error = %q, want it to start with %q and name %s at %s", msg, phase+": ", what, host)
	}
	t.Logf("%s", msg)
}

// TestAuthenticatePhaseHasADeadline: however long each request may wait,
// the Authenticate phase as a whole ends at its deadline, and says so.
func TestAuthenticatePhaseHasADeadline(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	hole := blackHole(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := runInActions(t, sb, func(rc *runConfig) {
		rc.env = map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": hole + "/token?api-version=2.0"}
		rc.deps = func(d *Deps) { d.AuthenticateTimeout = 300 * time.Millisecond }
		rc.ctx = ctx
	})
	if ctx.Err() != nil {
		t.Fatalf("the run hung until the test's deadline: %v", run.err)
	}
	if run.err == nil || !strings.HasPrefix(run.err.Error(), "authenticate: no credentials within 300ms, the phase's deadline") {
		t.Errorf("error = %v, want the Authenticate phase's deadline", run.err)
	}
}
