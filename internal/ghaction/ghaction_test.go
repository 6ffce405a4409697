package ghaction

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// env returns a getenv over a fixed map.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestAnnotationsEscapeData(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		inActions bool
		print     func(r *Runner)
		want      string
	}{
		{"error_multiline_in_actions", true, func(r *Runner) { r.Errorf("assume role failed\r\n100%% sure") }, "::error::assume role failed%0D%0A100%25 sure\n"},
		{"warning_in_actions", true, func(r *Runner) { r.Warningf("tag %s is mutable", "latest") }, "::warning::tag latest is mutable\n"},
		{"error_plain", false, func(r *Runner) { r.Errorf("bad\nthing") }, "error: bad\nthing\n"},
		{"warning_plain", false, func(r *Runner) { r.Warningf("careful") }, "warning: careful\n"},
		{"group_in_actions", true, func(r *Runner) { end := r.Group("Authenticate"); r.Infof("inside"); end(); end() }, "::group::Authenticate\ninside\n::endgroup::\n"},
		{"group_plain", false, func(r *Runner) { end := r.Group("Authenticate"); r.Infof("inside"); end() }, "==> Authenticate\ninside\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out strings.Builder
			vars := map[string]string{}
			if tt.inActions {
				vars["GITHUB_ACTIONS"] = "true"
			}
			r := New(&out, env(vars))
			if got := r.InActions(); got != tt.inActions {
				t.Fatalf("InActions() = %v, want %v", got, tt.inActions)
			}
			tt.print(r)
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMaskRedactsEverywhere(t *testing.T) {
	t.Parallel()
	for _, inActions := range []bool{false, true} {
		t.Run(fmt.Sprintf("in_actions_%v", inActions), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			summary := filepath.Join(dir, "summary.md")
			vars := map[string]string{"GITHUB_STEP_SUMMARY": summary}
			if inActions {
				vars["GITHUB_ACTIONS"] = "true"
			}
			var out strings.Builder
			r := New(&out, env(vars))
			const secret = "s3cr3t-session-token"
			const lines = "first-line-secret\nsecond-line-secret"
			r.Mask(secret)
			r.Mask(lines)
			r.Infof("token=%s", secret)
			r.Warningf("warn %s", secret)
			r.Errorf("err %s", "second-line-secret")
			fmt.Fprintf(r.Writer(), "progress %s\n", "first-line-secret")
			r.Group("group " + secret)()
			if err := r.AppendSummary("| secret | " + secret + " |"); err != nil {
				t.Fatal(err)
			}
			if err := r.SetOutput("leak", "x"+secret); !errors.Is(err, ErrSecretInOutput) {
				t.Errorf("SetOutput(secret) = %v, want ErrSecretInOutput", err)
			}
			data, err := os.ReadFile(summary)
			if err != nil {
				t.Fatal(err)
			}
			for _, printed := range []string{withoutAddMask(out.String()), string(data)} {
				for _, s := range []string{secret, "first-line-secret", "second-line-secret"} {
					if strings.Contains(printed, s) {
						t.Errorf("printed %q, which contains the secret %q", printed, s)
					}
				}
			}
			if !strings.Contains(out.String(), "token=***") {
				t.Errorf("output %q does not show the redaction", out.String())
			}
			masks := strings.Count(out.String(), "::add-mask::")
			if want := map[bool]int{false: 0, true: 3}[inActions]; masks != want {
				t.Errorf("%d ::add-mask:: commands, want %d; output:\n%s", masks, want, out.String())
			}
		})
	}
}

// withoutAddMask drops the ::add-mask:: commands, the one place a secret is
// meant to be printed (the runner consumes them).
func withoutAddMask(s string) string {
	var keep []string
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(line, "::add-mask::") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

func TestSetOutputFileFormat(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "output")
	var out strings.Builder
	r := New(&out, env(map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": path}))
	if err := r.SetOutput("image-digest", "sha256:abc"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetOutput("services", "api-service: ok\nworker-service: failed"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetOutput("bad name", "x"); err == nil {
		t.Error("SetOutput(\"bad name\") succeeded, want an error")
	}
	if out.Len() != 0 {
		t.Errorf("Actions mode printed %q for outputs, want nothing", out.String())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseOutputs(data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"image-digest": "sha256:abc",
		"services":     "api-service: ok\nworker-service: failed",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
}

func TestSetOutputPlain(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	r := New(&out, env(nil))
	if err := r.SetOutput("image", "repo@sha256:abc"); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "image=repo@sha256:abc\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
	if err := r.AppendSummary("# nothing"); err != nil {
		t.Errorf("AppendSummary without a summary file = %v, want nil", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	r := New(&out, env(map[string]string{"GITHUB_ACTIONS": "true"}))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			secret := fmt.Sprintf("secret-number-%02d", i)
			r.Mask(secret)
			r.Infof("line %s", secret)
			fmt.Fprintf(r.Writer(), "writer %s\n", secret)
		})
	}
	wg.Wait()
	if got := withoutAddMask(out.String()); strings.Contains(got, "secret-number-") {
		t.Errorf("a secret leaked under concurrent use:\n%s", got)
	}
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if !strings.HasPrefix(line, "::add-mask::") && !strings.HasPrefix(line, "line ***") && !strings.HasPrefix(line, "writer ***") {
			t.Errorf("interleaved line %q", line)
		}
	}
}

// TestMaskIdentifier: an identifier is masked and redacted from the log
// and the summary like a secret, yet an output may carry it.
func TestMaskIdentifier(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary.md"),
	}
	var out strings.Builder
	r := New(&out, env(vars))
	const account, secret = "111122223333", "s3cr3t-session-token"
	r.MaskIdentifier(account)
	r.Mask(secret)
	r.Infof("Account: %s", account)
	if err := r.AppendSummary("| Account | " + account + " |"); err != nil {
		t.Fatal(err)
	}
	image := account + ".dkr.ecr.us-east-1.amazonaws.com/web-api@sha256:abc"
	if err := r.SetOutput("image", image); err != nil {
		t.Errorf("SetOutput(an image URI with the masked account) = %v, want it written", err)
	}
	if err := r.SetOutput("leak", account+secret); !errors.Is(err, ErrSecretInOutput) {
		t.Errorf("SetOutput(account and secret) = %v, want ErrSecretInOutput: a secret stays out of outputs", err)
	}
	summary, err := os.ReadFile(vars["GITHUB_STEP_SUMMARY"])
	if err != nil {
		t.Fatal(err)
	}
	if got := withoutAddMask(out.String()) + string(summary); strings.Contains(got, account) {
		t.Errorf("the log or the summary shows the masked account:\n%s", got)
	}
	if !strings.Contains(out.String(), "::add-mask::"+account+"\n") {
		t.Errorf("the account was not masked for the runner:\n%s", out.String())
	}
	data, err := os.ReadFile(vars["GITHUB_OUTPUT"])
	if err != nil {
		t.Fatal(err)
	}
	outputs, err := ParseOutputs(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"image": image}, outputs); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
}
