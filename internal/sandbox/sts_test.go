package sandbox

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

const (
	demoRoleARN    = "arn:aws:iam::111122223333:role/gha-deploy"
	demoChainARN   = "arn:aws:iam::444455556666:role/prod-deploy"
	demoExternalID = "acme-prod-7f3c"
)

// startIdentitySandbox starts a sandbox for world (the demo world, changed by
// edit, when world is nil) and closes it when the test ends.
func startIdentitySandbox(tb testing.TB, edit func(*World), opts Options) *Sandbox {
	tb.Helper()
	w := DemoWorld()
	if edit != nil {
		edit(w)
	}
	sb, err := Start(context.Background(), w, opts)
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() { sb.Close() })
	return sb
}

// fetchIDToken asks the sandbox's token endpoint for an ID token the way a
// job does, with the request URL and bearer from Env.
func fetchIDToken(tb testing.TB, sb *Sandbox, audience string) string {
	tb.Helper()
	env := sb.Env()
	u := env["ACTIONS_ID_TOKEN_REQUEST_URL"]
	if audience != "" {
		u += "&audience=" + url.QueryEscape(audience)
	}
	status, body := getWithBearer(tb, u, env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"])
	if status != http.StatusOK {
		tb.Fatalf("token request: status %d", status)
	}
	var resp struct {
		Count int    `json:"count"`
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		tb.Fatalf("decode token response: %v", err)
	}
	if resp.Value == "" {
		tb.Fatal("token response has no value")
	}
	return resp.Value
}

func getWithBearer(tb testing.TB, u, bearer string) (int, []byte) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("GET token endpoint: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, body
}

// newSTSClient is the real SDK client pointed at the sandbox.
func newSTSClient(sb *Sandbox, creds aws.CredentialsProvider, optFns ...func(*sts.Options)) *sts.Client {
	return sts.New(sts.Options{
		Region:       sb.Region(),
		BaseEndpoint: aws.String(sb.AWSEndpoint()),
		Credentials:  creds,
	}, optFns...)
}

func sessionCreds(id, secret, token *string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(aws.ToString(id), aws.ToString(secret), aws.ToString(token))
}

// webIdentity assumes role with a fresh token for sts.amazonaws.com.
func webIdentity(tb testing.TB, sb *Sandbox, roleARN, session string) *sts.AssumeRoleWithWebIdentityOutput {
	tb.Helper()
	out, err := newSTSClient(sb, nil).AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(roleARN),
		RoleSessionName:  aws.String(session),
		WebIdentityToken: aws.String(fetchIDToken(tb, sb, "sts.amazonaws.com")),
	})
	if err != nil {
		tb.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	return out
}

// errorOf returns the AWS error code, HTTP status and message of err.
func errorOf(tb testing.TB, err error) (code string, status int, msg string) {
	tb.Helper()
	if err == nil {
		tb.Fatal("call succeeded, want an error")
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		tb.Fatalf("error %v is not an AWS API error", err)
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		status = respErr.HTTPStatusCode()
	}
	return apiErr.ErrorCode(), status, apiErr.ErrorMessage()
}

func TestSTSAssumeRoleWithWebIdentity(t *testing.T) {
	t.Parallel()
	sb := startIdentitySandbox(t, nil, Options{})
	before := time.Now()
	out := webIdentity(t, sb, demoRoleARN, "acme-web-api-9876543210-1")

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

	id2, err := newSTSClient(sb, sessionCreds(out.Credentials.AccessKeyId, out.Credentials.SecretAccessKey, out.Credentials.SessionToken)).
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

func TestSTSAssumeRoleWithWebIdentityDuration(t *testing.T) {
	t.Parallel()
	sb := startIdentitySandbox(t, func(w *World) {
		w.Accounts["111122223333"].Roles["gha-deploy"].MaxSessionDuration = 7200
	}, Options{})
	out, err := newSTSClient(sb, nil).AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(demoRoleARN),
		RoleSessionName:  aws.String("long"),
		WebIdentityToken: aws.String(fetchIDToken(t, sb, "sts.amazonaws.com")),
		DurationSeconds:  aws.Int32(7200),
	})
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	if left := time.Until(aws.ToTime(out.Credentials.Expiration)); left < 119*time.Minute || left > 121*time.Minute {
		t.Errorf("session lasts %v, want the 2 hours asked for", left)
	}

	// The world's credential lifetime caps whatever is asked for.
	capped := startIdentitySandbox(t, func(w *World) { w.CredentialLifetimeSeconds = 60 }, Options{})
	out = webIdentity(t, capped, demoRoleARN, "capped")
	if left := time.Until(aws.ToTime(out.Credentials.Expiration)); left > 61*time.Second {
		t.Errorf("capped session lasts %v, want at most the world's 60 s", left)
	}
}

func TestSTSAssumeRoleWithWebIdentityErrors(t *testing.T) {
	t.Parallel()
	otherBranch := func(w *World) {
		// The run is on a feature branch without an environment; the role
		// trusts main only.
		delete(w.GitHub.Claims, "environment")
		w.GitHub.Claims["ref"] = "refs/heads/feature/x"
		st := &w.Accounts["111122223333"].Roles["gha-deploy"].TrustPolicy.Statement[0]
		st.Condition["StringEquals"]["token.actions.githubusercontent.com:sub"] = StringList{"repo:acme/web-api:ref:refs/heads/main"}
	}
	tests := []struct {
		name        string
		edit        func(*World)
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
		{name: "expired_token", edit: func(w *World) { w.GitHub.IssuedAtOffsetSeconds = -600 }, wantCode: "ExpiredTokenException", wantStatus: 400, wantMessage: "Token expired"},
		{name: "token_not_yet_valid", edit: func(w *World) { w.GitHub.IssuedAtOffsetSeconds = 600 }, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "not yet valid"},
		{name: "unknown_issuer", edit: func(w *World) { w.GitHub.Issuer = "https://token.example.com" }, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "No OpenIDConnect provider found in your account for https://token.example.com"},
		{name: "tampered_payload", token: tamperPayload, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "signature could not be verified"},
		{name: "unknown_signing_key", token: replaceKid, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "is not among the keys"},
		{name: "not_a_jwt", token: func(string) string { return "not-a-jwt" }, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMessage: "not a valid JWT"},
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
			sb := startIdentitySandbox(t, tt.edit, Options{})
			audience := "sts.amazonaws.com"
			if tt.audience != "" {
				audience = tt.audience
			}
			token := fetchIDToken(t, sb, audience)
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
			_, err := newSTSClient(sb, nil, func(o *sts.Options) { o.RetryMaxAttempts = 1 }).AssumeRoleWithWebIdentity(context.Background(), in)
			code, status, msg := errorOf(t, err)
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
	var claims map[string]any
	if err := decodeJWTPart(parts[1], &claims); err != nil {
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

func TestSTSTrustPolicyConditions(t *testing.T) {
	t.Parallel()
	ctx := map[string][]string{
		"token.actions.githubusercontent.com:sub":         {"repo:acme/web-api:ref:refs/heads/main"},
		"token.actions.githubusercontent.com:aud":         {"sts.amazonaws.com"},
		"token.actions.githubusercontent.com:environment": {"production"},
	}
	tests := []struct {
		name string
		cond map[string]map[string]StringList
		want bool
	}{
		{"string_equals", map[string]map[string]StringList{"StringEquals": {"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"}}}, true},
		{"string_equals_key_case_insensitive", map[string]map[string]StringList{"StringEquals": {"Token.Actions.GithubUserContent.com:AUD": {"sts.amazonaws.com"}}}, true},
		{"string_equals_value_case_sensitive", map[string]map[string]StringList{"StringEquals": {"token.actions.githubusercontent.com:aud": {"STS.amazonaws.com"}}}, false},
		{"string_equals_any_of_values", map[string]map[string]StringList{"StringEquals": {"token.actions.githubusercontent.com:environment": {"staging", "production"}}}, true},
		{"string_like_wildcard", map[string]map[string]StringList{"StringLike": {"token.actions.githubusercontent.com:sub": {"repo:acme/*:ref:refs/heads/*"}}}, true},
		{"string_like_other_repo", map[string]map[string]StringList{"StringLike": {"token.actions.githubusercontent.com:sub": {"repo:other/*"}}}, false},
		{"string_like_question_mark", map[string]map[string]StringList{"StringLike": {"token.actions.githubusercontent.com:sub": {"repo:acme/web-ap?:ref:refs/heads/main"}}}, true},
		{"every_key_must_hold", map[string]map[string]StringList{"StringEquals": {"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"}, "token.actions.githubusercontent.com:sub": {"repo:acme/web-api:pull_request"}}}, false},
		{"every_operator_must_hold", map[string]map[string]StringList{"StringEquals": {"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"}}, "StringNotLike": {"token.actions.githubusercontent.com:sub": {"*:pull_request"}}}, true},
		{"string_not_equals", map[string]map[string]StringList{"StringNotEquals": {"token.actions.githubusercontent.com:environment": {"production"}}}, false},
		{"missing_key_fails_positive", map[string]map[string]StringList{"StringEquals": {"token.actions.githubusercontent.com:job_workflow_ref": {"x"}}}, false},
		{"missing_key_holds_negated", map[string]map[string]StringList{"StringNotEquals": {"token.actions.githubusercontent.com:job_workflow_ref": {"x"}}}, true},
		{"missing_key_if_exists", map[string]map[string]StringList{"StringEqualsIfExists": {"token.actions.githubusercontent.com:job_workflow_ref": {"x"}}}, true},
		{"present_key_if_exists", map[string]map[string]StringList{"StringEqualsIfExists": {"token.actions.githubusercontent.com:environment": {"staging"}}}, false},
		{"for_any_value", map[string]map[string]StringList{"ForAnyValue:StringLike": {"token.actions.githubusercontent.com:aud": {"sts.*", "other"}}}, true},
		{"for_any_value_missing_key", map[string]map[string]StringList{"ForAnyValue:StringEquals": {"token.actions.githubusercontent.com:missing": {"x"}}}, false},
		{"for_all_values", map[string]map[string]StringList{"ForAllValues:StringEquals": {"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com", "other"}}}, true},
		{"for_all_values_missing_key", map[string]map[string]StringList{"ForAllValues:StringEquals": {"token.actions.githubusercontent.com:missing": {"x"}}}, true},
		{"null_true_for_missing_key", map[string]map[string]StringList{"Null": {"token.actions.githubusercontent.com:missing": {"true"}}}, true},
		{"null_true_for_present_key", map[string]map[string]StringList{"Null": {"token.actions.githubusercontent.com:sub": {"true"}}}, false},
		{"unknown_operator_never_matches", map[string]map[string]StringList{"StringEqualz": {"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := conditionsHold(tt.cond, ctx); got != tt.want {
				t.Errorf("conditionsHold(%v) = %v, want %v", tt.cond, got, tt.want)
			}
		})
	}
}

func TestSTSTrustPolicyStringLikeAndDeny(t *testing.T) {
	t.Parallel()
	const provider = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
	sb := startIdentitySandbox(t, func(w *World) {
		w.Accounts["111122223333"].Roles["gha-deploy"].TrustPolicy = PolicyDocument{Statement: []Statement{
			{
				Effect:    "Allow",
				Principal: map[string]StringList{"Federated": {provider}},
				Action:    StringList{"sts:AssumeRoleWithWebIdentity"},
				Condition: map[string]map[string]StringList{
					"StringEquals": {"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"}},
					"StringLike":   {"token.actions.githubusercontent.com:sub": {"repo:acme/*"}},
				},
			},
			{
				Effect:    "Deny",
				Principal: map[string]StringList{"Federated": {provider}},
				Action:    StringList{"sts:*"},
				Condition: map[string]map[string]StringList{
					"StringEquals": {"token.actions.githubusercontent.com:runner_environment": {"self-hosted"}},
				},
			},
		}}
	}, Options{})
	webIdentity(t, sb, demoRoleARN, "wildcard")

	denied := startIdentitySandbox(t, func(w *World) {
		w.Accounts["111122223333"].Roles["gha-deploy"].TrustPolicy = sb.World().Accounts["111122223333"].Roles["gha-deploy"].TrustPolicy
		w.GitHub.Claims["runner_environment"] = "self-hosted"
	}, Options{})
	_, err := newSTSClient(denied, nil).AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(demoRoleARN),
		RoleSessionName:  aws.String("denied"),
		WebIdentityToken: aws.String(fetchIDToken(t, denied, "sts.amazonaws.com")),
	})
	if code, _, _ := errorOf(t, err); code != "AccessDenied" {
		t.Errorf("explicit Deny: code = %s, want AccessDenied", code)
	}
}

func TestSTSThrottlingIsRetried(t *testing.T) {
	t.Parallel()
	sb := startIdentitySandbox(t, nil, Options{})
	sb.InjectFault(Fault{Service: "sts", Operation: "AssumeRoleWithWebIdentity", Code: "Throttling", Times: 2})
	client := newSTSClient(sb, nil, func(o *sts.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxBackoff = 50 * time.Millisecond })
	})
	out, err := client.AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(demoRoleARN),
		RoleSessionName:  aws.String("throttled"),
		WebIdentityToken: aws.String(fetchIDToken(t, sb, "sts.amazonaws.com")),
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

func TestSTSAssumeRoleChain(t *testing.T) {
	t.Parallel()
	sb := startIdentitySandbox(t, nil, Options{})
	first := webIdentity(t, sb, demoRoleARN, "hop1")
	client := newSTSClient(sb, sessionCreds(first.Credentials.AccessKeyId, first.Credentials.SecretAccessKey, first.Credentials.SessionToken))
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
				code, status, msg := errorOf(t, err)
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
			who, err := newSTSClient(sb, sessionCreds(out.Credentials.AccessKeyId, out.Credentials.SecretAccessKey, out.Credentials.SessionToken)).
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

func TestSTSAssumeRoleInOwnAccount(t *testing.T) {
	t.Parallel()
	sb := startIdentitySandbox(t, func(w *World) {
		roles := w.Accounts["111122223333"].Roles
		// Trusts the whole account: the caller's own permissions must
		// allow the call too, and gha-deploy's do not.
		roles["reader"] = &Role{MaxSessionDuration: 3600, TrustPolicy: PolicyDocument{Statement: []Statement{{
			Effect: "Allow", Principal: map[string]StringList{"AWS": {"111122223333"}}, Action: StringList{"sts:AssumeRole"},
		}}}}
		// Names the caller's role: in its own account that is enough.
		roles["named"] = &Role{MaxSessionDuration: 3600, TrustPolicy: PolicyDocument{Statement: []Statement{{
			Effect: "Allow", Principal: map[string]StringList{"AWS": {demoRoleARN}}, Action: StringList{"sts:AssumeRole"},
			Condition: map[string]map[string]StringList{"ArnLike": {"aws:PrincipalArn": {"arn:aws:iam::111122223333:role/gha-*"}}},
		}}}}
	}, Options{})
	first := webIdentity(t, sb, demoRoleARN, "hop1")
	client := newSTSClient(sb, sessionCreds(first.Credentials.AccessKeyId, first.Credentials.SecretAccessKey, first.Credentials.SessionToken))

	_, err := client.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::111122223333:role/reader"), RoleSessionName: aws.String("reader")})
	if code, status, _ := errorOf(t, err); code != "AccessDenied" || status != 403 {
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

func TestSTSInvalidAction(t *testing.T) {
	t.Parallel()
	sb := startIdentitySandbox(t, nil, Options{})
	first := webIdentity(t, sb, demoRoleARN, "hop1")
	req := signedSTSPost(t, sb, first, "Action=DescribeEverything&Version=2011-06-15", false)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct {
			Type, Code, Message string
		}
	}
	if err := xml.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("decode error response: %v", err)
	}
	if resp.StatusCode != 400 || e.Error.Code != "InvalidAction" || e.Error.Type != "Sender" {
		t.Errorf("unknown action: %d %s/%s %q, want 400 Sender/InvalidAction", resp.StatusCode, e.Error.Type, e.Error.Code, e.Error.Message)
	}
	if got := sb.STSCalls("DescribeEverything"); got != 1 {
		t.Errorf("STSCalls(DescribeEverything) = %d, want 1", got)
	}
}

// jwtSegment encodes one part of a JWT.
func jwtSegment(data []byte) string { return base64.RawURLEncoding.EncodeToString(data) }

// The world file format is documented in docs/sandbox-world.md: its example
// must be a world the sandbox runs, and every field of the identity side
// must be described there.
func TestSTSWorldFormatDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "sandbox-world.md"))
	if err != nil {
		t.Fatalf("read the world format document: %v", err)
	}
	_, rest, ok := strings.Cut(string(doc), "```json\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("the document has no JSON example")
	}
	w, err := ParseWorld([]byte(example))
	if err != nil {
		t.Fatalf("the document's example: %v", err)
	}
	sb, err := Start(context.Background(), w, Options{})
	if err != nil {
		t.Fatalf("start the document's example: %v", err)
	}
	t.Cleanup(func() { sb.Close() })
	out, err := newSTSClient(sb, nil).AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String("arn:aws:iam::123456789012:role/gha-shop-deploy"),
		RoleSessionName:  aws.String("doc"),
		WebIdentityToken: aws.String(fetchIDToken(t, sb, "sts.amazonaws.com")),
	})
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity in the document's example: %v", err)
	}
	if got, want := aws.ToString(out.SubjectFromWebIdentityToken), "repo:acme/shop:ref:refs/heads/main"; got != want {
		t.Errorf("subject = %q, want %q", got, want)
	}

	for _, typ := range []reflect.Type{reflect.TypeFor[World](), reflect.TypeFor[GitHubRun](), reflect.TypeFor[Account](), reflect.TypeFor[OIDCProvider](), reflect.TypeFor[Role]()} {
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" && !strings.Contains(string(doc), "`"+name+"`") {
				t.Errorf("docs/sandbox-world.md does not describe %s.%s (`%s`)", typ.Name(), f.Name, name)
			}
		}
	}
}

// signTestToken signs claims as an identity provider of the test's own
// would, with key and kid.
func signTestToken(tb testing.TB, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	tb.Helper()
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid})
	payload, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	input := jwtSegment(header) + "." + jwtSegment(payload)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		tb.Fatal(err)
	}
	return input + "." + jwtSegment(sig)
}

// STS fetches an issuer's keys over HTTP from the issuer's discovery
// document, whoever the issuer is; an issuer that cannot be reached is an
// IDPCommunicationError, which the SDK retries.
func TestSTSOtherIssuer(t *testing.T) {
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
			json.NewEncoder(w).Encode(map[string]string{"issuer": idp.URL, "jwks_uri": idp.URL + "/keys"})
		case "/keys":
			json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
				"kty": "RSA", "kid": "k1", "alg": "RS256",
				"n": jwtSegment(key.N.Bytes()), "e": jwtSegment(big.NewInt(int64(key.E)).Bytes()),
			}}})
		default:
			http.NotFound(w, r)
		}
	}))
	idp.Start()
	t.Cleanup(idp.Close)
	host := strings.TrimPrefix(idp.URL, "http://")
	sb := startIdentitySandbox(t, func(w *World) {
		acct := w.Accounts["111122223333"]
		acct.OIDCProviders = append(acct.OIDCProviders, OIDCProvider{URL: host, ClientIDs: []string{"my-app"}})
		acct.Roles["partner"] = &Role{MaxSessionDuration: 3600, TrustPolicy: PolicyDocument{Statement: []Statement{{
			Effect:    "Allow",
			Principal: map[string]StringList{"Federated": {"arn:aws:iam::111122223333:oidc-provider/" + host}},
			Action:    StringList{"sts:AssumeRoleWithWebIdentity"},
			Condition: map[string]map[string]StringList{"StringEquals": {host + ":sub": {"partner-1"}}},
		}}}}
	}, Options{})
	now := time.Now().Unix()
	token := signTestToken(t, key, "k1", map[string]any{"iss": idp.URL, "sub": "partner-1", "aud": []string{"other", "my-app"}, "iat": now, "exp": now + 300})
	in := &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String("arn:aws:iam::111122223333:role/partner"),
		RoleSessionName:  aws.String("partner"),
		WebIdentityToken: aws.String(token),
	}
	out, err := newSTSClient(sb, nil).AssumeRoleWithWebIdentity(context.Background(), in)
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity with another issuer's token: %v", err)
	}
	if got, want := aws.ToString(out.Audience), "my-app"; got != want {
		t.Errorf("Audience = %q, want %q", got, want)
	}

	failing.Store(true)
	_, err = newSTSClient(sb, nil, func(o *sts.Options) { o.RetryMaxAttempts = 1 }).AssumeRoleWithWebIdentity(context.Background(), in)
	if code, status, _ := errorOf(t, err); code != "IDPCommunicationError" || status != 400 {
		t.Errorf("issuer unreachable: %s (%d), want IDPCommunicationError (400)", code, status)
	}
}
