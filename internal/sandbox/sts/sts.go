// Package sts stands in for AWS STS, in the awsQuery protocol:
// AssumeRoleWithWebIdentity (unsigned: an OIDC ID token checked against the
// issuer's keys and the role's trust policy), AssumeRole for role chains and
// GetCallerIdentity.
package sts

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/iam"
)

// The API STS speaks.
const (
	version   = "2011-06-15"
	namespace = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// Roles looks up roles and OIDC providers.
type Roles interface {
	Role(account, name string) *iam.Role
	OIDCProvider(account, host string) *iam.OIDCProvider
}

// Sessions issues credentials.
type Sessions interface {
	Issue(tmpl awsproto.Session, d time.Duration) *awsproto.Session
}

// Authorizer decides whether a session's identity policy allows a call,
// and whether a role's trust policy lets a principal assume it.
type Authorizer interface {
	Decide(caller *awsproto.Session, action, resource string, keys map[string]string) iam.Authorization
	Trust(role *iam.Role, roleARN string, req iam.Request) iam.Decision
}

// Config is what STS needs.
type Config struct {
	Roles      Roles
	Sessions   Sessions
	Authorizer Authorizer
	// Partition is the partition of the sandbox's region: of every role,
	// provider and session.
	Partition partition.Partition
	// Now is the clock tokens are checked against.
	Now func() time.Time
	// DiscoveryURL is the base URL under which an issuer's discovery
	// document is read: the issuer itself, unless the sandbox serves it.
	DiscoveryURL func(issuer string) string
	// Client fetches identity providers' discovery documents and keys; one
	// with a 5-second timeout when nil.
	Client *http.Client
	// Logf, when set, receives why an identity provider could not be read.
	Logf func(format string, args ...any)
}

// Service is the STS stand-in.
type Service struct {
	cfg Config
}

var _ awsproto.Service = (*Service)(nil)

// New returns STS.
func New(cfg Config) *Service {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	return &Service{cfg: cfg}
}

// API is STS's: awsQuery, where AssumeRoleWithWebIdentity is unsigned.
func (st *Service) API() awsproto.API {
	return awsproto.API{
		Name: "sts", Protocol: awsproto.Query, Version: version, Namespace: namespace,
		Unsigned: []string{"AssumeRoleWithWebIdentity"},
	}
}

// Handle serves one STS call.
func (st *Service) Handle(c *awsproto.Call) (any, *awsproto.Error) {
	switch c.Operation {
	case "AssumeRoleWithWebIdentity":
		return st.assumeRoleWithWebIdentity(c)
	case "AssumeRole":
		return st.assumeRole(c)
	case "GetCallerIdentity":
		return st.getCallerIdentity(c)
	}
	return nil, awsproto.Errorf("InvalidAction", "Could not find operation %s for version %s", c.Operation, version)
}

// The awsQuery result elements, named as STS names them.
type credentials struct {
	AccessKeyId     string
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

type assumedRoleUser struct {
	Arn           string
	AssumedRoleId string
}

type assumeRoleWithWebIdentityResult struct {
	XMLName                     xml.Name `xml:"AssumeRoleWithWebIdentityResult"`
	Credentials                 credentials
	SubjectFromWebIdentityToken string
	AssumedRoleUser             assumedRoleUser
	Provider                    string
	Audience                    string
}

type assumeRoleResult struct {
	XMLName         xml.Name `xml:"AssumeRoleResult"`
	Credentials     credentials
	AssumedRoleUser assumedRoleUser
}

type getCallerIdentityResult struct {
	XMLName xml.Name `xml:"GetCallerIdentityResult"`
	UserId  string
	Account string
	Arn     string
}

func credentialsOf(sess *awsproto.Session) credentials {
	return credentials{
		AccessKeyId:     sess.AccessKeyID,
		SecretAccessKey: sess.SecretAccessKey,
		SessionToken:    sess.SessionToken,
		Expiration:      sess.Expiration.UTC().Format("2006-01-02T15:04:05Z"),
	}
}

// defaultSessionSeconds is the session length STS grants when the caller
// asks for none.
const defaultSessionSeconds = 3600

// chainedSessionLimit is the longest session a role session may chain into.
const chainedSessionLimit = 3600

// assumeRoleParams are the parameters AssumeRole and
// AssumeRoleWithWebIdentity share, validated.
type assumeRoleParams struct {
	RoleARN     string
	Account     string
	RolePath    string
	RoleName    string
	SessionName string
	Duration    int
	// OtherPartition is set when the ARN names a partition other than the
	// sandbox's region's: a role of an account this STS cannot see.
	OtherPartition bool
}

var (
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]*$`)
	externalIDPattern  = regexp.MustCompile(`^[\w+=,.@:/-]*$`)
	// roleARNPattern is a role ARN: partition, account, path (/ or
	// /PART/.../, IAM's pathType) and name (IAM's roleNameType).
	roleARNPattern = regexp.MustCompile(`^arn:([^:]+):iam::(\d{12}):role(/|/[\x21-\x7e]*/)([\w+=,.@-]{1,64})$`)
)

// parseAssumeRoleParams validates what AssumeRole and
// AssumeRoleWithWebIdentity share, with AWS's constraint messages.
func parseAssumeRoleParams(c *awsproto.Call, v *awsproto.Validation) assumeRoleParams {
	var p assumeRoleParams
	p.RoleARN = c.Form.Get("RoleArn")
	p.SessionName = c.Form.Get("RoleSessionName")
	if !c.Form.Has("RoleArn") {
		v.Null("roleArn")
	} else {
		v.Length(p.RoleARN, "roleArn", 20, 2048)
	}
	if !c.Form.Has("RoleSessionName") {
		v.Null("roleSessionName")
	} else {
		v.Length(p.SessionName, "roleSessionName", 2, 64)
		if !sessionNamePattern.MatchString(p.SessionName) {
			v.Add(p.SessionName, "roleSessionName", `satisfy regular expression pattern: [\w+=,.@-]*`)
		}
	}
	p.Duration = defaultSessionSeconds
	if raw := c.Form.Get("DurationSeconds"); raw != "" {
		d, err := strconv.Atoi(raw)
		switch {
		case err != nil:
			v.Add(raw, "durationSeconds", "be a number")
		case d < 900:
			v.Add(raw, "durationSeconds", "have value greater than or equal to 900")
		case d > 43200:
			v.Add(raw, "durationSeconds", "have value less than or equal to 43200")
		default:
			p.Duration = d
		}
	}
	return p
}

// resolveRoleARN reads a role ARN once its parameters have passed
// validation. An ARN that is not a role's, or whose partition is none of
// AWS's (arn:awsXYZ:), is refused as STS refuses it: ValidationError
// "Request ARN is invalid" (STS's answer to an ARN of the wrong kind, as
// in physera/onelogin-aws-cli#12). A role in another partition is read, and
// then found nowhere: an account's roles live in one partition only.
func (st *Service) resolveRoleARN(p *assumeRoleParams) *awsproto.Error {
	m := roleARNPattern.FindStringSubmatch(p.RoleARN)
	if m == nil {
		return awsproto.ValidationError("Request ARN is invalid")
	}
	part, known := partition.Lookup(m[1])
	if !known {
		return awsproto.ValidationError("Request ARN is invalid")
	}
	p.OtherPartition = part.ID != st.cfg.Partition.ID
	p.Account, p.RolePath, p.RoleName = m[2], m[3], m[4]
	return nil
}

// role finds the role an ARN names by the whole ARN: partition, account,
// path and name. A role reached by its name under another path, or by an
// ARN of another partition, is not that role; STS answers such an ARN as
// it answers a role that does not exist (AccessDenied): calling AssumeRole
// needs the role's full ARN, path included (alphagov/gsp#336), and a role
// of another partition cannot be assumed from this one
// (corymhall/cdk-diff-action#70 shows AssumeRole's AccessDenied for an
// arn:aws: role from a GovCloud session; "You cannot use IAM credentials
// from one partition to interact with resources in a different
// partition", AWS Fault Isolation Boundaries, quoted in aws/aws-sdk#648).
func (st *Service) role(p assumeRoleParams) *iam.Role {
	if p.OtherPartition {
		return nil
	}
	role := st.cfg.Roles.Role(p.Account, p.RoleName)
	if role == nil || rolePath(role) != p.RolePath {
		return nil
	}
	return role
}

// rolePath is a role's path, / when the role says none.
func rolePath(r *iam.Role) string {
	if r.Path == "" {
		return "/"
	}
	return r.Path
}

// checkMaxSession enforces the role's maximum session duration.
func checkMaxSession(role *iam.Role, duration int) *awsproto.Error {
	if duration > role.MaxSessionDuration {
		return awsproto.ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	return nil
}

// issueSession issues a session of the role p names, for the duration p
// asks, once that is within the role's maximum; sourceIdentity is who asked.
func (st *Service) issueSession(role *iam.Role, p assumeRoleParams, sourceIdentity string) (*awsproto.Session, *awsproto.Error) {
	if apiErr := checkMaxSession(role, p.Duration); apiErr != nil {
		return nil, apiErr
	}
	return st.cfg.Sessions.Issue(awsproto.Session{
		Account:        p.Account,
		RoleName:       p.RoleName,
		RolePath:       p.RolePath,
		RoleID:         iam.RoleID(p.Account, p.RoleName),
		SessionName:    p.SessionName,
		SourceIdentity: sourceIdentity,
		Partition:      st.cfg.Partition,
	}, time.Duration(p.Duration)*time.Second), nil
}

// assumeRoleWithWebIdentity exchanges an OIDC ID token for credentials: the
// token must come from an identity provider the role's account registered,
// be signed by a key the issuer publishes, be current, be meant for an
// audience the provider accepts, and satisfy the role's trust policy.
func (st *Service) assumeRoleWithWebIdentity(c *awsproto.Call) (any, *awsproto.Error) {
	var v awsproto.Validation
	p := parseAssumeRoleParams(c, &v)
	token := c.Form.Get("WebIdentityToken")
	if !c.Form.Has("WebIdentityToken") {
		v.Null("webIdentityToken")
	} else if n := len(token); n < 4 || n > 20000 {
		// The token is a secret: the message does not echo it.
		v.Addf("Value at 'webIdentityToken' failed to satisfy constraint: Member must have length between 4 and 20000, but was %d", n)
	}
	if c.Form.Has("ProviderId") {
		v.Length(c.Form.Get("ProviderId"), "providerId", 4, 2048)
	}
	if c.Form.Has("Policy") {
		v.Length(c.Form.Get("Policy"), "policy", 1, 2048)
	}
	if apiErr := v.Err(); apiErr != nil {
		return nil, apiErr
	}
	if apiErr := st.resolveRoleARN(&p); apiErr != nil {
		return nil, apiErr
	}

	idt, apiErr := st.verifyIdentityToken(c.Context(), p, token)
	if apiErr != nil {
		return nil, apiErr
	}

	denied := &awsproto.Error{Status: 403, Code: "AccessDenied", Message: "Not authorized to perform sts:AssumeRoleWithWebIdentity"}
	role := st.role(p)
	if role == nil {
		return nil, denied
	}
	ctx := iam.Context{}
	ctx.Set("sts:RoleSessionName", p.SessionName)
	for name, values := range idt.claimValues() {
		ctx.Set(idt.providerHost+":"+name, values...)
	}
	if !st.cfg.Authorizer.Trust(role, p.RoleARN, iam.Request{
		Action:    "sts:AssumeRoleWithWebIdentity",
		Principal: &iam.Principal{Type: "Federated", Names: []string{idt.providerARN}},
		Context:   ctx,
	}).Allowed {
		return nil, denied
	}
	sess, apiErr := st.issueSession(role, p, idt.subject)
	if apiErr != nil {
		return nil, apiErr
	}
	return assumeRoleWithWebIdentityResult{
		Credentials:                 credentialsOf(sess),
		SubjectFromWebIdentityToken: idt.subject,
		AssumedRoleUser:             assumedRoleUser{Arn: sess.AssumedRoleARN(), AssumedRoleId: sess.AssumedRoleID()},
		Provider:                    idt.providerARN,
		Audience:                    idt.audience,
	}, nil
}

// assumeRole lets a signed session assume another role: the caller's
// identity policy must allow sts:AssumeRole on it (unless, in the same
// account, the trust policy names the caller itself) and the role's trust
// policy must trust the caller.
func (st *Service) assumeRole(c *awsproto.Call) (any, *awsproto.Error) {
	caller := c.Caller
	var v awsproto.Validation
	p := parseAssumeRoleParams(c, &v)
	externalID, hasExternalID := c.Form.Get("ExternalId"), c.Form.Has("ExternalId")
	if hasExternalID {
		v.Length(externalID, "externalId", 2, 1224)
		if !externalIDPattern.MatchString(externalID) {
			v.Add(externalID, "externalId", `satisfy regular expression pattern: [\w+=,.@:\/-]*`)
		}
	}
	if apiErr := v.Err(); apiErr != nil {
		return nil, apiErr
	}
	if apiErr := st.resolveRoleARN(&p); apiErr != nil {
		return nil, apiErr
	}
	// A role session assuming a role is role chaining, held to an hour.
	if !caller.IsUser() && p.Duration > chainedSessionLimit {
		return nil, awsproto.ValidationError("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}

	denied := &awsproto.Error{Status: 403, Code: "AccessDenied", Message: fmt.Sprintf(
		"User: %s is not authorized to perform: sts:AssumeRole on resource: %s", caller.PrincipalARN(), p.RoleARN)}
	role := st.role(p)
	if role == nil {
		return nil, denied
	}
	keys := map[string]string{
		"aws:PrincipalType":   "AssumedRole",
		"aws:userid":          caller.PrincipalID(),
		"sts:RoleSessionName": p.SessionName,
	}
	// The names the trust policy may know the caller by: its role (or
	// user) and session, its account's root, its bare account ID.
	names := []string{caller.RoleARN(), caller.AssumedRoleARN()}
	if caller.IsUser() {
		keys["aws:PrincipalType"] = "User"
		names = []string{caller.PrincipalARN()}
	}
	if hasExternalID {
		keys["sts:ExternalId"] = externalID
	}
	// The caller's own identity policy is asked with the same keys as the
	// trust policy.
	identity := st.cfg.Authorizer.Decide(caller, "sts:AssumeRole", p.RoleARN, keys)
	trust := func(names ...string) bool {
		return st.cfg.Authorizer.Trust(role, p.RoleARN, iam.Request{
			Action:    "sts:AssumeRole",
			Principal: &iam.Principal{Type: "AWS", Names: names},
			Context:   identity.Context,
		}).Allowed
	}
	trusted := trust(append(slices.Clone(names), st.cfg.Partition.ARN("iam", "", caller.Account, "root"), caller.Account)...)
	// In its own account a role that the trust policy names directly needs
	// no identity policy; trust granted to a whole account, or across
	// accounts, must also be allowed by the caller's own permissions.
	namedDirectly := trusted && trust(names...)
	if !trusted || !(identity.Allowed || (namedDirectly && caller.Account == p.Account)) {
		return nil, denied
	}
	sess, apiErr := st.issueSession(role, p, caller.PrincipalARN())
	if apiErr != nil {
		return nil, apiErr
	}
	return assumeRoleResult{
		Credentials:     credentialsOf(sess),
		AssumedRoleUser: assumedRoleUser{Arn: sess.AssumedRoleARN(), AssumedRoleId: sess.AssumedRoleID()},
	}, nil
}

func (st *Service) getCallerIdentity(c *awsproto.Call) (any, *awsproto.Error) {
	return getCallerIdentityResult{
		UserId:  c.Caller.PrincipalID(),
		Account: c.Caller.Account,
		Arn:     c.Caller.PrincipalARN(),
	}, nil
}

// identityToken is a verified ID token and the provider that vouched for it.
type identityToken struct {
	claims       map[string]any
	subject      string
	audience     string
	providerHost string // the IAM provider's URL: the issuer without scheme
	providerARN  string
}

// claimValues returns each claim as the strings a condition compares.
func (t *identityToken) claimValues() map[string][]string {
	out := map[string][]string{}
	for name, raw := range t.claims {
		switch v := raw.(type) {
		case string:
			out[name] = []string{v}
		case bool:
			out[name] = []string{strconv.FormatBool(v)}
		case json.Number:
			out[name] = []string{v.String()}
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok {
					out[name] = append(out[name], s)
				}
			}
		}
	}
	return out
}

func invalidIdentityToken(msg string) *awsproto.Error {
	return &awsproto.Error{Status: 400, Code: "InvalidIdentityToken", Message: msg}
}

// signatureAlgorithms are the algorithms STS accepts ID tokens signed with.
var signatureAlgorithms = []jose.SignatureAlgorithm{jose.RS256}

// verifyIdentityToken checks an ID token the way STS does, in STS's order:
// the issuer must be a provider of the role's account, the token must be
// signed with RS256 by a key the issuer publishes, it must be current, and
// its audience must be one the provider accepts. The account of a role in
// another partition has no provider here: STS finds none "in your account"
// (crossplane-contrib/provider-aws#1785 shows that answer to a web
// identity crossing partitions).
func (st *Service) verifyIdentityToken(ctx context.Context, p assumeRoleParams, token string) (*identityToken, *awsproto.Error) {
	account := p.Account
	jws, err := jose.ParseSignedCompact(token, signatureAlgorithms)
	var unexpected *jose.ErrUnexpectedSignatureAlgorithm
	if errors.As(err, &unexpected) {
		// Read it all the same: its issuer is checked before its algorithm.
		jws, err = jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{unexpected.Got})
	}
	if err != nil {
		return nil, invalidIdentityToken("The ID token provided is not a valid JWT: " + malformedPart(token))
	}
	header := jws.Signatures[0].Header
	var claims map[string]any
	if err := decodeClaims(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		return nil, invalidIdentityToken("The ID token provided is not a valid JWT: its payload cannot be decoded")
	}
	iss, _ := claims["iss"].(string)
	if iss == "" {
		return nil, invalidIdentityToken("The ID token has no issuer (iss)")
	}
	host := iam.ProviderHost(iss)
	var provider *iam.OIDCProvider
	if !p.OtherPartition {
		provider = st.cfg.Roles.OIDCProvider(account, host)
	}
	if provider == nil {
		return nil, invalidIdentityToken("No OpenIDConnect provider found in your account for " + iss)
	}

	if !slices.Contains(signatureAlgorithms, jose.SignatureAlgorithm(header.Algorithm)) {
		return nil, invalidIdentityToken("The ID token is signed with an unsupported algorithm " + strconv.Quote(header.Algorithm))
	}
	keys, apiErr := st.fetchKeys(ctx, iss)
	if apiErr != nil {
		return nil, apiErr
	}
	candidates := keys.Key(header.KeyID)
	if len(candidates) == 0 {
		return nil, invalidIdentityToken("The ID token's signing key (kid " + strconv.Quote(header.KeyID) + ") is not among the keys your identity provider publishes")
	}
	if !slices.ContainsFunc(candidates, func(k jose.JSONWebKey) bool { _, err := jws.Verify(k); return err == nil }) {
		return nil, invalidIdentityToken("The ID token's signature could not be verified with your identity provider's keys")
	}

	now := st.cfg.Now().Unix()
	exp, hasExp := numericClaim(claims, "exp")
	if !hasExp {
		return nil, invalidIdentityToken("The ID token has no expiration time (exp)")
	}
	if now >= exp {
		return nil, &awsproto.Error{Status: 400, Code: "ExpiredTokenException", Message: fmt.Sprintf(
			"Token expired: current date/time %d must be before the expiration date/time %d", now, exp)}
	}
	if nbf, ok := numericClaim(claims, "nbf"); ok && now < nbf {
		return nil, invalidIdentityToken(fmt.Sprintf(
			"Token is not yet valid: current date/time %d must be after the not-before date/time %d", now, nbf))
	}

	var audiences []string
	switch aud := claims["aud"].(type) {
	case string:
		audiences = []string{aud}
	case []any:
		for _, a := range aud {
			if s, ok := a.(string); ok {
				audiences = append(audiences, s)
			}
		}
	}
	accepted := ""
	for _, a := range audiences {
		for _, id := range provider.ClientIDs {
			if a == id && accepted == "" {
				accepted = a
			}
		}
	}
	if accepted == "" {
		return nil, invalidIdentityToken("Incorrect token audience")
	}
	sub, _ := claims["sub"].(string)
	return &identityToken{
		claims:       claims,
		subject:      sub,
		audience:     accepted,
		providerHost: host,
		providerARN:  st.cfg.Partition.OIDCProviderARN(account, host),
	}, nil
}

// malformedPart says what is wrong with a token that is not a compact JWS,
// naming the first part at fault as STS checks them: header, payload,
// signature.
func malformedPart(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "it must have three dot-separated parts"
	}
	decodes := func(part string) bool { _, err := base64.RawURLEncoding.DecodeString(part); return err == nil }
	switch {
	case !decodes(parts[0]):
		return "its header cannot be decoded"
	case !decodes(parts[1]):
		return "its payload cannot be decoded"
	case !decodes(parts[2]):
		return "its signature cannot be decoded"
	}
	return "its header cannot be decoded"
}

// decodeClaims decodes a JWT's payload; numbers stay json.Number so that
// large claims keep their digits.
func decodeClaims(payload []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	return dec.Decode(v)
}

func numericClaim(claims map[string]any, name string) (int64, bool) {
	n, ok := claims[name].(json.Number)
	if !ok {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	f, err := n.Float64()
	if err != nil {
		return 0, false
	}
	return int64(f), true
}

// fetchKeys reads an issuer's signing keys as STS does: its discovery
// document, then the JWKS it names. A provider that cannot be reached is an
// IDPCommunicationError, which clients retry.
func (st *Service) fetchKeys(ctx context.Context, issuer string) (jose.JSONWebKeySet, *awsproto.Error) {
	base := strings.TrimSuffix(st.cfg.DiscoveryURL(issuer), "/")
	unreachable := func(err error) *awsproto.Error {
		if st.cfg.Logf != nil {
			st.cfg.Logf("sts: fetch keys of %s: %v", issuer, err)
		}
		return &awsproto.Error{Status: 400, Code: "IDPCommunicationError", Message: "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"}
	}
	var discovery struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := st.getJSON(ctx, base+"/.well-known/openid-configuration", &discovery); err != nil {
		return jose.JSONWebKeySet{}, unreachable(err)
	}
	if discovery.JWKSURI == "" {
		return jose.JSONWebKeySet{}, unreachable(errors.New("discovery document names no jwks_uri"))
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := st.getJSON(ctx, discovery.JWKSURI, &set); err != nil {
		return jose.JSONWebKeySet{}, unreachable(err)
	}
	// Keys STS cannot use (another type, a malformed one) are passed over,
	// not held against the others.
	var keys jose.JSONWebKeySet
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := json.Unmarshal(raw, &k); err != nil || !k.Valid() {
			continue
		}
		if _, ok := k.Key.(*rsa.PublicKey); !ok {
			continue
		}
		keys.Keys = append(keys.Keys, k)
	}
	return keys, nil
}

func (st *Service) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := st.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}
