package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/httpclient"
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

// remoteRepo is the repository a push goes to, as go-containerregistry
// reaches it: with the ECR password for that registry only, through a
// transport whose every wait is bounded.
type remoteRepo struct {
	repo     name.Repository
	nameOpts []name.Option
	opts     []remote.Option
	// closeIdle releases the connections of the transport made here.
	closeIdle func()
}

func newRemote(creds *ecrLogin, t target, req PushRequest) (*remoteRepo, error) {
	var nameOpts []name.Option
	if creds.endpoint.Scheme == "http" {
		// The registry ECR named is on loopback and speaks plain HTTP
		// (the sandbox's): docker and skopeo treat loopback alike.
		nameOpts = append(nameOpts, name.Insecure)
	}
	repo, err := name.NewRepository(t.uri(), nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", t.uri(), err)
	}
	r := &remoteRepo{repo: repo, nameOpts: nameOpts, closeIdle: func() {}}
	var base http.RoundTripper
	if req.HTTPClient != nil && req.HTTPClient.Transport != nil {
		base = req.HTTPClient.Transport
	} else {
		tr := httpclient.NewTransport(httpclient.Timeouts{})
		base, r.closeIdle = tr, tr.CloseIdleConnections
	}
	r.opts = append([]remote.Option{
		remote.WithAuthFromKeychain(creds.keychain()),
		remote.WithTransport(credentialGuard{inner: base, login: creds}),
		remote.WithJobs(req.Concurrency),
		remote.WithUserAgent("oidc-ecs-deploy"),
	}, noRetries...)
	return r, nil
}

func (r *remoteRepo) close() { r.closeIdle() }

// options are the remote options of one push.
func (r *remoteRepo) options(ctx context.Context, extra ...remote.Option) []remote.Option {
	opts := append([]remote.Option{remote.WithContext(ctx)}, r.opts...)
	return append(opts, extra...)
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
		if m := deniedPattern.FindStringSubmatch(message); m != nil {
			return fmt.Errorf("push to %s: the role may not call %s there; allow %s on %s: %w", t.uri(), m[1], m[1], m[2], err)
		}
		return fmt.Errorf("push to %s: the role is not allowed to push there (%s); grant it ecr:BatchCheckLayerAvailability, ecr:InitiateLayerUpload, ecr:UploadLayerPart, ecr:CompleteLayerUpload, ecr:PutImage and ecr:BatchGetImage on the repository: %w", t.uri(), message, err)
	case code == string(transport.NameUnknownErrorCode):
		return fmt.Errorf("push to %s: repository %q does not exist in registry %s (%s): %w", t.uri(), t.name, t.host, message, err)
	}
	return fmt.Errorf("push to %s: the registry answered %d: %w", t.uri(), te.StatusCode, err)
}

// deniedPattern reads the action and resource out of ECR's refusal:
// "User: ARN is not authorized to perform: ecr:PutImage on resource: ARN ...".
var deniedPattern = regexp.MustCompile(`not authorized to perform: (ecr:[A-Za-z]+) on resource: (\S+)`)

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
