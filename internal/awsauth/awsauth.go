// Package awsauth turns the job's OIDC token into AWS credentials: the
// web-identity role, then the role chain, each behind a cache that refreshes
// before expiry with a freshly fetched token. STS failures come back as
// *Error, classified and explained.
package awsauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/endpoint"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/oidc"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/retry"
)

// TokenSource fetches a new GitHub ID token on every call (oidc.TokenSource).
type TokenSource interface {
	Token(ctx context.Context, audience string) (string, error)
}

// Options tune Load beyond the Config.
type Options struct {
	// Getenv supplies AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_STS, _ECR and
	// _ECS (the sandbox, or VPC endpoints), each https or http to loopback
	// (package endpoint). It is read here rather than by the SDK so that
	// nothing comes from the process environment or a developer's ~/.aws;
	// nil reads nothing.
	Getenv func(string) string
	// HTTPClient makes every AWS call; the SDK's default when nil.
	HTTPClient *http.Client
	// Mask is called with every secret key and session token obtained,
	// before anything could print them; required.
	Mask func(secret string)
	// Retry is the run's retry policy: every AWS client of the run retries
	// with it, paying from its one budget. A policy of its own when nil.
	Retry *retry.Policy
	// CallTimeout bounds one AWS call, its retries and any credential
	// refresh it waits for included; 3 minutes when zero. A stalled
	// endpoint fails each try on the HTTP client's own timeouts first.
	CallTimeout time.Duration
	// ExpiryWindow is how long before expiry credentials are refreshed;
	// one minute when zero.
	ExpiryWindow time.Duration
	// Now is the clock used in explanations; time.Now when nil.
	Now func() time.Time
}

// Load returns the AWS configuration of the run: the region, the endpoint,
// and credentials from the web-identity role followed by each role-chain
// hop. Nothing is called yet; the first AWS call (or Credentials.Retrieve)
// fetches the token and assumes the roles. ctx bounds every token fetch for
// the life of the returned configuration.
func Load(ctx context.Context, cfg config.Config, tokens TokenSource, opts Options) (aws.Config, error) {
	if opts.Mask == nil {
		return aws.Config{}, errors.New("load AWS configuration: no Mask function: credentials must be masked")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	window := opts.ExpiryWindow
	if window <= 0 {
		window = time.Minute
	}
	// The configuration is built by hand instead of with
	// config.LoadDefaultConfig so that no shared config file, profile or
	// ambient AWS_* variable of the machine changes what the run does.
	policy := opts.Retry
	if policy == nil {
		policy = retry.New(retry.Options{})
	}
	base := aws.Config{
		Region: cfg.AWSRegion,
		// One retryer for every client: the SDK asks for a new one per
		// client, and each is the same policy with the run's one budget.
		Retryer: policy.AWSRetryer,
	}
	if opts.HTTPClient != nil {
		base.HTTPClient = opts.HTTPClient
	}
	callTimeout := opts.CallTimeout
	if callTimeout <= 0 {
		callTimeout = 3 * time.Minute
	}
	base.APIOptions = append(base.APIOptions, withCallDeadline(callTimeout))
	// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> are checked before
	// anything is sent: the ID token and signed requests go there.
	endpoints, err := endpoint.ReadAWS(opts.Getenv)
	if err != nil {
		return aws.Config{}, err
	}
	endpoints.Apply(&base)
	cacheOpts := func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = window }

	// AssumeRoleWithWebIdentity is unsigned: its client needs no credentials.
	webIdentity := &webIdentityClient{sts: sts.NewFromConfig(base)}
	retriever := &claimsRecorder{ctx: ctx, tokens: tokens, audience: cfg.Audience}
	provider := stscreds.NewWebIdentityRoleProvider(webIdentity, cfg.RoleToAssume, retriever,
		func(o *stscreds.WebIdentityRoleOptions) {
			o.RoleSessionName = cfg.RoleSessionName
			o.Duration = time.Duration(cfg.RoleDurationSeconds) * time.Second
		})
	var creds aws.CredentialsProvider = aws.NewCredentialsCache(&hopProvider{
		inner: provider,
		mask:  opts.Mask,
		explain: func(err error) error {
			return explainWebIdentity(err, cfg, retriever.lastClaims(), opts.Now())
		},
	}, cacheOpts)

	caller := cfg.RoleToAssume
	for i, hop := range cfg.RoleChain {
		signed := base.Copy()
		signed.Credentials = creds
		p := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(signed), hop.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = cfg.RoleSessionName
			o.Duration = time.Duration(cfg.ChainedSessionSeconds()) * time.Second
			if hop.ExternalID != "" {
				o.ExternalID = aws.String(hop.ExternalID)
			}
		})
		index, from := i+1, caller
		creds = aws.NewCredentialsCache(&hopProvider{
			inner: p,
			mask:  opts.Mask,
			explain: func(err error) error {
				return explainChainHop(err, index, len(cfg.RoleChain), hop, from)
			},
		}, cacheOpts)
		caller = hop.RoleARN
	}
	out := base.Copy()
	out.Credentials = creds
	return out, nil
}

// withCallDeadline bounds every AWS call of a client by d, however its
// caller's context is bounded, so that no call waits for ever.
func withCallDeadline(d time.Duration) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("CallDeadline",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				ctx, cancel := context.WithTimeout(ctx, d)
				defer cancel()
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}

// webIdentityClient calls AssumeRoleWithWebIdentity with our retry policy.
// The SDK's provider adds InvalidIdentityToken to the retryable codes (a
// token file on disk may be mid-rotation); a GitHub token does not change
// between tries, so retrying would only delay the explanation.
type webIdentityClient struct{ sts *sts.Client }

func (c *webIdentityClient) AssumeRoleWithWebIdentity(ctx context.Context, in *sts.AssumeRoleWithWebIdentityInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	restore := func(o *sts.Options) {
		// o.Retryer was wrapped by the provider; rebuild ours.
		o.Retryer = c.sts.Options().Retryer
	}
	return c.sts.AssumeRoleWithWebIdentity(ctx, in, append(optFns, restore)...)
}

// claimsRecorder hands the SDK a fresh token on each call and keeps the
// claims (never the token) of the last one, to explain a refusal.
type claimsRecorder struct {
	// ctx is the run's: the SDK's retriever interface has no context.
	ctx      context.Context
	tokens   TokenSource
	audience string

	mu     sync.Mutex
	claims *oidc.Claims
}

func (r *claimsRecorder) GetIdentityToken() ([]byte, error) {
	token, err := r.tokens.Token(r.ctx, r.audience)
	if err != nil {
		return nil, &tokenError{err}
	}
	if c, err := oidc.ParseClaims(token); err == nil {
		r.mu.Lock()
		r.claims = &c
		r.mu.Unlock()
	}
	return []byte(token), nil
}

func (r *claimsRecorder) lastClaims() *oidc.Claims {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.claims
}

// tokenError marks a failure to fetch the token, as opposed to one of STS.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// hopProvider masks what a provider obtains and explains its failures.
type hopProvider struct {
	inner   aws.CredentialsProvider
	mask    func(string)
	explain func(error) error
}

func (p *hopProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := p.inner.Retrieve(ctx)
	if err != nil {
		// A hop signed with the credentials of a hop that failed carries
		// that hop's explanation already.
		var explained *Error
		if errors.As(err, &explained) {
			return aws.Credentials{}, explained
		}
		return aws.Credentials{}, p.explain(err)
	}
	p.mask(creds.SecretAccessKey)
	p.mask(creds.SessionToken)
	return creds, nil
}

// Explained returns the *Error inside err, if there is one, without the
// SDK's wrapping ("failed to refresh cached credentials, ..."); otherwise
// an AccessDeniedException from ECR or ECS as a *DeniedError naming the
// missing permission; otherwise err itself. Use it on any error of a call
// made with Load's credentials.
func Explained(err error) error {
	var explained *Error
	if errors.As(err, &explained) {
		return explained
	}
	return explainDenied(err)
}

// Identity is who the credentials are, as STS GetCallerIdentity says.
type Identity struct {
	Account string
	// ARN is the assumed-role ARN: arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION.
	ARN    string
	UserID string
}

// CallerIdentity asks STS who awsCfg's credentials are, assuming the roles
// first if that has not happened yet.
func CallerIdentity(ctx context.Context, awsCfg aws.Config) (Identity, error) {
	out, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		var explained *Error
		if errors.As(err, &explained) {
			return Identity{}, explained
		}
		return Identity{}, fmt.Errorf("get caller identity: %w", err)
	}
	return Identity{
		Account: aws.ToString(out.Account),
		ARN:     aws.ToString(out.Arn),
		UserID:  aws.ToString(out.UserId),
	}, nil
}
