package sts_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

const (
	demoRoleARN    = "arn:aws:iam::111122223333:role/gha-deploy"
	demoChainARN   = "arn:aws:iam::444455556666:role/prod-deploy"
	demoExternalID = "acme-prod-7f3c"
)

func TestAssumeRoleWithWebIdentity(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	before := time.Now()
	out := sandboxtest.WebIdentity(t, sb, demoRoleARN, "acme-web-api-9876543210-1")

	got := map[string]string{
		"Arn":      aws.ToString(out.AssumedRoleUser.Arn),
		"Subject":  aws.ToString(out.SubjectFromWebIdentityToken),
		"Provider": aws.ToString(out.Provider),
		"Audience": aws.ToString(out.Audience),
	}
	want := map[string]string{
		"Arn":      "arn:aws:sts::111122223333:assumed-role/gha-deploy/acme-web-api-9876543210-1",
		"Subject":  "repo:acme/web-api:environment:production",
		"Provider": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com",
		"Audience": "sts.amazonaws.com",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AssumeRoleWithWebIdentity (-want +got):\n%s", diff)
	}
	id := aws.ToString(out.AssumedRoleUser.AssumedRoleId)
	if !strings.HasPrefix(id, "AROA") || !strings.HasSuffix(id, ":acme-web-api-9876543210-1") {
		t.Errorf("AssumedRoleId = %q, want AROA...:acme-web-api-9876543210-1", id)
	}
	if k := aws.ToString(out.Credentials.AccessKeyId); !strings.HasPrefix(k, "ASIA") {
		t.Errorf("AccessKeyId = %q, want a temporary ASIA... key", k)
	}
	// The default session is an hour.
	if exp := aws.ToTime(out.Credentials.Expiration); exp.Before(before.Add(59*time.Minute)) || exp.After(time.Now().Add(61*time.Minute)) {
		t.Errorf("Expiration = %v, want about an hour from now", exp)
	}

	id2, err := sandboxtest.STSClient(sb, sandboxtest.StaticCredentials(out.Credentials)).
		GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	gotID := []string{aws.ToString(id2.Account), aws.ToString(id2.Arn), aws.ToString(id2.UserId)}
	wantID := []string{"111122223333", want["Arn"], id}
	if diff := cmp.Diff(wantID, gotID); diff != "" {
		t.Errorf("GetCallerIdentity (-want +got):\n%s", diff)
	}
	if got, want := sb.STSCalls("AssumeRoleWithWebIdentity"), 1; got != want {
		t.Errorf("STSCalls(AssumeRoleWithWebIdentity) = %d, want %d", got, want)
	}
}

func TestAssumeRoleWithWebIdentityDuration(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, func(w *sandbox.World) {
		w.Accounts["111122223333"].Roles["gha-deploy"].MaxSessionDuration = 7200
	})
	out, err := sandboxtest.STSClient(sb, nil).AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(demoRoleARN),
		RoleSessionName:  aws.String("long"),
		WebIdentityToken: aws.String(sandboxtest.Token(t, sb, "sts.amazonaws.com")),
		DurationSeconds:  aws.Int32(7200),
	})
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	if left := time.Until(aws.ToTime(out.Credentials.Expiration)); left < 119*time.Minute || left > 121*time.Minute {
		t.Errorf("session lasts %v, want the 2 hours asked for", left)
	}

	// The world's credential lifetime caps whatever is asked for.
	capped := sandboxtest.Start(t, func(w *sandbox.World) { w.CredentialLifetimeSeconds = 60 })
	out = sandboxtest.WebIdentity(t, capped, demoRoleARN, "capped")
	if left := time.Until(aws.ToTime(out.Credentials.Expiration)); left > 61*time.Second {
		t.Errorf("capped session lasts %v, want at most the world's 60 s", left)
	}
}

func TestAssumeRoleWithWebIdentityErrors(t *testing.T) {
	t.Parallel()
	otherBranch := func(w *sandbox.World) {
		// The run is on a feature branch without an environment; the role
		// trusts main only.
		delete(w.GitHub.Claims, "environment")
		w.GitHub.Claims["ref"] = "refs/heads/feature/x"
		st := &w.Accounts["111122223333"].Roles["gha-deploy"].TrustPolicy.Statement[0]
		st.Condition["StringEquals"]["token.actions.githubusercontent.com:sub"] = sandbox.StringList{"repo:acme/web-api:ref:refs/heads/main"}
	}
	tests := []struct {
		name        string
		edit        func(*sandbox.World)
		audience    string
		token       func(string) string
		roleARN     string
		sessionName string
		duration    int32
		wantCode    string
		wantStatus  int
		wantMessage string
	}{
		{name: "trust_policy_for_another_branch", edit: otherBranch, wantCode: "AccessDenied", wantStatus: 403, wantMessage: "Not authorized to perform sts:AssumeRoleWithWebIdentity"},
		{name: "role_does_not_exist", roleARN: "arn:aws:iam::111122223333:role/nope", wantCode: "AccessDenied", wantStatus: 403, wantMessage: "Not authorized to perform sts:AssumeRoleWithWebIdentity"},
		{name: "role_in_account_without_provider", roleARN: demoChainARN, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "No OpenIDConnect provider found in your account for https://token.actions.githubusercontent.com"},
		{name: "wrong_audience", audience: "https://github.com/acme", wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "Incorrect token audience"},
		{name: "expired_token", edit: func(w *sandbox.World) { w.GitHub.IssuedAtOffsetSeconds = -600 }, wantCode: "ExpiredTokenException", wantStatus: 400, wantMessage: "Token expired"},
		{name: "token_not_yet_valid", edit: func(w *sandbox.World) { w.GitHub.IssuedAtOffsetSeconds = 600 }, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "not yet valid"},
		{name: "unknown_issuer", edit: func(w *sandbox.World) { w.GitHub.Issuer = "https://token.example.com" }, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "No OpenIDConnect provider found in your account for https://token.example.com"},
		{name: "tampered_payload", token: tamperPayload, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "signature could not be verified"},
		{name: "unknown_signing_key", token: replaceKid, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "is not among the keys"},
		{name: "not_a_jwt", token: func(string) string { return "not-a-jwt" }, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "not a valid JWT"},
		{name: "two_parts", token: func(tok string) string { return tok[:strings.LastIndex(tok, ".")] }, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "not a valid JWT: it must have three dot-separated parts"},
		{name: "signature_not_base64url", token: func(tok string) string { return tok[:strings.LastIndex(tok, ".")] + ".!!" }, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "not a valid JWT: its signature cannot be decoded"},
		{name: "payload_not_json", token: func(tok string) string {
			parts := strings.Split(tok, ".")
			return parts[0] + "." + jwtSegment([]byte("not json")) + "." + parts[2]
		}, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "not a valid JWT: its payload cannot be decoded"},
		{name: "unsupported_algorithm", token: func(tok string) string {
			parts := strings.Split(tok, ".")
			return jwtSegment([]byte(`{"typ":"JWT","alg":"HS256"}`)) + "." + parts[1] + "." + parts[2]
		}, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: `The ID token is signed with an unsupported algorithm "HS256"`},
		{name: "unsupported_algorithm_of_unknown_issuer", edit: func(w *sandbox.World) { w.GitHub.Issuer = "https://token.example.com" }, token: func(tok string) string {
			parts := strings.Split(tok, ".")
			return jwtSegment([]byte(`{"typ":"JWT","alg":"none"}`)) + "." + parts[1] + "." + parts[2]
		}, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "No OpenIDConnect provider found in your account for https://token.example.com"},
		{name: "session_name_with_spaces", sessionName: "my session", wantCode: "ValidationError", wantStatus: 400, wantMessage: `Value 'my session' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`},
		{name: "session_name_of_70_characters", sessionName: strings.Repeat("s", 70), wantCode: "ValidationError", wantStatus: 400, wantMessage: "Member must have length less than or equal to 64"},
		{name: "session_name_of_1_character", sessionName: "s", wantCode: "ValidationError", wantStatus: 400, wantMessage: "Member must have length greater than or equal to 2"},
		{name: "duration_100", duration: 100, wantCode: "ValidationError", wantStatus: 400, wantMessage: "Value '100' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"},
		{name: "duration_50000", duration: 50000, wantCode: "ValidationError", wantStatus: 400, wantMessage: "Member must have value less than or equal to 43200"},
		{name: "duration_above_role_maximum", duration: 7200, wantCode: "ValidationError", wantStatus: 400, wantMessage: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."},
		{name: "malformed_role_arn", roleARN: "arn:aws:iam::1111:role/gha-deploy", wantCode: "ValidationError", wantStatus: 400, wantMessage: "Request ARN is invalid"},
		{name: "two_validation_errors", sessionName: "a b c", duration: 60, wantCode: "ValidationError", wantStatus: 400, wantMessage: "2 validation errors detected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sb := sandboxtest.Start(t, tt.edit)
			audience := "sts.amazonaws.com"
			if tt.audience != "" {
				audience = tt.audience
			}
			token := sandboxtest.Token(t, sb, audience)
			if tt.token != nil {
				token = tt.token(token)
			}
			in := &sts.AssumeRoleWithWebIdentityInput{
				RoleArn:          aws.String(demoRoleARN),
				RoleSessionName:  aws.String("valid-session"),
				WebIdentityToken: aws.String(token),
			}
			if tt.roleARN != "" {
				in.RoleArn = aws.String(tt.roleARN)
			}
			if tt.sessionName != "" {
				in.RoleSessionName = aws.String(tt.sessionName)
			}
			if tt.duration != 0 {
				in.DurationSeconds = aws.Int32(tt.duration)
			}
			// No retries: every one of these errors must be final.
			_, err := sandboxtest.STSClient(sb, nil, func(o *sts.Options) { o.RetryMaxAttempts = 1 }).AssumeRoleWithWebIdentity(context.Background(), in)
			code, status, msg := sandboxtest.APIError(t, err)
			if code != tt.wantCode || status != tt.wantStatus || !strings.Contains(msg, tt.wantMessage) {
				t.Errorf("AssumeRoleWithWebIdentity error = %s (%d) %q, want %s (%d) containing %q", code, status, msg, tt.wantCode, tt.wantStatus, tt.wantMessage)
			}
			if sb.IssuedCredentials() != 0 {
				t.Errorf("IssuedCredentials = %d after a failed call, want 0", sb.IssuedCredentials())
			}
		})
	}
}

// tamperPayload changes the token's subject and keeps its signature.
func tamperPayload(token string) string {
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		panic(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		panic(err)
	}
	claims["sub"] = "repo:evil/web-api:environment:production"
	data, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	return parts[0] + "." + jwtSegment(data) + "." + parts[2]
}

// replaceKid names a key the issuer does not publish.
func replaceKid(token string) string {
	parts := strings.Split(token, ".")
	return jwtSegment([]byte(`{"typ":"JWT","alg":"RS256","kid":"0000000000000000000000000000000000000000"}`)) + "." + parts[1] + "." + parts[2]
}

func TestTrustPolicyStringLikeAndDeny(t *testing.T) {
	t.Parallel()
	const provider = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
	sb := sandboxtest.Start(t, func(w *sandbox.World) {
		w.Accounts["111122223333"].Roles["gha-deploy"].TrustPolicy = sandbox.PolicyDocument{Statement: []sandbox.Statement{
			{
				Effect:    "Allow",
				Principal: map[string]sandbox.StringList{"Federated": {provider}},
				Action:    sandbox.StringList{"sts:AssumeRoleWithWebIdentity"},
				Condition: map[string]map[string]sandbox.StringList{
					"StringEquals": {"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"}},
					"StringLike":   {"token.actions.githubusercontent.com:sub": {"repo:acme/*"}},
				},
			},
			{
				Effect:    "Deny",
				Principal: map[string]sandbox.StringList{"Federated": {provider}},
				Action:    sandbox.StringList{"sts:*"},
				Condition: map[string]map[string]sandbox.StringList{
					"StringEquals": {"token.actions.githubusercontent.com:runner_environment": {"self-hosted"}},
				},
			},
		}}
	})
	sandboxtest.WebIdentity(t, sb, demoRoleARN, "wildcard")

	denied := sandboxtest.Start(t, func(w *sandbox.World) {
		w.Accounts["111122223333"].Roles["gha-deploy"].TrustPolicy = sb.World().Accounts["111122223333"].Roles["gha-deploy"].TrustPolicy
		w.GitHub.Claims["runner_environment"] = "self-hosted"
	})
	_, err := sandboxtest.STSClient(denied, nil).AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(demoRoleARN),
		RoleSessionName:  aws.String("denied"),
		WebIdentityToken: aws.String(sandboxtest.Token(t, denied, "sts.amazonaws.com")),
	})
	if code, _, _ := sandboxtest.APIError(t, err); code != "AccessDenied" {
		t.Errorf("explicit Deny: code = %s, want AccessDenied", code)
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	sb.InjectFault(sandbox.Fault{Service: "sts", Operation: "AssumeRoleWithWebIdentity", Code: "Throttling", Times: 2})
	client := sandboxtest.STSClient(sb, nil, func(o *sts.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxBackoff = 50 * time.Millisecond })
	})
	out, err := client.AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(demoRoleARN),
		RoleSessionName:  aws.String("throttled"),
		WebIdentityToken: aws.String(sandboxtest.Token(t, sb, "sts.amazonaws.com")),
	})
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity with two throttled attempts: %v", err)
	}
	if got, want := aws.ToString(out.AssumedRoleUser.Arn), "arn:aws:sts::111122223333:assumed-role/gha-deploy/throttled"; got != want {
		t.Errorf("Arn = %q, want %q", got, want)
	}
	if got, want := sb.STSCalls("AssumeRoleWithWebIdentity"), 3; got != want {
		t.Errorf("STSCalls(AssumeRoleWithWebIdentity) = %d, want %d (two throttled, one served)", got, want)
	}
}

func TestAssumeRoleChain(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	first := sandboxtest.WebIdentity(t, sb, demoRoleARN, "hop1")
	client := sandboxtest.STSClient(sb, sandboxtest.StaticCredentials(first.Credentials))
	callerARN := aws.ToString(first.AssumedRoleUser.Arn)

	tests := []struct {
		name        string
		roleARN     string
		externalID  string
		duration    int32
		wantCode    string
		wantStatus  int
		wantMessage string
	}{
		{name: "right_external_id", roleARN: demoChainARN, externalID: demoExternalID},
		{name: "wrong_external_id", roleARN: demoChainARN, externalID: "wrong-id", wantCode: "AccessDenied", wantStatus: 403,
			wantMessage: "User: " + callerARN + " is not authorized to perform: sts:AssumeRole on resource: " + demoChainARN},
		{name: "no_external_id", roleARN: demoChainARN, wantCode: "AccessDenied", wantStatus: 403, wantMessage: "is not authorized to perform: sts:AssumeRole"},
		{name: "not_in_identity_policy", roleARN: "arn:aws:iam::444455556666:role/other", externalID: demoExternalID, wantCode: "AccessDenied", wantStatus: 403,
			wantMessage: "on resource: arn:aws:iam::444455556666:role/other"},
		{name: "chained_duration_above_an_hour", roleARN: demoChainARN, externalID: demoExternalID, duration: 7200, wantCode: "ValidationError", wantStatus: 400,
			wantMessage: "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."},
		{name: "external_id_with_spaces", roleARN: demoChainARN, externalID: "a b", wantCode: "ValidationError", wantStatus: 400, wantMessage: "at 'externalId'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := &sts.AssumeRoleInput{RoleArn: aws.String(tt.roleARN), RoleSessionName: aws.String("hop2-" + tt.name[:4])}
			if tt.externalID != "" {
				in.ExternalId = aws.String(tt.externalID)
			}
			if tt.duration != 0 {
				in.DurationSeconds = aws.Int32(tt.duration)
			}
			out, err := client.AssumeRole(context.Background(), in)
			if tt.wantCode != "" {
				code, status, msg := sandboxtest.APIError(t, err)
				if code != tt.wantCode || status != tt.wantStatus || !strings.Contains(msg, tt.wantMessage) {
					t.Errorf("AssumeRole error = %s (%d) %q, want %s (%d) containing %q", code, status, msg, tt.wantCode, tt.wantStatus, tt.wantMessage)
				}
				return
			}
			if err != nil {
				t.Fatalf("AssumeRole: %v", err)
			}
			wantARN := "arn:aws:sts::444455556666:assumed-role/prod-deploy/" + aws.ToString(in.RoleSessionName)
			if got := aws.ToString(out.AssumedRoleUser.Arn); got != wantARN {
				t.Errorf("Arn = %q, want %q", got, wantARN)
			}
			who, err := sandboxtest.STSClient(sb, sandboxtest.StaticCredentials(out.Credentials)).
				GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatalf("GetCallerIdentity with chained credentials: %v", err)
			}
			if got, want := aws.ToString(who.Account), "444455556666"; got != want {
				t.Errorf("chained session's account = %q, want %q", got, want)
			}
		})
	}
}

func TestAssumeRoleInOwnAccount(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, func(w *sandbox.World) {
		roles := w.Accounts["111122223333"].Roles
		// Trusts the whole account: the caller's own permissions must
		// allow the call too, and gha-deploy's do not.
		roles["reader"] = &sandbox.Role{MaxSessionDuration: 3600, TrustPolicy: sandbox.PolicyDocument{Statement: []sandbox.Statement{{
			Effect: "Allow", Principal: map[string]sandbox.StringList{"AWS": {"111122223333"}}, Action: sandbox.StringList{"sts:AssumeRole"},
		}}}}
		// Names the caller's role: in its own account that is enough.
		roles["named"] = &sandbox.Role{MaxSessionDuration: 3600, TrustPolicy: sandbox.PolicyDocument{Statement: []sandbox.Statement{{
			Effect: "Allow", Principal: map[string]sandbox.StringList{"AWS": {demoRoleARN}}, Action: sandbox.StringList{"sts:AssumeRole"},
			Condition: map[string]map[string]sandbox.StringList{"ArnLike": {"aws:PrincipalArn": {"arn:aws:iam::111122223333:role/gha-*"}}},
		}}}}
	})
	first := sandboxtest.WebIdentity(t, sb, demoRoleARN, "hop1")
	client := sandboxtest.STSClient(sb, sandboxtest.StaticCredentials(first.Credentials))

	_, err := client.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::111122223333:role/reader"), RoleSessionName: aws.String("reader")})
	if code, status, _ := sandboxtest.APIError(t, err); code != "AccessDenied" || status != 403 {
		t.Errorf("AssumeRole of a role trusting the account, without an identity policy: %s (%d), want AccessDenied (403)", code, status)
	}
	out, err := client.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::111122223333:role/named"), RoleSessionName: aws.String("named")})
	if err != nil {
		t.Fatalf("AssumeRole of a role naming the caller: %v", err)
	}
	if got, want := aws.ToString(out.AssumedRoleUser.Arn), "arn:aws:sts::111122223333:assumed-role/named/named"; got != want {
		t.Errorf("Arn = %q, want %q", got, want)
	}
}

func TestInvalidAction(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	first := sandboxtest.WebIdentity(t, sb, demoRoleARN, "hop1")
	req := sandboxtest.SignedSTSPost(t, sb, first.Credentials, "Action=DescribeEverything&Version=2011-06-15", false)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct {
			Type    string `xml:"Type"`
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
	}
	if err := xml.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("decode error response: %v", err)
	}
	if resp.StatusCode != http.StatusBadRequest || e.Error.Code != "InvalidAction" || e.Error.Type != "Sender" {
		t.Errorf("unknown action: %d %s/%s %q, want 400 Sender/InvalidAction", resp.StatusCode, e.Error.Type, e.Error.Code, e.Error.Message)
	}
	if got := sb.STSCalls("DescribeEverything"); got != 1 {
		t.Errorf("STSCalls(DescribeEverything) = %d, want 1", got)
	}
}

// jwtSegment encodes one part of a JWT.
func jwtSegment(data []byte) string { return base64.RawURLEncoding.EncodeToString(data) }

// signTestToken signs claims as an identity provider of the test's own
// would, with key and kid.
func signTestToken(tb testing.TB, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	tb.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		tb.Fatal(err)
	}
	token, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	return token
}

// STS fetches an issuer's keys over HTTP from the issuer's discovery
// document, whoever the issuer is; an issuer that cannot be reached is an
// IDPCommunicationError, which the SDK retries.
func TestOtherIssuer(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var failing atomic.Bool
	var idp *httptest.Server
	idp = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": idp.URL, "jwks_uri": idp.URL + "/keys"})
		case "/keys":
			_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256"}}})
		default:
			http.NotFound(w, r)
		}
	}))
	idp.Start()
	t.Cleanup(idp.Close)
	host := strings.TrimPrefix(idp.URL, "http://")
	sb := sandboxtest.Start(t, func(w *sandbox.World) {
		acct := w.Accounts["111122223333"]
		acct.OIDCProviders = append(acct.OIDCProviders, sandbox.OIDCProvider{URL: host, ClientIDs: []string{"my-app"}})
		acct.Roles["partner"] = &sandbox.Role{MaxSessionDuration: 3600, TrustPolicy: sandbox.PolicyDocument{Statement: []sandbox.Statement{{
			Effect:    "Allow",
			Principal: map[string]sandbox.StringList{"Federated": {"arn:aws:iam::111122223333:oidc-provider/" + host}},
			Action:    sandbox.StringList{"sts:AssumeRoleWithWebIdentity"},
			Condition: map[string]map[string]sandbox.StringList{"StringEquals": {host + ":sub": {"partner-1"}}},
		}}}}
	})
	now := time.Now().Unix()
	token := signTestToken(t, key, "k1", map[string]any{"iss": idp.URL, "sub": "partner-1", "aud": []string{"other", "my-app"}, "iat": now, "exp": now + 300})
	in := &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String("arn:aws:iam::111122223333:role/partner"),
		RoleSessionName:  aws.String("partner"),
		WebIdentityToken: aws.String(token),
	}
	out, err := sandboxtest.STSClient(sb, nil).AssumeRoleWithWebIdentity(context.Background(), in)
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity with another issuer's token: %v", err)
	}
	if got, want := aws.ToString(out.Audience), "my-app"; got != want {
		t.Errorf("Audience = %q, want %q", got, want)
	}

	failing.Store(true)
	_, err = sandboxtest.STSClient(sb, nil, func(o *sts.Options) { o.RetryMaxAttempts = 1 }).AssumeRoleWithWebIdentity(context.Background(), in)
	if code, status, _ := sandboxtest.APIError(t, err); code != "IDPCommunicationError" || status != 400 {
		t.Errorf("issuer unreachable: %s (%d), want IDPCommunicationError (400)", code, status)
	}
}

// TestOtherPartition runs a world in a China region: every ARN STS hands
// out names the region's partition, aws-cn.
func TestOtherPartition(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, func(w *sandbox.World) {
		sandboxtest.InRegion(t, w, "cn-north-1")
	})
	out := sandboxtest.WebIdentity(t, sb, "arn:aws-cn:iam::111122223333:role/gha-deploy", "cn")
	got := []string{aws.ToString(out.AssumedRoleUser.Arn), aws.ToString(out.Provider)}
	want := []string{
		"arn:aws-cn:sts::111122223333:assumed-role/gha-deploy/cn",
		"arn:aws-cn:iam::111122223333:oidc-provider/token.actions.githubusercontent.com",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AssumeRoleWithWebIdentity in cn-north-1 (-want +got):\n%s", diff)
	}
	who, err := sandboxtest.STSClient(sb, sandboxtest.StaticCredentials(out.Credentials)).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity in cn-north-1: %v", err)
	}
	if got := aws.ToString(who.Arn); got != want[0] {
		t.Errorf("GetCallerIdentity Arn = %q, want %q", got, want[0])
	}
}

// pathRoleARN is the ARN of the role pathWorld adds: gha-path under the
// path /ci/deploy/.
const pathRoleARN = "arn:aws:iam::111122223333:role/ci/deploy/gha-path"

// pathWorld adds gha-path, a copy of gha-deploy under the path /ci/deploy/,
// and two roles in the chain account: one trusting gha-path by its full
// ARN, one trusting an ARN without the path.
func pathWorld(w *sandbox.World) {
	demo := w.Accounts["111122223333"].Roles["gha-deploy"]
	withPath := *demo
	withPath.Path = "/ci/deploy/"
	withPath.Permissions.Statement = append(slices.Clone(demo.Permissions.Statement), sandbox.Statement{
		Effect: "Allow", Action: sandbox.StringList{"sts:AssumeRole"}, Resource: sandbox.StringList{"arn:aws:iam::444455556666:role/*"},
	})
	w.Accounts["111122223333"].Roles["gha-path"] = &withPath
	trusting := func(principal string) *sandbox.Role {
		return &sandbox.Role{TrustPolicy: sandbox.PolicyDocument{Statement: []sandbox.Statement{{
			Effect: "Allow", Principal: map[string]sandbox.StringList{"AWS": {principal}}, Action: sandbox.StringList{"sts:AssumeRole"},
		}}}}
	}
	w.Accounts["444455556666"].Roles["trusts-full-arn"] = trusting(pathRoleARN)
	w.Accounts["444455556666"].Roles["trusts-pathless-arn"] = trusting("arn:aws:iam::111122223333:role/gha-path")
}

// TestRoleARNWhole: STS finds a role by its whole ARN (partition, account,
// path, name), as AWS does: another partition, a path left out or a path
// added are refused with AWS's own codes, and an ARN whose partition is
// none of AWS's is not an ARN.
func TestRoleARNWhole(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, pathWorld)
	tests := []struct {
		name        string
		roleARN     string
		wantARN     string
		wantCode    string
		wantStatus  int
		wantMessage string
	}{
		{name: "path_included", roleARN: pathRoleARN, wantARN: "arn:aws:sts::111122223333:assumed-role/gha-path/whole"},
		{name: "path_left_out", roleARN: "arn:aws:iam::111122223333:role/gha-path", wantCode: "AccessDenied", wantStatus: 403, wantMessage: "Not authorized to perform sts:AssumeRoleWithWebIdentity"},
		{name: "another_path", roleARN: "arn:aws:iam::111122223333:role/ci/gha-path", wantCode: "AccessDenied", wantStatus: 403},
		{name: "path_added", roleARN: "arn:aws:iam::111122223333:role/ci/deploy/gha-deploy", wantCode: "AccessDenied", wantStatus: 403},
		{name: "china_partition", roleARN: "arn:aws-cn:iam::111122223333:role/gha-deploy", wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "No OpenIDConnect provider found in your account"},
		{name: "govcloud_partition", roleARN: "arn:aws-us-gov:iam::111122223333:role/gha-deploy", wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "No OpenIDConnect provider found in your account"},
		{name: "no_such_partition", roleARN: "arn:awsXYZ:iam::111122223333:role/gha-deploy", wantCode: "ValidationError", wantStatus: 400, wantMessage: "Request ARN is invalid"},
		{name: "not_a_role", roleARN: "arn:aws:iam::111122223333:user/gha-deploy", wantCode: "ValidationError", wantStatus: 400, wantMessage: "Request ARN is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := sandboxtest.STSClient(sb, nil, func(o *sts.Options) { o.RetryMaxAttempts = 1 }).AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
				RoleArn:          aws.String(tt.roleARN),
				RoleSessionName:  aws.String("whole"),
				WebIdentityToken: aws.String(sandboxtest.Token(t, sb, sandboxtest.STSAudience)),
			})
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("AssumeRoleWithWebIdentity %s: %v", tt.roleARN, err)
				}
				// The assumed-role ARN never carries the path.
				if got := aws.ToString(out.AssumedRoleUser.Arn); got != tt.wantARN {
					t.Errorf("Arn = %q, want %q", got, tt.wantARN)
				}
				return
			}
			code, status, msg := sandboxtest.APIError(t, err)
			if code != tt.wantCode || status != tt.wantStatus || !strings.Contains(msg, tt.wantMessage) {
				t.Errorf("AssumeRoleWithWebIdentity %s = %s (%d) %q, want %s (%d) containing %q", tt.roleARN, code, status, msg, tt.wantCode, tt.wantStatus, tt.wantMessage)
			}
		})
	}
}

// TestRoleARNWholeInAChain: a session of a role with a path is known by the
// role's full ARN (aws:PrincipalArn and trust policies name the path), and
// AssumeRole refuses other partitions as AssumeRoleWithWebIdentity does.
func TestRoleARNWholeInAChain(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, pathWorld)
	first := sandboxtest.WebIdentity(t, sb, pathRoleARN, "hop1")
	client := sandboxtest.STSClient(sb, sandboxtest.StaticCredentials(first.Credentials), func(o *sts.Options) { o.RetryMaxAttempts = 1 })
	tests := []struct {
		name, roleARN, wantCode, wantMessage string
	}{
		{name: "trusted_by_full_arn", roleARN: "arn:aws:iam::444455556666:role/trusts-full-arn"},
		{name: "trusted_by_arn_without_path", roleARN: "arn:aws:iam::444455556666:role/trusts-pathless-arn", wantCode: "AccessDenied",
			wantMessage: "User: arn:aws:sts::111122223333:assumed-role/gha-path/hop1 is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::444455556666:role/trusts-pathless-arn"},
		{name: "china_partition", roleARN: "arn:aws-cn:iam::444455556666:role/trusts-full-arn", wantCode: "AccessDenied", wantMessage: "on resource: arn:aws-cn:iam::444455556666:role/trusts-full-arn"},
		{name: "no_such_partition", roleARN: "arn:aws-xyz:iam::444455556666:role/trusts-full-arn", wantCode: "ValidationError", wantMessage: "Request ARN is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := client.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(tt.roleARN), RoleSessionName: aws.String("hop2")})
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("AssumeRole %s: %v", tt.roleARN, err)
				}
				if got, want := aws.ToString(out.AssumedRoleUser.Arn), "arn:aws:sts::444455556666:assumed-role/trusts-full-arn/hop2"; got != want {
					t.Errorf("Arn = %q, want %q", got, want)
				}
				return
			}
			code, _, msg := sandboxtest.APIError(t, err)
			if code != tt.wantCode || !strings.Contains(msg, tt.wantMessage) {
				t.Errorf("AssumeRole %s = %s %q, want %s containing %q", tt.roleARN, code, msg, tt.wantCode, tt.wantMessage)
			}
		})
	}
}
