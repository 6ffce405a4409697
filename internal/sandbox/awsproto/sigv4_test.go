package awsproto_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"html"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

const demoRoleARN = "arn:aws:iam::111122223333:role/gha-deploy"

// afterSigning changes the request once the SDK has signed it, as a
// man in the middle would.
func afterSigning(change func(*http.Request)) func(*sts.Options) {
	return func(o *sts.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc("tamper", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				if req, ok := in.Request.(*smithyhttp.Request); ok {
					change(req.Request)
				}
				return next.HandleFinalize(ctx, in)
			}), "Signing", middleware.After)
		})
	}
}

func TestSigV4(t *testing.T) {
	t.Parallel()
	clock := &sandboxtest.Clock{}
	sb := sandboxtest.StartWorld(t, sandbox.DemoWorld(), sandbox.Options{Now: clock.Now})
	out := sandboxtest.WebIdentity(t, sb, demoRoleARN, "sigv4")
	id, secret, token := aws.ToString(out.Credentials.AccessKeyId), aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken)
	creds := sandboxtest.StaticCredentials(out.Credentials)
	static := func(id, secret, token string) aws.CredentialsProvider {
		return credentials.NewStaticCredentialsProvider(id, secret, token)
	}

	tests := []struct {
		name        string
		creds       aws.CredentialsProvider
		opts        []func(*sts.Options)
		wantCode    string
		wantStatus  int
		wantMessage string
	}{
		{name: "valid", creds: creds},
		{name: "tampered_signature", creds: creds, opts: []func(*sts.Options){afterSigning(func(r *http.Request) {
			h := r.Header.Get("Authorization")
			last := "0"
			if strings.HasSuffix(h, "0") {
				last = "1"
			}
			r.Header.Set("Authorization", h[:len(h)-1]+last)
		})}, wantCode: "SignatureDoesNotMatch", wantStatus: 403, wantMessage: "The request signature we calculated does not match"},
		{name: "tampered_signed_header", creds: creds, opts: []func(*sts.Options){afterSigning(func(r *http.Request) {
			r.Header.Set("X-Amz-Date", time.Now().Add(-time.Minute).UTC().Format("20060102T150405Z"))
		})}, wantCode: "SignatureDoesNotMatch", wantStatus: 403},
		{name: "wrong_secret_key", creds: static(id, secret[:len(secret)-2]+"xx", token), wantCode: "SignatureDoesNotMatch", wantStatus: 403},
		{name: "unknown_access_key", creds: static("ASIAUNKNOWNUNKNOWN00", secret, token), wantCode: "InvalidClientTokenId", wantStatus: 403, wantMessage: "The security token included in the request is invalid"},
		{name: "wrong_session_token", creds: static(id, secret, "IQoJb3JpZ2luX2VjEnotthisone"), wantCode: "InvalidClientTokenId", wantStatus: 403},
		{name: "no_session_token", creds: static(id, secret, ""), wantCode: "InvalidClientTokenId", wantStatus: 403},
		{name: "unsigned", creds: aws.AnonymousCredentials{}, wantCode: "MissingAuthenticationToken", wantStatus: 403},
		{name: "scoped_to_another_region", creds: creds, opts: []func(*sts.Options){func(o *sts.Options) { o.Region = "eu-west-1" }}, wantCode: "SignatureDoesNotMatch", wantStatus: 403, wantMessage: "Credential should be scoped to a valid region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := append([]func(*sts.Options){func(o *sts.Options) { o.RetryMaxAttempts = 1 }}, tt.opts...)
			who, err := sandboxtest.STSClient(sb, tt.creds, opts...).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("GetCallerIdentity: %v", err)
				}
				if got, want := aws.ToString(who.Arn), "arn:aws:sts::111122223333:assumed-role/gha-deploy/sigv4"; got != want {
					t.Errorf("Arn = %q, want %q", got, want)
				}
				return
			}
			code, status, msg := sandboxtest.APIError(t, err)
			if code != tt.wantCode || status != tt.wantStatus || !strings.Contains(msg, tt.wantMessage) {
				t.Errorf("GetCallerIdentity error = %s (%d) %q, want %s (%d) containing %q", code, status, msg, tt.wantCode, tt.wantStatus, tt.wantMessage)
			}
		})
	}
}

func TestSigV4ExpiredCredentials(t *testing.T) {
	t.Parallel()
	call := func(sb *sandbox.Sandbox, out *sts.AssumeRoleWithWebIdentityOutput) error {
		_, err := sandboxtest.STSClient(sb, sandboxtest.StaticCredentials(out.Credentials),
			func(o *sts.Options) { o.RetryMaxAttempts = 1 }).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		return err
	}
	check := func(t *testing.T, err error) {
		t.Helper()
		code, status, msg := sandboxtest.APIError(t, err)
		if code != "ExpiredToken" || status != 400 || msg != "The security token included in the request is expired" {
			t.Errorf("GetCallerIdentity with expired credentials = %s (%d) %q, want ExpiredToken (400)", code, status, msg)
		}
	}

	t.Run("clock_past_expiry", func(t *testing.T) {
		t.Parallel()
		clock := &sandboxtest.Clock{}
		sb := sandboxtest.StartWorld(t, sandbox.DemoWorld(), sandbox.Options{Now: clock.Now})
		out := sandboxtest.WebIdentity(t, sb, demoRoleARN, "clock")
		if err := call(sb, out); err != nil {
			t.Fatalf("GetCallerIdentity before expiry: %v", err)
		}
		clock.Advance(time.Hour + time.Second)
		check(t, call(sb, out))
	})
	t.Run("world_credential_lifetime", func(t *testing.T) {
		t.Parallel()
		sb := sandboxtest.Start(t, func(w *sandbox.World) { w.CredentialLifetimeSeconds = 1 })
		out := sandboxtest.WebIdentity(t, sb, demoRoleARN, "short")
		exp := aws.ToTime(out.Credentials.Expiration)
		if left := time.Until(exp); left > time.Second {
			t.Fatalf("credentials last %v, want at most the world's 1 s", left)
		}
		time.Sleep(time.Until(exp) + 50*time.Millisecond)
		check(t, call(sb, out))
	})
}

func TestSigV4ClockSkew(t *testing.T) {
	t.Parallel()
	clock := &sandboxtest.Clock{}
	sb := sandboxtest.StartWorld(t, sandbox.DemoWorld(), sandbox.Options{Now: clock.Now})
	out := sandboxtest.WebIdentity(t, sb, demoRoleARN, "skew")
	// The server's clock runs ten minutes ahead of the client that signs.
	clock.Advance(10 * time.Minute)
	_, err := sandboxtest.STSClient(sb, sandboxtest.StaticCredentials(out.Credentials),
		func(o *sts.Options) { o.RetryMaxAttempts = 1 }).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	code, status, msg := sandboxtest.APIError(t, err)
	if code != "SignatureDoesNotMatch" || status != 403 || !strings.HasPrefix(msg, "Signature expired") {
		t.Errorf("GetCallerIdentity signed 10 minutes ago = %s (%d) %q, want SignatureDoesNotMatch (403) Signature expired", code, status, msg)
	}
}

// Clients other than the Go SDK (botocore among them) do not sign
// Content-Length; the sandbox must verify what the client signed, no more.
func TestSigV4ContentLengthUnsigned(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	out := sandboxtest.WebIdentity(t, sb, demoRoleARN, "botocore-like")
	req := sandboxtest.SignedSTSPost(t, sb, out.Credentials, "Action=GetCallerIdentity&Version=2011-06-15", true)
	if h := req.Header.Get("Authorization"); strings.Contains(h, "content-length") {
		t.Fatalf("the signer signed content-length: %s", h)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GetCallerIdentity without a signed Content-Length: status %d, want 200", resp.StatusCode)
	}
}

// TestSigV4ScopedToAnotherService: a signature is good for the service its
// credential scope names, and no other: a request to STS signed for ECS,
// and one to ECS signed for ECR, are refused as AWS refuses them, in each
// protocol's words.
func TestSigV4ScopedToAnotherService(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	out := sandboxtest.WebIdentity(t, sb, demoRoleARN, "scope")
	creds := aws.Credentials{
		AccessKeyID:     aws.ToString(out.Credentials.AccessKeyId),
		SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
		SessionToken:    aws.ToString(out.Credentials.SessionToken),
	}
	tests := []struct {
		name, signedFor, target, contentType, body string
		wantStatus                                 int
		wantBody                                   string
	}{
		{name: "sts_call_signed_for_ecs", signedFor: "ecs", contentType: "application/x-www-form-urlencoded; charset=utf-8",
			body: "Action=GetCallerIdentity&Version=2011-06-15", wantStatus: 403, wantBody: "<Code>SignatureDoesNotMatch</Code>"},
		{name: "ecs_call_signed_for_ecr", signedFor: "ecr", target: "AmazonEC2ContainerServiceV20141113.DescribeClusters", contentType: "application/x-amz-json-1.1",
			body: `{"clusters":["prod-cluster"]}`, wantStatus: 400, wantBody: `"__type":"InvalidSignatureException"`},
		{name: "sts_call_signed_for_sts", signedFor: "sts", contentType: "application/x-www-form-urlencoded; charset=utf-8",
			body: "Action=GetCallerIdentity&Version=2011-06-15", wantStatus: 200, wantBody: "<GetCallerIdentityResult>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodPost, sb.AWSEndpoint()+"/", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.contentType)
			if tt.target != "" {
				req.Header.Set("X-Amz-Target", tt.target)
			}
			req.Header.Set("X-Amz-Security-Token", creds.SessionToken)
			sum := sha256.Sum256([]byte(tt.body))
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), tt.signedFor, sb.Region(), time.Now()); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			body := html.UnescapeString(string(raw)) // XML escapes the message's quotes
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("status %d %s, want %d with %s", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if tt.wantStatus != 200 && !strings.Contains(body, "Credential should be scoped to a valid region and service, not '"+sb.Region()+"/"+tt.signedFor+"'") {
				t.Errorf("refusal %s does not name the scope signed for", body)
			}
		})
	}
}
