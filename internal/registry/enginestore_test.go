package registry_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/api/types/image"
	godigest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/registry"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// containerdStoreEngine speaks the Docker Engine API (1.51) as an engine
// with the containerd image store does for one multi-platform image: its
// inspection names the index as the image's descriptor and lists the
// platforms' manifests (with which ones the store holds the content of),
// and docker save exports the OCI layout that holds the index. The test
// services' engine (Debian's docker.io, 20.10) has no containerd image
// store, so this stand-in is what the export is tested against.
type containerdStoreEngine struct {
	ref       string
	index     v1.ImageIndex
	layoutTar string
	// missing lists platforms whose content the store lacks.
	missing map[string]bool
}

func (e *containerdStoreEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", "1.51")
	path := r.URL.Path
	if i := strings.Index(path, "/v1."); i == 0 {
		path = path[strings.Index(path[1:], "/")+1:]
	}
	digest, _ := e.index.Digest()
	raw, _ := e.index.RawManifest()
	switch {
	case path == "/_ping":
		_, _ = w.Write([]byte("OK")) // the client gone, the test fails on its side
	case path == "/images/"+e.ref+"/json" || path == "/images/"+digest.String()+"/json":
		res := image.InspectResponse{
			ID:         digest.String(),
			Descriptor: &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: godigest.Digest(digest.String()), Size: int64(len(raw))},
		}
		if r.URL.Query().Get("manifests") == "1" {
			im, _ := e.index.IndexManifest()
			for _, d := range im.Manifests {
				p := *d.Platform
				res.Manifests = append(res.Manifests, image.ManifestSummary{
					ID: d.Digest.String(), Kind: image.ManifestKindImage, Available: !e.missing[p.String()],
					ImageData: &image.ImageProperties{Platform: ocispec.Platform{OS: p.OS, Architecture: p.Architecture}},
				})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	case path == "/images/get" && r.URL.Query().Get("names") == digest.String():
		f, err := os.Open(e.layoutTar)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer func() { _ = f.Close() }() // read only
		w.Header().Set("Content-Type", "application/x-tar")
		_, _ = f.WriteTo(w)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"message":"No such image: ` + path + `"}`))
	}
}

// TestPushFromTheContainerdImageStore: a multi-platform image of the
// engine's containerd image store is exported whole and pushed as its
// index; one whose store lacks a platform's content is refused, saying
// what it holds and what to use instead.
func TestPushFromTheContainerdImageStore(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, testWorld(t), sandbox.Options{})
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, "")
	idx := twoPlatformIndex(t)
	want, _ := idx.Digest()
	layoutTar := tarDir(t, writeLayout(t, idx))

	tests := []struct {
		name    string
		missing map[string]bool
		fail    []string
	}{
		{"every_platform_held", nil, nil},
		{"a_platform_missing", map[string]bool{"linux/arm64": true}, []string{"linux/amd64, linux/arm64", "holds the content of linux/amd64 only", "cannot export the image whole", "oci:", "docker://"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			engine := httptest.NewServer(&containerdStoreEngine{ref: "web:multi", index: idx, layoutTar: layoutTar, missing: tc.missing})
			defer engine.Close()
			env := getenvOf(map[string]string{"DOCKER_HOST": "tcp://" + strings.TrimPrefix(engine.URL, "http://")})
			var out sandboxtest.SyncBuffer
			res, err := pushVia(sb, cfg, registry.PushRequest{Image: "web:multi", Repository: "app", Tags: []string{"store-" + tc.name}, Getenv: env}, &out)
			if tc.fail != nil {
				if err == nil {
					t.Fatalf("Push of an image the store holds in part succeeded:\n%s", out.String())
				}
				for _, s := range tc.fail {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Push: %v\n%s", err, out.String())
			}
			if res.Digest != want.String() || !res.Index || strings.Join(res.Platforms, ",") != "linux/amd64,linux/arm64" {
				t.Errorf("pushed %s (index %v, %v), want the index %s of linux/amd64 and linux/arm64", res.Digest, res.Index, res.Platforms, want)
			}
			if got := backendDigest(t, sb, "app", "store-"+tc.name); got != want.String() {
				t.Errorf("tag = %s, want %s", got, want)
			}
		})
	}
}
