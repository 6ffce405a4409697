package deploy_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
)

var _ deploy.Logger = (*ghaction.Runner)(nil)

const (
	account  = "111122223333"
	roleARN  = "arn:aws:iam::111122223333:role/gha-deploy"
	repoName = "web-api"
)

// testEnv is a running sandbox and the clients a deployment uses, with
// credentials obtained as the action obtains them.
type testEnv struct {
	sb      *sandbox.Sandbox
	cfg     aws.Config
	ecs     *ecs.Client
	repoURI string
}

// fastWorld is the demo world with rollouts a test can wait for.
func fastWorld(tb testing.TB) *sandbox.World {
	tb.Helper()
	w := sandbox.DemoWorld()
	w.ECS = &sandbox.ECSSettings{TimeScale: 0.25}
	return w
}

// startSandbox starts a sandbox serving world and returns clients for it.
func startSandbox(tb testing.TB, world *sandbox.World) *testEnv {
	tb.Helper()
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, world, sandbox.Options{})
	if err != nil {
		tb.Fatalf("start sandbox: %v", err)
	}
	tb.Cleanup(func() { sb.Close() })
	cfg := webIdentityConfig(tb, sb)
	return &testEnv{
		sb:      sb,
		cfg:     cfg,
		ecs:     ecs.NewFromConfig(cfg),
		repoURI: sb.RegistryHost(account) + "/" + repoName,
	}
}

// webIdentityConfig returns an AWS configuration for the sandbox whose
// credentials come from the real web-identity flow: a fresh GitHub ID token
// for every refresh, exchanged at STS, cached until shortly before expiry.
func webIdentityConfig(tb testing.TB, sb *sandbox.Sandbox) aws.Config {
	tb.Helper()
	env := sb.Env()
	base := aws.Config{
		Region:       sb.Region(),
		BaseEndpoint: aws.String(sb.AWSEndpoint()),
		Retryer:      func() aws.Retryer { return retry.NewStandard() },
	}
	tokens := &idTokenRetriever{url: env["ACTIONS_ID_TOKEN_REQUEST_URL"], bearer: env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]}
	provider := stscreds.NewWebIdentityRoleProvider(sts.NewFromConfig(base), roleARN, tokens, func(o *stscreds.WebIdentityRoleOptions) {
		o.RoleSessionName = "deploy-test"
	})
	cfg := base.Copy()
	cfg.Credentials = aws.NewCredentialsCache(provider, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = time.Second
	})
	return cfg
}

// idTokenRetriever fetches a new GitHub ID token on every call, as a job does.
type idTokenRetriever struct{ url, bearer string }

func (r *idTokenRetriever) GetIdentityToken() ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, r.url+"&audience=sts.amazonaws.com", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+r.bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("request ID token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("request ID token: %s", resp.Status)
	}
	var body struct {
		Value string `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode ID token response: %w", err)
	}
	return []byte(body.Value), nil
}

// pushRandomImage pushes a random image to the sandbox's ECR front under
// tag and returns its digest.
func (e *testEnv) pushRandomImage(tb testing.TB, tag string) string {
	tb.Helper()
	ctx := context.Background()
	out, err := ecr.NewFromConfig(e.cfg).GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		tb.Fatalf("ECR GetAuthorizationToken: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
	if err != nil {
		tb.Fatalf("decode ECR authorization token: %v", err)
	}
	user, pass, _ := strings.Cut(string(raw), ":")
	img, err := random.Image(1024, 2)
	if err != nil {
		tb.Fatalf("random image: %v", err)
	}
	ref, err := name.ParseReference(e.repoURI+":"+tag, name.Insecure)
	if err != nil {
		tb.Fatalf("parse reference: %v", err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuth(&authn.Basic{Username: user, Password: pass})); err != nil {
		tb.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		tb.Fatalf("image digest: %v", err)
	}
	return d.String()
}

// logBuffer is a goroutine-safe buffer for a Runner's output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newRunner returns the workflow runner printing to a buffer, plain (not in
// Actions mode) so that tests read what a person would.
func newRunner(tb testing.TB) (*ghaction.Runner, *logBuffer) {
	tb.Helper()
	buf := &logBuffer{}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("deployment log:\n%s", buf.String())
		}
	})
	return ghaction.New(buf, func(string) string { return "" }), buf
}
