package registry_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/registry"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/testenv"
)

// otherAccount is an account the demo world does not have: its registry
// holds the repository "shared", which the deploy role may read.
const otherAccount = "210987654321"

// sourceWorld is testWorld with more repositories to copy between, and a
// second account whose repository "shared" the deploy role may read.
func sourceWorld(tb testing.TB, blobMounting bool) *sandbox.World {
	tb.Helper()
	w := testWorld(tb)
	acct := w.Accounts[testAccount]
	for _, repo := range []string{"builds", "copies", "promoted"} {
		acct.Repositories[repo] = &sandbox.Repository{}
	}
	if blobMounting {
		acct.ECRAccountSettings = sandbox.ECRAccountSettings{"BLOB_MOUNTING": "ENABLED"}
	}
	// The role may read shared, and not private.
	w.Accounts[otherAccount] = &sandbox.Account{Repositories: map[string]*sandbox.Repository{"shared": {}, "private": {}}}
	role := acct.Roles["gha-deploy"]
	role.Permissions.Statement = append(role.Permissions.Statement, sandbox.Statement{
		Effect:   "Allow",
		Action:   sandbox.StringList{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"},
		Resource: sandbox.StringList{"arn:aws:ecr:us-east-1:" + otherAccount + ":repository/shared"},
	})
	return w
}

// seed pushes an image or an index to account's repository through its
// ECR front, with the deploy role's password for that registry, and
// returns its digest.
func seed(tb testing.TB, sb *sandbox.Sandbox, account, ref string, t remote.Taggable) string {
	tb.Helper()
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, "")
	digest, err := sandboxtest.Push(context.Background(), sb, cfg, sb.RegistryHost(account)+"/"+ref, t, account)
	if err != nil {
		tb.Fatalf("seed %s: %v", ref, err)
	}
	return digest
}

func digestOf(tb testing.TB, t remote.Taggable) string {
	tb.Helper()
	d, err := t.(interface{ Digest() (v1.Hash, error) }).Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return d.String()
}

// pushFrom pushes a docker:// source and returns the result and the log.
func pushFrom(tb testing.TB, sb *sandbox.Sandbox, image, repo string, tags []string, edit func(*registry.PushRequest)) (*registry.PushResult, string, error) {
	tb.Helper()
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, "")
	var out sandboxtest.SyncBuffer
	req := registry.PushRequest{Image: image, Repository: repo, Tags: tags, Getenv: getenvOf(map[string]string{})}
	if edit != nil {
		edit(&req)
	}
	res, err := pushVia(sb, cfg, req, &out)
	return res, out.String(), err
}

// TestPushFromTheTargetRepository: an image already in the repository is
// tagged where it is: no blob is uploaded, the tags point at its digest,
// an IMMUTABLE tag already on it is fine.
func TestPushFromTheTargetRepository(t *testing.T) { //nolint:tparallel // the cases share repositories and count their uploads
	t.Parallel()
	sb := startSandbox(t, sourceWorld(t, false), sandbox.Options{})
	host := sb.RegistryHost(testAccount)
	idx := twoPlatformIndex(t)
	digest := seed(t, sb, testAccount, "app:build-7", idx)
	frozen := seed(t, sb, testAccount, "frozen:v1", platformImage(t, "linux", "amd64", 4096, 2))

	tests := []struct {
		name, image, repo string
		tags              []string
		digest            string
		platforms         []string
	}{
		{"by_tag", "docker://" + host + "/app:build-7", "app", []string{"abc123", "prod"}, digest, []string{"linux/amd64", "linux/arm64"}},
		{"by_digest", "docker://" + host + "/app@" + digest, "app", []string{"def456"}, digest, []string{"linux/amd64", "linux/arm64"}},
		{"immutable_tag_already_on_it", "docker://" + host + "/frozen:v1", "frozen", []string{"v1", "v2"}, frozen, []string{"linux/amd64"}},
		// v2 is on it already, which the IMMUTABLE repository says by
		// refusing the tag.
		{"repository_named_by_uri", "docker://" + host + "/frozen:v1", host + "/frozen", []string{"v1", "v2", "v3"}, frozen, []string{"linux/amd64"}},
	}
	for _, tc := range tests {
		// In order: each case counts the uploads to a repository another
		// case pushes to as well.
		t.Run(tc.name, func(t *testing.T) {
			before := sb.RegistryUploads(testAccount, tc.repo[strings.LastIndex(tc.repo, "/")+1:])
			res, log, err := pushFrom(t, sb, tc.image, tc.repo, tc.tags, nil)
			if err != nil {
				t.Fatalf("Push: %v\n%s", err, log)
			}
			repo := tc.repo[strings.LastIndex(tc.repo, "/")+1:]
			if after := sb.RegistryUploads(testAccount, repo); after != before {
				t.Errorf("the registry received %+v, then %+v: want no blob uploaded", before, after)
			}
			if res.Digest != tc.digest || res.BytesPushed != 0 || res.LayersPushed != 0 {
				t.Errorf("pushed %s (%d layers, %d bytes), want %s and nothing uploaded", res.Digest, res.LayersPushed, res.BytesPushed, tc.digest)
			}
			if res.Source != host+"/"+repo+"@"+tc.digest || res.Image != host+"/"+repo+"@"+tc.digest {
				t.Errorf("source %s, image %s; want both %s", res.Source, res.Image, host+"/"+repo+"@"+tc.digest)
			}
			if tc.name == "repository_named_by_uri" && !strings.Contains(log, "tag v2 already points at "+tc.digest) {
				t.Errorf("the log does not say v2 is on the image already:\n%s", log)
			}
			if strings.Join(res.Platforms, ",") != strings.Join(tc.platforms, ",") {
				t.Errorf("platforms %v, want %v", res.Platforms, tc.platforms)
			}
			for _, tag := range tc.tags {
				if got := backendDigest(t, sb, repo, tag); got != tc.digest {
					t.Errorf("tag %s = %q, want %s", tag, got, tc.digest)
				}
			}
			if !strings.Contains(log, "nothing to copy") {
				t.Errorf("the log does not say there was nothing to copy:\n%s", log)
			}
		})
	}
}

// TestPushFromAnotherRepositoryOfTheRegistry: the blobs of an image in
// another repository of the registry are mounted when ECR's blob mounting
// is on, and copied registry to registry when it is off.
func TestPushFromAnotherRepositoryOfTheRegistry(t *testing.T) {
	t.Parallel()
	for _, mounting := range []bool{true, false} {
		t.Run(fmt.Sprintf("blob_mounting_%v", mounting), func(t *testing.T) {
			t.Parallel()
			sb := startSandbox(t, sourceWorld(t, mounting), sandbox.Options{})
			host := sb.RegistryHost(testAccount)
			img := platformImage(t, "linux", "amd64", 200<<10, 3)
			digest := seed(t, sb, testAccount, "builds:b1", img)
			res, log, err := pushFrom(t, sb, "docker://"+host+"/builds:b1", "copies", []string{"v1"}, nil)
			if err != nil {
				t.Fatalf("Push: %v\n%s", err, log)
			}
			if res.Digest != digest || backendDigest(t, sb, "copies", "v1") != digest {
				t.Errorf("copied %s (tag v1 = %s), want %s", res.Digest, backendDigest(t, sb, "copies", "v1"), digest)
			}
			got := sb.RegistryUploads(testAccount, "copies")
			if mounting {
				if got.Mounts != 4 || got.Bytes != 0 || res.LayersMounted != 3 || res.LayersPushed != 0 {
					t.Errorf("with blob mounting: the registry counted %+v, the push %d layers mounted and %d pushed; want 3 layers and the config mounted, no byte uploaded\n%s", got, res.LayersMounted, res.LayersPushed, log)
				}
				if !strings.Contains(log, "mounted from builds") {
					t.Errorf("the log does not say the layers were mounted:\n%s", log)
				}
				return
			}
			if got.Mounts != 0 || got.MountsRefused != 4 || got.Bytes < 3*200<<10 || res.LayersPushed != 3 {
				t.Errorf("without blob mounting: the registry counted %+v, the push %d layers pushed; want every blob asked to mount, refused, then uploaded\n%s", got, res.LayersPushed, log)
			}
		})
	}
}

// credentialRecorder is the run's transport in a test: it records, for each
// request, its host and Authorization header, and passes it on to inner.
type credentialRecorder struct {
	inner http.RoundTripper
	mu    sync.Mutex
	sent  []sentAuth
}

type sentAuth struct{ host, authorization string }

func (c *credentialRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.sent = append(c.sent, sentAuth{r.URL.Host, r.Header.Get("Authorization")})
	c.mu.Unlock()
	return c.inner.RoundTrip(r)
}

// hostsOf lists the hosts a header value was sent to.
func (c *credentialRecorder) hostsOf(authorization string) map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	hosts := map[string]bool{}
	for _, s := range c.sent {
		if s.authorization == authorization {
			hosts[s.host] = true
		}
	}
	return hosts
}

// TestPushFromARegistryWithADockerConfigCredential copies an image from a
// registry that asks for a password (the CNCF registry with htpasswd, as
// GHCR would) with the credential the Docker config holds for it: that
// credential goes to that registry alone, and the ECR password to ECR's.
func TestPushFromARegistryWithADockerConfigCredential(t *testing.T) {
	t.Parallel()
	ghcr := testenv.StartAuthRegistry(t)
	sb := startSandbox(t, sourceWorld(t, false), sandbox.Options{})
	idx := twoPlatformIndex(t)
	src, _ := name.ParseReference(ghcr.Host+"/acme/web:sha-1", name.Insecure)
	if err := remote.Push(src, idx, remote.WithAuth(&authn.Basic{Username: ghcr.Username, Password: ghcr.Password})); err != nil {
		t.Fatalf("seed the registry: %v", err)
	}
	want := digestOf(t, idx)
	image := "docker://" + ghcr.Host + "/acme/web:sha-1"

	// Without a credential the registry refuses, and the error says how
	// to log in.
	_, log, err := pushFrom(t, sb, image, "copies", []string{"v1"}, func(r *registry.PushRequest) {
		r.Getenv = getenvOf(map[string]string{"DOCKER_CONFIG": t.TempDir()})
	})
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "log in") {
		t.Fatalf("Push without a credential = %v, want the registry's 401 and how to log in\n%s", err, log)
	}

	recorder := &credentialRecorder{inner: sb.Transport(nil)}
	var masked []string
	config := dockerConfigDir(t, ghcr.Host, ghcr.Username, ghcr.Password)
	res, log, err := pushFrom(t, sb, image, "copies", []string{"v1"}, func(r *registry.PushRequest) {
		r.Getenv = getenvOf(map[string]string{"DOCKER_CONFIG": config})
		r.HTTPClient = &http.Client{Transport: recorder}
		r.Mask = func(s string) { masked = append(masked, s) }
	})
	if err != nil {
		t.Fatalf("Push: %v\n%s", err, log)
	}
	if res.Digest != want || backendDigest(t, sb, "copies", "v1") != want || !res.Index {
		t.Errorf("copied %s (index %v), want the index %s", res.Digest, res.Index, want)
	}
	if line := image + " is an index " + want + " (read with the credential " + filepath.Join(config, "config.json") + " holds for " + ghcr.Host + ")"; !strings.Contains(log, line) {
		t.Errorf("the log lacks %q:\n%s", line, log)
	}
	if got := sb.RegistryUploads(testAccount, "copies"); got.Blobs != 6 {
		t.Errorf("the registry counted %+v; want the 2 images' 4 layers and 2 configs uploaded", got)
	}
	ghcrAuth := "Basic " + basicOf(ghcr.Username, ghcr.Password)
	if hosts := recorder.hostsOf(ghcrAuth); len(hosts) != 1 || !hosts[ghcr.Host] {
		t.Errorf("the Docker config's credential was sent to %v, want %s alone", hosts, ghcr.Host)
	}
	ecrAuth := "Basic " + basicAuth(registryPasswordOf(masked, ghcr.Password))
	if hosts := recorder.hostsOf(ecrAuth); len(hosts) != 1 || !hosts[sb.RegistryHost(testAccount)] {
		t.Errorf("the ECR password was sent to %v, want %s alone", hosts, sb.RegistryHost(testAccount))
	}
	if !contains(masked, ghcr.Password) {
		t.Error("the Docker config's password was not masked")
	}
	if strings.Contains(log, ghcr.Password) || strings.Contains(log, basicOf(ghcr.Username, ghcr.Password)) {
		t.Errorf("the log shows the Docker config's credential:\n%s", log)
	}
	assertNoSecrets(t, sb, log)
}

// registryPasswordOf picks the ECR password among the masked secrets.
func registryPasswordOf(masked []string, not string) string {
	for _, s := range masked {
		if s != not && strings.HasPrefix(s, "eyJ") {
			return s
		}
	}
	return ""
}

// TestPushFromAnotherAccount copies an image from a repository of another
// account's ECR registry, which the role may read, with an ECR login for
// that registry.
func TestPushFromAnotherAccount(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sourceWorld(t, false), sandbox.Options{})
	img := platformImage(t, "linux", "arm64", 100<<10, 2)
	digest := seed(t, sb, otherAccount, "shared:release-3", img)
	image := "docker://" + otherAccount + ".dkr.ecr.us-east-1.amazonaws.com/shared:release-3"
	res, log, err := pushFrom(t, sb, image, "promoted", []string{"release-3"}, nil)
	if err != nil {
		t.Fatalf("Push: %v\n%s", err, log)
	}
	if res.Digest != digest || backendDigest(t, sb, "promoted", "release-3") != digest {
		t.Errorf("copied %s, want %s", res.Digest, digest)
	}
	if want := image + " is an image " + digest + " (read with an ECR login for account " + otherAccount; !strings.Contains(log, want) {
		t.Errorf("the log lacks %q:\n%s", want, log)
	}
	assertNoSecrets(t, sb, log)
	// A repository the role may not read is refused with what to allow;
	// a tag the repository lacks, with what to check.
	for _, tt := range []struct{ image, want string }{
		{"private:release-3", "the registry denied the read with an ECR login for account " + otherAccount + " in us-east-1 (403): it may not read that repository (for ECR: allow ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on it"},
		{"shared:no-such-tag", "the registry has no such image (404): check the name and the tag or digest"},
	} {
		image := "docker://" + otherAccount + ".dkr.ecr.us-east-1.amazonaws.com/" + tt.image
		_, log, err := pushFrom(t, sb, image, "promoted", []string{"release-4"}, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Push of %s = %v, want %q\n%s", tt.image, err, tt.want, log)
		}
		assertNoSecrets(t, sb, log)
	}
}

// movingRegistry is a registry in front of the test registry that moves a
// tag to another image right after a client first read it: a tag pushed
// again while the action deploys it.
type movingRegistry struct {
	host   string
	once   sync.Once
	moveTo func()
}

func startMovingRegistry(t *testing.T, moveTo func()) *movingRegistry {
	t.Helper()
	backend, _ := url.Parse("http://" + testenv.Registry(t))
	proxy := httputil.NewSingleHostReverseProxy(backend)
	m := &movingRegistry{moveTo: moveTo}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxy.ServeHTTP(w, r)
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/moving") {
			m.once.Do(m.moveTo)
		}
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	m.host = u.Host
	return m
}

// TestPushFromATagThatMoves: a tag that names another image when read
// again, before any tag moves, is an error naming both digests; nothing is
// tagged.
func TestPushFromATagThatMoves(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sourceWorld(t, false), sandbox.Options{})
	repo := fmt.Sprintf("moving-%d/web", time.Now().UnixNano())
	first, second := platformImage(t, "linux", "amd64", 4096, 1), platformImage(t, "linux", "amd64", 4096, 1)
	direct, _ := name.ParseReference(testenv.Registry(t)+"/"+repo+":moving", name.Insecure)
	if err := remote.Write(direct, first); err != nil {
		t.Fatal(err)
	}
	m := startMovingRegistry(t, func() {
		if err := remote.Write(direct, second); err != nil {
			t.Errorf("move the tag: %v", err)
		}
	})
	_, log, err := pushFrom(t, sb, "docker://"+m.host+"/"+repo+":moving", "copies", []string{"v1"}, nil)
	if err == nil {
		t.Fatalf("a tag that moved was deployed:\n%s", log)
	}
	for _, want := range []string{digestOf(t, first), digestOf(t, second), "moved"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if got := backendDigest(t, sb, "copies", "v1"); got != "" {
		t.Errorf("tag v1 = %s: a push from a tag that moved moved a tag", got)
	}
}

// TestPushFromARegistryNobodyRuns: a docker:// source whose registry does
// not answer is looked at a few times, saying so, then fails at that first
// look, naming the registry.
func TestPushFromARegistryNobodyRuns(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sourceWorld(t, false), sandbox.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	_ = l.Close()
	_, log, err := pushFrom(t, sb, "docker://"+host+"/acme/web:v1", "copies", []string{"v1"}, nil)
	if want := "read docker://" + host + "/acme/web:v1: Get \"https://" + host + "/v2/\""; err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(log, "reach the registry "+host) {
		t.Errorf("Push from a registry nobody runs = %v, want %q\n%s", err, want, log)
	}
}
