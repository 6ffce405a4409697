// Package oidc fetches the GitHub Actions OIDC ID token of the running job,
// a fresh one on every call, and reads its claims for diagnostics.
package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/endpoint"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/retry"
)

// The variables the runner sets for a job with permissions: id-token: write.
const (
	RequestURLVar   = "ACTIONS_ID_TOKEN_REQUEST_URL"
	RequestTokenVar = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
)

// ErrNoIDTokenPermission is returned, before any network call, when the job
// may not request an ID token.
var ErrNoIDTokenPermission = errors.New("the job may not request a GitHub OIDC token")

// PermissionHelp is what to add to a workflow so that its job can request
// an ID token.
const PermissionHelp = `GitHub gives a job an OIDC token only when the workflow allows it. Add to the
workflow, or to the deploy job:

  permissions:
    id-token: write   # lets the job request its OIDC token
    contents: read    # still needed by actions/checkout once permissions are set

A job triggered by a pull request from a fork never gets the token.`

// TokenSource fetches ID tokens from the runner's token endpoint. It never
// caches a token: each one is good for five minutes, and every credential
// refresh must present a new one.
type TokenSource struct {
	// Getenv reads the request variables; required.
	Getenv func(string) string
	// Client makes the requests; http.DefaultClient when nil.
	Client *http.Client
	// Mask is called with every token (and the request token) before Token
	// returns, so that nothing printed afterwards can show it; required.
	Mask func(secret string)
	// Retry is the run's retry policy (its classification, backoff and
	// budget); a policy of its own when nil.
	Retry *retry.Policy
	// RequestTimeout bounds one request, retries aside; 30 s when zero.
	RequestTimeout time.Duration
}

// Check reports whether the job may request a token, and whether the
// request URL is https (or http to loopback), without a network call.
func (s *TokenSource) Check() error {
	var missing []string
	for _, v := range []string{RequestURLVar, RequestTokenVar} {
		if s.Getenv(v) == "" {
			missing = append(missing, v)
		}
	}
	if len(missing) == 0 {
		// The request token goes to this URL, and the ID token comes back.
		return endpoint.Check(RequestURLVar, s.Getenv(RequestURLVar))
	}
	verb := "are"
	if len(missing) == 1 {
		verb = "is"
	}
	return fmt.Errorf("%w: %s %s not set.\n%s", ErrNoIDTokenPermission, strings.Join(missing, " and "), verb, PermissionHelp)
}

// Token fetches a new ID token for audience. Transient failures (HTTP 429,
// 5xx, connection errors) are retried by the retry policy within ctx; the
// token is masked before it is returned.
func (s *TokenSource) Token(ctx context.Context, audience string) (string, error) {
	if err := s.Check(); err != nil {
		return "", err
	}
	requestToken := s.Getenv(RequestTokenVar)
	s.Mask(requestToken)
	u, err := url.Parse(s.Getenv(RequestURLVar))
	if err != nil {
		return "", fmt.Errorf("fetch OIDC token: %s is not a URL: %w", RequestURLVar, err)
	}
	q := u.Query()
	q.Set("audience", audience)
	u.RawQuery = q.Encode()

	policy := s.Retry
	if policy == nil {
		policy = retry.New(retry.Options{})
	}
	var token string
	err = policy.Do(ctx, "fetch OIDC token", func(ctx context.Context) error {
		token, err = s.fetch(ctx, u.String(), requestToken)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("fetch OIDC token from the token service at %s: %w", endpointOf(u), err)
	}
	return token, nil
}

// endpointOf is scheme://host/path of the token URL: its query carries
// nothing secret, but nothing about it needs printing either.
func endpointOf(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// StatusError is an answer of the token service other than 200 OK.
type StatusError struct {
	Status int
	msg    string
}

func (e *StatusError) Error() string { return e.msg }

// HTTPStatusCode is the answer's status; the retry policy classifies by it.
func (e *StatusError) HTTPStatusCode() int { return e.Status }

// fetch makes one request.
func (s *TokenSource) fetch(ctx context.Context, tokenURL, requestToken string) (string, error) {
	timeout := s.RequestTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tokenURL, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+requestToken)
	req.Header.Set("Accept", "application/json")
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// The error names the URL, whose query is not secret; the request
		// token travels in a header and is not part of it.
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("read token response: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", &StatusError{Status: resp.StatusCode, msg: fmt.Sprintf("token service refused the request (HTTP %d): %s is not valid for this job; it is only good while the job runs", resp.StatusCode, RequestTokenVar)}
	case resp.StatusCode != http.StatusOK:
		return "", &StatusError{Status: resp.StatusCode, msg: fmt.Sprintf("token service answered HTTP %d: %s", resp.StatusCode, firstLine(body))}
	}
	var answer struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return "", fmt.Errorf("token service answer is not JSON: %w", err)
	}
	if answer.Value == "" {
		return "", errors.New("token service answer has no token (value)")
	}
	s.Mask(answer.Value)
	return answer.Value, nil
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(line) > 200 {
		line = line[:200] + "..."
	}
	return line
}

// Retriever adapts the source to the AWS SDK's stscreds.IdentityTokenRetriever,
// which takes no context: the one given here bounds every fetch.
func (s *TokenSource) Retriever(ctx context.Context, audience string) *Retriever {
	return &Retriever{ctx: ctx, source: s, audience: audience}
}

// Retriever fetches a new token on each GetIdentityToken call.
type Retriever struct {
	// ctx is kept because the SDK's interface has no context parameter; it is
	// the run's context, so an interrupt still stops a fetch.
	ctx      context.Context
	source   *TokenSource
	audience string
}

// GetIdentityToken fetches a fresh token.
func (r *Retriever) GetIdentityToken() ([]byte, error) {
	token, err := r.source.Token(r.ctx, r.audience)
	if err != nil {
		return nil, err
	}
	return []byte(token), nil
}

// Claims are the claims of an ID token that diagnostics show.
type Claims struct {
	Issuer         string    `json:"iss"`
	Subject        string    `json:"sub"`
	Audience       Audience  `json:"aud"`
	Ref            string    `json:"ref"`
	Environment    string    `json:"environment"`
	JobWorkflowRef string    `json:"job_workflow_ref"`
	Repository     string    `json:"repository"`
	IssuedAt       Timestamp `json:"iat"`
	NotBefore      Timestamp `json:"nbf"`
	Expires        Timestamp `json:"exp"`
}

// Audience is the "aud" claim, a string or a list of strings in a JWT.
type Audience []string

// UnmarshalJSON accepts both forms.
func (a *Audience) UnmarshalJSON(data []byte) error {
	var one string
	if err := json.Unmarshal(data, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil {
		return fmt.Errorf("aud: %w", err)
	}
	*a = many
	return nil
}

// String joins the audiences with commas.
func (a Audience) String() string { return strings.Join(a, ",") }

// Timestamp is a JWT NumericDate.
type Timestamp struct{ time.Time }

// UnmarshalJSON reads seconds since the epoch.
func (t *Timestamp) UnmarshalJSON(data []byte) error {
	var secs float64
	if err := json.Unmarshal(data, &secs); err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	t.Time = time.Unix(int64(secs), 0).UTC()
	return nil
}

// ParseClaims reads a token's claims without verifying its signature: they
// are for explaining a failure, never for deciding anything.
func ParseClaims(token string) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, errors.New("parse ID token claims: not a JWT (want three dot-separated parts)")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Claims{}, fmt.Errorf("parse ID token claims: %w", err)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Claims{}, fmt.Errorf("parse ID token claims: %w", err)
	}
	return c, nil
}
