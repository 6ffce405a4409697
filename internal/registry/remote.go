package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/httpclient"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
)

// noRetries makes each of go-containerregistry's calls one attempt: the
// run's retry policy (PushRequest.Retry) retries a failed call as a whole,
// with the run's classification, backoff and budget, so that registry
// retries neither multiply nor escape the budget.
var noRetries = []remote.Option{
	remote.WithRetryPredicate(func(error) bool { return false }),
	remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
	remote.WithRetryStatusCodes(),
}

// conn is one registry as a push reaches it: a transport that pings it
// once and carries the credential the registry is lent, if any, guarded so
// that the credential goes there alone; go-containerregistry's pullers and
// pushers of the push share it.
type conn struct {
	registry name.Registry
	nameOpts []name.Option
	auth     authn.Authenticator
	// base is the guarded transport the registry's requests go through.
	base   http.RoundTripper
	scopes []string
	jobs   int

	once sync.Once
	tr   http.RoundTripper
	err  error
}

// newConn prepares the connection to the registry host, lending it auth
// (authn.Anonymous for none) through base, which must be guarded for it.
func newConn(host string, auth authn.Authenticator, base http.RoundTripper, jobs int, scopes ...string) (*conn, error) {
	var nameOpts []name.Option
	if isLoopbackHost(host) {
		// A registry on loopback speaks plain HTTP (the sandbox's, a test
		// registry): docker and skopeo treat loopback alike.
		nameOpts = append(nameOpts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", host, err)
	}
	return &conn{registry: reg, nameOpts: nameOpts, auth: auth, base: base, jobs: max(jobs, 1), scopes: scopes}, nil
}

// connect pings the registry for its authentication scheme once, and
// keeps the authenticated transport for every request after.
func (c *conn) connect(ctx context.Context) error {
	c.once.Do(func() {
		c.tr, c.err = transport.NewWithContext(ctx, c.registry, c.auth, c.base, c.scopes)
	})
	return c.err
}

// options are go-containerregistry's options for the registry: the
// connected transport (connect first), its credential, one attempt per
// call (the run's policy retries).
func (c *conn) options(ctx context.Context, extra ...remote.Option) []remote.Option {
	tr := c.tr
	if tr == nil {
		tr = c.base
	}
	opts := append([]remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(c.auth),
		remote.WithTransport(tr),
		remote.WithJobs(c.jobs),
		remote.WithUserAgent("oidc-ecs-deploy"),
	}, noRetries...)
	return append(opts, extra...)
}

// remoteRepo is the repository a push goes to, on a connection that lends
// the ECR password to that registry only, through a transport whose every
// wait is bounded.
type remoteRepo struct {
	*conn
	repo name.Repository
	// mounts records the blobs the registry mounted from another
	// repository rather than having them uploaded.
	mounts *mountLog
	// closeIdle releases the connections of the transport made here.
	closeIdle func()
}

func newRemote(creds *ecrLogin, t target, req PushRequest) (*remoteRepo, error) {
	r := &remoteRepo{mounts: &mountLog{digests: map[string]bool{}}, closeIdle: func() {}}
	base := baseTransport(req)
	if base == nil {
		tr := httpclient.NewTransport(httpclient.Timeouts{})
		base, r.closeIdle = tr, tr.CloseIdleConnections
	}
	c, err := newConn(t.host, creds.authenticator(), creds.guard(mountObserver{inner: base, log: r.mounts}), req.Concurrency)
	if err != nil {
		return nil, err
	}
	r.conn = c
	if r.repo, err = name.NewRepository(t.uri(), c.nameOpts...); err != nil {
		return nil, fmt.Errorf("repository %s: %w", t.uri(), err)
	}
	return r, nil
}

// baseTransport is the run's transport, nil when the request has none.
func baseTransport(req PushRequest) http.RoundTripper {
	if req.HTTPClient != nil && req.HTTPClient.Transport != nil {
		return req.HTTPClient.Transport
	}
	return nil
}

func (r *remoteRepo) close() { r.closeIdle() }

// mountLog is the set of blobs a registry mounted.
type mountLog struct {
	mu      sync.Mutex
	digests map[string]bool
}

func (m *mountLog) has(digest string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.digests[digest]
}

// mountObserver notes every blob mount the registry made: a POST to an
// upload URL that asks to mount a blob, answered 201 Created. (A registry
// that will not mount answers 202 Accepted, and the blob is uploaded.)
type mountObserver struct {
	inner http.RoundTripper
	log   *mountLog
}

func (o mountObserver) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := o.inner.RoundTrip(r)
	if err == nil && r.Method == http.MethodPost && resp.StatusCode == http.StatusCreated {
		if digest := r.URL.Query().Get("mount"); digest != "" {
			o.log.mu.Lock()
			o.log.digests[digest] = true
			o.log.mu.Unlock()
		}
	}
	return resp, err
}

// tag names a tag of the repository, checking its syntax.
func (r *remoteRepo) tag(tag string) (name.Tag, error) {
	t, err := name.NewTag(r.repo.Name()+":"+tag, append([]name.Option{name.StrictValidation}, r.nameOpts...)...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("tag %q is not a valid image tag (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'): %w", tag, err)
	}
	return t, nil
}

// explain turns the registry's answers that a user must act on into
// sentences that say what is wrong and where; err says what was attempted.
func explain(err error, t target) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return fmt.Errorf("push to %s: %w", t.uri(), err)
	}
	code, message := "", ""
	if len(te.Errors) > 0 {
		code, message = string(te.Errors[0].Code), te.Errors[0].Message
	}
	switch {
	case te.StatusCode == http.StatusUnauthorized && strings.Contains(message, "expired"):
		return fmt.Errorf("push to %s: the registry rejected the ECR password as expired (%s); log in again with GetAuthorizationToken: %w", t.uri(), message, err)
	case te.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("push to %s: the registry rejected the ECR password (401: wrong, or issued for another registry): %w", t.uri(), err)
	case te.StatusCode == http.StatusForbidden:
		if action, resource, ok := policy.ParseDenied(message); ok {
			return fmt.Errorf("push to %s: the role may not call %s there: %w\n%s", t.uri(), action, err, policy.Denied(action, resource))
		}
		return fmt.Errorf("push to %s: the role is not allowed to push there (%s); grant it ecr:BatchCheckLayerAvailability, ecr:InitiateLayerUpload, ecr:UploadLayerPart, ecr:CompleteLayerUpload and ecr:PutImage on the repository: %w", t.uri(), message, err)
	case code == string(transport.NameUnknownErrorCode):
		return fmt.Errorf("push to %s: repository %q does not exist in registry %s (%s): %w", t.uri(), t.name, t.host, message, err)
	}
	return fmt.Errorf("push to %s: the registry answered %d: %w", t.uri(), te.StatusCode, err)
}

// isManifestUnknown reports an absent tag, as opposed to an absent
// repository (NAME_UNKNOWN) or any other failure.
func isManifestUnknown(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusNotFound {
		return false
	}
	for _, d := range te.Errors {
		if d.Code == transport.NameUnknownErrorCode {
			return false
		}
	}
	return true
}

// configDigestOf reads the config digest of an image manifest; "" for an
// index or anything unreadable.
func configDigestOf(d *remote.Descriptor) string {
	if !d.MediaType.IsImage() {
		return ""
	}
	m, err := v1.ParseManifest(bytes.NewReader(d.Manifest))
	if err != nil {
		return ""
	}
	return m.Config.Digest.String()
}

// asTransportError finds the registry's answer in err.
func asTransportError(err error) (*transport.Error, bool) {
	var te *transport.Error
	ok := errors.As(err, &te)
	return te, ok
}
