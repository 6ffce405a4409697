package awsauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/oidc"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/retry"
)

// Kind classifies a credential failure by what the user has to change.
type Kind string

// The kinds of failure.
const (
	// KindAccessDenied: the trust policy (or, for a chain hop, the caller's
	// policy or the external ID) does not allow this run.
	KindAccessDenied Kind = "access-denied"
	// KindWrongAudience: the token's aud is not a client ID of the IAM OIDC provider.
	KindWrongAudience Kind = "wrong-audience"
	// KindUnknownIssuer: the account has no IAM OIDC provider for the token's issuer.
	KindUnknownIssuer Kind = "unknown-issuer"
	// KindExpiredToken: STS saw an expired (or not yet valid) token: a clock is off.
	KindExpiredToken Kind = "expired-token"
	// KindInvalidToken: STS rejected the token for another reason.
	KindInvalidToken Kind = "invalid-token"
	// KindValidation: STS rejected a parameter, e.g. a duration above the role's maximum.
	KindValidation Kind = "validation"
	// KindTransient: STS or the identity provider kept failing; a re-run may pass.
	KindTransient Kind = "transient"
	// KindToken: the OIDC token could not be fetched.
	KindToken Kind = "token"
	// KindOther is anything else.
	KindOther Kind = "other"
)

// Error is a failure to obtain credentials for one hop, explained.
type Error struct {
	// Hop is 0 for the web-identity role, i for the i-th role-chain entry.
	Hop int
	// RoleARN is the role that could not be assumed.
	RoleARN string
	// Operation is AssumeRoleWithWebIdentity or AssumeRole.
	Operation string
	// Kind says what has to change.
	Kind Kind
	// Code is STS's error code, e.g. AccessDenied; empty when STS did not answer.
	Code string
	// Explanation says what happened, why, and what to do, in several lines.
	Explanation string
	// Err is the underlying error.
	Err error
}

func (e *Error) Error() string {
	where := "assume role " + e.RoleARN
	if e.Hop > 0 {
		where = fmt.Sprintf("role-chain hop %d: assume role %s", e.Hop, e.RoleARN)
	}
	if e.Explanation == "" {
		return where + ": " + e.Err.Error()
	}
	return where + ": " + e.Explanation
}

func (e *Error) Unwrap() error { return e.Err }

// apiError returns STS's error code and message, if STS answered.
func apiError(err error) (code, message string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "", ""
}

// isTransient reports whether err is what the retryer retries, so that a
// failure after every try is reported as passing trouble, not a setup mistake.
func isTransient(err error) bool {
	_, gaveUp := errors.AsType[*awsretry.MaxAttemptsError](err)
	return gaveUp || retry.Transient(err) || retry.Classify(err) == retry.BudgetSpent
}

// explainWebIdentity explains a failed AssumeRoleWithWebIdentity.
func explainWebIdentity(err error, cfg config.Config, claims *oidc.Claims, now time.Time) *Error {
	e := &Error{RoleARN: cfg.RoleToAssume, Operation: "AssumeRoleWithWebIdentity", Err: err}
	code, msg := apiError(err)
	e.Code = code
	said := fmt.Sprintf("STS answered %s: %s", code, ghaction.Line(msg))
	account := accountOf(cfg.RoleToAssume)
	switch {
	case code == "":
		var te *tokenError
		switch {
		case errors.As(err, &te) && errors.Is(err, oidc.ErrNoIDTokenPermission):
			e.Kind = KindToken
			e.Explanation = te.err.Error()
		case errors.As(err, &te):
			e.Kind = KindToken
			e.Explanation = "could not get the job's OIDC token: " + te.err.Error()
		case isTransient(err):
			e.Kind = KindTransient
			e.Explanation = "could not reach STS after every retry: " + err.Error()
		default:
			e.Kind = KindOther
			e.Explanation = "could not reach STS: " + err.Error()
		}
	case code == "AccessDenied":
		e.Kind = KindAccessDenied
		e.Explanation = said + "\n" + trustPolicyHelp(cfg, claims)
	case code == "InvalidIdentityToken" && strings.Contains(strings.ToLower(msg), "audience"):
		e.Kind = KindWrongAudience
		aud := cfg.Audience
		if claims != nil {
			aud = ghaction.Line(claims.Audience.String())
		}
		e.Explanation = fmt.Sprintf("%s\n"+
			"The token was requested with audience %q, and the IAM OIDC provider for %s in account %s does not list it as a client ID.\n"+
			"Either set the input audience to a client ID the provider lists (usually %s, the default), "+
			"or add %q to the provider: aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn %s --client-id %s",
			said, aud, issuerHost(claims), account, config.DefaultAudience, aud, providerARN(cfg.RoleToAssume, claims), aud)
	case code == "InvalidIdentityToken" && strings.Contains(msg, "OpenIDConnect provider"):
		e.Kind = KindUnknownIssuer
		iss := issuerOf(claims)
		e.Explanation = fmt.Sprintf("%s\n"+
			"Account %s has no IAM OIDC identity provider for the token's issuer %s, so it cannot trust any token from it.\n"+
			"Create the provider once per account: aws iam create-open-id-connect-provider --url %s --client-id-list %s\n"+
			"(GitHub's issuer is %s; a GitHub Enterprise with a unique issuer uses %s/<enterprise-slug>.)",
			said, account, iss, iss, cfg.Audience, githubIssuer, githubIssuer)
	case code == "ExpiredTokenException" || strings.Contains(msg, "not yet valid"):
		e.Kind = KindExpiredToken
		e.Explanation = said + "\n" + clockHelp(claims, now)
	case code == "InvalidIdentityToken":
		e.Kind = KindInvalidToken
		e.Explanation = fmt.Sprintf("%s\nSTS does not accept the job's OIDC token (issuer %s). Check the account's IAM OIDC provider for that issuer: its URL and, if set, its thumbprints.", said, issuerOf(claims))
	case code == "ValidationError" || code == "ValidationException":
		e.Kind = KindValidation
		e.Explanation = said
		if strings.Contains(msg, "DurationSeconds") {
			e.Explanation += fmt.Sprintf("\nrole-duration-seconds is %d: lower it to at most the role's maximum session duration, or raise that (aws iam update-role --role-name %s --max-session-duration %d).",
				cfg.RoleDurationSeconds, roleName(cfg.RoleToAssume), cfg.RoleDurationSeconds)
		}
	case isTransient(err):
		e.Kind = KindTransient
		e.Explanation = said + "\nThis kept failing after every retry; it is usually passing trouble at STS or at the identity provider: re-run the job."
	default:
		e.Kind = KindOther
		e.Explanation = said
	}
	return e
}

const githubIssuer = "https://token.actions.githubusercontent.com"

// trustPolicyHelp shows the claims that a trust policy is matched against
// and a statement that would let exactly this run in.
func trustPolicyHelp(cfg config.Config, claims *oidc.Claims) string {
	if claims == nil {
		return "The role's trust policy does not allow this job's OIDC token."
	}
	none := func(s string) string {
		if s == "" {
			return "(none)"
		}
		// A claim is the token service's text: kept on one line.
		return ghaction.Line(s)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The trust policy of %s does not allow this job's OIDC token, whose claims are:\n", cfg.RoleToAssume)
	fmt.Fprintf(&b, "  sub:              %s\n", none(claims.Subject))
	fmt.Fprintf(&b, "  aud:              %s\n", none(claims.Audience.String()))
	fmt.Fprintf(&b, "  ref:              %s\n", none(claims.Ref))
	fmt.Fprintf(&b, "  environment:      %s\n", none(claims.Environment))
	fmt.Fprintf(&b, "  job_workflow_ref: %s\n", none(claims.JobWorkflowRef))
	host := issuerHost(claims)
	statement := trustStatement{
		Effect:    "Allow",
		Principal: map[string]string{"Federated": providerARN(cfg.RoleToAssume, claims)},
		Action:    "sts:AssumeRoleWithWebIdentity",
		Condition: map[string]map[string]string{"StringEquals": {
			host + ":aud": claims.Audience.String(),
			host + ":sub": claims.Subject,
		}},
	}
	data, _ := json.MarshalIndent(statement, "", "  ")
	b.WriteString("A trust policy statement that allows exactly this run (StringEquals on aud and sub):\n")
	b.Write(data)
	if claims.Environment == "" {
		b.WriteString("\nIf the role is meant for a GitHub environment, give the job `environment: <name>`: the sub becomes " +
			ghaction.Line(strings.SplitN(claims.Subject, ":ref:", 2)[0]) + ":environment:<name>.")
	}
	return b.String()
}

// trustStatement is an IAM trust policy statement in AWS's field order.
type trustStatement struct {
	Effect    string                       `json:"Effect"`
	Principal map[string]string            `json:"Principal"`
	Action    string                       `json:"Action"`
	Condition map[string]map[string]string `json:"Condition"`
}

// clockHelp explains an expired or not-yet-valid token.
func clockHelp(claims *oidc.Claims, now time.Time) string {
	const why = "Each credential refresh fetches a new token, valid for 5 minutes, so STS seeing it expired (or not yet valid) means a clock is wrong: this machine's, or the token service's. Check that the runner's clock is synchronised (NTP)."
	if claims == nil {
		return why
	}
	return fmt.Sprintf("The token was issued at %s and expires at %s; this machine's clock says %s.\n%s",
		claims.IssuedAt.Format(time.RFC3339), claims.Expires.Format(time.RFC3339), now.UTC().Format(time.RFC3339), why)
}

// explainChainHop explains a failed sts:AssumeRole of role-chain entry index.
func explainChainHop(err error, index, total int, hop config.ChainRole, caller string) *Error {
	e := &Error{Hop: index, RoleARN: hop.RoleARN, Operation: "AssumeRole", Err: err}
	code, msg := apiError(err)
	e.Code = code
	said := fmt.Sprintf("STS answered %s: %s", code, ghaction.Line(msg))
	switch {
	case code == "AccessDenied":
		e.Kind = KindAccessDenied
		sent := "no external ID was sent (add external-id=ID to this role-chain line if the trust policy requires sts:ExternalId)"
		if hop.ExternalID != "" {
			sent = "an external ID was sent: check it is the one the trust policy's sts:ExternalId condition expects"
		}
		e.Explanation = fmt.Sprintf("%s\nHop %d of %d of role-chain failed: %s could not assume %s. Check:\n"+
			"  1. the permissions policy of %s allows \"sts:AssumeRole\" on %s;\n"+
			"  2. the trust policy of %s has a statement with Principal {\"AWS\": \"%s\"} and Action \"sts:AssumeRole\";\n"+
			"  3. the sts:ExternalId condition of that trust policy: %s.",
			said, index, total, caller, hop.RoleARN, caller, hop.RoleARN, hop.RoleARN, caller, sent)
	case code == "ValidationError" || code == "ValidationException":
		e.Kind = KindValidation
		e.Explanation = fmt.Sprintf("%s\nHop %d of %d of role-chain (%s) was refused.", said, index, total, hop.RoleARN)
	case code == "" && !isTransient(err):
		e.Kind = KindOther
		e.Explanation = fmt.Sprintf("hop %d of %d of role-chain: %v", index, total, err)
	case isTransient(err):
		e.Kind = KindTransient
		if code == "" {
			said = fmt.Sprintf("STS did not answer: %v", err)
		}
		e.Explanation = fmt.Sprintf("%s\nHop %d of %d of role-chain kept failing after every retry; re-run the job.", said, index, total)
	default:
		e.Kind = KindOther
		e.Explanation = fmt.Sprintf("%s\nHop %d of %d of role-chain (%s) failed.", said, index, total, hop.RoleARN)
	}
	return e
}

var accountPattern = regexp.MustCompile(`^arn:[^:]+:iam::(\d{12}):`)

func accountOf(roleARN string) string {
	if m := accountPattern.FindStringSubmatch(roleARN); m != nil {
		return m[1]
	}
	return "<account>"
}

func roleName(roleARN string) string {
	return roleARN[strings.LastIndex(roleARN, "/")+1:]
}

func issuerOf(claims *oidc.Claims) string {
	if claims == nil || claims.Issuer == "" {
		return githubIssuer
	}
	return ghaction.Line(claims.Issuer)
}

// issuerHost is the issuer as IAM names it in condition keys and provider
// ARNs: the URL without its scheme.
func issuerHost(claims *oidc.Claims) string {
	iss := issuerOf(claims)
	if u, err := url.Parse(iss); err == nil && u.Host != "" {
		return strings.TrimSuffix(u.Host+u.Path, "/")
	}
	return iss
}

// providerARN is the ARN of the IAM OIDC provider that the trust policy of
// roleARN names: in the role's account and partition (arn:aws-cn: in China,
// arn:aws-us-gov: in GovCloud).
func providerARN(roleARN string, claims *oidc.Claims) string {
	p, ok := partition.OfARN(roleARN)
	if !ok {
		// Config validation refuses unknown partitions; this only keeps a
		// literal configuration's explanation readable.
		p, _ = partition.Lookup("aws")
	}
	return p.OIDCProviderARN(accountOf(roleARN), issuerHost(claims))
}
