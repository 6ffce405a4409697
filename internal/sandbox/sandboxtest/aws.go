package sandboxtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/testenv"
)

// Token fetches a GitHub ID token for audience from sb's token service, as
// a job does.
func Token(tb testing.TB, sb *sandbox.Sandbox, audience string) string {
	tb.Helper()
	tok, err := IDToken(context.Background(), sb.Env(), audience)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// STSClient is the real SDK's STS client for sb with creds (nil for the
// unsigned AssumeRoleWithWebIdentity).
func STSClient(sb *sandbox.Sandbox, creds aws.CredentialsProvider, optFns ...func(*sts.Options)) *sts.Client {
	return sts.New(sts.Options{
		Region:       sb.Region(),
		BaseEndpoint: aws.String(sb.AWSEndpoint()),
		Credentials:  creds,
	}, optFns...)
}

// WebIdentity assumes roleARN as session with a fresh ID token for STS, and
// fails the test if STS refuses.
func WebIdentity(tb testing.TB, sb *sandbox.Sandbox, roleARN, session string) *sts.AssumeRoleWithWebIdentityOutput {
	tb.Helper()
	out, err := STSClient(sb, nil).AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(roleARN),
		RoleSessionName:  aws.String(session),
		WebIdentityToken: aws.String(Token(tb, sb, STSAudience)),
	})
	if err != nil {
		tb.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	return out
}

// StaticCredentials provides the credentials STS returned.
func StaticCredentials(c *ststypes.Credentials) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
}

// APIError returns the AWS error code, HTTP status and message of err, and
// fails the test when err is nil or not an AWS API error.
func APIError(tb testing.TB, err error) (code string, status int, msg string) {
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

// SignedSTSPost returns a POST of body to sb's STS signed with the
// credentials STS issued the way a client other than the Go SDK signs it;
// with unsignedLength, Content-Length stays out of the signature, as
// botocore leaves it.
func SignedSTSPost(tb testing.TB, sb *sandbox.Sandbox, c *ststypes.Credentials, body string, unsignedLength bool) *http.Request {
	tb.Helper()
	creds := aws.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
	}
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodPost, sb.AWSEndpoint()+"/", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("X-Amz-Security-Token", creds.SessionToken)
	if unsignedLength {
		req.ContentLength = 0 // hide the length from the signer
	}
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sts", sb.Region(), time.Now()); err != nil {
		tb.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	return req
}

// AWSCLI runs the real AWS CLI against sb, isolated from any configuration
// or credentials of the machine, with extra environment variables, and
// decodes its JSON output into out.
func AWSCLI(tb testing.TB, sb *sandbox.Sandbox, extraEnv []string, out any, args ...string) {
	tb.Helper()
	AWSCLIAt(tb, sb.AWSEndpoint(), sb.Region(), extraEnv, out, args...)
}

// AWSCLIAt is AWSCLI against the AWS endpoint of a sandbox running
// elsewhere (the standalone one, oidc-ecs-deploy sandbox) in region.
func AWSCLIAt(tb testing.TB, endpoint, region string, extraEnv []string, out any, args ...string) {
	tb.Helper()
	stdout, stderr, err := runAWSCLI(tb, endpoint, region, extraEnv, args...)
	if err != nil {
		// stdout may hold credentials; only stderr is shown.
		tb.Fatalf("aws %s: %v\n%s", args[0]+" "+args[1], err, stderr)
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		tb.Fatalf("aws %s: output is not the JSON expected: %v", args[0]+" "+args[1], err)
	}
}

// AWSCLIRefused runs the real AWS CLI as AWSCLI does, expecting AWS to
// refuse the call, and returns what the CLI printed on stderr: "An error
// occurred (CODE) when calling the OPERATION operation: MESSAGE".
func AWSCLIRefused(tb testing.TB, sb *sandbox.Sandbox, extraEnv []string, args ...string) string {
	tb.Helper()
	// One attempt: a refusal is AWS's answer, not a passing fault.
	env := append([]string{"AWS_MAX_ATTEMPTS=1"}, extraEnv...)
	_, stderr, err := runAWSCLI(tb, sb.AWSEndpoint(), sb.Region(), env, args...)
	if err == nil {
		tb.Fatalf("aws %s succeeded, want AWS to refuse it", args[0]+" "+args[1])
	}
	return stderr
}

// runAWSCLI runs the AWS CLI against a sandbox's endpoint in region, with
// nothing of the machine's configuration.
func runAWSCLI(tb testing.TB, endpoint, region string, extraEnv []string, args ...string) (stdout []byte, stderr string, err error) {
	tb.Helper()
	bin := testenv.Command(tb, "aws")
	dir := tb.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		tb.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"HOME="+dir,
		"AWS_CONFIG_FILE="+empty,
		"AWS_SHARED_CREDENTIALS_FILE="+empty,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
	)
	env = append(env, extraEnv...)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Version 2.9 of the CLI does not read AWS_ENDPOINT_URL, so the endpoint
	// goes on the command line.
	args = append(args, "--endpoint-url", endpoint, "--region", region, "--output", "json")
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.Bytes(), errOut.String(), err
}

// AdministratorConfig is an AWS configuration that signs with account's
// administrator access key, as a person running setup or doctor would.
func AdministratorConfig(tb testing.TB, sb *sandbox.Sandbox, account string) aws.Config {
	tb.Helper()
	admin, ok := sb.Administrator(account)
	if !ok {
		tb.Fatalf("account %s is not in the sandbox's world", account)
	}
	return aws.Config{
		Region:       sb.Region(),
		BaseEndpoint: aws.String(sb.AWSEndpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider(admin.AccessKeyID, admin.SecretAccessKey, ""),
	}
}

// RoleConfig is an AWS configuration that signs with a session of role in
// account, issued directly (as an operator's would be), with retries off so
// that tests see every error as it comes: ecs.NewFromConfig(RoleConfig(...)).
func RoleConfig(sb *sandbox.Sandbox, account, role, sessionName string) aws.Config {
	return aws.Config{
		Region:       sb.Region(),
		BaseEndpoint: aws.String(sb.AWSEndpoint()),
		Credentials:  credentials.StaticCredentialsProvider{Value: sb.RoleCredentials(account, role, sessionName)},
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
}
