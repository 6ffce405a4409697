package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
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
	sb, err := sandbox.Start(context.Background(), w, opts)
	if err != nil {
		tb.Fatalf("start sandbox: %v", err)
	}
	tb.Cleanup(func() { sb.Close() })
	return sb
}

// tokenRetriever fetches a fresh GitHub ID token from the sandbox's token
// service on every call, as a job's credential refresh does.
type tokenRetriever struct{ env map[string]string }

func (r tokenRetriever) GetIdentityToken() ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, r.env["ACTIONS_ID_TOKEN_REQUEST_URL"]+"&audience=sts.amazonaws.com", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+r.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("token request: %s", resp.Status)
	}
	var body struct {
		Value string `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	return []byte(body.Value), nil
}

// awsConfig returns credentials of the deploy role obtained the way the
// action obtains them: a GitHub ID token exchanged with STS
// AssumeRoleWithWebIdentity.
func awsConfig(tb testing.TB, sb *sandbox.Sandbox) aws.Config {
	tb.Helper()
	env := sb.Env()
	endpoint := env["AWS_ENDPOINT_URL"]
	stsClient := sts.New(sts.Options{Region: env["AWS_REGION"], BaseEndpoint: aws.String(endpoint)})
	provider := stscreds.NewWebIdentityRoleProvider(stsClient, testRoleARN, tokenRetriever{env: env})
	return aws.Config{
		Region:       env["AWS_REGION"],
		BaseEndpoint: aws.String(endpoint),
		Credentials:  aws.NewCredentialsCache(provider),
	}
}

// syncBuffer collects a push's progress output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// buildImage builds a FROM scratch image of random files (one COPY layer
// per size) in the test's Docker engine and returns its tag.
func buildImage(tb testing.TB, dockerHost string, sizes ...int) string {
	tb.Helper()
	docker := testenv.Command(tb, "docker")
	dir := tb.TempDir()
	var dockerfile strings.Builder
	dockerfile.WriteString("FROM scratch\n")
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
	runDocker(tb, docker, dockerHost, "build", "-q", "-t", tag, dir)
	tb.Cleanup(func() {
		exec.Command(docker, "-H", dockerHost, "rmi", "-f", tag).Run()
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

// assertNoSecrets fails when any secret the sandbox issued appears in text.
func assertNoSecrets(tb testing.TB, sb *sandbox.Sandbox, text string) {
	tb.Helper()
	for _, s := range sb.Secrets() {
		if s != "" && strings.Contains(text, s) {
			tb.Errorf("output contains a secret the sandbox issued (%d characters)", len(s))
		}
	}
}

// offsetClock is the sandbox's clock, which a test can move forward.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *offsetClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}
