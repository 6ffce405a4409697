package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
)

// run is the context of a GitHub Actions run.
var run = ghaction.GitHubContext{
	Repository: "acme/web-api",
	RunID:      9876543210,
	RunAttempt: 2,
	SHA:        "4f2c8e1a9b7d6c5e3f1a2b4c6d8e0f1a3b5c7d9e",
}

// noRun is the context outside Actions.
var noRun = ghaction.GitHubContext{}

// inputsOf reads action inputs from INPUT_* variables, as the runner
// interface does.
func inputsOf(vars ...map[string]string) func(string) string {
	getenv := func(k string) string {
		for _, m := range vars {
			if v, ok := m[k]; ok {
				return v
			}
		}
		return ""
	}
	return ghaction.New(io.Discard, getenv).Input
}

func TestFromInputs(t *testing.T) {
	t.Parallel()
	inputs := map[string]string{
		"INPUT_ROLE-TO-ASSUME":             "arn:aws:iam::111122223333:role/gha-deploy",
		"INPUT_AWS-REGION":                 "us-east-1",
		"INPUT_AUDIENCE":                   "",
		"INPUT_ROLE-CHAIN":                 "arn:aws:iam::444455556666:role/prod-deploy external-id=acme-prod-7f3c\n\n# staging next\narn:aws:iam::777788889999:role/stage\n",
		"INPUT_IMAGE":                      "my-api",
		"INPUT_REPOSITORY":                 "web-api",
		"INPUT_TAGS":                       "",
		"INPUT_SERVICE":                    "api-service\nworker-service, api-service",
		"INPUT_CLUSTER":                    "prod-cluster",
		"INPUT_WAIT-FOR-SERVICE-STABILITY": "False",
		"INPUT_ALLOWED-ACCOUNT-IDS":        "444455556666, 777788889999",
		"INPUT_MASK-AWS-ACCOUNT-ID":        "true",
	}
	got, err := FromInputs(inputsOf(inputs), run)
	if err != nil {
		t.Fatalf("FromInputs: %v", err)
	}
	want := Default()
	want.RoleToAssume = "arn:aws:iam::111122223333:role/gha-deploy"
	want.AWSRegion = "us-east-1"
	want.RoleSessionName = "acme-web-api-9876543210-2"
	want.RoleChain = []ChainRole{
		{RoleARN: "arn:aws:iam::444455556666:role/prod-deploy", ExternalID: "acme-prod-7f3c"},
		{RoleARN: "arn:aws:iam::777788889999:role/stage"},
	}
	want.Image = "my-api"
	want.Repository = "web-api"
	want.Tags = []string{run.SHA}
	want.Cluster = "prod-cluster"
	want.Services = []string{"api-service", "worker-service"}
	want.WaitForServiceStability = false
	want.AllowedAccountIDs = []string{"444455556666", "777788889999"}
	want.MaskAWSAccountID = true
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FromInputs (-want +got):\n%s", diff)
	}
	if !got.PushRequested() || !got.DeployRequested() {
		t.Errorf("PushRequested() = %v, DeployRequested() = %v; want both true", got.PushRequested(), got.DeployRequested())
	}
}

func TestFromFlags(t *testing.T) {
	t.Parallel()
	args := []string{
		"--role-to-assume", "arn:aws:iam::111122223333:role/gha-deploy",
		"--aws-region=eu-central-1",
		"--role-duration-seconds", "3600",
		"--role-chain", "arn:aws:iam::444455556666:role/prod-deploy external-id=acme-prod-7f3c",
		"--role-chain", "arn:aws:iam::777788889999:role/stage",
		"--service", "api-service", "--service", "worker-service",
		"--tags", "v1.2.3,latest",
		"--image", "my-api", "--repository", "web-api",
		"--force-new-deployment",
		"--allowed-account-ids", "444455556666", "--allowed-account-ids=777788889999",
		"--mask-aws-account-id",
	}
	got, err := FromFlags(args, run)
	if err != nil {
		t.Fatalf("FromFlags: %v", err)
	}
	want := Default()
	want.RoleToAssume = "arn:aws:iam::111122223333:role/gha-deploy"
	want.AWSRegion = "eu-central-1"
	want.RoleSessionName = "acme-web-api-9876543210-2"
	want.RoleDurationSeconds = 3600
	want.RoleChain = []ChainRole{
		{RoleARN: "arn:aws:iam::444455556666:role/prod-deploy", ExternalID: "acme-prod-7f3c"},
		{RoleARN: "arn:aws:iam::777788889999:role/stage"},
	}
	want.Services = []string{"api-service", "worker-service"}
	want.Tags = []string{"v1.2.3", "latest"}
	want.Image = "my-api"
	want.Repository = "web-api"
	want.ForceNewDeployment = true
	want.AllowedAccountIDs = []string{"444455556666", "777788889999"}
	want.MaskAWSAccountID = true
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FromFlags (-want +got):\n%s", diff)
	}
}

func TestFromFlagsUsage(t *testing.T) {
	t.Parallel()
	if _, err := FromFlags([]string{"--help"}, noRun); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("FromFlags(--help) = %v, want flag.ErrHelp", err)
	}
	var usage *UsageError
	if _, err := FromFlags([]string{"--no-such-flag", "x"}, noRun); !errors.As(err, &usage) {
		t.Errorf("FromFlags(--no-such-flag) = %v, want a *UsageError", err)
	}
	if _, err := FromFlags([]string{"--aws-region", "us-east-1", "stray"}, noRun); !errors.As(err, &usage) {
		t.Errorf("FromFlags(stray argument) = %v, want a *UsageError", err)
	}
}

func TestBadInputs(t *testing.T) {
	t.Parallel()
	valid := map[string]string{
		"INPUT_ROLE-TO-ASSUME": "arn:aws:iam::111122223333:role/gha-deploy",
		"INPUT_AWS-REGION":     "us-east-1",
	}
	tests := []struct {
		name  string
		input string // the input set to value
		value string
		want  []string // fragments of the one error
	}{
		{"malformed_arn", "role-to-assume", "arn:aws:iam::1111:role/gha-deploy", []string{"input role-to-assume", `"arn:aws:iam::1111:role/gha-deploy"`, "not an IAM role ARN", "for example: arn:aws:iam::123456789012:role/"}},
		{"user_not_role_arn", "role-to-assume", "arn:aws:iam::111122223333:user/deployer", []string{"input role-to-assume", "not an IAM role ARN"}},
		{"missing_role", "role-to-assume", "", []string{"input role-to-assume", "is required", "for example: arn:aws:iam::"}},
		{"duration_too_short", "role-duration-seconds", "100", []string{"input role-duration-seconds", `"100"`, "outside 900 to 43200", "for example: 3600"}},
		{"duration_too_long", "role-duration-seconds", "50000", []string{"input role-duration-seconds", `"50000"`, "outside 900 to 43200"}},
		{"duration_not_a_number", "role-duration-seconds", "1h", []string{"input role-duration-seconds", `"1h"`, "not a whole number"}},
		{"session_name_with_spaces", "role-session-name", "deploy from ci", []string{"input role-session-name", `"deploy from ci"`, "2 to 64 characters", "for example: "}},
		{"session_name_70_chars", "role-session-name", strings.Repeat("a", 70), []string{"input role-session-name", "has 70 characters"}},
		{"empty_region", "aws-region", "", []string{"input aws-region", "is required", "for example: us-east-1"}},
		{"region_mars", "aws-region", "Mars-1", []string{"input aws-region", `"Mars-1"`, "not an AWS region", "for example: us-east-1"}},
		{"chain_entry_not_arn", "role-chain", "prod-deploy", []string{"input role-chain", `"prod-deploy"`, "(entry 1) is not an IAM role ARN", "for example: arn:aws:iam::444455556666:role/prod-deploy external-id="}},
		{"chain_entry_bad_option", "role-chain", "arn:aws:iam::444455556666:role/prod-deploy externalid=x", []string{"input role-chain", "only external-id=ID may follow"}},
		{"chain_external_id_bad", "role-chain", "arn:aws:iam::444455556666:role/prod-deploy external-id=a", []string{"input role-chain", "external ID that is not 2 to 1224"}},
		{"bad_boolean", "wait-for-service-stability", "yes", []string{"input wait-for-service-stability", `"yes"`, "not a boolean", "for example: true"}},
		{"bad_minutes", "wait-for-minutes", "0", []string{"input wait-for-minutes", "outside 1 to 360"}},
		{"empty_audience", "audience", " ", nil}, // blank falls back to the default: no error
		{"audience_with_space", "audience", "sts amazonaws", []string{"input audience", "one word"}},
		{"unknown_partition", "role-to-assume", "arn:aws-foo:iam::111122223333:role/gha-deploy", []string{"input role-to-assume", `partition "aws-foo"`, "not an AWS partition (aws, aws-cn,", "for example: arn:aws:iam::"}},
		{"partition_of_another_region", "role-to-assume", "arn:aws-cn:iam::111122223333:role/gha-deploy", []string{"input role-to-assume", "partition aws-cn", "us-east-1 is in aws", "cn-north-1", "for example: arn:aws:iam::123456789012:role/gha-deploy"}},
		{"chain_partition_of_another_region", "role-chain", "arn:aws-us-gov:iam::444455556666:role/prod", []string{"input role-chain", "(entry 1) is in the partition aws-us-gov", "us-gov-east-1"}},
		{"region_of_no_partition", "aws-region", "xx-east-1", []string{"input aws-region", `"xx-east-1"`, "none of the AWS partitions", "for example: us-east-1"}},
		{"allowed_account_not_digits", "allowed-account-ids", "111122223333,prod", []string{"input allowed-account-ids", `"prod"`, "12 digits", "for example: 111122223333,444455556666"}},
		{"mask_not_boolean", "mask-aws-account-id", "yes please", []string{"input mask-aws-account-id", "not a boolean"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inputs := map[string]string{InputEnvName(tt.input): tt.value}
			_, err := FromInputs(inputsOf(inputs, valid), run)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("FromInputs(%s=%q) = %v, want no error", tt.input, tt.value, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("FromInputs(%s=%q) succeeded, want an error", tt.input, tt.value)
			}
			var ie *InputError
			if !errors.As(err, &ie) || ie.Input != tt.input {
				t.Errorf("error %v does not name input %s", err, tt.input)
			}
			if n := len(strings.Split(err.Error(), "\n")); n != 1 {
				t.Errorf("got %d problems, want 1:\n%v", n, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestEveryProblemReported(t *testing.T) {
	t.Parallel()
	inputs := map[string]string{
		"INPUT_ROLE-TO-ASSUME":        "not-an-arn",
		"INPUT_AWS-REGION":            "Mars-1",
		"INPUT_ROLE-DURATION-SECONDS": "100",
		"INPUT_ROLE-SESSION-NAME":     "has spaces",
		"INPUT_ROLE-CHAIN":            "nope",
	}
	_, err := FromInputs(inputsOf(inputs), noRun)
	var got []string
	for _, line := range strings.Split(err.Error(), "\n") {
		name, _, _ := strings.Cut(strings.TrimPrefix(line, "input "), ":")
		got = append(got, name)
	}
	want := []string{"role-to-assume", "aws-region", "role-session-name", "role-duration-seconds", "role-chain"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inputs named by the errors (-want +got):\n%s\n%v", diff, err)
	}
}

func TestStepRequirements(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	taskDef := filepath.Join(dir, "task-definition.json")
	if err := os.WriteFile(taskDef, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := func() Config {
		c := Default()
		c.RoleToAssume = "arn:aws:iam::111122223333:role/gha-deploy"
		c.AWSRegion = "us-east-1"
		c.RoleSessionName = "test-session"
		return c
	}
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string // inputs named, in order; nil = valid
	}{
		{"auth_only", func(c *Config) {}, nil},
		{"push", func(c *Config) { c.Image, c.Repository, c.Tags = "my-api", "web-api", []string{"abc"} }, nil},
		{"push_to_uri", func(c *Config) {
			c.Image, c.Repository, c.Tags = "my-api", "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web-api", []string{"abc"}
		}, nil},
		{"push_to_fips_uri", func(c *Config) {
			c.Image, c.Repository, c.Tags = "my-api", "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/web-api", []string{"abc"}
		}, nil},
		// The ECR password goes to ECR registries of aws-region only.
		{"push_to_loopback_uri", func(c *Config) { c.Image, c.Repository, c.Tags = "my-api", "127.0.0.1:5000/web-api", []string{"abc"} }, []string{InputRepository}},
		{"push_to_localhost_uri", func(c *Config) { c.Image, c.Repository, c.Tags = "my-api", "localhost/web-api", []string{"abc"} }, []string{InputRepository}},
		{"push_to_ghcr", func(c *Config) { c.Image, c.Repository, c.Tags = "my-api", "ghcr.io/acme/web", []string{"abc"} }, []string{InputRepository}},
		{"push_to_ecr_of_another_region", func(c *Config) {
			c.Image, c.Repository, c.Tags = "my-api", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web-api", []string{"abc"}
		}, []string{InputRepository}},
		{"push_to_ecr_lookalike", func(c *Config) {
			c.Image, c.Repository, c.Tags = "my-api", "123456789012.dkr.ecr.us-east-1.amazonaws.com.example.com/web-api", []string{"abc"}
		}, []string{InputRepository}},
		{"push_to_ecr_with_port", func(c *Config) {
			c.Image, c.Repository, c.Tags = "my-api", "123456789012.dkr.ecr.us-east-1.amazonaws.com:443/web-api", []string{"abc"}
		}, []string{InputRepository}},
		{"push_without_repository_or_tags", func(c *Config) { c.Image = "my-api" }, []string{InputRepository, InputTags}},
		{"push_bad_tag", func(c *Config) { c.Image, c.Repository, c.Tags = "my-api", "web-api", []string{"feature/x"} }, []string{InputTags}},
		{"push_missing_oci_layout", func(c *Config) {
			c.Image, c.Repository, c.Tags = "oci:"+filepath.Join(dir, "absent"), "web-api", []string{"abc"}
		}, []string{InputImage}},
		{"push_from_a_registry_by_digest", func(c *Config) {
			c.Image, c.Repository, c.Tags = "docker://ghcr.io/acme/web@sha256:"+strings.Repeat("ab", 32), "web-api", []string{"abc"}
		}, nil},
		{"push_from_a_registry_by_tag", func(c *Config) {
			c.Image, c.Repository, c.Tags = "docker://123456789012.dkr.ecr.us-east-1.amazonaws.com/web-api:abc", "web-api", []string{"abc"}
		}, nil},
		{"push_from_docker_hub", func(c *Config) { c.Image, c.Repository, c.Tags = "docker://nginx:1.27", "web-api", []string{"abc"} }, nil},
		{"push_from_a_bad_reference", func(c *Config) {
			c.Image, c.Repository, c.Tags = "docker://ghcr.io/Acme/Web:v1", "web-api", []string{"abc"}
		}, []string{InputImage}},
		{"push_from_an_empty_reference", func(c *Config) { c.Image, c.Repository, c.Tags = "docker://", "web-api", []string{"abc"} }, []string{InputImage}},
		{"push_from_a_short_digest", func(c *Config) {
			c.Image, c.Repository, c.Tags = "docker://ghcr.io/acme/web@sha256:abc", "web-api", []string{"abc"}
		}, []string{InputImage}},
		{"push_from_a_transport_not_read", func(c *Config) {
			c.Image, c.Repository, c.Tags = "containers-storage:localhost/web:v1", "web-api", []string{"abc"}
		}, []string{InputImage}},
		{"push_engine_image_named_like_a_transport", func(c *Config) { c.Image, c.Repository, c.Tags = "dir:v1", "web-api", []string{"abc"} }, nil},
		{"repository_without_image", func(c *Config) { c.Repository = "web-api" }, []string{InputImage}},
		{"deploy_with_push", func(c *Config) {
			c.Image, c.Repository, c.Tags, c.Services = "my-api", "web-api", []string{"abc"}, []string{"api-service"}
		}, nil},
		{"deploy_without_image", func(c *Config) { c.Services = []string{"api-service"} }, []string{InputImage}},
		{"deploy_force", func(c *Config) { c.Services, c.ForceNewDeployment = []string{"api-service"}, true }, nil},
		{"deploy_task_definition_file", func(c *Config) {
			c.Image, c.Repository, c.Tags = "my-api", "web-api", []string{"abc"}
			c.Services, c.TaskDefinition = []string{"api-service"}, taskDef
		}, nil},
		// The file is a base: the pushed image is pinned into it, so it
		// needs an image like the service's own task definition does.
		{"deploy_task_definition_without_image", func(c *Config) { c.Services, c.TaskDefinition = []string{"api-service"}, taskDef }, []string{InputImage}},
		{"deploy_task_definition_missing", func(c *Config) {
			c.Image, c.Repository, c.Tags = "my-api", "web-api", []string{"abc"}
			c.Services, c.TaskDefinition = []string{"api-service"}, filepath.Join(dir, "absent.json")
		}, []string{InputTaskDefinition}},
		{"force_without_service", func(c *Config) { c.ForceNewDeployment = true }, []string{InputForceNewDeployment}},
		{"bad_service_and_cluster", func(c *Config) {
			c.Services, c.Cluster, c.ForceNewDeployment = []string{"api service"}, "prod/cluster", true
		}, []string{InputCluster, InputService}},
		{"service_arn", func(c *Config) {
			c.Services, c.ForceNewDeployment = []string{"arn:aws:ecs:us-east-1:111122223333:service/prod-cluster/api-service"}, true
		}, nil},
		{"service_arn_of_another_region", func(c *Config) {
			c.Services, c.ForceNewDeployment = []string{"arn:aws:ecs:eu-west-1:111122223333:service/prod-cluster/api-service"}, true
		}, []string{InputService}},
		{"cluster_arn_of_another_partition", func(c *Config) {
			c.Services, c.ForceNewDeployment = []string{"api-service"}, true
			c.Cluster = "arn:aws-cn:ecs:cn-north-1:111122223333:cluster/prod-cluster"
		}, []string{InputCluster}},
		{"allowed_account_ids", func(c *Config) { c.AllowedAccountIDs = []string{"111122223333", "444455556666"} }, nil},
		{"allowed_account_id_short", func(c *Config) { c.AllowedAccountIDs = []string{"111122223333", "4444"} }, []string{InputAllowedAccountIDs}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := base()
			tt.change(&c)
			var got []string
			for _, p := range c.problems() {
				got = append(got, p.Input)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("inputs named (-want +got):\n%s\n%v", diff, c.Validate())
			}
		})
	}
}

func TestDefaultSessionName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  ghaction.GitHubContext
		want string
	}{
		{"run", run, "acme-web-api-9876543210-2"},
		{"odd_characters", ghaction.GitHubContext{Repository: "Acme Corp/web api!", RunID: 7}, "Acme-Corp-web-api-7"},
		{"long_repository", ghaction.GitHubContext{Repository: "acme/" + strings.Repeat("x", 80), RunID: 9876543210, RunAttempt: 1}, ("acme-" + strings.Repeat("x", 80))[:51] + "-9876543210-1"},
		{"run_without_repository", ghaction.GitHubContext{RunID: 5, RunAttempt: 1}, "gha-5-1"},
		{"outside_actions", noRun, "oidc-ecs-deploy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := DefaultSessionName(tt.run)
			if got != tt.want {
				t.Errorf("DefaultSessionName() = %q, want %q", got, tt.want)
			}
			if !sessionNamePattern.MatchString(got) {
				t.Errorf("DefaultSessionName() = %q is not a valid session name", got)
			}
		})
	}
}

func TestInputsMatchFlagsAndConfig(t *testing.T) {
	t.Parallel()
	// Every input is accepted both ways; an input missing from parse would
	// be silently ignored, so set each to a recognisable value.
	for _, in := range Inputs() {
		if in.Description == "" {
			t.Errorf("input %s has no description", in.Name)
		}
		if _, err := FromFlags([]string{"--" + in.Name + "=x"}, noRun); err != nil {
			var usage *UsageError
			if errors.As(err, &usage) {
				t.Errorf("flag --%s is not accepted: %v", in.Name, err)
			}
		}
	}
}

// TestPartitions pairs role ARNs and ECR repository URIs with regions
// across partitions: a role, a chain hop and a registry are usable only in
// their own partition (and a registry only in its own region).
func TestPartitions(t *testing.T) {
	t.Parallel()
	hosts := map[string]string{
		"aws":        "amazonaws.com",
		"aws-cn":     "amazonaws.com.cn",
		"aws-us-gov": "amazonaws.com",
		"aws-iso":    "c2s.ic.gov",
		"aws-iso-b":  "sc2s.sgov.gov",
	}
	regions := map[string][]string{
		"aws":        {"us-east-1", "eu-central-1"},
		"aws-cn":     {"cn-north-1", "cn-northwest-1"},
		"aws-us-gov": {"us-gov-west-1", "us-gov-east-1"},
		"aws-iso":    {"us-iso-east-1"},
		"aws-iso-b":  {"us-isob-east-1"},
	}
	for rolePartition := range regions {
		for regionPartition, rs := range regions {
			for _, region := range rs {
				name := rolePartition + "_role_in_" + region
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					match := rolePartition == regionPartition
					role := "arn:" + rolePartition + ":iam::111122223333:role/gha-deploy"
					inputs := map[string]string{
						"INPUT_ROLE-TO-ASSUME": role,
						"INPUT_AWS-REGION":     region,
						"INPUT_ROLE-CHAIN":     "arn:" + rolePartition + ":iam::444455556666:role/prod-deploy",
						"INPUT_IMAGE":          "my-api",
						"INPUT_REPOSITORY":     "444455556666.dkr.ecr." + region + "." + hosts[regionPartition] + "/web-api",
					}
					_, err := FromInputs(inputsOf(inputs), run)
					if match {
						if err != nil {
							t.Fatalf("FromInputs(%s in %s) = %v, want no error", role, region, err)
						}
						return
					}
					var named []string
					for _, line := range strings.Split(fmt.Sprint(err), "\n") {
						name, _, _ := strings.Cut(strings.TrimPrefix(line, "input "), ":")
						named = append(named, name)
					}
					if diff := cmp.Diff([]string{InputRoleToAssume, InputRoleChain}, named); diff != "" {
						t.Errorf("inputs named (-want +got):\n%s\n%v", diff, err)
					}
					if want := "but aws-region " + region + " is in " + regionPartition; !strings.Contains(fmt.Sprint(err), want) {
						t.Errorf("error %v does not say %q", err, want)
					}
				})
			}
		}
	}
}

// deployingInputs are the inputs of a plain deploy, beside which a table
// test sets the inputs it checks.
var deployingInputs = map[string]string{
	"INPUT_ROLE-TO-ASSUME":       "arn:aws:iam::111122223333:role/gha-deploy",
	"INPUT_AWS-REGION":           "us-east-1",
	"INPUT_SERVICE":              "api-service",
	"INPUT_FORCE-NEW-DEPLOYMENT": "true",
}

func TestTestURLInputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		inputs map[string]string
		input  string   // the input the one problem names; empty for none
		want   []string // fragments of the problem
	}{
		{"valid", map[string]string{"INPUT_TEST-URL": "https://test.api.example.com:8443/healthz?deep=1", "INPUT_TEST-URL-SUCCESSES": "5", "INPUT_TEST-URL-TIMEOUT-SECONDS": "30", "INPUT_ROLLBACK-ON-CANCEL": "true"}, "", nil},
		{"not_http", map[string]string{"INPUT_TEST-URL": "ftp://test.example.com/"}, InputTestURL, []string{`"ftp://test.example.com/"`, "not an http:// or https:// URL", "for example: https://"}},
		{"no_host", map[string]string{"INPUT_TEST-URL": "https:///healthz"}, InputTestURL, []string{"not an http:// or https:// URL"}},
		{"credentials", map[string]string{"INPUT_TEST-URL": "https://ops:hunter2@test.example.com/"}, InputTestURL, []string{"carries credentials"}},
		{"two_services", map[string]string{"INPUT_TEST-URL": "https://test.example.com/", "INPUT_SERVICE": "api-service,worker-service"}, InputTestURL, []string{"2 services are deployed"}},
		{"not_watched", map[string]string{"INPUT_TEST-URL": "https://test.example.com/", "INPUT_WAIT-FOR-SERVICE-STABILITY": "false"}, InputTestURL, []string{"wait-for-service-stability is false"}},
		{"no_service", map[string]string{"INPUT_TEST-URL": "https://test.example.com/", "INPUT_SERVICE": "", "INPUT_FORCE-NEW-DEPLOYMENT": ""}, InputTestURL, []string{"no service is"}},
		{"successes_zero", map[string]string{"INPUT_TEST-URL-SUCCESSES": "0"}, InputTestURLSuccesses, []string{`"0"`, "outside 1 to 100", "for example: 3"}},
		{"successes_not_a_number", map[string]string{"INPUT_TEST-URL-SUCCESSES": "three"}, InputTestURLSuccesses, []string{"not a whole number"}},
		{"timeout_too_long", map[string]string{"INPUT_TEST-URL-TIMEOUT-SECONDS": "7200"}, InputTestURLTimeoutSeconds, []string{"outside 1 to 3600 seconds"}},
		{"rollback_on_cancel_not_boolean", map[string]string{"INPUT_ROLLBACK-ON-CANCEL": "always"}, InputRollbackOnCancel, []string{"not a boolean"}},
		{"rollback_on_cancel_without_service", map[string]string{"INPUT_ROLLBACK-ON-CANCEL": "true", "INPUT_SERVICE": "", "INPUT_FORCE-NEW-DEPLOYMENT": ""}, InputRollbackOnCancel, []string{"no service is"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := FromInputs(inputsOf(tt.inputs, deployingInputs), run)
			if tt.input == "" {
				if err != nil {
					t.Fatalf("FromInputs: %v", err)
				}
				if got.TestURL != tt.inputs["INPUT_TEST-URL"] || got.TestURLSuccesses != 5 || got.TestURLTimeoutSeconds != 30 || !got.RollbackOnCancel {
					t.Errorf("config %+v, want the test URL, 5 successes in 30 s, rollback on cancel", got)
				}
				return
			}
			checkOneProblem(t, err, tt.input, tt.want)
		})
	}
	// The same inputs as flags.
	got, err := FromFlags([]string{"--role-to-assume", "arn:aws:iam::111122223333:role/gha-deploy", "--aws-region", "us-east-1",
		"--service", "api-service", "--force-new-deployment", "--test-url", "http://127.0.0.1:8080/", "--test-url-successes", "2", "--rollback-on-cancel"}, run)
	if err != nil || got.TestURL != "http://127.0.0.1:8080/" || got.TestURLSuccesses != 2 || got.TestURLTimeoutSeconds != DefaultTestURLTimeout || !got.RollbackOnCancel {
		t.Errorf("FromFlags = %+v, %v; want the test URL, 2 successes, the default timeout, rollback on cancel", got, err)
	}
}

// checkOneProblem checks that err is exactly one problem, with input, on
// one line, saying every fragment of want.
func checkOneProblem(tb testing.TB, err error, input string, want []string) {
	tb.Helper()
	var ie *InputError
	if !errors.As(err, &ie) || ie.Input != input || strings.Count(err.Error(), "\n") != 0 {
		tb.Fatalf("FromInputs = %v, want one problem with input %s", err, input)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			tb.Errorf("error %q does not contain %q", err, w)
		}
	}
}
