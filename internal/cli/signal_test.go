package cli

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/actiontest"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// stopBound is how soon after SIGTERM the process must have exited: a
// cancelled job's step gets a few seconds before it is killed.
const stopBound = 2 * time.Second

// TestSignalStopsAndSaysWhereItStands runs the built binary, as a job
// runs it, and sends it SIGTERM (how GitHub cancels a job) at different
// points: it must exit within stopBound with the interrupted exit code and
// a report of where each service stands.
func TestSignalStopsAndSaysWhereItStands(t *testing.T) {
	t.Parallel()
	root, err := actiontest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	binary, err := actiontest.BuildBinary(ctx, root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		world func(w *sandbox.World)
		// signalAt is the sandbox request (service and operation) or the
		// log line after which the signal is sent.
		signalAt string
		want     []string
	}{
		{
			name: "mid_push",
			world: func(w *sandbox.World) {
				w.Faults = append(w.Faults, sandbox.Fault{Service: "registry", Operation: "blob-upload", LatencyMillis: 60000})
			},
			signalAt: ": pushing",
			want:     []string{"Interrupted during push image: no service was changed."},
		},
		{
			name: "mid_watch",
			world: func(w *sandbox.World) {
				w.Accounts["111122223333"].Clusters["prod-cluster"].Services["api-service"].RolloutSeconds = 600
			},
			signalAt: "Watching 1 deployment(s)",
			want: []string{
				"Interrupted: where each service stands",
				"api-service: deployment ecs-svc/",
				"was started; ECS reports IN_PROGRESS",
				"ECS goes on with the rollout by itself",
				"aws ecs describe-service-deployments --service-deployment-arns arn:aws:ecs:us-east-1:111122223333:service-deployment/prod-cluster/api-service/",
				"aws ecs describe-services --cluster prod-cluster --services api-service --region us-east-1",
			},
		},
		{
			name: "update_service_applied_answer_lost",
			world: func(w *sandbox.World) {
				w.Faults = append(w.Faults, sandbox.Fault{Service: "ecs", Operation: "UpdateService", AnswerLost: true, BlackHole: true})
			},
			signalAt: "ecs UpdateService",
			want: []string{
				"api-service: UpdateService was sent, but the run was interrupted before ECS answered; ECS applied it: deployment ecs-svc/",
				"ECS goes on with the rollout by itself",
				"aws ecs describe-services --cluster prod-cluster --services api-service --region us-east-1",
			},
		},
		{
			name: "update_service_cut_off",
			world: func(w *sandbox.World) {
				w.Faults = append(w.Faults, sandbox.Fault{Service: "ecs", Operation: "UpdateService", LatencyMillis: 60000})
			},
			signalAt: "ecs UpdateService",
			want: []string{
				"api-service: UpdateService was sent, but the run was interrupted before ECS answered; ECS had not applied it when the run looked",
				"aws ecs describe-services --cluster prod-cluster --services api-service --region us-east-1",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var requests sandboxtest.SyncBuffer
			w := sandbox.DemoWorld()
			fastWorld(w)
			tt.world(w)
			sb := sandboxtest.StartWorld(t, w, sandbox.Options{Logf: func(format string, args ...any) {
				fmt.Fprintf(&requests, format+"\n", args...)
			}})
			var log sandboxtest.SyncBuffer
			cmd := exec.Command(binary, "deploy",
				"--role-to-assume", "arn:aws:iam::111122223333:role/gha-deploy", "--aws-region", "us-east-1",
				"--image", "oci:"+ociImage(t), "--repository", "web-api",
				"--cluster", "prod-cluster", "--service", "api-service")
			cmd.Env = sandboxtest.ProcessEnv(t, sb)
			for k, v := range sb.Env() {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			cmd.Stdout, cmd.Stderr = &log, &log
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() { _ = cmd.Process.Kill() }) // it has exited, as a rule

			reached := func() bool {
				return strings.Contains(log.String(), tt.signalAt) || strings.Contains(requests.String(), tt.signalAt)
			}
			for deadline := time.Now().Add(2 * time.Minute); !reached(); time.Sleep(20 * time.Millisecond) {
				select {
				case err := <-exited:
					t.Fatalf("the run ended (%v) before %q:\n%s", err, tt.signalAt, log.String())
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("the run never reached %q:\n%s", tt.signalAt, log.String())
				}
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			signalled := time.Now()
			var waitErr error
			select {
			case waitErr = <-exited:
			case <-time.After(stopBound):
				t.Fatalf("still running %s after SIGTERM:\n%s", stopBound, log.String())
			}
			t.Logf("exited %s after SIGTERM", time.Since(signalled).Round(time.Millisecond))
			var exit *exec.ExitError
			if !errors.As(waitErr, &exit) || exit.ExitCode() != ExitInterrupted {
				t.Errorf("exit = %v, want exit code %d", waitErr, ExitInterrupted)
			}
			out := log.String()
			for _, want := range append(tt.want, "error: interrupted") {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			assertNoSecrets(t, sb, out)
		})
	}
}

// ociImage writes a random image as an OCI image layout and returns its
// directory.
func ociImage(tb testing.TB) string {
	tb.Helper()
	img, err := random.Image(4096, 3)
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(tb.TempDir(), "image")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		tb.Fatal(err)
	}
	return dir
}
