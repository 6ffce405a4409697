package awsauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/oidc"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/retry"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

const (
	deployRole  = "arn:aws:iam::111122223333:role/gha-deploy"
	prodRole    = "arn:aws:iam::444455556666:role/prod-deploy"
	sessionName = "acme-web-api-9876543210-1"
)

func testConfig() config.Config {
	c := config.Default()
	c.RoleToAssume = deployRole
	c.AWSRegion = "us-east-1"
	c.RoleSessionName = sessionName
	return c
}

// recorder keeps every masked secret.
type recorder struct {
	mu     sync.Mutex
	masked map[string]bool
}

func (r *recorder) mask(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.masked == nil {
		r.masked = map[string]bool{}
	}
	r.masked[s] = true
}

func (r *recorder) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.masked[s]
}

// fastRetry is the retry policy opts asks for, with waits short enough
// for a test.
func fastRetry(opts retry.Options) *retry.Policy {
	opts.BaseDelay, opts.ThrottleDelay, opts.MaxDelay = time.Millisecond, time.Millisecond, 10*time.Millisecond
	return retry.New(opts)
}

// load returns the AWS configuration for cfg against sb, with fast retries.
func load(tb testing.TB, sb *sandbox.Sandbox, cfg config.Config, rec *recorder, tune func(*Options)) aws.Config {
	tb.Helper()
	env := sb.Env()
	getenv := func(k string) string { return env[k] }
	opts := Options{Getenv: getenv, Mask: rec.mask, Retry: fastRetry(retry.Options{})}
	if tune != nil {
		tune(&opts)
	}
	tokens := &oidc.TokenSource{Getenv: getenv, Mask: rec.mask, Retry: opts.Retry}
	awsCfg, err := Load(context.Background(), cfg, tokens, opts)
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return awsCfg
}

func TestCredentialsForRequestedRoleAndSession(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	rec := &recorder{}
	awsCfg := load(t, sb, testConfig(), rec, nil)
	ctx := context.Background()

	creds, err := awsCfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	if !creds.CanExpire || time.Until(creds.Expires) < 10*time.Minute {
		t.Errorf("credentials expire at %v, want about 15 minutes from now", creds.Expires)
	}
	if !rec.has(creds.SecretAccessKey) || !rec.has(creds.SessionToken) {
		t.Error("the secret key or session token was not masked")
	}
	id, err := CallerIdentity(ctx, awsCfg)
	if err != nil {
		t.Fatalf("CallerIdentity: %v", err)
	}
	if got, want := id.ARN, "arn:aws:sts::111122223333:assumed-role/gha-deploy/"+sessionName; got != want {
		t.Errorf("assumed role = %q, want %q", got, want)
	}
	if got, want := id.Account, "111122223333"; got != want {
		t.Errorf("account = %q, want %q", got, want)
	}
	if got := sb.TokenRequests(); got != 1 {
		t.Errorf("%d tokens fetched, want 1: the credentials are cached", got)
	}
}

func TestAccessDeniedExplainedAndFailsFast(t *testing.T) {
	t.Parallel()
	// The job runs on a feature branch without an environment; the role
	// trusts only the production environment.
	sb := sandboxtest.Start(t, func(w *sandbox.World) {
		w.GitHub.Claims["ref"] = "refs/heads/feature-x"
		w.GitHub.Claims["job_workflow_ref"] = "acme/web-api/.github/workflows/deploy.yml@refs/heads/feature-x"
		delete(w.GitHub.Claims, "environment")
	})
	awsCfg := load(t, sb, testConfig(), &recorder{}, nil)
	_, err := CallerIdentity(context.Background(), awsCfg)
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("CallerIdentity = %v, want an *awsauth.Error", err)
	}
	if ae.Kind != KindAccessDenied || ae.Code != "AccessDenied" || ae.Hop != 0 {
		t.Errorf("Kind, Code, Hop = %s, %s, %d; want access-denied, AccessDenied, 0", ae.Kind, ae.Code, ae.Hop)
	}
	msg := err.Error()
	for _, want := range []string{
		deployRole,
		"sub:              repo:acme/web-api:ref:refs/heads/feature-x",
		"aud:              sts.amazonaws.com",
		"ref:              refs/heads/feature-x",
		"environment:      (none)",
		"job_workflow_ref: acme/web-api/.github/workflows/deploy.yml@refs/heads/feature-x",
		`"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"`,
		`"StringEquals": {`,
		`"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"`,
		`"token.actions.githubusercontent.com:sub": "repo:acme/web-api:ref:refs/heads/feature-x"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("explanation lacks %q:\n%s", want, msg)
		}
	}
	for _, secret := range sb.Secrets() {
		if strings.Contains(msg, secret) {
			t.Error("the explanation contains a secret (the token?)")
		}
	}
	if got := sb.STSCalls("AssumeRoleWithWebIdentity"); got != 1 {
		t.Errorf("STS was called %d times, want 1: AccessDenied must not be retried", got)
	}
}

func TestTokenRejectionsAreDistinct(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		world  func(w *sandbox.World)
		config func(c *config.Config)
		kind   Kind
		want   []string
	}{
		{
			name:   "wrong_audience",
			config: func(c *config.Config) { c.Audience = "api://acme-deploy" },
			kind:   KindWrongAudience,
			want:   []string{"InvalidIdentityToken", `audience "api://acme-deploy"`, "set the input audience", "add-client-id-to-open-id-connect-provider"},
		},
		{
			name:  "expired_token",
			world: func(w *sandbox.World) { w.GitHub.IssuedAtOffsetSeconds = -600 },
			kind:  KindExpiredToken,
			want:  []string{"ExpiredTokenException", "expires at", "this machine's clock says", "clock"},
		},
		{
			name:  "unknown_issuer",
			world: func(w *sandbox.World) { w.GitHub.Issuer = "https://token.example.invalid" },
			kind:  KindUnknownIssuer,
			want:  []string{"no IAM OIDC identity provider for the token's issuer https://token.example.invalid", "create-open-id-connect-provider --url https://token.example.invalid"},
		},
		{
			name:   "duration_above_role_maximum",
			config: func(c *config.Config) { c.RoleDurationSeconds = 7200 },
			kind:   KindValidation,
			want:   []string{"ValidationError", "role-duration-seconds is 7200", "--max-session-duration 7200"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sb := sandboxtest.Start(t, tt.world)
			cfg := testConfig()
			if tt.config != nil {
				tt.config(&cfg)
			}
			awsCfg := load(t, sb, cfg, &recorder{}, nil)
			_, err := awsCfg.Credentials.Retrieve(context.Background())
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("Retrieve = %v, want an *awsauth.Error", err)
			}
			if ae.Kind != tt.kind {
				t.Errorf("Kind = %s, want %s; error:\n%v", ae.Kind, tt.kind, err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			if got := sb.STSCalls("AssumeRoleWithWebIdentity"); got != 1 {
				t.Errorf("STS was called %d times, want 1: a rejected token must not be retried", got)
			}
		})
	}
}

// failingTransport fails the test on any request.
type failingTransport struct{ tb testing.TB }

func (f failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.tb.Errorf("unexpected network call to %s", r.URL)
	return nil, errors.New("no network call was expected")
}

func TestNoIDTokenPermissionMakesNoCall(t *testing.T) {
	t.Parallel()
	client := &http.Client{Transport: failingTransport{t}}
	getenv := func(k string) string {
		if k == "AWS_ENDPOINT_URL" {
			return "http://127.0.0.1:1"
		}
		return ""
	}
	rec := &recorder{}
	tokens := &oidc.TokenSource{Getenv: getenv, Client: client, Mask: rec.mask}
	awsCfg, err := Load(context.Background(), testConfig(), tokens, Options{Getenv: getenv, HTTPClient: client, Mask: rec.mask})
	if err != nil {
		t.Fatal(err)
	}
	_, err = awsCfg.Credentials.Retrieve(context.Background())
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != KindToken || !errors.Is(err, oidc.ErrNoIDTokenPermission) {
		t.Fatalf("Retrieve = %v, want an *awsauth.Error of kind token wrapping ErrNoIDTokenPermission", err)
	}
	if !strings.Contains(err.Error(), "id-token: write") {
		t.Errorf("error does not say what to add:\n%v", err)
	}
}

func TestRefreshFetchesNewToken(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, func(w *sandbox.World) { w.CredentialLifetimeSeconds = 3 })
	awsCfg := load(t, sb, testConfig(), &recorder{}, func(o *Options) { o.ExpiryWindow = 500 * time.Millisecond })
	ctx := context.Background()

	first, err := awsCfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	if _, err := CallerIdentity(ctx, awsCfg); err != nil {
		t.Fatalf("CallerIdentity before expiry: %v", err)
	}
	if got := sb.TokenRequests(); got != 1 {
		t.Fatalf("%d tokens fetched before expiry, want 1", got)
	}
	time.Sleep(time.Until(first.Expires) + 200*time.Millisecond)

	// The first credentials are now rejected by STS; the call must succeed
	// with new ones, from a new token.
	if _, err := CallerIdentity(ctx, awsCfg); err != nil {
		t.Fatalf("CallerIdentity after expiry: %v", err)
	}
	if got := sb.TokenRequests(); got != 2 {
		t.Errorf("%d tokens fetched, want 2: a refresh must fetch a new token", got)
	}
	second, err := awsCfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second.AccessKeyID == first.AccessKeyID {
		t.Error("the credentials were not refreshed")
	}
}

func TestTransientFailuresRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault sandbox.Fault
	}{
		{"throttling", sandbox.Fault{Code: "Throttling", Status: 400}},
		{"service_unavailable_503", sandbox.Fault{Code: "ServiceUnavailable", Status: 503}},
		{"internal_failure_500", sandbox.Fault{Code: "InternalFailure", Status: 500}},
		{"idp_communication_error", sandbox.Fault{Code: "IDPCommunicationError", Status: 400}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sb := sandboxtest.Start(t, nil)
			f := tt.fault
			f.Service, f.Operation, f.Times = "sts", "AssumeRoleWithWebIdentity", 2
			sb.InjectFault(f)
			var mu sync.Mutex
			var retries []string
			awsCfg := load(t, sb, testConfig(), &recorder{}, func(o *Options) {
				o.Retry = fastRetry(retry.Options{Logf: func(format string, args ...any) {
					mu.Lock()
					defer mu.Unlock()
					retries = append(retries, fmt.Sprintf(format, args...))
				}})
			})
			id, err := CallerIdentity(context.Background(), awsCfg)
			if err != nil {
				t.Fatalf("CallerIdentity after two %s: %v", f.Code, err)
			}
			if !strings.HasSuffix(id.ARN, "/gha-deploy/"+sessionName) {
				t.Errorf("assumed role = %q", id.ARN)
			}
			if got := sb.STSCalls("AssumeRoleWithWebIdentity"); got != 3 {
				t.Errorf("STS was called %d times, want 3 (two failures, one success)", got)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(retries) != 2 || !strings.Contains(retries[0], f.Code) {
				t.Errorf("retries logged: %q; want two lines naming %s", retries, f.Code)
			}
		})
	}
}

func TestTransientFailureGivesUp(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	sb.InjectFault(sandbox.Fault{Service: "sts", Operation: "AssumeRoleWithWebIdentity", Code: "IDPCommunicationError"})
	awsCfg := load(t, sb, testConfig(), &recorder{}, func(o *Options) { o.Retry = fastRetry(retry.Options{Attempts: 3}) })
	_, err := awsCfg.Credentials.Retrieve(context.Background())
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != KindTransient {
		t.Fatalf("Retrieve = %v, want a transient *awsauth.Error", err)
	}
	if got := sb.STSCalls("AssumeRoleWithWebIdentity"); got != 3 {
		t.Errorf("STS was called %d times, want 3 (MaxAttempts)", got)
	}
}

func TestRoleChain(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	cfg := testConfig()
	cfg.RoleDurationSeconds = 3600
	cfg.RoleChain = []config.ChainRole{{RoleARN: prodRole, ExternalID: "acme-prod-7f3c"}}
	rec := &recorder{}
	awsCfg := load(t, sb, cfg, rec, nil)
	id, err := CallerIdentity(context.Background(), awsCfg)
	if err != nil {
		t.Fatalf("CallerIdentity through the chain: %v", err)
	}
	if got, want := id.ARN, "arn:aws:sts::444455556666:assumed-role/prod-deploy/"+sessionName; got != want {
		t.Errorf("assumed role = %q, want %q", got, want)
	}
	creds, err := awsCfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rec.has(creds.SessionToken) {
		t.Error("the chained session token was not masked")
	}
}

func TestRoleChainWrongExternalID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		externalID string
		want       string
	}{
		{"wrong_external_id", "acme-prod-0000", "an external ID was sent"},
		{"no_external_id", "", "no external ID was sent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sb := sandboxtest.Start(t, nil)
			cfg := testConfig()
			cfg.RoleChain = []config.ChainRole{{RoleARN: prodRole, ExternalID: tt.externalID}}
			awsCfg := load(t, sb, cfg, &recorder{}, nil)
			_, err := CallerIdentity(context.Background(), awsCfg)
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("CallerIdentity = %v, want an *awsauth.Error", err)
			}
			if ae.Hop != 1 || ae.RoleARN != prodRole || ae.Kind != KindAccessDenied {
				t.Errorf("Hop, RoleARN, Kind = %d, %s, %s; want 1, %s, access-denied", ae.Hop, ae.RoleARN, ae.Kind, prodRole)
			}
			for _, want := range []string{"role-chain hop 1", prodRole, "Hop 1 of 1", "sts:AssumeRole", "sts:ExternalId", tt.want} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			if got := sb.STSCalls("AssumeRole"); got != 1 {
				t.Errorf("AssumeRole was called %d times, want 1", got)
			}
		})
	}
}

// TestExplanationsNameTheRolesPartition refuses the job in aws, aws-cn and
// aws-us-gov: the trust statement and the provider command the explanation
// offers must name the OIDC provider in the role's own partition.
func TestExplanationsNameTheRolesPartition(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ partition, region string }{
		{"aws", "us-east-1"},
		{"aws-cn", "cn-north-1"},
		{"aws-us-gov", "us-gov-west-1"},
	} {
		for _, refusal := range []string{"access_denied", "wrong_audience"} {
			t.Run(tt.partition+"_"+refusal, func(t *testing.T) {
				t.Parallel()
				sb := sandboxtest.Start(t, func(w *sandbox.World) {
					sandboxtest.InRegion(t, w, tt.region)
					delete(w.GitHub.Claims, "environment")
				})
				cfg := testConfig()
				cfg.RoleToAssume = "arn:" + tt.partition + ":iam::111122223333:role/gha-deploy"
				cfg.AWSRegion = tt.region
				want := `"Federated": "arn:` + tt.partition + `:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"`
				if refusal == "wrong_audience" {
					cfg.Audience = "api://acme-deploy"
					want = "--open-id-connect-provider-arn arn:" + tt.partition + ":iam::111122223333:oidc-provider/token.actions.githubusercontent.com "
				}
				if err := cfg.Validate(); err != nil {
					t.Fatalf("Validate: %v", err)
				}
				_, err := load(t, sb, cfg, &recorder{}, nil).Credentials.Retrieve(context.Background())
				if err == nil {
					t.Fatal("Retrieve succeeded, want a refusal")
				}
				if !strings.Contains(err.Error(), want) {
					t.Errorf("explanation lacks %q:\n%v", want, err)
				}
				if tt.partition != "aws" && strings.Contains(err.Error(), "arn:aws:") {
					t.Errorf("explanation names an arn:aws: ARN for a role in %s:\n%v", tt.partition, err)
				}
			})
		}
	}
}
