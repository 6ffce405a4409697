package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/retry"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// TestWrongPassword talks to the sandbox's ECR front with a password it
// never issued: the push's error says the registry refused the password.
func TestWrongPassword(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.StartWorld(t, sandbox.DemoWorld(), sandbox.Options{})
	tgt := target{host: sb.RegistryHost("111122223333"), name: "web-api"}
	creds := &ecrLogin{password: "not-the-password", endpoint: &url.URL{Scheme: "https", Host: tgt.host}}
	r, err := newRemote(creds, tgt, PushRequest{Concurrency: 1, HTTPClient: &http.Client{Transport: sb.Transport(nil)}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	p := &pusher{remote: r, target: tgt, retry: retry.New(retry.Options{})}
	puller, err := remote.NewPuller(r.options(context.Background())...)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := r.tag("v1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.existingTags(context.Background(), puller, []string{"v1"}, []name.Tag{ref})
	if err == nil {
		t.Fatal("the front accepted a wrong password")
	}
	err = explain(err, tgt)
	for _, want := range []string{"rejected the ECR password", tgt.host + "/web-api", "401"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "not-the-password") {
		t.Errorf("error %q shows the password", err)
	}
}

func TestLoginAllows(t *testing.T) {
	t.Parallel()
	const issued = "111122223333.dkr.ecr.us-east-1.amazonaws.com"
	tests := []struct {
		name     string
		endpoint string
		host     string
		want     bool
	}{
		{"issued_host", "https://" + issued, issued, true},
		{"issued_host_other_case", "https://" + issued, strings.ToUpper(issued), true},
		{"fips_endpoint_same_registry", "https://" + issued, "111122223333.dkr.ecr-fips.us-east-1.amazonaws.com", true},
		{"other_account", "https://" + issued, "444455556666.dkr.ecr.us-east-1.amazonaws.com", false},
		{"other_region", "https://" + issued, "111122223333.dkr.ecr.eu-west-1.amazonaws.com", false},
		{"other_partition", "https://" + issued, "111122223333.dkr.ecr.us-east-1.amazonaws.com.cn", false},
		{"lookalike_suffix", "https://" + issued, issued + ".registry.invalid", false},
		{"lookalike_prefix", "https://" + issued, "evil-" + issued, false},
		{"other_registry", "https://" + issued, "ghcr.io", false},
		{"with_port", "https://" + issued, issued + ":443", false},
		{"sandbox_front", "http://127.0.0.1:5000", "127.0.0.1:5000", true},
		{"sandbox_other_port", "http://127.0.0.1:5000", "127.0.0.1:5001", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tc.endpoint)
			if err != nil {
				t.Fatal(err)
			}
			l := &ecrLogin{password: "pw", endpoint: u}
			if got := l.allows(tc.host); got != tc.want {
				t.Errorf("allows(%q) with the password issued for %s = %v, want %v", tc.host, tc.endpoint, got, tc.want)
			}
		})
	}
}

// TestCredentialGuard: whatever asks for it, a request carrying the
// password to a host it was not issued for, or over plain HTTP off
// loopback, never leaves the machine.
func TestCredentialGuard(t *testing.T) {
	t.Parallel()
	endpoint, _ := url.Parse("https://111122223333.dkr.ecr.us-east-1.amazonaws.com")
	creds := &ecrLogin{password: "pw", endpoint: endpoint}
	tests := []struct {
		name    string
		url     string
		auth    bool
		refused bool
	}{
		{"password_to_issued_host", "https://111122223333.dkr.ecr.us-east-1.amazonaws.com/v2/", true, false},
		{"password_to_other_host", "https://registry.example.invalid/v2/", true, true},
		{"password_over_plain_http", "http://111122223333.dkr.ecr.us-east-1.amazonaws.com/v2/", true, true},
		{"anonymous_to_other_host", "https://layers.example.invalid/blob", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reached := false
			g := creds.guard(roundTripFunc(func(*http.Request) (*http.Response, error) {
				reached = true
				return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
			}))
			req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
			if tc.auth {
				req.SetBasicAuth("AWS", "pw")
			}
			resp, err := g.RoundTrip(req)
			if resp != nil {
				_ = resp.Body.Close()
			}
			if refused := err != nil; refused != tc.refused || reached == tc.refused {
				t.Errorf("RoundTrip(%s, authorization %v): err = %v, reached the network %v; want refused %v", tc.url, tc.auth, err, reached, tc.refused)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// authRecorder is a registry (go-containerregistry's) that asks for Basic
// credentials, as ECR's does, and records the Authorization headers it
// receives; it takes any.
type authRecorder struct {
	mu      sync.Mutex
	headers []string
	h       http.Handler
}

func (a *authRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	a.mu.Lock()
	a.headers = append(a.headers, auth)
	a.mu.Unlock()
	if auth == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"Not Authorized"}]}`, http.StatusUnauthorized)
		return
	}
	a.h.ServeHTTP(w, r)
}

func (a *authRecorder) authorized() (requests, withAuth int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, h := range a.headers {
		if h != "" {
			withAuth++
		}
	}
	return len(a.headers), withAuth
}

// TestKeychainLendsThePasswordToItsRegistryOnly pushes with the keychain
// and the guard through go-containerregistry to two registries that both
// ask for credentials: the one the password was issued for gets it and
// takes the push; the other never sees an Authorization header, and so
// refuses the push.
func TestKeychainLendsThePasswordToItsRegistryOnly(t *testing.T) {
	t.Parallel()
	issued := &authRecorder{h: ggcrregistry.New()}
	other := &authRecorder{h: ggcrregistry.New()}
	issuedSrv, otherSrv := httptest.NewServer(issued), httptest.NewServer(other)
	defer issuedSrv.Close()
	defer otherSrv.Close()
	endpoint, _ := url.Parse(issuedSrv.URL)
	creds := &ecrLogin{password: "pw", endpoint: endpoint}
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	push := func(srv *httptest.Server) error {
		u, _ := url.Parse(srv.URL)
		ref, err := name.ParseReference(u.Host+"/app:v1", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return remote.Write(ref, img,
			remote.WithAuthFromKeychain(creds.keychain()),
			remote.WithTransport(creds.guard(http.DefaultTransport)))
	}
	if err := push(issuedSrv); err != nil {
		t.Fatalf("push to the registry the password is for: %v", err)
	}
	// The keychain itself lends nothing there (the registry refuses an
	// anonymous push); the guard would refuse to send it anyway.
	var te *transport.Error
	if err := push(otherSrv); !errors.As(err, &te) || te.StatusCode != http.StatusUnauthorized {
		t.Errorf("push to the other registry = %v, want the registry's 401 to an anonymous push", err)
	}
	if requests, withAuth := other.authorized(); requests == 0 || withAuth != 0 {
		t.Errorf("the other registry got %d requests, %d with an Authorization header; want some, none with one", requests, withAuth)
	}
	if requests, withAuth := issued.authorized(); withAuth == 0 {
		t.Errorf("the registry the password is for got %d requests, none with an Authorization header", requests)
	}
}
