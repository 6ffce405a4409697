package registry

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/httpclient"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
)

// registrySource is an image, or an index, already in a registry
// (docker://REFERENCE, skopeo's convention): resolved to a digest, then
// tagged where it is when it is in the target repository already, or
// copied registry to registry, blob by blob, without touching the disk
// (mounted when the registry is the target's and it may).
type registrySource struct {
	// given is the input, for messages.
	given string
	// ref is the reference read: as given, or on the registry endpoint an
	// ECR login names for its host.
	ref name.Reference
	// conn is the source registry's connection, the target's own when
	// the source is on the target's registry.
	conn *conn
	// how says which credential reads it, for the log.
	how string
	// inPlace reports an image of the target repository itself.
	inPlace bool
	// closeIdle releases a connection made for the source.
	closeIdle func()

	// Set by resolve: the image or index the reference named, by digest.
	*artifactSource
}

// parseRegistrySource reads the reference after docker://: REGISTRY/NAME,
// with :TAG or @sha256:DIGEST (a name without a registry is Docker Hub's,
// without a tag :latest, as docker and skopeo read it).
func parseRegistrySource(s string) (*registrySource, error) {
	ref, err := name.ParseReference(s)
	if err == nil {
		// A short Docker Hub name can read whole and yet be too long once
		// written in full (library/NAME): the push writes it in full.
		_, err = name.ParseReference(ref.Name())
	}
	if err != nil {
		return nil, fmt.Errorf("image docker://%s is not an image reference (docker://REGISTRY/NAME:TAG or docker://REGISTRY/NAME@sha256:DIGEST): %w", s, err)
	}
	return &registrySource{given: "docker://" + s, ref: ref, closeIdle: func() {}}, nil
}

func (s *registrySource) String() string { return s.given }

func (s *registrySource) close() { s.closeIdle() }

// Close releases nothing the push has not: the connection is released by
// close once the push is done.
func (s *registrySource) Close() error { return nil }

// resolved is the image read, REGISTRY/NAME@DIGEST.
func (s *registrySource) resolved() string {
	d, err := s.digest()
	if err != nil {
		return ""
	}
	return s.ref.Context().Name() + "@" + d.String()
}

// sourceEnv is what reaching a source registry needs from the push.
type sourceEnv struct {
	api    ecrAPI
	target target
	login  *ecrLogin
	remote *remoteRepo
	req    PushRequest
	logf   func(format string, args ...any)
}

// reach decides how the source registry is read, each registry with its
// own credential and none other's:
//   - the target's registry, with the target's ECR login (its blobs are
//     then mounted into the target repository where ECR allows it);
//   - another ECR registry (another account, or region), with an ECR
//     login of its own, which GetAuthorizationToken gives for that
//     registry, read where that login's endpoint says;
//   - any other registry, with the credential the runner's Docker config
//     holds for that registry (DOCKER_CONFIG, or ~/.docker/config.json,
//     its credential helpers included), or anonymously.
func (s *registrySource) reach(ctx context.Context, env sourceEnv) error {
	host := s.ref.Context().RegistryStr()
	base := baseTransport(env.req)
	if base == nil {
		tr := httpclient.NewTransport(httpclient.Timeouts{})
		base, s.closeIdle = tr, tr.CloseIdleConnections
	}
	var err error
	switch credentialFor(host, env.target, env.login) {
	case targetRegistry:
		s.conn = env.remote.conn
		s.inPlace = s.ref.Context().RepositoryStr() == env.target.name
		s.how = "the ECR login of " + host
		return nil
	case targetRegistryOtherName:
		s.conn, err = newConn(host, env.login.authenticator(), env.login.guard(base), env.req.Concurrency)
		s.how = "the ECR login of " + env.login.endpoint.Host
		return err
	case otherECRRegistry:
		h, _ := partition.ParseECRRegistryHost(strings.ToLower(host))
		return s.reachECR(ctx, env, host, h, base)
	}
	cfg, err := loadDockerConfig(env.req.Getenv)
	if err != nil {
		return fmt.Errorf("read %s: %w", s, err)
	}
	cred, err := cfg.credential(ctx, host)
	if err != nil {
		return fmt.Errorf("read %s: %w", s, err)
	}
	auth, what := authn.Anonymous, "an anonymous token"
	if cred != nil {
		for _, secret := range cred.secrets {
			if env.req.Mask != nil {
				env.req.Mask(secret)
			}
		}
		auth, what = cred.auth, "the credential of "+host+" in "+cred.from
		s.how = "the credential " + cred.from + " holds for " + host
	} else {
		s.how = "no credential (anonymously: the Docker config holds none for " + host + ")"
	}
	guard := credentialGuard{inner: base, credential: what, issuedFor: host, allows: func(h string) bool { return sameSite(h, host) }}
	s.conn, err = newConn(host, auth, guard, env.req.Concurrency, s.ref.Scope(transport.PullScope))
	return err
}

// sourceCredential is whose credential reads a source registry.
type sourceCredential int

const (
	// dockerConfigCredential: the runner's Docker config's credential for
	// the host, or none.
	dockerConfigCredential sourceCredential = iota
	// targetRegistry: the target's own registry, on the target's
	// connection and ECR login.
	targetRegistry
	// targetRegistryOtherName: the target's registry by another of its
	// names (its FIPS endpoint), with the target's ECR login.
	targetRegistryOtherName
	// otherECRRegistry: another ECR registry (another account or region),
	// with an ECR login of its own.
	otherECRRegistry
)

// credentialFor decides which credential may read a source on host, the
// target t being on the registry login is for: the target's ECR password
// goes to the target's registry alone.
func credentialFor(host string, t target, login *ecrLogin) sourceCredential {
	switch {
	case strings.EqualFold(host, t.host):
		return targetRegistry
	case login.allows(host):
		return targetRegistryOtherName
	}
	if _, ok := partition.ParseECRRegistryHost(strings.ToLower(host)); ok {
		return otherECRRegistry
	}
	return dockerConfigCredential
}

// reachECR logs in to another ECR registry for the source: the login's
// endpoint must be that registry, the only host its password goes to.
func (s *registrySource) reachECR(ctx context.Context, env sourceEnv, host string, h partition.RegistryHost, base http.RoundTripper) error {
	login, err := login(ctx, env.api, target{host: host, registryID: h.Account, region: h.Region})
	if err != nil {
		return fmt.Errorf("read %s: %w", s, err)
	}
	if env.req.Mask != nil {
		for _, secret := range login.secrets() {
			env.req.Mask(secret)
		}
	}
	if !login.allows(host) {
		return fmt.Errorf("read %s: ECR's login for account %s in %s is for %s, not %s; the ECR password goes to the registry it is issued for alone", s, h.Account, h.Region, login.endpoint.Host, host)
	}
	s.conn, err = newConn(host, login.authenticator(), login.guard(base), env.req.Concurrency)
	s.how = fmt.Sprintf("an ECR login for account %s in %s", h.Account, h.Region)
	return err
}

// resolve reads the source's manifest: the first read of its tag.
func (p *pusher) resolve(ctx context.Context, s *session, src *registrySource) error {
	var desc *remote.Descriptor
	err := p.retry.Do(ctx, "read "+src.given, func(ctx context.Context) error {
		var err error
		desc, err = s.source.Get(ctx, src.ref)
		return err
	})
	if err != nil {
		return explainSource(err, src)
	}
	a := &artifactSource{name: src.given}
	switch {
	case desc.MediaType.IsIndex():
		a.index, err = desc.ImageIndex()
	case desc.MediaType.IsSchema1():
		return fmt.Errorf("%s is a Docker schema 1 manifest, which ECR no longer takes: pull it and push it again with a current client, or name another image", src)
	case desc.MediaType.IsImage():
		a.image, err = desc.Image()
	default:
		return fmt.Errorf("%s is %s, which is neither an image nor an image index", src, desc.MediaType)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	src.artifactSource = a
	p.logf("%s is %s %s (read with %s)", src, withArticle(kindOf(a)), desc.Digest, src.how)
	return nil
}

// recheck reads a tag source's tag again before any tag moves: a tag that
// moved since the image was read is an error, not a deploy of something
// else than what the tag now names. A digest reference cannot move.
func (p *pusher) recheck(ctx context.Context, s *session, src *registrySource) error {
	if _, isTag := src.ref.(name.Tag); !isTag {
		return nil
	}
	first, err := src.digest()
	if err != nil {
		return err
	}
	var now string
	err = p.retry.Do(ctx, "read "+src.given+" again", func(ctx context.Context) error {
		d, err := s.source.Head(ctx, src.ref)
		if err == nil {
			now = d.Digest.String()
		}
		return err
	})
	if err != nil {
		return explainSource(fmt.Errorf("read it again before tagging: %w", err), src)
	}
	if now != first.String() {
		return fmt.Errorf("%s moved while the push read it: it named %s when first read and names %s now; nothing was tagged or deployed. "+
			"Re-run to deploy what it names now, or name the image by digest (%s@%s) so that what is deployed is what was tested",
			src, first, now, strings.TrimSuffix(src.given, ":"+src.ref.Identifier()), first)
	}
	return nil
}

// explainSource says what went wrong reading the source registry.
func explainSource(err error, src *registrySource) error {
	if te, ok := asTransportError(err); ok {
		switch {
		case te.StatusCode == http.StatusUnauthorized:
			return fmt.Errorf("read %s: the registry refused %s (401): log in to it first (docker/login-action writes the Docker config the action reads; in a container action, set DOCKER_CONFIG to a directory under the workspace or /github/home): %w", src, src.how, err)
		case te.StatusCode == http.StatusForbidden:
			return fmt.Errorf("read %s: the registry denied the read with %s (403): it may not read that repository (for ECR: allow ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on it, and, across accounts, in its repository policy): %w", src, src.how, err)
		case isManifestUnknown(err):
			return fmt.Errorf("read %s: the registry has no such image (404): check the name and the tag or digest: %w", src, err)
		}
	}
	return fmt.Errorf("read %s: %w", src, err)
}
