package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// tagDigest is the digest tag points at in the demo world's web-api
// repository, as ECR says; empty when the tag does not exist.
func tagDigest(tb testing.TB, cfg aws.Config, tag string) string {
	tb.Helper()
	out, err := ecr.NewFromConfig(cfg).BatchGetImage(context.Background(), &ecr.BatchGetImageInput{
		RepositoryName: aws.String("web-api"),
		ImageIds:       []ecrtypes.ImageIdentifier{{ImageTag: aws.String(tag)}},
	})
	if err != nil {
		tb.Fatalf("BatchGetImage %s: %v", tag, err)
	}
	if len(out.Images) == 0 {
		return ""
	}
	return aws.ToString(out.Images[0].ImageId.ImageDigest)
}

// TestFailingPlanMovesNoTag: whatever the deploy's plan finds wrong — a
// task-definition file RegisterTaskDefinition would refuse, a service that
// does not exist — is found before a tag moves: "prod", already on another
// image, still points where it did, and the commit's tag was not written.
func TestFailingPlanMovesNoTag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(t *testing.T, rc *runConfig)
		want string
	}{
		{"unknown_key_in_the_task_definition_file", func(t *testing.T, rc *runConfig) {
			t.Helper()
			path := filepath.Join(t.TempDir(), "taskdef.json")
			td := `{"family": "web-api", "networkMode": "awsvpc", "cpu": "256", "memory": "512", "requiresCompatibilities": ["FARGATE"],
				"containerDefinitions": [{"name": "web", "image": "web-api:bootstrap", "essential": true, "memoryReservaton": 128}]}`
			if err := os.WriteFile(path, []byte(td), 0o644); err != nil {
				t.Fatal(err)
			}
			rc.cfg.TaskDefinition = path
		}, "containerDefinitions[0].memoryReservaton"},
		{"missing_service", func(t *testing.T, rc *runConfig) {
			t.Helper()
			rc.cfg.Services = []string{"api-service", "no-such-service"}
		}, `service "no-such-service" not found in cluster "prod-cluster"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sb := sandboxtest.Start(t, func(w *sandbox.World) {
				fastWorld(w)
				// prod is a tag that moves with each release.
				w.Accounts["111122223333"].Repositories["web-api"].ImageTagMutability = "MUTABLE"
			})
			cfg := sandboxtest.WebIdentityConfig(sb.Env(), "arn:aws:iam::111122223333:role/gha-deploy", "plan-test")
			prod, err := sandboxtest.PushRandomImage(context.Background(), sb, cfg, sb.RegistryHost("111122223333")+"/web-api:prod")
			if err != nil {
				t.Fatal(err)
			}
			sha := sb.Env()["GITHUB_SHA"]
			run := runInActions(t, sb, func(rc *runConfig) {
				rc.cfg.Tags = []string{sha, "prod"}
				tt.edit(t, rc)
			})
			if run.err == nil || !strings.Contains(run.err.Error(), tt.want) {
				t.Fatalf("Run = %v, want a failure naming %s\n%s", run.err, tt.want, run.log)
			}
			if got := tagDigest(t, cfg, "prod"); got != prod {
				t.Errorf("tag prod points at %s, want %s where it was: a failing plan moved it", got, prod)
			}
			if got := tagDigest(t, cfg, sha); got != "" {
				t.Errorf("tag %s was written (%s) although the plan failed", sha, got)
			}
			if _, ok := run.outputs[OutputImageDigest]; ok {
				t.Errorf("a push that moved no tag set image-digest: %v", run.outputs)
			}
		})
	}
}
