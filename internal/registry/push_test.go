package registry_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/registry"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/testenv"
)

// backendDigest reads, with go-containerregistry and without the front,
// what a tag of the real registry points at; "" when nothing.
func backendDigest(tb testing.TB, sb *sandbox.Sandbox, repo, tag string) string {
	tb.Helper()
	ref, err := name.ParseReference(sb.BackendRepository(testAccount, repo)+":"+tag, name.Insecure)
	if err != nil {
		tb.Fatal(err)
	}
	desc, err := remote.Head(ref)
	if err != nil {
		if strings.Contains(err.Error(), "MANIFEST_UNKNOWN") || strings.Contains(err.Error(), "404") {
			return ""
		}
		tb.Fatalf("read %s from the registry: %v", ref, err)
	}
	return desc.Digest.String()
}

// skopeoDigest reads a tag's digest with skopeo, straight from the registry.
func skopeoDigest(tb testing.TB, sb *sandbox.Sandbox, repo, tag string) string {
	tb.Helper()
	skopeo := testenv.Command(tb, "skopeo")
	out, err := exec.Command(skopeo, "inspect", "--tls-verify=false", "--raw",
		"docker://"+sb.BackendRepository(testAccount, repo)+":"+tag).Output()
	if err != nil {
		tb.Fatalf("skopeo inspect: %v", err)
	}
	return digestOfBytes(out)
}

func TestPushSources(t *testing.T) {
	t.Parallel()
	dockerHost := testenv.DockerHost(t)
	docker := testenv.Command(t, "docker")
	w := testWorld(t)
	sb := startSandbox(t, w, sandbox.Options{})
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, "")
	sha := w.GitHub.Claims["sha"]

	tests := []struct {
		name   string
		source func(t *testing.T) (image string, wantDigest string)
	}{
		{"docker_engine", func(t *testing.T) (string, string) {
			t.Helper()
			return buildImage(t, dockerHost, 300<<10, 2<<20, 10), ""
		}},
		{"docker_archive", func(t *testing.T) (string, string) {
			t.Helper()
			tag := buildImage(t, dockerHost, 1<<20, 64<<10)
			file := filepath.Join(t.TempDir(), "image.tar")
			runDocker(t, docker, dockerHost, "save", "-o", file, tag)
			return "docker-archive:" + file, ""
		}},
		{"oci_layout", func(t *testing.T) (string, string) {
			t.Helper()
			img := platformImage(t, "linux", "amd64", 512<<10, 3)
			dir := t.TempDir()
			p, err := layout.Write(dir, empty.Index)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.AppendImage(img, layout.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"})); err != nil {
				t.Fatal(err)
			}
			d, _ := img.Digest()
			return "oci:" + dir, d.String()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			image, wantDigest := tc.source(t)
			repo := "app"
			tags := []string{sha[:12] + "-" + tc.name, tc.name + "-latest"}
			var out sandboxtest.SyncBuffer
			var masked, repositories []string
			var uploadedBeforeRepository bool
			res, err := pushVia(sb, cfg, registry.PushRequest{
				Image:      image,
				Repository: repo,
				Tags:       tags,
				Getenv:     getenvOf(map[string]string{"DOCKER_HOST": dockerHost}),
				Mask:       func(s string) { masked = append(masked, s) },
				OnRepository: func(uri string) {
					repositories = append(repositories, uri)
					uploadedBeforeRepository = strings.Contains(out.String(), ": pushing")
				},
			}, &out)
			if err != nil {
				t.Fatalf("Push: %v\n%s", err, out.String())
			}
			t.Logf("push output:\n%s", out.String())
			if wantDigest != "" && res.Digest != wantDigest {
				t.Errorf("Digest = %s, want the layout's %s", res.Digest, wantDigest)
			}
			host := sb.RegistryHost(testAccount)
			want := &registry.PushResult{
				Repository:    host + "/" + repo,
				ImageURI:      host + "/" + repo + ":" + tags[0],
				Digest:        res.Digest,
				Image:         host + "/" + repo + "@" + res.Digest,
				Tags:          tags,
				Platforms:     []string{"linux/amd64"},
				LayersPushed:  res.LayersPushed,
				LayersSkipped: 0,
				BytesPushed:   res.BytesPushed,
				Layers:        res.Layers,
			}
			if len(res.Layers) != res.LayersPushed+res.LayersSkipped {
				t.Errorf("%d layer timings for %d layers", len(res.Layers), res.LayersPushed+res.LayersSkipped)
			}
			for _, l := range res.Layers {
				if !l.Uploaded || l.End.Before(l.Start) || l.Size <= 0 || !strings.HasPrefix(l.Digest, "sha256:") {
					t.Errorf("layer timing %+v, want an upload with its times", l)
				}
			}
			if diff := cmp.Diff(want, res); diff != "" {
				t.Errorf("PushResult (-want +got):\n%s", diff)
			}
			if res.LayersPushed == 0 || res.BytesPushed == 0 {
				t.Errorf("pushed %d layers, %d bytes; want some", res.LayersPushed, res.BytesPushed)
			}
			for _, tag := range tags {
				if got := backendDigest(t, sb, repo, tag); got != res.Digest {
					t.Errorf("registry tag %s = %q, want %s", tag, got, res.Digest)
				}
			}
			if got := skopeoDigest(t, sb, repo, tags[0]); got != res.Digest {
				t.Errorf("skopeo reads %s, want %s", got, res.Digest)
			}
			// The pushed image reads back whole: every blob is there.
			ref, _ := name.ParseReference(sb.BackendRepository(testAccount, repo)+"@"+res.Digest, name.Insecure)
			img, err := remote.Image(ref)
			if err != nil {
				t.Fatalf("read back: %v", err)
			}
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range layers {
				rc, err := l.Uncompressed()
				if err != nil {
					t.Fatalf("read back a layer: %v", err)
				}
				rc.Close()
			}
			// The password and its Basic authorization form, which is
			// also the token ECR returned, are masked.
			if len(masked) == 0 || !contains(sb.Secrets(), masked[0]) {
				t.Fatalf("Mask was called with %d values, the first not the registry password", len(masked))
			}
			if diff := cmp.Diff([]string{masked[0], basicAuth(masked[0])}, masked); diff != "" {
				t.Errorf("masked values (-want +got):\n%s", diff)
			}
			// The deploy starts reading the services once the repository is
			// known, before any layer uploads.
			if want := []string{host + "/" + repo}; !slices.Equal(repositories, want) || uploadedBeforeRepository {
				t.Errorf("OnRepository calls %q (after an upload: %v), want %q before any upload", repositories, uploadedBeforeRepository, want)
			}
			// One line as each layer starts and one as it ends.
			starts, ends := strings.Count(out.String(), ": pushing\n"), strings.Count(out.String(), ": pushed in ")
			if starts != res.LayersPushed || ends != res.LayersPushed {
				t.Errorf("progress has %d start and %d end lines for %d layers pushed:\n%s", starts, ends, res.LayersPushed, out.String())
			}
			assertNoSecrets(t, sb, out.String())
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestPushImmutableRepository(t *testing.T) {
	t.Parallel()
	dockerHost := testenv.DockerHost(t)
	backend, counter := countingBackend(t)
	sb := startSandbox(t, testWorld(t), sandbox.Options{RegistryBackend: backend})
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, "")
	env := getenvOf(map[string]string{"DOCKER_HOST": dockerHost})
	first := buildImage(t, dockerHost, 1<<20, 200<<10)

	push := func(image string) (*registry.PushResult, string, error) {
		var out sandboxtest.SyncBuffer
		res, err := pushVia(sb, cfg, registry.PushRequest{
			Image: image, Repository: "frozen", Tags: []string{"v1"}, Getenv: env,
		}, &out)
		return res, out.String(), err
	}
	res1, out, err := push(first)
	if err != nil {
		t.Fatalf("first push: %v\n%s", err, out)
	}
	res2, out, err := push(first)
	if err != nil {
		t.Fatalf("re-push of the same image to an immutable repository: %v\n%s", err, out)
	}
	if res2.Digest != res1.Digest || res2.LayersPushed != 0 || res2.BytesPushed != 0 {
		t.Errorf("re-push: digest %s (want %s), %d layers and %d bytes pushed (want none)", res2.Digest, res1.Digest, res2.LayersPushed, res2.BytesPushed)
	}

	// A new image on the tag is refused before anything is uploaded: the
	// registry behind the front sees no upload and no request body.
	second := buildImage(t, dockerHost, 300<<10)
	counter.reset()
	_, out, err = push(second)
	if err == nil {
		t.Fatalf("a new image on an existing immutable tag was accepted:\n%s", out)
	}
	for _, want := range []string{"v1", "frozen", "immutable"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if requests, uploads, body := counter.counts(); uploads != 0 || body != 0 {
		t.Errorf("the refused push sent %d requests to the registry, %d of them uploads, %d bytes of bodies; want no upload and no bytes", requests, uploads, body)
	}
	if got := backendDigest(t, sb, "frozen", "v1"); got != res1.Digest {
		t.Errorf("tag v1 = %s after the refused push, want still %s", got, res1.Digest)
	}
	assertNoSecrets(t, sb, out+err.Error())
}

func TestPushFaults(t *testing.T) {
	t.Parallel()
	dockerHost := testenv.DockerHost(t)
	tests := []struct {
		name   string
		faults []sandbox.Fault
	}{
		{"5xx_mid_upload", []sandbox.Fault{{Service: "registry", Operation: "blob-upload", Status: 503, Code: "UNAVAILABLE", Times: 1}}},
		{"500_on_commit", []sandbox.Fault{{Service: "registry", Operation: "blob-upload", Status: 500, Times: 2}}},
		{"persistent_503_fails", []sandbox.Fault{{Service: "registry", Operation: "blob-upload", Status: 503, Code: "UNAVAILABLE"}}},
		// The first look at the registry fails: it is looked at afresh.
		{"ping_503", []sandbox.Fault{{Service: "registry", Operation: "ping", Status: 503, Code: "UNAVAILABLE", Times: 1}}},
		{"429", []sandbox.Fault{
			{Service: "registry", Operation: "blob-head", Code: "TOOMANYREQUESTS", Times: 2},
			{Service: "registry", Operation: "manifest-put", Code: "TOOMANYREQUESTS", Times: 1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sb := startSandbox(t, testWorld(t), sandbox.Options{})
			for _, f := range tc.faults {
				sb.InjectFault(f)
			}
			image := buildImage(t, dockerHost, 2<<20, 100<<10)
			var out sandboxtest.SyncBuffer
			res, err := pushVia(sb, sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, ""), registry.PushRequest{
				Image: image, Repository: "app", Tags: []string{"t1"},
				Getenv: getenvOf(map[string]string{"DOCKER_HOST": dockerHost}),
			}, &out)
			if tc.name == "persistent_503_fails" {
				// The retries are bounded: a registry that keeps failing
				// fails the push, saying where.
				if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "upload ") {
					t.Fatalf("Push against a registry that always fails = %v, want the 503 named", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Push with faults: %v\n%s", err, out.String())
			}
			// Each retry is logged with its reason, so a pause in the log
			// has one next to it.
			if !strings.Contains(out.String(), "retrying in") {
				t.Errorf("the push's output does not show its retries:\n%s", out.String())
			}
			if got := backendDigest(t, sb, "app", "t1"); got != res.Digest {
				t.Errorf("registry tag t1 = %q, want %s", got, res.Digest)
			}
		})
	}
}

func TestPushErrors(t *testing.T) {
	t.Parallel()
	dockerHost := testenv.DockerHost(t)
	sb := startSandbox(t, testWorld(t), sandbox.Options{})
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, "")
	image := buildImage(t, dockerHost, 10<<10)
	tests := []struct {
		name string
		req  registry.PushRequest
		want []string
	}{
		{"missing_repository", registry.PushRequest{Image: image, Repository: "nope"},
			[]string{`"nope"`, "does not exist", testAccount}},
		{"missing_repository_by_uri", registry.PushRequest{Image: image, Repository: sb.RegistryHost(testAccount) + "/nope"},
			[]string{"nope", "does not exist", sb.RegistryHost(testAccount)}},
		{"missing_local_image", registry.PushRequest{Image: "no-such-image:v9", Repository: "app"},
			[]string{`"no-such-image:v9"`, "not in the Docker engine", dockerHost}},
		{"missing_oci_layout", registry.PushRequest{Image: "oci:/nonexistent/layout", Repository: "app"},
			[]string{"/nonexistent/layout", "OCI image layout"}},
		{"missing_archive", registry.PushRequest{Image: "docker-archive:/nonexistent.tar", Repository: "app"},
			[]string{"/nonexistent.tar"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out sandboxtest.SyncBuffer
			tc.req.Tags = []string{"t1"}
			tc.req.Getenv = getenvOf(map[string]string{"DOCKER_HOST": dockerHost})
			_, err := pushVia(sb, cfg, tc.req, &out)
			if err == nil {
				t.Fatalf("Push succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			assertNoSecrets(t, sb, out.String()+err.Error())
		})
	}
}

// TestPushExpiredPassword lets the registry password expire while the push
// waits for the registry: the front refuses it as ECR does, and the error
// says so.
func TestPushExpiredPassword(t *testing.T) {
	t.Parallel()
	dockerHost := testenv.DockerHost(t)
	var clock sandboxtest.Clock
	sb := startSandbox(t, testWorld(t), sandbox.Options{Now: clock.Now})
	// The first registry request waits; meanwhile 13 hours pass: once ECR
	// has issued the password (not before, or the web identity token and
	// the password would be issued already expired, or fresh).
	sb.InjectFault(sandbox.Fault{Service: "registry", Operation: "manifest-get", LatencyMillis: 3000, Times: 1})
	image := buildImage(t, dockerHost, 10<<10)
	go func() {
		for give := time.Now().Add(time.Minute); sb.Calls("ecr", "GetAuthorizationToken") == 0 && time.Now().Before(give); {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond) // the answer is on its way
		clock.Advance(13 * time.Hour)
	}()
	var out sandboxtest.SyncBuffer
	_, err := pushVia(sb, sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, ""), registry.PushRequest{
		Image: image, Repository: "app", Tags: []string{"t1"},
		Getenv: getenvOf(map[string]string{"DOCKER_HOST": dockerHost}),
	}, &out)
	if err == nil {
		t.Fatal("Push succeeded with an expired registry password")
	}
	for _, w := range []string{"expired", sb.RegistryHost(testAccount)} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	assertNoSecrets(t, sb, out.String()+err.Error())
}

func digestOfBytes(b []byte) string {
	h, _, _ := v1.SHA256(bytes.NewReader(b))
	return h.String()
}

// TestPushOnlyToTheLoginRegistry names a repository on a registry other
// than the one the role's ECR login is for: the push is refused before any
// request, so the password never reaches that registry.
func TestPushOnlyToTheLoginRegistry(t *testing.T) {
	t.Parallel()
	dockerHost := testenv.DockerHost(t)
	sb := startSandbox(t, testWorld(t), sandbox.Options{})
	var (
		mu       sync.Mutex
		requests int
		auths    int
	)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		if r.Header.Get("Authorization") != "" {
			auths++
		}
		mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer other.Close()
	otherHost := strings.TrimPrefix(other.URL, "http://")
	var out sandboxtest.SyncBuffer
	_, err := pushVia(sb, sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, ""), registry.PushRequest{
		Image: buildImage(t, dockerHost, 10<<10), Repository: otherHost + "/app", Tags: []string{"t1"},
		Getenv: getenvOf(map[string]string{"DOCKER_HOST": dockerHost}),
	}, &out)
	if err == nil {
		t.Fatalf("Push to %s succeeded, want it refused\n%s", otherHost, out.String())
	}
	for _, want := range []string{otherHost + "/app", sb.RegistryHost(testAccount), "ECR password"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if requests != 0 || auths != 0 {
		t.Errorf("the other registry got %d requests, %d with an Authorization header; want none", requests, auths)
	}
	assertNoSecrets(t, sb, out.String()+err.Error())
}

// TestPushStall: a registry that accepts an upload and then says nothing
// fails the push once nothing has moved for StallTimeout, naming the
// registry; without the watchdog the push would wait out the silence and
// succeed.
func TestPushStall(t *testing.T) {
	t.Parallel()
	dockerHost := testenv.DockerHost(t)
	sb := startSandbox(t, testWorld(t), sandbox.Options{})
	sb.InjectFault(sandbox.Fault{Service: "registry", Operation: "blob-upload", LatencyMillis: 20_000, Times: 1})
	var out sandboxtest.SyncBuffer
	_, err := pushVia(sb, sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, ""), registry.PushRequest{
		Image: buildImage(t, dockerHost, 64<<10), Repository: "app", Tags: []string{"t1"},
		Getenv:       getenvOf(map[string]string{"DOCKER_HOST": dockerHost}),
		StallTimeout: 500 * time.Millisecond,
	}, &out)
	if err == nil {
		t.Fatalf("Push through a silent registry succeeded\n%s", out.String())
	}
	for _, want := range []string{"no progress for 500ms", sb.RegistryHost(testAccount)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestPushWithoutOptionalPermissions pushes with a role that has only the
// permissions a push requires: without ecr:DescribeRepositories the
// repository named alone is taken to be in the login's registry, and
// without ecr:BatchGetImage the tags are written without being read; each
// is said once, and the push succeeds.
func TestPushWithoutOptionalPermissions(t *testing.T) {
	t.Parallel()
	dockerHost := testenv.DockerHost(t)
	const repoARN = "arn:aws:ecr:us-east-1:111122223333:repository/app"
	required := []sandbox.Statement{
		{Effect: "Allow", Action: sandbox.StringList{"ecr:GetAuthorizationToken"}, Resource: sandbox.StringList{"*"}},
		{Effect: "Allow", Action: sandbox.StringList{"ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
			"ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"}, Resource: sandbox.StringList{repoARN}},
	}
	optional := sandbox.Statement{Effect: "Allow", Action: sandbox.StringList{"ecr:DescribeRepositories", "ecr:BatchGetImage"}, Resource: sandbox.StringList{repoARN}}
	tests := []struct {
		name       string
		statements []sandbox.Statement
		warnings   []string
	}{
		{"required_only", required, []string{"ecr:DescribeRepositories", "ecr:BatchGetImage"}},
		{"with_optional", append(slices.Clone(required), optional), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := testWorld(t)
			w.Accounts[testAccount].Roles["gha-deploy"].Permissions.Statement = tc.statements
			sb := startSandbox(t, w, sandbox.Options{})
			var (
				out      sandboxtest.SyncBuffer
				mu       sync.Mutex
				warnings []string
			)
			res, err := pushVia(sb, sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, ""), registry.PushRequest{
				Image: buildImage(t, dockerHost, 64<<10), Repository: "app", Tags: []string{"t1"},
				Getenv: getenvOf(map[string]string{"DOCKER_HOST": dockerHost}),
				Noticef: func(format string, args ...any) {
					mu.Lock()
					defer mu.Unlock()
					warnings = append(warnings, fmt.Sprintf(format, args...))
				},
			}, &out)
			if err != nil {
				t.Fatalf("Push: %v\n%s", err, out.String())
			}
			if got := backendDigest(t, sb, "app", "t1"); got != res.Digest {
				t.Errorf("registry tag t1 = %q, want %s", got, res.Digest)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(warnings) != len(tc.warnings) {
				t.Fatalf("warnings %q, want one naming each of %q", warnings, tc.warnings)
			}
			for _, want := range tc.warnings {
				if !strings.Contains(strings.Join(warnings, "\n"), want) {
					t.Errorf("no warning names %s: %q", want, warnings)
				}
			}
			// Each names the resource ECR's denial names: the repository's
			// ARN, the policy's own word for it.
			for _, w := range warnings {
				if !strings.Contains(w, repoARN) {
					t.Errorf("warning %q does not name %s", w, repoARN)
				}
			}
		})
	}
}

// manifestPuts counts the manifest PUTs a push sends (the tag writes),
// and passes every request on to inner.
type manifestPuts struct {
	inner http.RoundTripper
	mu    sync.Mutex
	n     int
}

func (m *manifestPuts) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
		m.mu.Lock()
		m.n++
		m.mu.Unlock()
	}
	return m.inner.RoundTrip(r)
}

func (m *manifestPuts) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

// TestPushRefusesAnImmutableTagItWouldMove: in an immutable repository
// where one tag is on the image and another on another manifest of the very
// image (same config, another manifest digest, as another tool writes it),
// pushing the image to both is refused by the push itself, naming that
// manifest, before any tag is written; the registry's TAG_INVALID is not
// what says so.
func TestPushRefusesAnImmutableTagItWouldMove(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.StartWorld(t, testWorld(t), sandbox.Options{})
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, "")
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	// The same image under another manifest: its media type changed, its
	// config and layers the same.
	other := mutate.MediaType(img, types.OCIManifestSchema1)
	otherDigest, _ := other.Digest()
	if d, _ := img.Digest(); d == otherDigest {
		t.Fatal("the two manifests have one digest")
	}
	out, err := ecr.NewFromConfig(cfg).GetAuthorizationToken(context.Background(), &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
	user, pass, _ := strings.Cut(string(raw), ":")
	// Tag a is on the image, tag b on its other manifest.
	for tag, image := range map[string]v1.Image{"a": img, "b": other} {
		ref, _ := name.ParseReference(sb.RegistryHost(testAccount) + "/frozen:" + tag)
		if err := remote.Write(ref, image, remote.WithAuth(&authn.Basic{Username: user, Password: pass}), remote.WithTransport(sb.Transport(nil))); err != nil {
			t.Fatalf("write tag %s with go-containerregistry: %v", tag, err)
		}
	}

	puts := &manifestPuts{inner: sb.Transport(nil)}
	var log sandboxtest.SyncBuffer
	_, err = pushVia(sb, cfg, registry.PushRequest{
		Source: img, Repository: "frozen", Tags: []string{"a", "b"}, HTTPClient: &http.Client{Transport: puts},
	}, &log)
	want := fmt.Sprintf("tag b already exists in the immutable repository %s/frozen on another image (%s) and cannot be overwritten", sb.RegistryHost(testAccount), otherDigest)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Push = %v, want the push's own refusal %q\n%s", err, want, log.String())
	}
	if n := puts.count(); n != 0 {
		t.Errorf("the refused push sent %d manifest PUTs; want it to write no tag", n)
	}
	if got := backendDigest(t, sb, "frozen", "b"); got != otherDigest.String() {
		t.Errorf("tag b = %s after the refused push, want still %s", got, otherDigest)
	}
}

// TestPushSkipsLayersTheRegistryHas pushes an image, then one built on it:
// the second push finds the first image's layers in the registry (they
// compress to the same digests) and uploads only its own.
func TestPushSkipsLayersTheRegistryHas(t *testing.T) {
	t.Parallel()
	dockerHost := testenv.DockerHost(t)
	sb := startSandbox(t, testWorld(t), sandbox.Options{})
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, "")
	base := buildImage(t, dockerHost, 1<<20, 300<<10)
	derived := buildImageFrom(t, dockerHost, base, 200<<10)
	push := func(image, tag string) (*registry.PushResult, string) {
		t.Helper()
		var out sandboxtest.SyncBuffer
		res, err := pushVia(sb, cfg, registry.PushRequest{
			Image: image, Repository: "app", Tags: []string{tag},
			Getenv: getenvOf(map[string]string{"DOCKER_HOST": dockerHost}),
		}, &out)
		if err != nil {
			t.Fatalf("push %s: %v\n%s", image, err, out.String())
		}
		return res, out.String()
	}
	first, _ := push(base, "base")
	second, out := push(derived, "derived")
	if second.LayersSkipped != first.LayersPushed || second.LayersPushed != 1 {
		t.Errorf("second push: %d layers pushed, %d skipped; want 1 pushed and the base's %d skipped\n%s",
			second.LayersPushed, second.LayersSkipped, first.LayersPushed, out)
	}
	if got := strings.Count(out, ": already in the registry"); got != first.LayersPushed {
		t.Errorf("progress says %d layers were already there, want %d:\n%s", got, first.LayersPushed, out)
	}
	if got := backendDigest(t, sb, "app", "derived"); got != second.Digest {
		t.Errorf("registry tag derived = %q, want %s", got, second.Digest)
	}
}

// TestLoginFailureNamesTheRegistry: a GetAuthorizationToken that fails
// says for which registry: the one the repository URI names, or the role's.
func TestLoginFailureNamesTheRegistry(t *testing.T) {
	t.Parallel()
	dockerHost := testenv.DockerHost(t)
	image := buildImage(t, dockerHost, 10<<10)
	for _, byURI := range []bool{false, true} {
		sb := startSandbox(t, testWorld(t), sandbox.Options{})
		sb.InjectFault(sandbox.Fault{Service: "ecr", Operation: "GetAuthorizationToken", Code: "InvalidParameterException", Message: "refused on purpose", Times: 1})
		repository, want := "app", "log in to ECR (GetAuthorizationToken) for the role's registry: "
		if byURI {
			repository, want = sb.RegistryHost(testAccount)+"/app", "log in to ECR (GetAuthorizationToken) for "+sb.RegistryHost(testAccount)+": "
		}
		var out sandboxtest.SyncBuffer
		_, err := pushVia(sb, sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, ""), registry.PushRequest{
			Image: image, Repository: repository, Tags: []string{"t1"}, Getenv: getenvOf(map[string]string{"DOCKER_HOST": dockerHost}),
		}, &out)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "refused on purpose") {
			t.Errorf("Push to %s with the login refused = %v, want %q and ECR's message", repository, err, want)
		}
	}
}

// TestPushFromAnEngineNobodyRuns: an engine that cannot be reached is
// named with how to reach one, not taken for a missing image.
func TestPushFromAnEngineNobodyRuns(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, testWorld(t), sandbox.Options{})
	socket := "unix://" + filepath.Join(t.TempDir(), "docker.sock")
	var out sandboxtest.SyncBuffer
	_, err := pushVia(sb, sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, ""), registry.PushRequest{
		Image: "web:v1", Repository: "app", Tags: []string{"t1"}, Getenv: getenvOf(map[string]string{"DOCKER_HOST": socket}),
	}, &out)
	want := `reach the Docker engine at ` + socket + ` to find image "web:v1" (set DOCKER_HOST, or mount /var/run/docker.sock): `
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Push from an engine nobody runs = %v, want %q", err, want)
	}
}
