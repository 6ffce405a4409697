package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
)

// ecrAPI is what Push calls of Amazon ECR.
type ecrAPI interface {
	DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput, optFns ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
	GetAuthorizationToken(ctx context.Context, in *ecr.GetAuthorizationTokenInput, optFns ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error)
}

// target is the repository a push goes to.
type target struct {
	host       string
	name       string
	registryID string // empty when unknown (a non-ECR host)
	region     string // empty: the configured region
	immutable  bool   // known only when DescribeRepositories answered
}

func (t target) uri() string { return t.host + "/" + t.name }

// resolveTarget finds the repository. A URI names its registry, and
// nothing is looked up (a registry that is not the login's is refused once
// the login says which one it is for). A name is looked up with
// DescribeRepositories, which fails clearly when it is missing and says
// whether its tags are immutable; a role that may not call it pushes to
// the login's registry all the same, and says so once.
func resolveTarget(ctx context.Context, api ecrAPI, repository string, noticef func(format string, args ...any)) (target, error) {
	t, err := parseRepository(repository)
	if err != nil || t.host != "" {
		return t, err
	}
	out, err := api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{t.name}})
	if err != nil {
		var nf *ecrtypes.RepositoryNotFoundException
		var ae smithy.APIError
		switch {
		case errors.As(err, &nf):
			return t, fmt.Errorf("ECR repository %q does not exist in the role's account (%s); create it, or name another with the repository input", t.name, aws.ToString(nf.Message))
		case errors.As(err, &ae) && ae.ErrorCode() == "AccessDeniedException":
			resource := t.name
			if _, r, ok := policy.ParseDenied(ae.ErrorMessage()); ok {
				resource = r
			}
			noticef("%s", policy.CallECRFindRepository.Notice(resource))
			return t, nil
		}
		return t, fmt.Errorf("look up ECR repository %q: %w", t.name, err)
	}
	if len(out.Repositories) == 0 {
		return t, fmt.Errorf("look up ECR repository %q: ECR returned no repository", t.name)
	}
	r := out.Repositories[0]
	t.host, _, _ = strings.Cut(aws.ToString(r.RepositoryUri), "/")
	t.registryID = aws.ToString(r.RegistryId)
	t.immutable = r.ImageTagMutability == ecrtypes.ImageTagMutabilityImmutable
	return t, nil
}

// parseRepository reads the repository input: a name, or a URI whose host
// may be an ECR registry (account and region in its name).
func parseRepository(repository string) (target, error) {
	var t target
	host, name, isURI := strings.Cut(repository, "/")
	if isURI && (strings.ContainsAny(host, ".:") || host == "localhost") {
		t.host, t.name = host, name
		if h, ok := partition.ParseECRRegistryHost(host); ok {
			t.registryID, t.region = h.Account, h.Region
		}
	} else {
		t.name = repository
	}
	if t.name == "" || strings.ContainsAny(t.name, ":@ ") {
		return t, fmt.Errorf("repository %q is neither an ECR repository name (my-api) nor a repository URI (123456789012.dkr.ecr.us-east-1.amazonaws.com/my-api)", repository)
	}
	return t, nil
}

func withRegion(region string) func(*ecr.Options) {
	return func(o *ecr.Options) {
		if region != "" {
			o.Region = region
		}
	}
}

// ecrLogin is a registry password from GetAuthorizationToken and the
// registry it is for. It stays in memory: nothing is written to a Docker
// config file.
type ecrLogin struct {
	password string
	// token is the authorization token as ECR returned it,
	// base64("AWS:" + password).
	token string
	// endpoint is the registry ECR issued the password for, its
	// proxyEndpoint: https://ACCOUNT.dkr.ecr.REGION.amazonaws.com.
	endpoint *url.URL
}

// login fetches a registry password with GetAuthorizationToken, for the
// registry a repository URI names or else the caller's own.
func login(ctx context.Context, api ecrAPI, t target) (*ecrLogin, error) {
	in := &ecr.GetAuthorizationTokenInput{}
	if t.registryID != "" {
		in.RegistryIds = []string{t.registryID} //nolint:staticcheck // still how a registry other than the caller's is named
	}
	what := "the role's registry"
	if t.host != "" {
		what = t.host
	}
	out, err := api.GetAuthorizationToken(ctx, in, withRegion(t.region))
	if err != nil {
		return nil, fmt.Errorf("log in to ECR (GetAuthorizationToken) for %s: %w", what, err)
	}
	if len(out.AuthorizationData) == 0 {
		return nil, fmt.Errorf("log in to ECR for %s: GetAuthorizationToken returned no authorization data", what)
	}
	data := out.AuthorizationData[0]
	l := &ecrLogin{token: aws.ToString(data.AuthorizationToken)}
	raw, err := base64.StdEncoding.DecodeString(l.token)
	if err != nil {
		return nil, fmt.Errorf("log in to ECR for %s: the authorization token is not base64", what)
	}
	user, password, ok := strings.Cut(string(raw), ":")
	if !ok || user != "AWS" || password == "" {
		return nil, fmt.Errorf("log in to ECR for %s: the authorization token is not AWS:<password>", what)
	}
	l.password = password
	endpoint := aws.ToString(data.ProxyEndpoint)
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("log in to ECR for %s: GetAuthorizationToken returned the registry endpoint %q, which is not an https URL", what, endpoint)
	}
	l.endpoint = u
	return l, nil
}

// secrets are the forms of the password that could appear in a log: the
// password, the Basic authorization ECR's registry is sent, and the token
// ECR returned (the same bytes, unless ECR's encoding differs).
func (l *ecrLogin) secrets() []string {
	basic := base64.StdEncoding.EncodeToString([]byte("AWS:" + l.password))
	out := []string{l.password, basic}
	if l.token != basic {
		out = append(out, l.token)
	}
	return out
}

// allows reports whether the password may be sent to host: the registry
// ECR issued it for, which may also be named by its FIPS endpoint (the
// same account and region).
func (l *ecrLogin) allows(host string) bool {
	if strings.EqualFold(host, l.endpoint.Host) {
		return true
	}
	issued, ok := partition.ParseECRRegistryHost(strings.ToLower(l.endpoint.Host))
	if !ok {
		return false
	}
	asked, ok := partition.ParseECRRegistryHost(strings.ToLower(host))
	return ok && asked.Account == issued.Account && asked.Region == issued.Region && asked.Partition.ID == issued.Partition.ID
}

// checkTarget refuses a repository on a registry the password is not for,
// before anything is sent there.
func (l *ecrLogin) checkTarget(t target) error {
	if l.allows(t.host) {
		return nil
	}
	return fmt.Errorf("repository %s is not on the ECR registry the role's login is for (%s): the action pushes only to Amazon ECR, and sends the ECR password nowhere else; name an ECR repository (my-api, or %s/my-api)", t.uri(), l.endpoint.Host, l.endpoint.Host)
}

// keychain lends the password to go-containerregistry for the registry it
// was issued for and for no other: any other registry is anonymous to it.
func (l *ecrLogin) keychain() authn.Keychain { return ecrKeychain{l} }

type ecrKeychain struct{ l *ecrLogin }

func (k ecrKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if !k.l.allows(r.RegistryStr()) {
		return authn.Anonymous, nil
	}
	return k.l.authenticator(), nil
}

// authenticator is the password as go-containerregistry sends it.
func (l *ecrLogin) authenticator() authn.Authenticator {
	return &authn.Basic{Username: "AWS", Password: l.password}
}

// guard wraps inner in the credential guard of the password.
func (l *ecrLogin) guard(inner http.RoundTripper) credentialGuard {
	return credentialGuard{inner: inner, credential: "the ECR password", issuedFor: l.endpoint.Host, allows: l.allows}
}

// credentialGuard is the last transport before the network: it refuses any
// request that carries an Authorization header to a host its credential is
// not for, or over plain HTTP to anything but loopback, whatever asked for
// it (a redirect, a token realm, an upload Location). Every registry a push
// reaches has a transport of its own, guarded for its own credential.
type credentialGuard struct {
	inner http.RoundTripper
	// credential names the credential for messages ("the ECR password").
	credential string
	// issuedFor is the registry it is for; allows tells the hosts it may
	// go to.
	issuedFor string
	allows    func(host string) bool
}

func (g credentialGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") != "" {
		if !g.allows(r.URL.Host) {
			return nil, fmt.Errorf("refusing to send %s to %s: it is for %s only", g.credential, r.URL.Host, g.issuedFor)
		}
		if r.URL.Scheme != "https" && !isLoopbackHost(r.URL.Host) {
			return nil, fmt.Errorf("refusing to send %s to %s over plain HTTP", g.credential, r.URL.Host)
		}
	}
	return g.inner.RoundTrip(r)
}

func isLoopbackHost(hostport string) bool {
	host := hostname(hostport)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
