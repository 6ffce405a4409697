package oidc

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/retry"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// masks records what a TokenSource masked.
type masks struct {
	mu     sync.Mutex
	values []string
}

func (m *masks) mask(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.values = append(m.values, s)
}

func (m *masks) has(s string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Contains(m.values, s)
}

// countingTransport counts the requests that reach the network.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestTokenIsFreshAndMasked(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	env := sb.Env()
	var m masks
	src := &TokenSource{Getenv: func(k string) string { return env[k] }, Mask: m.mask}
	ctx := context.Background()

	first, err := src.Token(ctx, "sts.amazonaws.com")
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	second, err := src.Retriever(ctx, "sts.amazonaws.com").GetIdentityToken()
	if err != nil {
		t.Fatalf("GetIdentityToken: %v", err)
	}
	if first == string(second) {
		t.Error("two calls returned the same token; every call must fetch a new one")
	}
	if got := sb.TokenRequests(); got != 2 {
		t.Errorf("sandbox issued %d tokens, want 2", got)
	}
	for _, secret := range []string{first, string(second), env[RequestTokenVar]} {
		if !m.has(secret) {
			t.Errorf("a secret was returned without being masked first")
		}
	}

	claims, err := ParseClaims(first)
	if err != nil {
		t.Fatalf("ParseClaims: %v", err)
	}
	if got, want := claims.Subject, "repo:acme/web-api:environment:production"; got != want {
		t.Errorf("sub = %q, want %q", got, want)
	}
	if got, want := claims.Audience.String(), "sts.amazonaws.com"; got != want {
		t.Errorf("aud = %q, want %q", got, want)
	}
	if got, want := claims.Environment, "production"; got != want {
		t.Errorf("environment = %q, want %q", got, want)
	}
	if got := claims.Expires.Sub(claims.IssuedAt.Time); got != 5*time.Minute {
		t.Errorf("token lifetime = %v, want 5m", got)
	}
}

func TestTransientFailuresRetried(t *testing.T) {
	t.Parallel()
	for _, status := range []int{500, 503, 429} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			sb := sandboxtest.Start(t, nil)
			sb.InjectFault(sandbox.Fault{Service: "github", Operation: "token", Status: status, Times: 2})
			env := sb.Env()
			transport := &countingTransport{}
			src := &TokenSource{
				Getenv: func(k string) string { return env[k] },
				Client: &http.Client{Transport: transport},
				Mask:   func(string) {},
				Retry:  retry.New(retry.Options{BaseDelay: 10 * time.Millisecond, ThrottleDelay: 10 * time.Millisecond}),
			}
			if _, err := src.Token(context.Background(), "sts.amazonaws.com"); err != nil {
				t.Fatalf("Token after two HTTP %d: %v", status, err)
			}
			if got := transport.n.Load(); got != 3 {
				t.Errorf("%d requests, want 3 (two failures, one success)", got)
			}
		})
	}
}

func TestRefusedRequestFailsFast(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	env := sb.Env()
	env[RequestTokenVar] = "not-the-request-token"
	transport := &countingTransport{}
	src := &TokenSource{Getenv: func(k string) string { return env[k] }, Client: &http.Client{Transport: transport}, Mask: func(string) {}}
	_, err := src.Token(context.Background(), "sts.amazonaws.com")
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("Token with a wrong request token = %v, want an HTTP 401 error", err)
	}
	if got := transport.n.Load(); got != 1 {
		t.Errorf("%d requests, want 1: a refusal is not retried", got)
	}
}

func TestGivesUpWithContext(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	sb.InjectFault(sandbox.Fault{Service: "github", Operation: "token", Status: 503})
	env := sb.Env()
	src := &TokenSource{Getenv: func(k string) string { return env[k] }, Mask: func(string) {},
		Retry: retry.New(retry.Options{Attempts: 100, BaseDelay: 20 * time.Millisecond, MaxDelay: 20 * time.Millisecond})}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := src.Token(ctx, "sts.amazonaws.com")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Token against a failing service = %v, want the context's deadline", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Token took %v after its deadline of 300ms", took)
	}
}

// failingTransport fails the test on any request.
type failingTransport struct{ tb testing.TB }

func (f failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.tb.Errorf("unexpected network call to %s", r.URL)
	return nil, errors.New("no network call was expected")
}

func TestNoIDTokenPermission(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		missing string
	}{
		{"both_missing", map[string]string{}, "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set"},
		{"token_missing", map[string]string{RequestURLVar: "http://127.0.0.1:1/token?api-version=2.0"}, "ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := &TokenSource{
				Getenv: func(k string) string { return tt.env[k] },
				Client: &http.Client{Transport: failingTransport{t}},
				Mask:   func(string) {},
			}
			_, err := src.Token(context.Background(), "sts.amazonaws.com")
			if !errors.Is(err, ErrNoIDTokenPermission) {
				t.Fatalf("Token = %v, want ErrNoIDTokenPermission", err)
			}
			for _, want := range []string{tt.missing, "permissions:", "id-token: write", "contents: read"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestParseClaimsRejectsNonJWT(t *testing.T) {
	t.Parallel()
	for _, token := range []string{"", "abc", "a.b", "a.!!!.c", "a.bm90IGpzb24.c"} {
		if _, err := ParseClaims(token); err == nil {
			t.Errorf("ParseClaims(%q) succeeded, want an error", token)
		}
	}
}

// TestRetryPolicyIsTheRuns: the token source retries with the policy it is
// given (here: one attempt), not a policy of its own.
func TestRetryPolicyIsTheRuns(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	sb.InjectFault(sandbox.Fault{Service: "github", Operation: "token", Status: 503, Times: 2})
	env := sb.Env()
	transport := &countingTransport{}
	src := &TokenSource{Getenv: func(k string) string { return env[k] }, Client: &http.Client{Transport: transport}, Mask: func(string) {},
		Retry: retry.New(retry.Options{Attempts: 1})}
	if _, err := src.Token(context.Background(), "sts.amazonaws.com"); err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("Token with one attempt against a failing service = %v, want its HTTP 503", err)
	}
	if got := transport.n.Load(); got != 1 {
		t.Errorf("%d requests, want the policy's one attempt", got)
	}
}

// TestFirstLineIsCut: a token service's error body is quoted by its first
// line, cut after 200 characters.
func TestFirstLineIsCut(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ body, want string }{
		{"  upstream timeout\nstack trace...", "upstream timeout"},
		{strings.Repeat("x", 200), strings.Repeat("x", 200)},
		{strings.Repeat("x", 201) + "\nmore", strings.Repeat("x", 200) + "..."},
	} {
		if got := firstLine([]byte(tt.body)); got != tt.want {
			t.Errorf("firstLine(%.20q...) = %.30q..., want %.30q...", tt.body, got, tt.want)
		}
	}
}

// TestParseClaimsAudience: the aud claim is one string or a list of them;
// anything else is an error naming it.
func TestParseClaimsAudience(t *testing.T) {
	t.Parallel()
	token := func(payload string) string {
		return "e30." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
	}
	for _, tt := range []struct {
		payload string
		want    string
	}{
		{`{"aud": "sts.amazonaws.com"}`, "sts.amazonaws.com"},
		{`{"aud": ["sts.amazonaws.com", "https://github.com/acme"]}`, "sts.amazonaws.com,https://github.com/acme"},
	} {
		c, err := ParseClaims(token(tt.payload))
		if err != nil || c.Audience.String() != tt.want {
			t.Errorf("ParseClaims(%s) = %v, %v; want audience %s", tt.payload, c.Audience, err, tt.want)
		}
	}
	if _, err := ParseClaims(token(`{"aud": 42}`)); err == nil || !strings.Contains(err.Error(), "aud:") {
		t.Errorf("ParseClaims with a numeric aud = %v, want an error naming aud", err)
	}
}
