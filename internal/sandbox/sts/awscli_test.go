package sts_test

import (
	"strings"
	"testing"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// TestAWSCLIWebIdentityAndCallerIdentity runs the real AWS CLI's STS
// commands against the stand-in.
func TestAWSCLIWebIdentityAndCallerIdentity(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, nil)
	token := sandboxtest.Token(t, sb, sandboxtest.STSAudience)

	var assumed struct {
		Credentials struct {
			AccessKeyId, SecretAccessKey, SessionToken, Expiration string
		}
		SubjectFromWebIdentityToken string
		AssumedRoleUser             struct{ Arn, AssumedRoleId string }
		Provider, Audience          string
	}
	sandboxtest.AWSCLI(t, sb, nil, &assumed, "sts", "assume-role-with-web-identity",
		"--role-arn", demoRoleARN,
		"--role-session-name", "cli-session",
		"--web-identity-token", token,
		"--duration-seconds", "900")
	const wantARN = "arn:aws:sts::111122223333:assumed-role/gha-deploy/cli-session"
	if assumed.AssumedRoleUser.Arn != wantARN {
		t.Errorf("assume-role-with-web-identity Arn = %q, want %q", assumed.AssumedRoleUser.Arn, wantARN)
	}
	if assumed.SubjectFromWebIdentityToken != "repo:acme/web-api:environment:production" {
		t.Errorf("SubjectFromWebIdentityToken = %q", assumed.SubjectFromWebIdentityToken)
	}
	exp, err := time.Parse(time.RFC3339, assumed.Credentials.Expiration)
	if err != nil {
		t.Errorf("Expiration %q: %v", assumed.Credentials.Expiration, err)
	} else if left := time.Until(exp); left < 14*time.Minute || left > 16*time.Minute {
		t.Errorf("Expiration %v is %v away, want the 15 minutes asked for", exp, left)
	}

	var who struct{ UserId, Account, Arn string }
	sandboxtest.AWSCLI(t, sb, []string{
		"AWS_ACCESS_KEY_ID=" + assumed.Credentials.AccessKeyId,
		"AWS_SECRET_ACCESS_KEY=" + assumed.Credentials.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + assumed.Credentials.SessionToken,
	}, &who, "sts", "get-caller-identity")
	if who.Arn != wantARN || who.Account != "111122223333" || who.UserId != assumed.AssumedRoleUser.AssumedRoleId {
		t.Errorf("get-caller-identity = %+v, want Arn %s in 111122223333 with UserId %s", who, wantARN, assumed.AssumedRoleUser.AssumedRoleId)
	}
	if got, want := sb.STSCalls("GetCallerIdentity"), 1; got != want {
		t.Errorf("STSCalls(GetCallerIdentity) = %d, want %d", got, want)
	}
}

// TestAWSCLIRoleARNWhole: the AWS CLI meets the same refusals as the SDK
// for a role of another partition and a role named without its path.
func TestAWSCLIRoleARNWhole(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.Start(t, pathWorld)
	for _, tt := range []struct{ roleARN, code, message string }{
		{"arn:aws-us-gov:iam::111122223333:role/gha-deploy", "InvalidIdentityToken", "No OpenIDConnect provider found in your account"},
		{"arn:aws:iam::111122223333:role/gha-path", "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"},
		{"arn:aws-foo:iam::111122223333:role/gha-deploy", "ValidationError", "Request ARN is invalid"},
	} {
		stderr := sandboxtest.AWSCLIRefused(t, sb, nil, "sts", "assume-role-with-web-identity",
			"--role-arn", tt.roleARN, "--role-session-name", "cli-session",
			"--web-identity-token", sandboxtest.Token(t, sb, sandboxtest.STSAudience))
		if !strings.Contains(stderr, "An error occurred ("+tt.code+")") || !strings.Contains(stderr, tt.message) {
			t.Errorf("aws sts assume-role-with-web-identity --role-arn %s printed %q, want %s: %s", tt.roleARN, stderr, tt.code, tt.message)
		}
	}
}
