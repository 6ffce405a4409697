package sandbox

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// stsService stands in for AWS STS: AssumeRoleWithWebIdentity (unsigned),
// AssumeRole and GetCallerIdentity (signed), in the awsQuery protocol.
type stsService struct {
	s *Sandbox
	// client fetches identity providers' discovery documents and keys.
	client *http.Client

	mu    sync.Mutex
	calls map[string]int
}

func newSTSService(s *Sandbox) *stsService {
	return &stsService{s: s, client: &http.Client{Timeout: 5 * time.Second}, calls: map[string]int{}}
}

// recordCall counts a call that reached STS, before faults, signature
// checks or validation can fail it.
func (st *stsService) recordCall(operation string) {
	st.mu.Lock()
	st.calls[operation]++
	st.mu.Unlock()
}

// STSCalls is how many calls of an STS operation (AssumeRoleWithWebIdentity,
// AssumeRole, GetCallerIdentity) have reached the sandbox, failed ones
// included: tests use it to tell a client that fails fast from one that
// retries.
func (s *Sandbox) STSCalls(operation string) int {
	s.sts.mu.Lock()
	defer s.sts.mu.Unlock()
	return s.sts.calls[operation]
}

func (st *stsService) handle(c *Call) (any, *APIError) {
	switch c.Operation {
	case "AssumeRoleWithWebIdentity":
		return st.assumeRoleWithWebIdentity(c)
	case "AssumeRole":
		return st.assumeRole(c)
	case "GetCallerIdentity":
		return st.getCallerIdentity(c)
	}
	return nil, &APIError{Status: 400, Code: "InvalidAction", Message: fmt.Sprintf("Could not find operation %s for version 2011-06-15", c.Operation)}
}

// The awsQuery result elements, named as STS names them.
type stsCredentials struct {
	AccessKeyId     string
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

type stsAssumedRoleUser struct {
	Arn           string
	AssumedRoleId string
}

type assumeRoleWithWebIdentityResult struct {
	XMLName                     xml.Name `xml:"AssumeRoleWithWebIdentityResult"`
	Credentials                 stsCredentials
	SubjectFromWebIdentityToken string
	AssumedRoleUser             stsAssumedRoleUser
	Provider                    string
	Audience                    string
}

type assumeRoleResult struct {
	XMLName         xml.Name `xml:"AssumeRoleResult"`
	Credentials     stsCredentials
	AssumedRoleUser stsAssumedRoleUser
}

type getCallerIdentityResult struct {
	XMLName xml.Name `xml:"GetCallerIdentityResult"`
	UserId  string
	Account string
	Arn     string
}

func credentialsOf(sess *Session) stsCredentials {
	return stsCredentials{
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
	RoleName    string
	SessionName string
	Duration    int
}

var (
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]*$`)
	externalIDPattern  = regexp.MustCompile(`^[\w+=,.@:/-]*$`)
	roleARNPattern     = regexp.MustCompile(`^arn:aws[\w-]*:iam::(\d{12}):role/((?:[\x21-\x7e]+/)*)([\w+=,.@-]{1,64})$`)
)

// validation collects constraint violations and reports them the way AWS's
// request validation does: "N validation errors detected: ...; ...".
type validation []string

func (v *validation) add(value, member, constraint string) {
	*v = append(*v, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must %s", value, member, constraint))
}

func (v *validation) null(member string) {
	*v = append(*v, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", member))
}

func (v validation) err() *APIError {
	switch len(v) {
	case 0:
		return nil
	case 1:
		return validationError("1 validation error detected: " + v[0])
	}
	return validationError(fmt.Sprintf("%d validation errors detected: %s", len(v), strings.Join(v, "; ")))
}

func validationError(msg string) *APIError {
	return &APIError{Status: 400, Code: "ValidationError", Message: msg}
}

// length checks a string parameter's length bounds.
func (v *validation) length(value, member string, min, max int) {
	switch n := len(value); {
	case n < min:
		v.add(value, member, fmt.Sprintf("have length greater than or equal to %d", min))
	case n > max:
		v.add(value, member, fmt.Sprintf("have length less than or equal to %d", max))
	}
}

// parseAssumeRoleParams validates what AssumeRole and
// AssumeRoleWithWebIdentity share, with AWS's constraint messages.
func parseAssumeRoleParams(c *Call, v *validation) assumeRoleParams {
	var p assumeRoleParams
	p.RoleARN = c.Form.Get("RoleArn")
	p.SessionName = c.Form.Get("RoleSessionName")
	if !c.Form.Has("RoleArn") {
		v.null("roleArn")
	} else {
		v.length(p.RoleARN, "roleArn", 20, 2048)
	}
	if !c.Form.Has("RoleSessionName") {
		v.null("roleSessionName")
	} else {
		v.length(p.SessionName, "roleSessionName", 2, 64)
		if !sessionNamePattern.MatchString(p.SessionName) {
			v.add(p.SessionName, "roleSessionName", `satisfy regular expression pattern: [\w+=,.@-]*`)
		}
	}
	p.Duration = defaultSessionSeconds
	if raw := c.Form.Get("DurationSeconds"); raw != "" {
		d, err := strconv.Atoi(raw)
		switch {
		case err != nil:
			v.add(raw, "durationSeconds", "be a number")
		case d < 900:
			v.add(raw, "durationSeconds", "have value greater than or equal to 900")
		case d > 43200:
			v.add(raw, "durationSeconds", "have value less than or equal to 43200")
		default:
			p.Duration = d
		}
	}
	return p
}

// resolveRoleARN checks the shape of a role ARN once its parameters have
// passed validation.
func (p *assumeRoleParams) resolveRoleARN() *APIError {
	m := roleARNPattern.FindStringSubmatch(p.RoleARN)
	if m == nil {
		return validationError("Request ARN is invalid")
	}
	p.Account, p.RoleName = m[1], m[3]
	return nil
}

// checkMaxSession enforces the role's maximum session duration.
func checkMaxSession(role *Role, duration int) *APIError {
	if duration > role.MaxSessionDuration {
		return validationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	return nil
}

// issueSession issues a session of the role p names, for the duration p
// asks, once that is within the role's maximum; sourceIdentity is who asked.
func (st *stsService) issueSession(role *Role, p assumeRoleParams, sourceIdentity string) (*Session, *APIError) {
	if apiErr := checkMaxSession(role, p.Duration); apiErr != nil {
		return nil, apiErr
	}
	return st.s.sessions.issue(Session{
		Account:        p.Account,
		RoleName:       p.RoleName,
		RoleID:         roleID(p.Account, p.RoleName),
		SessionName:    p.SessionName,
		SourceIdentity: sourceIdentity,
	}, time.Duration(p.Duration)*time.Second), nil
}

// assumeRoleWithWebIdentity exchanges an OIDC ID token for credentials: the
// token must come from an identity provider the role's account registered,
// be signed by a key the issuer publishes, be current, be meant for an
// audience the provider accepts, and satisfy the role's trust policy.
func (st *stsService) assumeRoleWithWebIdentity(c *Call) (any, *APIError) {
	var v validation
	p := parseAssumeRoleParams(c, &v)
	token := c.Form.Get("WebIdentityToken")
	if !c.Form.Has("WebIdentityToken") {
		v.null("webIdentityToken")
	} else if n := len(token); n < 4 || n > 20000 {
		// The token is a secret: the message does not echo it.
		v = append(v, fmt.Sprintf("Value at 'webIdentityToken' failed to satisfy constraint: Member must have length between 4 and 20000, but was %d", n))
	}
	if c.Form.Has("ProviderId") {
		v.length(c.Form.Get("ProviderId"), "providerId", 4, 2048)
	}
	if c.Form.Has("Policy") {
		v.length(c.Form.Get("Policy"), "policy", 1, 2048)
	}
	if apiErr := v.err(); apiErr != nil {
		return nil, apiErr
	}
	if apiErr := p.resolveRoleARN(); apiErr != nil {
		return nil, apiErr
	}

	idt, apiErr := st.verifyIdentityToken(c.Request.Context(), p.Account, token)
	if apiErr != nil {
		return nil, apiErr
	}

	denied := &APIError{Status: 403, Code: "AccessDenied", Message: "Not authorized to perform sts:AssumeRoleWithWebIdentity"}
	role := st.s.role(p.Account, p.RoleName)
	if role == nil {
		return nil, denied
	}
	ctx := map[string][]string{
		"sts:rolesessionname": {p.SessionName},
	}
	for name, values := range idt.claimValues() {
		ctx[strings.ToLower(idt.providerHost+":"+name)] = values
	}
	if !trustAllows(role.TrustPolicy, trustRequest{
		Action:        "sts:AssumeRoleWithWebIdentity",
		PrincipalType: "Federated",
		Principals:    []string{idt.providerARN},
		Context:       ctx,
	}) {
		return nil, denied
	}
	sess, apiErr := st.issueSession(role, p, idt.subject)
	if apiErr != nil {
		return nil, apiErr
	}
	return assumeRoleWithWebIdentityResult{
		Credentials:                 credentialsOf(sess),
		SubjectFromWebIdentityToken: idt.subject,
		AssumedRoleUser:             stsAssumedRoleUser{Arn: sess.AssumedRoleARN(), AssumedRoleId: sess.AssumedRoleID()},
		Provider:                    idt.providerARN,
		Audience:                    idt.audience,
	}, nil
}

// assumeRole lets a signed session assume another role: the caller's
// identity policy must allow sts:AssumeRole on it (unless, in the same
// account, the trust policy names the caller itself) and the role's trust
// policy must trust the caller.
func (st *stsService) assumeRole(c *Call) (any, *APIError) {
	caller := c.Caller
	var v validation
	p := parseAssumeRoleParams(c, &v)
	externalID, hasExternalID := c.Form.Get("ExternalId"), c.Form.Has("ExternalId")
	if hasExternalID {
		v.length(externalID, "externalId", 2, 1224)
		if !externalIDPattern.MatchString(externalID) {
			v.add(externalID, "externalId", `satisfy regular expression pattern: [\w+=,.@:\/-]*`)
		}
	}
	if apiErr := v.err(); apiErr != nil {
		return nil, apiErr
	}
	if apiErr := p.resolveRoleARN(); apiErr != nil {
		return nil, apiErr
	}
	// Every caller here is a role session, so every AssumeRole is a chain.
	if p.Duration > chainedSessionLimit {
		return nil, validationError("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}

	denied := &APIError{Status: 403, Code: "AccessDenied", Message: fmt.Sprintf(
		"User: %s is not authorized to perform: sts:AssumeRole on resource: %s", caller.AssumedRoleARN(), p.RoleARN)}
	role := st.s.role(p.Account, p.RoleName)
	if role == nil {
		return nil, denied
	}
	ctx := map[string][]string{
		"aws:principalarn":     {caller.RoleARN()},
		"aws:principalaccount": {caller.Account},
		"aws:principaltype":    {"AssumedRole"},
		"aws:userid":           {caller.AssumedRoleID()},
		"sts:rolesessionname":  {p.SessionName},
	}
	if hasExternalID {
		ctx["sts:externalid"] = []string{externalID}
	}
	req := trustRequest{
		Action:        "sts:AssumeRole",
		PrincipalType: "AWS",
		Principals:    []string{caller.RoleARN(), caller.AssumedRoleARN(), "arn:aws:iam::" + caller.Account + ":root", caller.Account},
		Context:       ctx,
	}
	trusted := trustAllows(role.TrustPolicy, req)
	// In its own account a role that the trust policy names directly needs
	// no identity policy; trust granted to a whole account, or across
	// accounts, must also be allowed by the caller's own permissions.
	namedDirectly := trusted && trustAllows(role.TrustPolicy, trustRequest{
		Action: req.Action, PrincipalType: req.PrincipalType, Context: req.Context,
		Principals: []string{caller.RoleARN(), caller.AssumedRoleARN()},
	})
	callerRole := st.s.role(caller.Account, caller.RoleName)
	identityAllows := callerRole != nil && policyAllows(callerRole.Permissions, "sts:AssumeRole", p.RoleARN, ctx)
	if !trusted || !(identityAllows || (namedDirectly && caller.Account == p.Account)) {
		return nil, denied
	}
	sess, apiErr := st.issueSession(role, p, caller.AssumedRoleARN())
	if apiErr != nil {
		return nil, apiErr
	}
	return assumeRoleResult{
		Credentials:     credentialsOf(sess),
		AssumedRoleUser: stsAssumedRoleUser{Arn: sess.AssumedRoleARN(), AssumedRoleId: sess.AssumedRoleID()},
	}, nil
}

func (st *stsService) getCallerIdentity(c *Call) (any, *APIError) {
	return getCallerIdentityResult{
		UserId:  c.Caller.AssumedRoleID(),
		Account: c.Caller.Account,
		Arn:     c.Caller.AssumedRoleARN(),
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

func invalidIdentityToken(msg string) *APIError {
	return &APIError{Status: 400, Code: "InvalidIdentityToken", Message: msg}
}

// verifyIdentityToken checks an ID token the way STS does, in STS's order:
// the issuer must be a provider of the account, the signature must verify
// against the issuer's published keys, the token must be current, and its
// audience must be one the provider accepts.
func (st *stsService) verifyIdentityToken(ctx context.Context, account, token string) (*identityToken, *APIError) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, invalidIdentityToken("The ID token provided is not a valid JWT: it must have three dot-separated parts")
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodeJWTPart(parts[0], &header); err != nil {
		return nil, invalidIdentityToken("The ID token provided is not a valid JWT: its header cannot be decoded")
	}
	var claims map[string]any
	if err := decodeJWTPart(parts[1], &claims); err != nil {
		return nil, invalidIdentityToken("The ID token provided is not a valid JWT: its payload cannot be decoded")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, invalidIdentityToken("The ID token provided is not a valid JWT: its signature cannot be decoded")
	}
	iss, _ := claims["iss"].(string)
	if iss == "" {
		return nil, invalidIdentityToken("The ID token has no issuer (iss)")
	}
	host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(iss, "https://"), "http://"), "/")
	var provider *OIDCProvider
	if acct := st.s.world.Accounts[account]; acct != nil {
		for i := range acct.OIDCProviders {
			if strings.TrimSuffix(acct.OIDCProviders[i].URL, "/") == host {
				provider = &acct.OIDCProviders[i]
				break
			}
		}
	}
	if provider == nil {
		return nil, invalidIdentityToken("No OpenIDConnect provider found in your account for " + iss)
	}

	if header.Alg != "RS256" {
		return nil, invalidIdentityToken("The ID token is signed with an unsupported algorithm " + strconv.Quote(header.Alg))
	}
	keys, apiErr := st.fetchKeys(ctx, iss)
	if apiErr != nil {
		return nil, apiErr
	}
	key, ok := keys[header.Kid]
	if !ok {
		return nil, invalidIdentityToken("The ID token's signing key (kid " + strconv.Quote(header.Kid) + ") is not among the keys your identity provider publishes")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig); err != nil {
		return nil, invalidIdentityToken("The ID token's signature could not be verified with your identity provider's keys")
	}

	now := st.s.now().Unix()
	exp, hasExp := numericClaim(claims, "exp")
	if !hasExp {
		return nil, invalidIdentityToken("The ID token has no expiration time (exp)")
	}
	if now >= exp {
		return nil, &APIError{Status: 400, Code: "ExpiredTokenException", Message: fmt.Sprintf(
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
		providerARN:  "arn:aws:iam::" + account + ":oidc-provider/" + host,
	}, nil
}

// decodeJWTPart decodes a base64url JSON segment of a JWT; numbers stay
// json.Number so that large claims keep their digits.
func decodeJWTPart(part string, v any) error {
	data, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
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
// document, then the JWKS it names. The world's GitHub issuer is served by
// the sandbox's own token service, so its discovery document is read there;
// any other issuer is fetched from its own URL. A provider that cannot be
// reached is an IDPCommunicationError, which clients retry.
func (st *stsService) fetchKeys(ctx context.Context, issuer string) (map[string]*rsa.PublicKey, *APIError) {
	base := strings.TrimSuffix(issuer, "/")
	if issuer == st.s.world.GitHub.Issuer {
		base = st.s.GitHubURL()
	}
	unreachable := func(err error) *APIError {
		st.s.logf("sts: fetch keys of %s: %v", issuer, err)
		return &APIError{Status: 400, Code: "IDPCommunicationError", Message: "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"}
	}
	var discovery struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := st.getJSON(ctx, base+"/.well-known/openid-configuration", &discovery); err != nil {
		return nil, unreachable(err)
	}
	if discovery.JWKSURI == "" {
		return nil, unreachable(errors.New("discovery document names no jwks_uri"))
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := st.getJSON(ctx, discovery.JWKSURI, &set); err != nil {
		return nil, unreachable(err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" {
			continue
		}
		n, errN := base64.RawURLEncoding.DecodeString(k.N)
		e, errE := base64.RawURLEncoding.DecodeString(k.E)
		if errN != nil || errE != nil || len(e) > 4 {
			continue
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return keys, nil
}

func (st *stsService) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := st.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}
