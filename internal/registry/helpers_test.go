package registry_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/httpclient"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/registry"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/testenv"
)

const (
	testAccount = "111122223333"
	testRoleARN = "arn:aws:iam::111122223333:role/gha-deploy"
)

// testWorld is the demo world with two more repositories, one mutable and
// one immutable, that the deploy role may push to.
func testWorld(tb testing.TB) *sandbox.World {
	tb.Helper()
	w := sandbox.DemoWorld()
	acct := w.Accounts[testAccount]
	acct.Repositories["app"] = &sandbox.Repository{ImageTagMutability: "MUTABLE"}
	acct.Repositories["frozen"] = &sandbox.Repository{ImageTagMutability: "IMMUTABLE"}
	role := acct.Roles["gha-deploy"]
	role.Permissions.Statement = append(role.Permissions.Statement, sandbox.Statement{
		Effect:   "Allow",
		Action:   sandbox.StringList{"ecr:*"},
		Resource: sandbox.StringList{"arn:aws:ecr:us-east-1:111122223333:repository/*"},
	})
	return w
}

// startSandbox starts a sandbox whose ECR front forwards to the real
// registry the test services run.
func startSandbox(tb testing.TB, w *sandbox.World, opts sandbox.Options) *sandbox.Sandbox {
	tb.Helper()
	if opts.RegistryBackend == "" {
		opts.RegistryBackend = "http://" + testenv.Registry(tb)
	}
	return sandboxtest.StartWorld(tb, w, opts)
}

// buildImage builds a FROM scratch image of random files (one COPY layer
// per size) in the test's Docker engine and returns its tag.
func buildImage(tb testing.TB, dockerHost string, sizes ...int) string {
	tb.Helper()
	return buildImageFrom(tb, dockerHost, "scratch", sizes...)
}

// buildImageFrom builds an image on base with a COPY layer of random data
// per size, and returns its tag.
func buildImageFrom(tb testing.TB, dockerHost, base string, sizes ...int) string {
	tb.Helper()
	docker := testenv.Command(tb, "docker")
	dir := tb.TempDir()
	var dockerfile strings.Builder
	dockerfile.WriteString("FROM " + base + "\n")
	for i, size := range sizes {
		data := make([]byte, size)
		rand.Read(data)
		name := fmt.Sprintf("file%d.bin", i)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			tb.Fatal(err)
		}
		fmt.Fprintf(&dockerfile, "COPY %s /%s\n", name, name)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	tag := fmt.Sprintf("push-test-%d:%d", time.Now().UnixNano(), len(sizes))
	unlock := testenv.LockImageBuilds(tb)
	runDocker(tb, docker, dockerHost, "build", "-q", "-t", tag, dir)
	unlock()
	tb.Cleanup(func() {
		defer testenv.LockImageBuilds(tb)()
		if out, err := exec.Command(docker, "-H", dockerHost, "rmi", "-f", tag).CombinedOutput(); err != nil {
			tb.Logf("docker rmi %s: %v\n%s", tag, err, out)
		}
	})
	return tag
}

func runDocker(tb testing.TB, docker, dockerHost string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(docker, append([]string{"-H", dockerHost}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// getenvOf serves an injected environment.
func getenvOf(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// assertNoSecrets fails when any secret the sandbox issued, or the Basic
// authorization a registry password makes, appears in text.
func assertNoSecrets(tb testing.TB, sb *sandbox.Sandbox, text string) {
	tb.Helper()
	for _, s := range sb.Secrets() {
		if s == "" {
			continue
		}
		if strings.Contains(text, s) || strings.Contains(text, basicAuth(s)) {
			tb.Errorf("output contains a secret the sandbox issued (%d characters)", len(s))
		}
	}
}

// basicAuth is the Basic authorization of ECR's user AWS with password,
// which is also the token GetAuthorizationToken returns.
func basicAuth(password string) string { return basicOf("AWS", password) }

// uploadCounter counts what reaches a registry: every request, the blob
// upload requests among them, and the bytes of request bodies.
type uploadCounter struct {
	mu        sync.Mutex
	requests  int
	uploads   int
	bodyBytes int64
}

func (c *uploadCounter) counts() (requests, uploads int, bodyBytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests, c.uploads, c.bodyBytes
}

func (c *uploadCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests, c.uploads, c.bodyBytes = 0, 0, 0
}

// countingBackend is a reverse proxy in front of the test registry that
// counts what the sandbox's ECR front forwards to it; its base URL is the
// sandbox's RegistryBackend.
func countingBackend(tb testing.TB) (string, *uploadCounter) {
	tb.Helper()
	backend, err := url.Parse("http://" + testenv.Registry(tb))
	if err != nil {
		tb.Fatal(err)
	}
	c := &uploadCounter{}
	proxy := httputil.NewSingleHostReverseProxy(backend)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Requests are counted before they are answered, so a client
		// that has its answer has been counted; body bytes once read.
		c.mu.Lock()
		c.requests++
		if strings.Contains(r.URL.Path, "/blobs/uploads") {
			c.uploads++
		}
		c.mu.Unlock()
		body := &countingBody{ReadCloser: r.Body}
		r.Body = body
		proxy.ServeHTTP(w, r)
		c.mu.Lock()
		c.bodyBytes += body.n
		c.mu.Unlock()
	}))
	tb.Cleanup(srv.Close)
	return srv.URL, c
}

type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// platformImage is a random image of count layers of size bytes whose
// config declares the platform os/arch.
func platformImage(tb testing.TB, os, arch string, size int64, count int64) v1.Image {
	tb.Helper()
	img, err := sandboxtest.PlatformImage(os, arch, size, count)
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// registryPassword is a registry password of the deploy role for its
// account's ECR front.
func registryPassword(tb testing.TB, sb *sandbox.Sandbox) string {
	tb.Helper()
	password, err := sandboxtest.RegistryPassword(context.Background(), sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, ""))
	if err != nil {
		tb.Fatal(err)
	}
	return password
}

// basicOf is the Basic authorization of user and password.
func basicOf(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// pushVia pushes through sb as the run does: with the run's client (its
// timeouts) mapped to sb's ECR registry hosts when req brings none, so
// that the registry is reached by its ECR host name over TLS and no name
// is looked up.
func pushVia(sb *sandbox.Sandbox, cfg aws.Config, req registry.PushRequest, progress io.Writer) (*registry.PushResult, error) {
	if req.HTTPClient == nil {
		req.HTTPClient = sandboxtest.HTTPClient(sb, httpclient.Timeouts{})
	}
	return registry.Push(context.Background(), cfg, req, progress)
}
