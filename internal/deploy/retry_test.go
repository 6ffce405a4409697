package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/retry"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
)

// TestServerErrorOnAChangeLooksThenRetries: a server error on
// RegisterTaskDefinition or UpdateService may hide a change that happened;
// the deploy looks, finds that it did not, and makes the call again, so the
// run succeeds with one new revision and one deployment.
func TestServerErrorOnAChangeLooksThenRetries(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"RegisterTaskDefinition", "UpdateService"} {
		for _, f := range []sandbox.Fault{
			{Code: "ServerException", Status: 500},
			{Code: "ServiceUnavailable", Status: 503},
		} {
			t.Run(op+"_"+f.Code, func(t *testing.T) {
				t.Parallel()
				e := startSandbox(t, fastWorld(t))
				digest := e.pushRandomImage(t, "sha-4f2c8e1")
				f.Service, f.Operation, f.Times = "ecs", op, 1
				e.sb.InjectFault(f)
				runner, _ := newRunner(t)
				var retries []string
				req := e.request(digest)
				req.Retry = retry.New(retry.Options{Logf: func(format string, args ...any) {
					retries = append(retries, fmt.Sprintf(format, args...))
				}})
				results, err := deploy.Run(context.Background(), e.ecs, req, runner)
				if err != nil {
					t.Fatalf("Run after one %s on %s: %v", f.Code, op, err)
				}
				if r := results[0]; r.Outcome != deploy.OutcomeSucceeded || !strings.HasSuffix(r.TaskDefinitionARN, ":2") {
					t.Errorf("result = %+v, want revision 2 deployed", r)
				}
				if rev := e.latestRevision(t, "web-api"); rev != 2 {
					t.Errorf("latest revision = %d, want 2: one registration", rev)
				}
				if len(retries) != 1 || !strings.Contains(retries[0], f.Code) {
					t.Errorf("retries logged: %q, want one naming %s", retries, f.Code)
				}
			})
		}
	}
}

// TestLostAnswerOfAChangeIsFoundNotRepeated: ECS carries out
// RegisterTaskDefinition or UpdateService and then fails to answer (a server
// error after the commit). The deploy looks, finds the change it made, and
// goes on with it: no second revision, no second deployment.
func TestLostAnswerOfAChangeIsFoundNotRepeated(t *testing.T) {
	t.Parallel()
	const session = "arn:aws:sts::111122223333:assumed-role/gha-deploy/deploy-test"
	tests := []struct {
		name, op, caller string
		force            bool
		// calls is how often op is called, revision the revision deployed.
		calls, revision int
	}{
		{"RegisterTaskDefinition", "RegisterTaskDefinition", session, false, 1, 2},
		{"UpdateService", "UpdateService", session, false, 1, 2},
		// Without the caller known, the revision is recognised by its time
		// and containers alone.
		{"RegisterTaskDefinition by an unknown caller", "RegisterTaskDefinition", "", false, 1, 2},
		// A revision another session registered is not this run's: the
		// run registers its own.
		{"RegisterTaskDefinition seen as another session's", "RegisterTaskDefinition", "arn:aws:sts::111122223333:assumed-role/gha-deploy/someone-else", false, 2, 3},
		// Forcing a new deployment of the same revision, the update shows
		// as a primary deployment other than the one before.
		{"UpdateService forcing a new deployment", "UpdateService", session, true, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := startSandbox(t, fastWorld(t))
			req := e.request(e.pushRandomImage(t, "sha-4f2c8e1"))
			if tt.force {
				req = e.forceRequest([]string{"bootstrap"})
				e.pushRandomImage(t, "bootstrap")
			}
			e.sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: tt.op, AnswerLost: true, Code: "ServerException", Status: 500, Times: 1})
			runner, logs := newRunner(t)
			req.Caller = tt.caller
			results, err := deploy.Run(context.Background(), e.ecs, req, runner)
			if err != nil {
				t.Fatalf("Run after a lost %s answer: %v", tt.op, err)
			}
			wantARN := fmt.Sprintf(":%d", tt.revision)
			if r := results[0]; r.Outcome != deploy.OutcomeSucceeded || !strings.HasSuffix(r.TaskDefinitionARN, wantARN) {
				t.Errorf("result = %+v, want revision %d deployed", r, tt.revision)
			}
			if rev := e.latestRevision(t, "web-api"); int(rev) != tt.revision {
				t.Errorf("latest revision = %d, want %d", rev, tt.revision)
			}
			if got := e.sb.Calls("ecs", tt.op); got != tt.calls {
				t.Errorf("%s was called %d times, want %d: a change this run made is not made again", tt.op, got, tt.calls)
			}
			if want := tt.op + " answered ServerException, but"; (tt.calls == 1) != strings.Contains(logs.String(), want) {
				t.Errorf("log has %q: %v, want %v:\n%s", want, !(tt.calls == 1), tt.calls == 1, logs)
			}
		})
	}
}
