package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// noAWSCredentials is an environment in which the SDK's default chain
// finds no credentials, without asking an instance metadata service.
func noAWSCredentials(tb testing.TB) map[string]string {
	tb.Helper()
	dir := tb.TempDir()
	return map[string]string{
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	}
}

func runMainEnv(tb testing.TB, env map[string]string, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, getenvOf(env), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestDoctorCommandWorkflow checks the workflow alone: without AWS
// credentials the account is not checked, and says so.
func TestDoctorCommandWorkflow(t *testing.T) {
	t.Parallel()
	example := "../../docs/examples/deploy.yml"
	env := noAWSCredentials(t)
	code, stdout, stderr := runMainEnv(t, env, "doctor", "--workflow", example, "--github-repository", "acme/web-api")
	if code != ExitOK || !strings.Contains(stdout, "✓ the deploy job runs in a GitHub environment") ||
		!strings.Contains(stdout, "repo:acme/web-api:environment:production") ||
		!strings.Contains(stdout, "not checked: the account: no AWS credentials") {
		t.Errorf("doctor on the example: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}

	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "deploy.yml")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(data), "id-token: write", "id-token: none", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runMainEnv(t, env, "doctor", "--workflow", bad, "--format", "json")
	if code != ExitFailure {
		t.Errorf("doctor on a failing workflow: exit %d, want %d", code, ExitFailure)
	}
	var report struct {
		OK     bool `json:"ok"`
		Checks []struct {
			ID  string `json:"id"`
			OK  bool   `json:"ok"`
			Fix string `json:"fix"`
		} `json:"checks"`
		Subjects []struct {
			Value string `json:"value"`
		} `json:"subjects"`
	}
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("--format json: %v\n%s", err, stdout)
	}
	if report.OK || len(report.Checks) != 3 || report.Checks[0].ID != "workflow.id-token" || report.Checks[0].OK ||
		!strings.Contains(report.Checks[0].Fix, "id-token: write") {
		t.Errorf("report %+v, want workflow.id-token failing with its fix", report)
	}
	if len(report.Subjects) != 1 || report.Subjects[0].Value != "repo:OWNER/REPO:environment:production" {
		t.Errorf("subjects %+v, want the environment's with OWNER/REPO (no checkout, no --github-repository)", report.Subjects)
	}

	for _, args := range [][]string{{"doctor"}, {"doctor", "--workflow", example, "--format", "yaml"}, {"doctor", "--workflow", "/nonexistent.yml"}} {
		if code, _, stderr := runMainEnv(t, env, args...); code != ExitUsage || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want %d and a message", args, code, stderr, ExitUsage)
		}
	}
}
