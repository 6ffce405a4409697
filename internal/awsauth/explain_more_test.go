package awsauth

import (
	"context"
	"errors"

	"strings"
	"testing"
	"time"

	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/oidc"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// TestErrorNamesItsHop: an error says which role it was assuming, and in a
// chain which hop, counted from 1; the role to assume itself is no hop.
func TestErrorNamesItsHop(t *testing.T) {
	t.Parallel()
	cause := errors.New("connection reset")
	for _, tt := range []struct {
		err  *Error
		want string
	}{
		{&Error{RoleARN: deployRole, Err: cause}, "assume role " + deployRole + ": connection reset"},
		{&Error{RoleARN: prodRole, Hop: 1, Err: cause, Explanation: "STS said no"}, "role-chain hop 1: assume role " + prodRole + ": STS said no"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if got := roleName("arn:aws:iam::111122223333:role/ci/deploy/gha-deploy"); got != "gha-deploy" {
		t.Errorf("roleName = %q, want the name after the path", got)
	}
}

// TestExplanationsWithoutAnAnswer: when STS did not answer, the explanation
// tells a token problem, a transient failure that outlasted every retry and
// any other failure apart.
func TestExplanationsWithoutAnAnswer(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	for _, tt := range []struct {
		name string
		err  error
		kind Kind
		want string
	}{
		{"token", &tokenError{err: errors.New("token service answered HTTP 500")}, KindToken, "could not get the job's OIDC token: token service answered HTTP 500"},
		{"gave_up", &awsretry.MaxAttemptsError{Attempt: 3, Err: errors.New("dial tcp: connection refused")}, KindTransient, "could not reach STS after every retry: "},
		{"other", errors.New("tls: certificate signed by unknown authority"), KindOther, "could not reach STS: tls: certificate signed by unknown authority"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := explainWebIdentity(tt.err, cfg, nil, time.Now())
			if e.Kind != tt.kind || !strings.HasPrefix(e.Explanation, tt.want) {
				t.Errorf("explanation = %s %q, want %s %q", e.Kind, e.Explanation, tt.kind, tt.want)
			}
		})
	}
}

// TestAudienceExplanationNamesTheTokensAudience: a wrong audience is
// explained with the audience the token carried when the token could be
// read, else with the one the input asked for.
func TestAudienceExplanationNamesTheTokensAudience(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Audience = "input-audience"
	refusal := &smithy.GenericAPIError{Code: "InvalidIdentityToken", Message: "Incorrect token audience"}
	claims := &oidc.Claims{Audience: oidc.Audience{"token-audience"}, Subject: "repo:acme/web-api:ref:refs/heads/main"}
	if e := explainWebIdentity(refusal, cfg, claims, time.Now()); !strings.Contains(e.Explanation, `audience "token-audience"`) {
		t.Errorf("explanation with the token's claims = %q, want the token's audience", e.Explanation)
	}
	if e := explainWebIdentity(refusal, cfg, nil, time.Now()); !strings.Contains(e.Explanation, `audience "input-audience"`) {
		t.Errorf("explanation without the token's claims = %q, want the input's audience", e.Explanation)
	}
}

// TestTrustPolicyHelpAboutEnvironments: the hint to run the job in a
// GitHub environment is given when the token names none, and only then.
func TestTrustPolicyHelpAboutEnvironments(t *testing.T) {
	t.Parallel()
	denied := &smithy.GenericAPIError{Code: "AccessDenied", Message: "Not authorized to perform sts:AssumeRoleWithWebIdentity"}
	const hint = "give the job `environment: <name>`"
	for _, tt := range []struct {
		claims oidc.Claims
		hint   bool
	}{
		{oidc.Claims{Subject: "repo:acme/web-api:ref:refs/heads/main"}, true},
		{oidc.Claims{Subject: "repo:acme/web-api:environment:production", Environment: "production"}, false},
	} {
		e := explainWebIdentity(denied, testConfig(), &tt.claims, time.Now())
		if got := strings.Contains(e.Explanation, hint); got != tt.hint {
			t.Errorf("explanation for sub %s has the environment hint: %v, want %v\n%s", tt.claims.Subject, got, tt.hint, e.Explanation)
		}
	}
}

// TestDeniedWithoutAction: a refusal that does not name its action still
// says what to change.
func TestDeniedWithoutAction(t *testing.T) {
	t.Parallel()
	err := &DeniedError{Err: errors.New("AccessDeniedException: not allowed")}
	if got := err.Error(); !strings.Contains(got, "AccessDeniedException: not allowed\nwhat to change: allow the call in the role's permissions policy; "+PermissionsHelp) {
		t.Errorf("Error() = %q", got)
	}
}

// TestChainedSessionLength: a chained role's session lasts what
// role-duration-seconds asks, up to the hour STS allows a chain.
func TestChainedSessionLength(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	cfg := testConfig()
	cfg.RoleDurationSeconds = 1200
	cfg.RoleChain = []config.ChainRole{{RoleARN: prodRole, ExternalID: "acme-prod-7f3c"}}
	creds, err := load(t, sb, cfg, &recorder{}, nil).Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The cache reports an expiry a minute early, its expiry window.
	if left := time.Until(creds.Expires); left < 18*time.Minute || left > 20*time.Minute {
		t.Errorf("the chained session lasts %v (less the minute of the expiry window), want the 20 minutes asked for", left)
	}
}

// TestDefaultExpiryWindow: without an expiry window of their own,
// credentials are refreshed a minute before they expire.
func TestDefaultExpiryWindow(t *testing.T) {
	t.Parallel()
	// Credentials of 61 seconds are within a minute of expiry a second
	// after they are issued.
	sb := sandboxtest.Start(t, func(w *sandbox.World) { w.CredentialLifetimeSeconds = 61 })
	awsCfg := load(t, sb, testConfig(), &recorder{}, func(o *Options) { o.ExpiryWindow = 0 })
	ctx := context.Background()
	if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sb.IssuedCredentials(); got != 2 {
		t.Errorf("%d credentials issued, want 2: the second Retrieve is within the default minute of expiry", got)
	}
}

// TestChainHopExplanations: a failed hop of role-chain is explained by what
// STS answered, or by the failure when STS did not answer, and names the
// hop and its role.
func TestChainHopExplanations(t *testing.T) {
	t.Parallel()
	hop := config.ChainRole{RoleARN: prodRole}
	for _, tt := range []struct {
		name string
		err  error
		kind Kind
		want string
	}{
		{"validation_error", &smithy.GenericAPIError{Code: "ValidationError", Message: "1 validation error"}, KindValidation, "STS answered ValidationError: 1 validation error\nHop 1 of 2 of role-chain (" + prodRole + ") was refused."},
		{"validation_exception", &smithy.GenericAPIError{Code: "ValidationException", Message: "bad"}, KindValidation, "STS answered ValidationException: bad\nHop 1 of 2 of role-chain (" + prodRole + ") was refused."},
		{"no_answer", errors.New("tls: certificate signed by unknown authority"), KindOther, "hop 1 of 2 of role-chain: tls: certificate signed by unknown authority"},
		{"gave_up", &awsretry.MaxAttemptsError{Attempt: 3, Err: errors.New("dial tcp: connection refused")}, KindTransient, "STS did not answer: exceeded maximum number of attempts, 3, dial tcp: connection refused\nHop 1 of 2 of role-chain kept failing after every retry; re-run the job."},
		{"throttled", &awsretry.MaxAttemptsError{Attempt: 3, Err: &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}}, KindTransient, "STS answered Throttling: Rate exceeded\nHop 1 of 2 of role-chain kept failing after every retry; re-run the job."},
		{"other_answer", &smithy.GenericAPIError{Code: "RegionDisabledException", Message: "STS is not activated"}, KindOther, "STS answered RegionDisabledException: STS is not activated\nHop 1 of 2 of role-chain (" + prodRole + ") failed."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := explainChainHop(tt.err, 1, 2, hop, deployRole)
			if e.Kind != tt.kind || e.Explanation != tt.want {
				t.Errorf("explainChainHop = %v, %q; want %v, %q", e.Kind, e.Explanation, tt.kind, tt.want)
			}
		})
	}
}
