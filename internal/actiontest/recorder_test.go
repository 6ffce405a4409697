package actiontest

import (
	"bytes"
	"encoding/base64"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// secretRecorder is a transparent reverse proxy between the action and the
// standalone sandbox. It passes every request and response through
// unchanged (the Host header too, so SigV4 signatures stay valid) and keeps
// every secret the sandbox hands out on the way: ID tokens, secret access
// keys, session tokens and ECR registry passwords. The standalone sandbox
// cannot tell a test which secrets it issued; this way the test knows each
// one the action held, and can look for it in everything the run left.
type secretRecorder struct {
	mu      sync.Mutex
	secrets map[string]string // secret -> kind
}

// secretPattern finds one kind of secret in a response body.
type secretPattern struct {
	kind string
	re   *regexp.Regexp
}

// awsSecrets are the secrets in STS (awsQuery XML) and ECR (JSON) answers.
var awsSecrets = []secretPattern{
	{"secret access key", regexp.MustCompile(`<SecretAccessKey>([^<]+)</SecretAccessKey>`)},
	{"session token", regexp.MustCompile(`<SessionToken>([^<]+)</SessionToken>`)},
	{"ECR authorization token", regexp.MustCompile(`"authorizationToken"\s*:\s*"([^"]+)"`)},
}

// tokenServiceSecrets is the ID token in the token service's answer. Only
// that service's answers are read for it: ECS answers have "value" fields
// too (tags, environment variables), which are no secret.
var tokenServiceSecrets = []secretPattern{
	{"ID token", regexp.MustCompile(`"value"\s*:\s*"([^"]+)"`)},
}

func newSecretRecorder() *secretRecorder {
	return &secretRecorder{secrets: map[string]string{}}
}

// add records a secret the test knows of another way.
func (r *secretRecorder) add(kind, secret string) {
	if secret == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets[secret] = kind
	if kind == "ECR authorization token" {
		// base64("AWS:" + password): the password is what a client sends.
		if dec, err := base64.StdEncoding.DecodeString(secret); err == nil {
			if _, pw, ok := strings.Cut(string(dec), ":"); ok {
				r.secrets[pw] = "ECR registry password"
			}
		}
	}
}

// scan records every secret of the given patterns in a response body.
func (r *secretRecorder) scan(body []byte, patterns []secretPattern) {
	for _, p := range patterns {
		for _, m := range p.re.FindAllSubmatch(body, -1) {
			r.add(p.kind, string(m[1]))
		}
	}
}

// all returns the recorded secrets and their kinds.
func (r *secretRecorder) all() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.secrets))
	for k, v := range r.secrets {
		out[k] = v
	}
	return out
}

// kinds counts the recorded secrets by kind.
func (r *secretRecorder) kinds() map[string]int {
	n := map[string]int{}
	for _, kind := range r.all() {
		n[kind]++
	}
	return n
}

// proxy starts a recording reverse proxy to target (a base URL), looking
// for the secrets of patterns in its answers, and returns its base URL.
func (r *secretRecorder) proxy(tb testing.TB, target string, patterns []secretPattern) string {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// Keep the Host the client signed.
			pr.Out.Host = pr.In.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			r.scan(body, patterns)
			resp.Body = io.NopCloser(bytes.NewReader(body))
			return nil
		},
	}
	srv := httptest.NewServer(rp)
	tb.Cleanup(srv.Close)
	return srv.URL
}

func TestSecretRecorder(t *testing.T) {
	t.Parallel()
	r := newSecretRecorder()
	pw := base64.StdEncoding.EncodeToString([]byte("AWS:registry-password-1"))
	r.scan([]byte(`<Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>sk/1+2</SecretAccessKey><SessionToken>IQoJtoken</SessionToken></Credentials>`), awsSecrets)
	r.scan([]byte(`{"authorizationData":[{"authorizationToken":"`+pw+`","proxyEndpoint":"x"}]}`), awsSecrets)
	r.scan([]byte(`{"tags":[{"key":"team","value":"payments"}]}`), awsSecrets)
	r.scan([]byte(`{"count": 1, "value": "eyJa.eyJb.sig"}`), tokenServiceSecrets)
	want := map[string]string{
		"sk/1+2":              "secret access key",
		"IQoJtoken":           "session token",
		pw:                    "ECR authorization token",
		"registry-password-1": "ECR registry password",
		"eyJa.eyJb.sig":       "ID token",
	}
	if got := r.all(); !maps.Equal(got, want) {
		t.Errorf("recorded %v, want %v", got, want)
	}
}
