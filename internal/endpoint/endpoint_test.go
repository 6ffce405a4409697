package endpoint

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want string // a fragment of the error; empty: accepted
	}{
		{"https://sts.us-east-1.amazonaws.com", ""},
		{"https://vpce-0abc.ecr.us-east-1.vpce.amazonaws.com/", ""},
		{"HTTPS://STS.AMAZONAWS.COM", ""},
		{"http://127.0.0.1:4566", ""},
		{"http://127.8.9.10", ""},
		{"http://[::1]:4566/", ""},
		{"http://localhost:4566", ""},
		{"http://LocalHost", ""},
		{"http://sts.example.invalid", "plain http to a host that is not a loopback address"},
		{"http://10.0.0.1:4566", "plain http"},
		{"http://[::ffff:10.0.0.1]", "plain http"},
		{"http://localhost.example.invalid", "plain http"},
		{"http://127.0.0.1.example.invalid", "plain http"},
		{"https://user:pass@sts.amazonaws.com", "user name or password"},
		{"ftp://sts.amazonaws.com", "not an absolute https URL"},
		{"sts.amazonaws.com", "not an absolute https URL"},
		{"https://", "not an absolute https URL"},
		{"https://:443", "not an absolute https URL"},
		{"https:sts.amazonaws.com", "not an absolute https URL"},
		{"http://%zz", "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			err := Check("AWS_ENDPOINT_URL", tt.url)
			if tt.want == "" {
				if err != nil {
					t.Errorf("Check(%q) = %v, want it accepted", tt.url, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Check(%q) = %v, want an *Error", tt.url, err)
			}
			if e.Variable != "AWS_ENDPOINT_URL" || e.Value != tt.url || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check(%q) = %v, want it to name AWS_ENDPOINT_URL, quote the URL and say %q", tt.url, err, tt.want)
			}
			if !strings.Contains(err.Error(), "for example: https://") {
				t.Errorf("Check(%q) = %v: no example of a valid value", tt.url, err)
			}
		})
	}
}

func TestReadAWSReportsEveryProblem(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"AWS_ENDPOINT_URL":     "http://sts.example.invalid",
		"AWS_ENDPOINT_URL_ECR": "https://ecr.example.invalid",
		"AWS_ENDPOINT_URL_ECS": "http://10.1.2.3",
	}
	_, err := ReadAWS(func(k string) string { return env[k] })
	var got []string
	for _, line := range strings.Split(err.Error(), "\n") {
		got = append(got, strings.Fields(line)[2])
	}
	if diff := cmp.Diff([]string{"AWS_ENDPOINT_URL:", "AWS_ENDPOINT_URL_ECS:"}, got); diff != "" {
		t.Errorf("variables named (-want +got):\n%s\n%v", diff, err)
	}
}

// TestApply checks that the SDK's own clients take the overrides: the base
// endpoint for every service, and each service's own where it is set.
func TestApply(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"AWS_ENDPOINT_URL":     "http://127.0.0.1:4566",
		"AWS_ENDPOINT_URL_ECR": "https://api.ecr.example.invalid",
	}
	a, err := ReadAWS(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{Region: "us-east-1"}
	a.Apply(&cfg)
	got := map[string]string{
		"STS": aws.ToString(sts.NewFromConfig(cfg).Options().BaseEndpoint),
		"ECR": aws.ToString(ecr.NewFromConfig(cfg).Options().BaseEndpoint),
		"ECS": aws.ToString(ecs.NewFromConfig(cfg).Options().BaseEndpoint),
	}
	want := map[string]string{"STS": "http://127.0.0.1:4566", "ECR": "https://api.ecr.example.invalid", "ECS": "http://127.0.0.1:4566"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("clients' endpoints (-want +got):\n%s", diff)
	}
	wantLines := []string{"AWS_ENDPOINT_URL=http://127.0.0.1:4566 (STS, ECS, CloudWatch Logs, CodeDeploy)", "AWS_ENDPOINT_URL_ECR=https://api.ecr.example.invalid (ECR)"}
	if diff := cmp.Diff(wantLines, a.InEffect()); diff != "" {
		t.Errorf("InEffect (-want +got):\n%s", diff)
	}
}

func TestIgnoreConfiguredEndpoints(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true",
		"AWS_ENDPOINT_URL":                    "http://sts.example.invalid",
	}
	a, err := ReadAWS(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("ReadAWS = %v; an ignored override is not used, so not refused", err)
	}
	cfg := aws.Config{Region: "us-east-1"}
	a.Apply(&cfg)
	if cfg.BaseEndpoint != nil || len(cfg.ConfigSources) != 0 {
		t.Errorf("Apply set endpoints although they are ignored: %v, %v", cfg.BaseEndpoint, cfg.ConfigSources)
	}
	if lines := a.InEffect(); len(lines) != 1 || !strings.Contains(lines[0], "ignored") {
		t.Errorf("InEffect = %q, want one line saying the overrides are ignored", lines)
	}
}
