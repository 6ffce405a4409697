package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
)

// keepRevisionsWorld has another service on the family's first revision.
func keepRevisionsWorld(tb testing.TB) *sandbox.World {
	tb.Helper()
	w := fastWorld(tb)
	w.Accounts[account].Clusters[cluster].Services["admin-service"] = &sandbox.ServiceSpec{TaskDefinition: "web-api:1", DesiredCount: 1, LaunchType: "FARGATE"}
	return w
}

// deployKeeping deploys a new image to api-service keeping keep revisions,
// and returns what housekeeping did and the log.
func (e *testEnv) deployKeeping(tb testing.TB, keep int) (*deploy.Housekeeping, string) {
	tb.Helper()
	runner, logs := newRunner(tb)
	// The repository's tags are immutable: each deploy pushes its own.
	req := e.request(e.pushRandomImage(tb, fmt.Sprintf("keep-%d", e.latestRevision(tb, "web-api"))))
	req.KeepRevisions = keep
	plan, err := deploy.Prepare(context.Background(), e.ecs, req, runner)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := plan.Deploy(context.Background(), req.Image); err != nil {
		tb.Fatalf("Deploy: %v\n%s", err, logs.String())
	}
	return plan.Housekeeping(), logs.String()
}

// TestKeepRevisionsKeepsWhatRunsAndWhatARollbackNeeds: keeping one
// revision, the run deregisters the older ones except the one another
// service runs and the one its own service ran before.
func TestKeepRevisionsKeepsWhatRunsAndWhatARollbackNeeds(t *testing.T) {
	t.Parallel()
	e := startSandbox(t, keepRevisionsWorld(t))
	const arn = "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:"
	// Keeping 1 of 2, the older runs on two services: nothing goes.
	h, log := e.deployKeeping(t, 1)
	if len(h.Deregistered) != 0 || strings.Contains(log, "keep-revisions: deregistered") || h.KeptInUse[arn+"1"] == "" {
		t.Errorf("keeping 1 of 2, the other in use: deregistered %v, kept %v\n%s", h.Deregistered, h.KeptInUse, log)
	}
	e.deployKeeping(t, 3)
	h, log = e.deployKeeping(t, 1)
	if diff := cmp.Diff([]string{arn + "2"}, h.Deregistered); diff != "" || h.Err != nil {
		t.Errorf("deregistered (-want +got):\n%s\nerror: %v", diff, h.Err)
	}
	want := map[string]string{
		arn + "3": "service api-service ran it before this deploy, and a rollback returns to it",
		arn + "1": "service admin-service runs it (its task definition)",
	}
	if diff := cmp.Diff(want, h.KeptInUse); diff != "" {
		t.Errorf("kept in use (-want +got):\n%s", diff)
	}
	for _, line := range []string{
		"keep-revisions: deregistered 1 revision(s) of web-api: web-api:2; kept the newest 1",
		"keep-revisions: kept " + arn + "1: service admin-service runs it",
	} {
		if !strings.Contains(log, line) {
			t.Errorf("log lacks %q:\n%s", line, log)
		}
	}
	if h, log := e.deployKeeping(t, 4); len(h.Deregistered) != 0 || !strings.Contains(log, "keep-revisions: web-api has 4 ACTIVE revisions, no more than 4: none deregistered") {
		t.Errorf("keeping 4 of 4: deregistered %v\n%s", h.Deregistered, log)
	}
}

// TestKeepRevisionsStopsShortSafely: when what might run an old revision
// cannot all be read, or a call fails, keep-revisions deregisters nothing
// more and says why; the deploy itself succeeded.
func TestKeepRevisionsStopsShortSafely(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		op   string
		want string
	}{
		{"the cluster's services cannot be listed", "ListServices", "keep-revisions: nothing was deregistered, because the services of cluster prod-cluster that might run an old revision could not all be read: list services: "},
		{"the revisions cannot be listed", "ListTaskDefinitions", "keep-revisions: list the revisions of web-api: "},
		{"a deregistration fails", "DeregisterTaskDefinition", "keep-revisions: deregister arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:3: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := startSandbox(t, keepRevisionsWorld(t))
			e.deployKeeping(t, 0)
			e.deployKeeping(t, 0)
			e.deployKeeping(t, 0)
			// Only housekeeping makes these calls.
			e.sb.InjectFault(sandbox.Fault{Service: "ecs", Operation: tt.op, Code: "InvalidParameterException", Message: "refused on purpose", Times: 1})
			h, log := e.deployKeeping(t, 1)
			if h == nil || h.Err == nil || len(h.Deregistered) != 0 {
				t.Errorf("housekeeping %+v, want it stopped short, nothing deregistered", h)
			}
			if !strings.Contains(log, tt.want) || !strings.Contains(log, "refused on purpose") {
				t.Errorf("log lacks %q and ECS's message:\n%s", tt.want, log)
			}
		})
	}
}
