// Package ghtoken stands in for GitHub Actions' OIDC token service: the
// discovery document and JWKS that STS reads, and the runner's token
// endpoint that a job calls with ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN,
// issuing RS256 ID tokens with GitHub's claim set.
package ghtoken

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/faults"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/randid"
)

// The paths the token service answers on, as GitHub's do.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	jwksPath      = "/.well-known/jwks"
	tokenPath     = "/_apis/distributedtask/token" //nolint:gosec // G101: a URL path, not a token
)

// DefaultIssuer is GitHub's OIDC issuer.
const DefaultIssuer = "https://token.actions.githubusercontent.com"

// Run is the workflow run that the token service stands in for.
type Run struct {
	// Issuer is the "iss" claim and the OIDC provider URL that trust policies
	// name; by default GitHub's own, https://token.actions.githubusercontent.com.
	Issuer string `json:"issuer,omitempty"`
	// TokenLifetimeSeconds is the ID token's lifetime; GitHub's is 300.
	TokenLifetimeSeconds int `json:"tokenLifetimeSeconds,omitempty"`
	// Claims are the run's facts: repository, ref, sha, environment, actor,
	// run_id, run_attempt, event_name, workflow, job_workflow_ref, and so on.
	// The token service derives "sub" from them as GitHub does unless "sub"
	// is given here.
	Claims map[string]string `json:"claims"`
	// IssuedAtOffsetSeconds shifts the "iat", "nbf" and "exp" of every token
	// from the sandbox's clock: a negative offset issues tokens in the past
	// (-600 gives tokens that expired five minutes ago), a positive one
	// issues tokens that are not valid yet.
	IssuedAtOffsetSeconds int `json:"issuedAtOffsetSeconds,omitempty"`
}

// Normalize fills in GitHub's defaults: its issuer, a 300-second lifetime.
func (r *Run) Normalize() {
	if r.Issuer == "" {
		r.Issuer = DefaultIssuer
	}
	if r.TokenLifetimeSeconds == 0 {
		r.TokenLifetimeSeconds = 300
	}
	if r.Claims == nil {
		r.Claims = map[string]string{}
	}
}

// Config is what the token service needs.
type Config struct {
	// Run is the run whose tokens it issues.
	Run Run
	// BaseURL is where the service is served, e.g. http://127.0.0.1:PORT.
	BaseURL string
	// Now is the clock tokens are issued by.
	Now func() time.Time
	// Faults may fail or delay token requests (service github, operation
	// token).
	Faults faults.Source
	// Logf, when set, receives one line per request.
	Logf func(format string, args ...any)
}

// githubAlwaysClaims are the claims every GitHub Actions ID token carries,
// empty when the run has no value for them (head_ref and base_ref on a push,
// for example). "environment" is only present when the job names one.
var githubAlwaysClaims = []string{
	"ref", "sha", "repository", "repository_owner", "repository_owner_id",
	"repository_id", "repository_visibility", "run_id", "run_number",
	"run_attempt", "actor", "actor_id", "workflow", "workflow_ref",
	"workflow_sha", "job_workflow_ref", "job_workflow_sha", "head_ref",
	"base_ref", "event_name", "ref_type", "ref_protected", "runner_environment",
}

// Service is the token service. It is an http.Handler.
type Service struct {
	cfg          Config
	requestToken string
	signer       jose.Signer
	jwks         jose.JSONWebKeySet
	mux          *http.ServeMux

	mu     sync.Mutex
	issued []string // every ID token handed out, for Secrets
}

// New returns a token service with a signing key of its own.
func New(cfg Config) (*Service, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate token signing key: %w", err)
	}
	// GitHub's kid is a hex SHA-1 thumbprint and x5t its base64url twin;
	// derive both from the key (its JWK thumbprint) so they change with it.
	public := jose.JSONWebKey{Key: &key.PublicKey, Algorithm: string(jose.RS256), Use: "sig"}
	thumbprint, err := public.Thumbprint(crypto.SHA1)
	if err != nil {
		return nil, fmt.Errorf("thumbprint of the token signing key: %w", err)
	}
	public.KeyID = strings.ToUpper(hex.EncodeToString(thumbprint))
	public.CertificateThumbprintSHA1 = thumbprint
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: public.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("x5t", base64.RawURLEncoding.EncodeToString(thumbprint)),
	)
	if err != nil {
		return nil, fmt.Errorf("token signer: %w", err)
	}
	g := &Service{
		cfg:          cfg,
		requestToken: randid.Token(30),
		signer:       signer,
		jwks:         jose.JSONWebKeySet{Keys: []jose.JSONWebKey{public}},
		mux:          http.NewServeMux(),
	}
	g.mux.HandleFunc("GET "+DiscoveryPath, g.serveDiscovery)
	g.mux.HandleFunc("GET "+jwksPath, g.serveJWKS)
	g.mux.HandleFunc(tokenPath, g.serveToken)
	return g, nil
}

// ServeHTTP serves the discovery document, the JWKS and the token endpoint.
func (g *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.cfg.Logf != nil {
		g.cfg.Logf("github %s %s", r.Method, r.URL.Path)
	}
	g.mux.ServeHTTP(w, r)
}

// RequestURL is the value of ACTIONS_ID_TOKEN_REQUEST_URL.
func (g *Service) RequestURL() string {
	return g.cfg.BaseURL + tokenPath + "?api-version=2.0"
}

// RequestToken is the value of ACTIONS_ID_TOKEN_REQUEST_TOKEN.
func (g *Service) RequestToken() string { return g.requestToken }

// Secrets is the request token and every ID token issued so far.
func (g *Service) Secrets() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string{g.requestToken}, g.issued...)
}

// Issued is how many ID tokens the token endpoint has issued.
func (g *Service) Issued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.issued)
}

// serveDiscovery serves the OpenID configuration. The issuer is the world's
// (GitHub's own by default), while jwks_uri points at this server, so that
// STS, which looks the issuer up here, fetches the keys from it.
func (g *Service) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	claims := append([]string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf"}, githubAlwaysClaims...)
	claims = append(claims, "environment")
	writeGitHubJSON(w, http.StatusOK, map[string]any{
		"issuer":                                g.cfg.Run.Issuer,
		"jwks_uri":                              g.cfg.BaseURL + jwksPath,
		"subject_types_supported":               []string{"public", "pairwise"},
		"response_types_supported":              []string{"id_token"},
		"claims_supported":                      claims,
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid"},
	})
}

// serveJWKS serves the keys tokens are signed with.
func (g *Service) serveJWKS(w http.ResponseWriter, r *http.Request) {
	writeGitHubJSON(w, http.StatusOK, g.jwks)
}

// serveToken is the runner's token endpoint: GET with the request token as
// a bearer, an optional audience, and a fresh signed ID token in reply.
func (g *Service) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeGitHubJSON(w, http.StatusMethodNotAllowed, githubError("The requested resource does not support http method '"+r.Method+"'."))
		return
	}
	f, err := faults.Apply(r.Context(), g.cfg.Faults, "github", "token")
	if err != nil {
		return
	}
	if f != nil {
		status, _, msg := f.Response()
		writeGitHubJSON(w, status, githubError(msg))
		return
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(bearer), []byte(g.requestToken)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer`)
		body := githubError("TF400813: The user '' is not authorized to access this resource.")
		body["typeName"] = "Microsoft.TeamFoundation.Framework.Server.UnauthorizedRequestException"
		writeGitHubJSON(w, http.StatusUnauthorized, body)
		return
	}
	audience := r.URL.Query().Get("audience")
	if audience == "" {
		audience = "https://github.com/" + g.cfg.Run.Claims["repository_owner"]
	}
	token, err := g.mint(audience)
	if err != nil {
		writeGitHubJSON(w, http.StatusInternalServerError, githubError("sign token: "+err.Error()))
		return
	}
	g.mu.Lock()
	g.issued = append(g.issued, token)
	g.mu.Unlock()
	writeGitHubJSON(w, http.StatusOK, map[string]any{"count": len(token), "value": token})
}

// claims builds the payload of an ID token for audience, issued at iat.
func (g *Service) claims(audience string, iat time.Time) map[string]any {
	run := g.cfg.Run
	c := map[string]any{}
	for _, name := range githubAlwaysClaims {
		c[name] = ""
	}
	for k, v := range run.Claims {
		c[k] = v
	}
	if run.Claims["environment"] == "" {
		delete(c, "environment")
	}
	if run.Claims["sub"] == "" {
		c["sub"] = githubSubject(run.Claims)
	}
	c["jti"] = randid.UUID()
	c["aud"] = audience
	c["iss"] = run.Issuer
	c["iat"] = iat.Unix()
	c["nbf"] = iat.Unix()
	c["exp"] = iat.Add(time.Duration(run.TokenLifetimeSeconds) * time.Second).Unix()
	return c
}

// githubSubject derives the "sub" claim the way GitHub's default subject
// template does: the environment wins, then pull requests, then the ref.
func githubSubject(claims map[string]string) string {
	prefix := "repo:" + claims["repository"]
	switch {
	case claims["environment"] != "":
		return prefix + ":environment:" + claims["environment"]
	case claims["event_name"] == "pull_request":
		return prefix + ":pull_request"
	default:
		return prefix + ":ref:" + claims["ref"]
	}
}

// mint signs a new RS256 ID token.
func (g *Service) mint(audience string) (string, error) {
	iat := g.cfg.Now().Add(time.Duration(g.cfg.Run.IssuedAtOffsetSeconds) * time.Second)
	return jwt.Signed(g.signer).Claims(g.claims(audience, iat)).Serialize()
}

// githubError is the body of a failed token request.
func githubError(msg string) map[string]any {
	return map[string]any{"$id": "1", "innerException": nil, "message": msg}
}

func writeGitHubJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a client gone away hears nothing more
}
