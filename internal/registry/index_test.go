package registry_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/registry"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/testenv"
)

// twoPlatformIndex is an OCI image index of a linux/amd64 and a
// linux/arm64 image, as docker buildx build --platform
// linux/amd64,linux/arm64 makes one.
func twoPlatformIndex(tb testing.TB) v1.ImageIndex {
	tb.Helper()
	idx, err := sandboxtest.PlatformIndex(300<<10, 2, "linux/amd64", "linux/arm64")
	if err != nil {
		tb.Fatal(err)
	}
	return idx
}

// writeLayout writes idx as buildx's OCI exporter does.
func writeLayout(tb testing.TB, idx v1.ImageIndex) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := sandboxtest.WriteLayout(dir, idx); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// tarDir writes the files of dir into a tar file, as docker save writes a
// multi-platform image of the containerd image store: an OCI layout.
func tarDir(tb testing.TB, dir string) string {
	tb.Helper()
	file := filepath.Join(tb.TempDir(), "image.tar")
	f, err := os.Create(file)
	if err != nil {
		tb.Fatal(err)
	}
	tw := tar.NewWriter(f)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		tb.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return file
}

// frontConfig is a Docker config directory that logs crane in to the
// sandbox's ECR front with a registry password of the deploy role.
func frontConfig(tb testing.TB, sb *sandbox.Sandbox) (dir, password string) {
	tb.Helper()
	password = registryPassword(tb, sb)
	dir = dockerConfigDir(tb, sb.RegistryHost(testAccount), "AWS", password)
	return dir, password
}

func TestPushIndex(t *testing.T) {
	t.Parallel()
	crane := testenv.Command(t, "crane")
	skopeo := testenv.Command(t, "skopeo")
	sb := startSandbox(t, testWorld(t), sandbox.Options{})
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, "")
	idx := twoPlatformIndex(t)
	want, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := idx.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	manifest, _ := idx.IndexManifest()
	layoutDir := writeLayout(t, idx)
	host := sb.RegistryHost(testAccount)

	tests := []struct {
		name, image, repo string
	}{
		{"oci_layout", "oci:" + layoutDir, "app"},
		{"docker_archive", "docker-archive:" + tarDir(t, layoutDir), "frozen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out sandboxtest.SyncBuffer
			var seen []registry.PushedImage
			push := func(tags ...string) *registry.PushResult {
				t.Helper()
				res, err := pushVia(sb, cfg, registry.PushRequest{
					Image: tc.image, Repository: tc.repo, Tags: tags,
					BeforeTags: func(ctx context.Context, img registry.PushedImage) error {
						seen = append(seen, img)
						if got := backendDigest(t, sb, tc.repo, "v1"); len(seen) == 1 && got != "" {
							t.Errorf("tag v1 points at %s before BeforeTags returned", got)
						}
						return nil
					},
				}, &out)
				if err != nil {
					t.Fatalf("Push %s: %v\n%s", tc.image, err, out.String())
				}
				return res
			}
			res := push("v1", "release")
			if res.Digest != want.String() || !res.Index {
				t.Errorf("pushed %s (index %v), want the index %s", res.Digest, res.Index, want)
			}
			platforms := []string{"linux/amd64", "linux/arm64"}
			if diff := cmp.Diff(platforms, res.Platforms); diff != "" {
				t.Errorf("platforms (-want +got):\n%s", diff)
			}
			wantSeen := registry.PushedImage{Repository: host + "/" + tc.repo, Digest: want.String(), Index: true,
				Platforms: []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}}
			if diff := cmp.Diff([]registry.PushedImage{wantSeen}, seen[:1]); diff != "" {
				t.Errorf("BeforeTags saw (-want +got):\n%s", diff)
			}
			for _, line := range []string{"linux/amd64 layer", "linux/arm64 layer", "linux/amd64 manifest", "linux/arm64 manifest", "index " + want.String() + ": linux/amd64, linux/arm64"} {
				if !strings.Contains(out.String(), line) {
					t.Errorf("the log lacks %q:\n%s", line, out.String())
				}
			}
			// The index and both images are in the repository, the tags
			// on the index.
			for _, tag := range []string{"v1", "release"} {
				if got := backendDigest(t, sb, tc.repo, tag); got != want.String() {
					t.Errorf("tag %s = %q, want the index %s", tag, got, want)
				}
			}
			for _, d := range manifest.Manifests {
				ref, _ := name.NewDigest(sb.BackendRepository(testAccount, tc.repo)+"@"+d.Digest.String(), name.Insecure)
				img, err := remote.Image(ref)
				if err != nil {
					t.Fatalf("read the %s image back: %v", d.Platform, err)
				}
				if _, err := img.Layers(); err != nil {
					t.Error(err)
				}
			}
			// Peer tools read the index back through the ECR front, by
			// its ECR host name over TLS, byte for byte.
			dir, password := frontConfig(t, sb)
			peerEnv := sandboxtest.ProcessEnv(t, sb)
			craneCmd := exec.Command(crane, "manifest", host+"/"+tc.repo+":v1")
			craneCmd.Env = slices.Concat(peerEnv, []string{"DOCKER_CONFIG=" + dir})
			got, err := craneCmd.Output()
			if err != nil {
				t.Fatalf("crane manifest: %v", err)
			}
			cmd := exec.Command(skopeo, "inspect", "--raw", "--creds", "AWS:"+password, "docker://"+host+"/"+tc.repo+":release")
			cmd.Env = peerEnv
			viaSkopeo, err := cmd.Output()
			if err != nil {
				t.Fatalf("skopeo inspect --raw: %v", err)
			}
			for tool, b := range map[string][]byte{"crane manifest": got, "skopeo inspect --raw": viaSkopeo} {
				if string(b) != string(raw) {
					t.Errorf("%s read\n%s\nwant the index as pushed\n%s", tool, b, raw)
				}
			}

			// Again: the index is there, nothing is uploaded.
			before := sb.RegistryUploads(testAccount, tc.repo)
			out = sandboxtest.SyncBuffer{}
			again := push("v1", "release")
			if after := sb.RegistryUploads(testAccount, tc.repo); after != before || again.LayersPushed != 0 || again.BytesPushed != 0 {
				t.Errorf("a re-push uploaded %d layers, %d bytes (the registry counted %+v, then %+v); want nothing", again.LayersPushed, again.BytesPushed, before, after)
			}
			for _, line := range []string{"index " + want.String() + " is in " + host + "/" + tc.repo + " already: nothing to upload", "tag v1 already points at " + want.String()} {
				if !strings.Contains(out.String(), line) {
					t.Errorf("the re-push's log lacks %q:\n%s", line, out.String())
				}
			}
			// Under a new tag, the index is found by its digest, and only
			// tagged.
			out = sandboxtest.SyncBuffer{}
			push("v2")
			for _, line := range []string{"index " + want.String() + " is in " + host + "/" + tc.repo + " already: nothing to upload", "tag v2 -> " + want.String()} {
				if !strings.Contains(out.String(), line) {
					t.Errorf("the push under a new tag logs no %q:\n%s", line, out.String())
				}
			}
			if after := sb.RegistryUploads(testAccount, tc.repo); after != before || backendDigest(t, sb, tc.repo, "v2") != want.String() {
				t.Errorf("the push under a new tag uploaded (the registry counted %+v, then %+v) or left v2 at %s", before, after, backendDigest(t, sb, tc.repo, "v2"))
			}
		})
	}
}

// TestPushLayoutOfSeveralImages: an OCI layout whose index.json lists one
// image per platform is pushed as that index; one whose images are not one
// per platform is refused, saying what to export.
func TestPushLayoutOfSeveralImages(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, testWorld(t), sandbox.Options{})
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, "")
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		if err := p.AppendImage(platformImage(t, "linux", arch, 1024, 1), layout.WithPlatform(v1.Platform{OS: "linux", Architecture: arch})); err != nil {
			t.Fatal(err)
		}
	}
	idx, _ := p.ImageIndex()
	want, _ := idx.Digest()
	var out sandboxtest.SyncBuffer
	res, err := pushVia(sb, cfg, registry.PushRequest{Image: "oci:" + dir, Repository: "app", Tags: []string{"layout"}}, &out)
	if err != nil {
		t.Fatalf("Push: %v\n%s", err, out.String())
	}
	if res.Digest != want.String() || !res.Index {
		t.Errorf("pushed %s, want index.json's own index %s", res.Digest, want)
	}

	// A second amd64 image: two builds of one platform.
	if err := p.AppendImage(platformImage(t, "linux", "amd64", 1024, 1), layout.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"})); err != nil {
		t.Fatal(err)
	}
	_, err = pushVia(sb, cfg, registry.PushRequest{Image: "oci:" + dir, Repository: "app", Tags: []string{"layout"}}, &out)
	if err == nil || !strings.Contains(err.Error(), "not one per platform") {
		t.Errorf("Push of a layout of two amd64 images = %v, want a refusal", err)
	}
}

// dockerConfigDir writes a Docker config directory holding a credential
// for host, as docker login writes it.
func dockerConfigDir(tb testing.TB, host, user, password string) string {
	tb.Helper()
	dir := tb.TempDir()
	cfg := map[string]any{"auths": map[string]any{host: map[string]string{"auth": basicOf(user, password)}}}
	data, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return dir
}
