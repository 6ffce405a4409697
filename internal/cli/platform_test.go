package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// withRuntimePlatform sets the runtimePlatform of the demo world's web-api
// task definition; an empty cpu leaves it without one.
func withRuntimePlatform(tb testing.TB, cpu string) func(w *sandbox.World) {
	tb.Helper()
	return func(w *sandbox.World) {
		fastWorld(w)
		if cpu == "" {
			return
		}
		acct := w.Accounts["111122223333"]
		var td map[string]any
		if err := json.Unmarshal(acct.TaskDefinitions[0], &td); err != nil {
			tb.Fatal(err)
		}
		td["runtimePlatform"] = map[string]string{"cpuArchitecture": cpu, "operatingSystemFamily": "LINUX"}
		raw, err := json.Marshal(td)
		if err != nil {
			tb.Fatal(err)
		}
		acct.TaskDefinitions[0] = raw
	}
}

// TestPlatformCheck pushes OCI layouts from a multi-platform build: an
// index holding the task definition's platform deploys, pinned by the
// index digest; an image without it fails before any tag moves or any
// revision is registered, naming the platforms on both sides.
func TestPlatformCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		runtime   string // the task definition's cpuArchitecture; "" for none
		platforms []string
		fail      []string // what the error names; nil for success
	}{
		{"index_on_arm64", "ARM64", []string{"linux/amd64", "linux/arm64"}, nil},
		{"index_without_runtime_platform", "", []string{"linux/amd64", "linux/arm64"}, nil},
		{"arm64_only_on_x86_64", "", []string{"linux/arm64"}, []string{"linux/arm64", "X86_64 LINUX", "exec format error", "no tag was moved"}},
		{"amd64_only_on_arm64", "ARM64", []string{"linux/amd64"}, []string{"linux/amd64", "ARM64 LINUX", "exec format error"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sb := sandboxtest.Start(t, withRuntimePlatform(t, tc.runtime))
			idx, err := sandboxtest.PlatformIndex(4096, 2, tc.platforms...)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := sandboxtest.WriteLayout(dir, idx); err != nil {
				t.Fatal(err)
			}
			want, _ := idx.Digest()
			if len(tc.platforms) == 1 {
				// One platform: the image itself, not an index of one.
				m, _ := idx.IndexManifest()
				img, _ := idx.Image(m.Manifests[0].Digest)
				dir = t.TempDir()
				if err := sandboxtest.WriteLayout(dir, img); err != nil {
					t.Fatal(err)
				}
				want = m.Manifests[0].Digest
			}
			run := runInActions(t, sb, func(rc *runConfig) {
				rc.cfg.Image = "oci:" + dir
				rc.deps = func(d *Deps) { d.ImageSource = nil }
			})
			cfg := sandboxtest.WebIdentityConfig(sb.Env(), "arn:aws:iam::111122223333:role/gha-deploy", "platform-test")
			sha := sb.Env()["GITHUB_SHA"]
			if tc.fail == nil {
				if run.err != nil {
					t.Fatalf("Run: %v\n%s", run.err, run.log)
				}
				if got := run.outputs[OutputImageDigest]; got != want.String() {
					t.Errorf("image-digest = %s, want %s", got, want)
				}
				td, err := ecs.NewFromConfig(cfg).DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(run.outputs[OutputTaskDefinitionARN])})
				if err != nil {
					t.Fatal(err)
				}
				if got, want := aws.ToString(td.TaskDefinition.ContainerDefinitions[0].Image), run.res.Repository+"@"+want.String(); got != want {
					t.Errorf("the new revision runs %s, want %s", got, want)
				}
				if !strings.Contains(run.log, strings.Join(tc.platforms, ", ")) {
					t.Errorf("the log does not list the platforms pushed:\n%s", run.log)
				}
				return
			}
			if run.err == nil {
				t.Fatalf("Run succeeded, want the platform check to fail:\n%s", run.log)
			}
			for _, s := range tc.fail {
				if !strings.Contains(run.log+run.err.Error(), s) {
					t.Errorf("the run does not say %q:\n%v\n%s", s, run.err, run.log)
				}
			}
			if got := tagDigest(t, cfg, sha); got != "" {
				t.Errorf("tag %s = %s: the platform check failed after a tag moved", sha, got)
			}
			td, err := ecs.NewFromConfig(cfg).DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web-api")})
			if err != nil {
				t.Fatal(err)
			}
			if rev := td.TaskDefinition.Revision; rev != 1 {
				t.Errorf("web-api is at revision %d: a revision was registered for an image that cannot run", rev)
			}
			if len(run.res.Services) != 1 || run.res.Services[0].Outcome != deploy.OutcomeFailed {
				t.Errorf("services = %+v, want api-service failed before it was changed", run.res.Services)
			}
		})
	}
}
