package sandbox

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The paths the token service answers on, as GitHub's do.
const (
	githubDiscoveryPath = "/.well-known/openid-configuration"
	githubJWKSPath      = "/.well-known/jwks"
	githubTokenPath     = "/_apis/distributedtask/token"
)

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

// githubService stands in for GitHub's OIDC token service: the discovery
// document and JWKS that STS reads, and the runner's token endpoint that a
// job calls with ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN.
type githubService struct {
	s            *Sandbox
	requestToken string
	key          *rsa.PrivateKey
	kid          string
	x5t          string
	mux          *http.ServeMux

	mu     sync.Mutex
	issued []string // every ID token handed out, for Secrets
}

func newGitHubService(s *Sandbox) (*githubService, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate token signing key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encode token signing key: %w", err)
	}
	// GitHub's kid is a hex thumbprint of the signing key and x5t its
	// base64url twin; derive both from the key so they change with it.
	sum := sha256.Sum256(der)
	g := &githubService{
		s:            s,
		requestToken: randomToken(30),
		key:          key,
		kid:          strings.ToUpper(hex.EncodeToString(sum[:20])),
		x5t:          base64.RawURLEncoding.EncodeToString(sum[:20]),
		mux:          http.NewServeMux(),
	}
	g.mux.HandleFunc("GET "+githubDiscoveryPath, g.serveDiscovery)
	g.mux.HandleFunc("GET "+githubJWKSPath, g.serveJWKS)
	g.mux.HandleFunc(githubTokenPath, g.serveToken)
	return g, nil
}

func (g *githubService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.s.logf("github %s %s", r.Method, r.URL.Path)
	g.mux.ServeHTTP(w, r)
}

// requestURL is the value of ACTIONS_ID_TOKEN_REQUEST_URL.
func (g *githubService) requestURL() string {
	return g.s.GitHubURL() + githubTokenPath + "?api-version=2.0"
}

// issuedSecrets is the request token and every ID token issued so far.
func (g *githubService) issuedSecrets() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string{g.requestToken}, g.issued...)
}

// TokenRequests is how many ID tokens the token endpoint has issued. Each
// credential refresh must fetch a new one, so tests compare it with
// IssuedCredentials.
func (s *Sandbox) TokenRequests() int {
	s.github.mu.Lock()
	defer s.github.mu.Unlock()
	return len(s.github.issued)
}

// serveDiscovery serves the OpenID configuration. The issuer is the world's
// (GitHub's own by default), while jwks_uri points at this server, so that
// STS, which looks the issuer up here, fetches the keys from it.
func (g *githubService) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	claims := append([]string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf"}, githubAlwaysClaims...)
	claims = append(claims, "environment")
	writeGitHubJSON(w, http.StatusOK, map[string]any{
		"issuer":                                g.s.world.GitHub.Issuer,
		"jwks_uri":                              g.s.GitHubURL() + githubJWKSPath,
		"subject_types_supported":               []string{"public", "pairwise"},
		"response_types_supported":              []string{"id_token"},
		"claims_supported":                      claims,
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid"},
	})
}

// jwk is one key of a JSON Web Key Set.
type jwk struct {
	Kty string `json:"kty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
	Kid string `json:"kid"`
	X5t string `json:"x5t,omitempty"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func (g *githubService) serveJWKS(w http.ResponseWriter, r *http.Request) {
	pub := g.key.PublicKey
	writeGitHubJSON(w, http.StatusOK, map[string]any{"keys": []jwk{{
		Kty: "RSA",
		Alg: "RS256",
		Use: "sig",
		Kid: g.kid,
		X5t: g.x5t,
		N:   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		E:   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// serveToken is the runner's token endpoint: GET with the request token as
// a bearer, an optional audience, and a fresh signed ID token in reply.
func (g *githubService) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeGitHubJSON(w, http.StatusMethodNotAllowed, githubError("The requested resource does not support http method '"+r.Method+"'."))
		return
	}
	if f, ok := g.s.faults.take("github", "token"); ok {
		if f.LatencyMillis > 0 {
			select {
			case <-time.After(time.Duration(f.LatencyMillis) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		if f.Code != "" || f.Status != 0 {
			e := f.apiError()
			writeGitHubJSON(w, e.Status, githubError(e.Message))
			return
		}
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
		audience = "https://github.com/" + g.s.world.GitHub.Claims["repository_owner"]
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
func (g *githubService) claims(audience string, iat time.Time) map[string]any {
	run := g.s.world.GitHub
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
	c["jti"] = newRequestID()
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
func (g *githubService) mint(audience string) (string, error) {
	iat := g.s.now().Add(time.Duration(g.s.world.GitHub.IssuedAtOffsetSeconds) * time.Second)
	header, err := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "x5t": g.x5t, "kid": g.kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(g.claims(audience, iat))
	if err != nil {
		return "", err
	}
	signingInput := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, g.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// githubError is the body of a failed token request.
func githubError(msg string) map[string]any {
	return map[string]any{"$id": "1", "innerException": nil, "message": msg}
}

func writeGitHubJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
