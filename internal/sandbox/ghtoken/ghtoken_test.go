package ghtoken_test

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ghtoken"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// decodedToken is an ID token split into its parts.
type decodedToken struct {
	header map[string]any
	claims map[string]any
}

func decodeToken(tb testing.TB, token string) decodedToken {
	tb.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		tb.Fatalf("token has %d parts, want 3", len(parts))
	}
	var d decodedToken
	for i, v := range []*map[string]any{&d.header, &d.claims} {
		data, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			tb.Fatalf("token part %d: %v", i, err)
		}
		if err := json.Unmarshal(data, v); err != nil {
			tb.Fatalf("token part %d: %v", i, err)
		}
	}
	return d
}

func getJSON(tb testing.TB, u string, v any) {
	tb.Helper()
	resp, err := http.Get(u)
	if err != nil {
		tb.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s", u, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		tb.Errorf("GET %s: Content-Type %q, want application/json", u, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatalf("GET %s: %v", u, err)
	}
}

func TestDiscoveryAndSignature(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	var discovery struct {
		Issuer  string   `json:"issuer"`
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	getJSON(t, sb.GitHubURL()+"/.well-known/openid-configuration", &discovery)
	if discovery.Issuer != ghtoken.DefaultIssuer {
		t.Errorf("issuer = %q, want %q", discovery.Issuer, ghtoken.DefaultIssuer)
	}
	if !strings.HasPrefix(discovery.JWKSURI, sb.GitHubURL()+"/") {
		t.Errorf("jwks_uri = %q, want a URL of the local token service %s", discovery.JWKSURI, sb.GitHubURL())
	}
	if diff := cmp.Diff([]string{"RS256"}, discovery.Algs); diff != "" {
		t.Errorf("signing algorithms (-want +got):\n%s", diff)
	}
	var jwks jose.JSONWebKeySet
	getJSON(t, discovery.JWKSURI, &jwks)

	token := sandboxtest.Token(t, sb, "sts.amazonaws.com")
	d := decodeToken(t, token)
	if d.header["alg"] != "RS256" || d.header["typ"] != "JWT" {
		t.Errorf("header = %v, want alg RS256, typ JWT", d.header)
	}
	kid, _ := d.header["kid"].(string)
	keys := jwks.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("%d keys with kid %q in the JWKS, want 1", len(keys), kid)
	}
	if _, ok := keys[0].Key.(*rsa.PublicKey); !ok || keys[0].Algorithm != "RS256" || keys[0].Use != "sig" {
		t.Errorf("JWKS key %q: %T alg %q use %q, want an RSA signing key for RS256", kid, keys[0].Key, keys[0].Algorithm, keys[0].Use)
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse the ID token: %v", err)
	}
	if _, err := jws.Verify(keys[0]); err != nil {
		t.Errorf("signature does not verify against the served JWKS: %v", err)
	}
}

func TestTokenClaims(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	before := time.Now().Unix()
	c := decodeToken(t, sandboxtest.Token(t, sb, "sts.amazonaws.com")).claims

	var names []string
	for k := range c {
		names = append(names, k)
	}
	sort.Strings(names)
	want := []string{
		"actor", "actor_id", "aud", "base_ref", "environment", "event_name", "exp", "head_ref", "iat", "iss",
		"job_workflow_ref", "job_workflow_sha", "jti", "nbf", "ref", "ref_protected", "ref_type", "repository",
		"repository_id", "repository_owner", "repository_owner_id", "repository_visibility", "run_attempt",
		"run_id", "run_number", "runner_environment", "sha", "sub", "triggering_actor", "workflow",
		"workflow_ref", "workflow_sha",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("claim names (-want +got):\n%s", diff)
	}
	str := map[string]any{
		"iss": c["iss"], "aud": c["aud"], "sub": c["sub"], "repository": c["repository"],
		"ref": c["ref"], "run_id": c["run_id"], "head_ref": c["head_ref"], "ref_protected": c["ref_protected"],
	}
	wantStr := map[string]any{
		"iss": ghtoken.DefaultIssuer, "aud": "sts.amazonaws.com", "sub": "repo:acme/web-api:environment:production",
		"repository": "acme/web-api", "ref": "refs/heads/main", "run_id": "9876543210", "head_ref": "",
		"ref_protected": "true",
	}
	if diff := cmp.Diff(wantStr, str); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	iat, exp, nbf := int64(c["iat"].(float64)), int64(c["exp"].(float64)), int64(c["nbf"].(float64))
	if exp-iat != 300 {
		t.Errorf("exp - iat = %d s, want GitHub's 300", exp-iat)
	}
	if iat < before-1 || iat > time.Now().Unix()+1 || nbf > iat {
		t.Errorf("iat = %d, nbf = %d, want now (%d)", iat, nbf, before)
	}
	if jti, _ := c["jti"].(string); len(jti) != 36 {
		t.Errorf("jti = %q, want a UUID", jti)
	}
	// Every token is new.
	if other := decodeToken(t, sandboxtest.Token(t, sb, "sts.amazonaws.com")).claims; other["jti"] == c["jti"] {
		t.Errorf("two tokens share jti %v", c["jti"])
	}
	if got, want := sb.TokenRequests(), 2; got != want {
		t.Errorf("TokenRequests = %d, want %d", got, want)
	}
}

func TestTokenAudience(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	tests := []struct {
		name, audience, want string
	}{
		{"default_is_the_owner", "", "https://github.com/acme"},
		{"sts", "sts.amazonaws.com", "sts.amazonaws.com"},
		{"custom", "https://example.com/aud?x=1", "https://example.com/aud?x=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := decodeToken(t, sandboxtest.Token(t, sb, tt.audience)).claims["aud"]; got != tt.want {
				t.Errorf("aud = %v, want %q", got, tt.want)
			}
		})
	}
}

func TestTokenBearer(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	u := sb.Env()["ACTIONS_ID_TOKEN_REQUEST_URL"] + "&audience=sts.amazonaws.com"
	tests := []struct {
		name   string
		bearer string
		want   int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"wrong", "not-the-request-token", http.StatusUnauthorized},
		{"right", sb.Env()["ACTIONS_ID_TOKEN_REQUEST_TOKEN"], http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if status, _ := getWithBearer(t, u, tt.bearer); status != tt.want {
				t.Errorf("status = %d, want %d", status, tt.want)
			}
		})
	}
	t.Cleanup(func() {
		if got := sb.TokenRequests(); got != 1 {
			t.Errorf("TokenRequests = %d, want 1 (refused requests issue nothing)", got)
		}
	})
}

func TestSubject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		claims map[string]string
		want   string
	}{
		{"branch", map[string]string{"ref": "refs/heads/main", "ref_type": "branch", "event_name": "push"}, "repo:acme/web-api:ref:refs/heads/main"},
		{"tag", map[string]string{"ref": "refs/tags/v1", "ref_type": "tag", "event_name": "push"}, "repo:acme/web-api:ref:refs/tags/v1"},
		{"pull_request", map[string]string{"ref": "refs/pull/7/merge", "event_name": "pull_request", "head_ref": "feature", "base_ref": "main"}, "repo:acme/web-api:pull_request"},
		{"environment", map[string]string{"ref": "refs/heads/main", "environment": "production", "event_name": "push"}, "repo:acme/web-api:environment:production"},
		{"environment_on_pull_request", map[string]string{"ref": "refs/pull/7/merge", "environment": "preview", "event_name": "pull_request"}, "repo:acme/web-api:environment:preview"},
		{"explicit_sub", map[string]string{"ref": "refs/heads/main", "sub": "repo:acme/web-api:ref:refs/heads/main:custom"}, "repo:acme/web-api:ref:refs/heads/main:custom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sb := sandboxtest.Start(t, func(w *sandbox.World) {
				claims := map[string]string{"repository": "acme/web-api", "repository_owner": "acme"}
				for k, v := range tt.claims {
					claims[k] = v
				}
				w.GitHub.Claims = claims
			})
			c := decodeToken(t, sandboxtest.Token(t, sb, "sts.amazonaws.com")).claims
			if got := c["sub"]; got != tt.want {
				t.Errorf("sub = %v, want %q", got, tt.want)
			}
			if _, has := c["environment"]; has != (tt.claims["environment"] != "") {
				t.Errorf("environment claim present = %v, want %v", has, !has)
			}
		})
	}
}

func TestTokenFault(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	sb.InjectFault(sandbox.Fault{Service: "github", Operation: "token", Status: http.StatusServiceUnavailable, Times: 1})
	env := sb.Env()
	u := env["ACTIONS_ID_TOKEN_REQUEST_URL"] + "&audience=sts.amazonaws.com"
	if status, _ := getWithBearer(t, u, env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]); status != http.StatusServiceUnavailable {
		t.Errorf("first request: status %d, want the injected 503", status)
	}
	if status, _ := getWithBearer(t, u, env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]); status != http.StatusOK {
		t.Errorf("second request: status %d, want 200", status)
	}
	if got := sb.TokenRequests(); got != 1 {
		t.Errorf("TokenRequests = %d, want 1", got)
	}
}

func TestSecretsListed(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	token := sandboxtest.Token(t, sb, "sts.amazonaws.com")
	secrets := strings.Join(sb.Secrets(), "\n")
	for name, s := range map[string]string{"ID token": token, "request token": sb.Env()["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]} {
		if !strings.Contains(secrets, s) {
			t.Errorf("Secrets() lacks the %s", name)
		}
	}
}

// getWithBearer GETs u with bearer as the Authorization, as the runner asks
// for a token, and returns the status and body.
func getWithBearer(tb testing.TB, u, bearer string) (int, []byte) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("GET token endpoint: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, body
}
