package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/testenv"
)

// awsCLI runs the real AWS CLI against the sandbox, isolated from any
// configuration or credentials of the machine, with extra environment
// variables, and decodes its JSON output into out.
func awsCLI(tb testing.TB, sb *Sandbox, extraEnv []string, out any, args ...string) {
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
	args = append(args, "--endpoint-url", sb.AWSEndpoint(), "--region", sb.Region(), "--output", "json")
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// stdout may hold credentials; only stderr is shown.
		tb.Fatalf("aws %s: %v\n%s", args[0]+" "+args[1], err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		tb.Fatalf("aws %s: output is not the JSON expected: %v", args[0]+" "+args[1], err)
	}
}

func TestAWSCLIWebIdentityAndCallerIdentity(t *testing.T) {
	t.Parallel()
	sb := startIdentitySandbox(t, nil, Options{})
	token := fetchIDToken(t, sb, "sts.amazonaws.com")

	var assumed struct {
		Credentials struct {
			AccessKeyId, SecretAccessKey, SessionToken, Expiration string
		}
		SubjectFromWebIdentityToken string
		AssumedRoleUser             struct{ Arn, AssumedRoleId string }
		Provider, Audience          string
	}
	awsCLI(t, sb, nil, &assumed, "sts", "assume-role-with-web-identity",
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
	awsCLI(t, sb, []string{
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
