package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
)

// TestInputBounds holds every numeric and length limit at its edges: the
// last value inside is accepted, the first outside refused naming the
// input.
func TestInputBounds(t *testing.T) {
	t.Parallel()
	base := map[string]string{
		"INPUT_ROLE-TO-ASSUME":       "arn:aws:iam::111122223333:role/gha-deploy",
		"INPUT_AWS-REGION":           "us-east-1",
		"INPUT_SERVICE":              "api-service",
		"INPUT_FORCE-NEW-DEPLOYMENT": "true",
		"INPUT_TEST-URL":             "https://test.example.com/healthz",
	}
	chain := func(externalID string) string {
		return "arn:aws:iam::444455556666:role/prod-deploy external-id=" + externalID
	}
	tests := []struct {
		input, value string
		ok           bool
	}{
		{InputRoleDurationSeconds, "899", false},
		{InputRoleDurationSeconds, "900", true},
		{InputRoleDurationSeconds, "43200", true},
		{InputRoleDurationSeconds, "43201", false},
		{InputRoleChain, chain("a"), false},
		{InputRoleChain, chain("ab"), true},
		{InputRoleChain, chain(strings.Repeat("x", 1224)), true},
		{InputRoleChain, chain(strings.Repeat("x", 1225)), false},
		{InputWaitForMinutes, "0", false},
		{InputWaitForMinutes, "1", true},
		{InputWaitForMinutes, "360", true},
		{InputWaitForMinutes, "361", false},
		{InputTestURLSuccesses, "0", false},
		{InputTestURLSuccesses, "1", true},
		{InputTestURLSuccesses, "100", true},
		{InputTestURLSuccesses, "101", false},
		{InputTestURLTimeoutSeconds, "0", false},
		{InputTestURLTimeoutSeconds, "1", true},
		{InputTestURLTimeoutSeconds, "3600", true},
		{InputTestURLTimeoutSeconds, "3601", false},
		{InputRepository, "a", false},
		{InputRepository, "ab", true},
		{InputRepository, strings.Repeat("r", 256), true},
		{InputRepository, strings.Repeat("r", 257), false},
		{InputKeepRevisions, "1000", true},
		{InputKeepRevisions, "1001", false},
		{InputRunTaskSubnets, ids("subnet", 16), true},
		{InputRunTaskSubnets, ids("subnet", 17), false},
		{InputRunTaskSecurityGroups, ids("sg", 5), true},
		{InputRunTaskSecurityGroups, ids("sg", 6), false},
		{InputRunTaskCapacityProvider, "FARGATE:0,FARGATE_SPOT:1000", true},
		{InputRunTaskCapacityProvider, "FARGATE:1001", false},
		{InputRunTaskCapacityProvider, "FARGATE:1:100000", true},
		{InputRunTaskCapacityProvider, "FARGATE:1:100001", false},
		{InputRunTaskCapacityProvider, providers(20), true},
		{InputRunTaskCapacityProvider, providers(21), false},
		// One service may name its CodeDeploy group; two may not.
		{InputCodeDeployGroup, "DgpECS-prod-api", true},
	}
	for _, tt := range tests {
		t.Run(tt.input+"_"+tt.value[:min(len(tt.value), 12)], func(t *testing.T) {
			t.Parallel()
			inputs := map[string]string{InputEnvName(tt.input): tt.value}
			switch tt.input {
			case InputRepository:
				inputs[InputEnvName(InputImage)] = "my-api"
			case InputRunTaskSubnets, InputRunTaskSecurityGroups, InputRunTaskCapacityProvider:
				inputs[InputEnvName(InputRunTask)] = "true"
			}
			_, err := FromInputs(inputsOf(inputs, base), run)
			if tt.ok {
				if err != nil {
					t.Errorf("%s=%q: %v, want it accepted", tt.input, tt.value[:min(len(tt.value), 40)], err)
				}
				return
			}
			var ie *InputError
			if !errors.As(err, &ie) || ie.Input != tt.input {
				t.Errorf("%s=%q: %v, want it refused naming the input", tt.input, tt.value[:min(len(tt.value), 40)], err)
			}
		})
	}
}

// TestChainEntryNamedByItsPlace: a problem in the role chain names the
// entry by its place, counted from 1.
func TestChainEntryNamedByItsPlace(t *testing.T) {
	t.Parallel()
	_, err := FromInputs(inputsOf(map[string]string{
		"INPUT_ROLE-TO-ASSUME": "arn:aws:iam::111122223333:role/gha-deploy",
		"INPUT_AWS-REGION":     "us-east-1",
		"INPUT_ROLE-CHAIN":     "arn:aws:iam::444455556666:role/prod-deploy external-id=ok-id\narn:aws:iam::777788889999:role/stage external-id=x",
	}), run)
	if err == nil || !strings.Contains(err.Error(), "(entry 2) has an external ID that is not 2 to 1224 characters") {
		t.Errorf("FromInputs = %v, want the problem of entry 2", err)
	}
}

// TestValidate: a Config built in code is checked as one read from inputs:
// every problem at once, each an *InputError; a valid one passes.
func TestValidate(t *testing.T) {
	t.Parallel()
	c := Default()
	c.RoleToAssume, c.AWSRegion, c.RoleSessionName = "arn:aws:iam::111122223333:role/gha-deploy", "us-east-1", "ci-session"
	if err := c.Validate(); err != nil {
		t.Errorf("Validate of a valid config: %v", err)
	}
	c.RoleToAssume, c.AWSRegion = "", "Mars-1"
	err := c.Validate()
	var ie *InputError
	if err == nil || !errors.As(err, &ie) || strings.Count(err.Error(), "\n") != 1 {
		t.Fatalf("Validate without a role, in no region = %v, want two *InputError problems", err)
	}
	for _, want := range []string{"input role-to-assume: is required", `input aws-region: "Mars-1" is not an AWS region`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %q, want it to say %q", err, want)
		}
	}
}

// TestDefaultSessionNameEdges: the session name keeps the characters STS
// allows, letters, digits and _+=,.@- (the edges of each range included),
// turns every other run into one hyphen, and is cut to 64 characters from
// the repository's end, never the run's.
func TestDefaultSessionNameEdges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  ghaction.GitHubContext
		want string
	}{
		{"edges_of_each_range", ghaction.GitHubContext{Repository: "az/AZ/09/_+=,.@-x"}, "az-AZ-09-_+=,.@-x"},
		{"just_outside_each_range", ghaction.GitHubContext{Repository: "a`b{c@d[e/f:g"}, "a-b-c@d-e-f-g"},
		{"leading_and_trailing_runs", ghaction.GitHubContext{Repository: "!!web  api??", RunID: 3}, "web-api-3"},
		{"exactly_64", ghaction.GitHubContext{Repository: strings.Repeat("r", 62), RunID: 7}, strings.Repeat("r", 62) + "-7"},
		{"one_over_64", ghaction.GitHubContext{Repository: strings.Repeat("r", 63), RunID: 7}, strings.Repeat("r", 62) + "-7"},
		{"two_characters", ghaction.GitHubContext{Repository: "ab"}, "ab"},
		{"one_character", ghaction.GitHubContext{Repository: "a"}, "a-gha"},
		{"largest_run", ghaction.GitHubContext{Repository: strings.Repeat("r", 80), RunID: 1<<63 - 1, RunAttempt: 1<<63 - 1},
			strings.Repeat("r", 24) + "-9223372036854775807-9223372036854775807"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := DefaultSessionName(tt.run)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DefaultSessionName (-want +got):\n%s", diff)
			}
			if len(got) > 64 || !sessionNamePattern.MatchString(got) {
				t.Errorf("DefaultSessionName() = %q is not a valid session name", got)
			}
		})
	}
}

// TestFlagValueText: a flag shows the text it was given, and nothing
// before it was given any, as the flag package asks of a flag.Value.
func TestFlagValueText(t *testing.T) {
	t.Parallel()
	var zero *rawFlag
	if got := zero.String(); got != "" {
		t.Errorf("String of no flag = %q, want empty", got)
	}
	if got := (&rawFlag{input: Input{Name: InputCluster}}).String(); got != "" {
		t.Errorf("String of a flag without values = %q, want empty", got)
	}
	f := &rawFlag{input: Input{Name: InputCluster}, raw: map[string]string{}}
	if err := f.Set("prod-cluster"); err != nil {
		t.Fatal(err)
	}
	if got := f.String(); got != "prod-cluster" {
		t.Errorf("String = %q, want prod-cluster", got)
	}
}

// TestAccountIDs: every account ID the inputs name, once each, in the
// order they are named: the roles, the allowed accounts, the repository's
// registry, the cluster's and the services' ARNs.
func TestAccountIDs(t *testing.T) {
	t.Parallel()
	c := Default()
	c.RoleToAssume = "arn:aws:iam::111122223333:role/gha-deploy"
	c.RoleChain = []ChainRole{{RoleARN: "arn:aws:iam::444455556666:role/prod"}, {RoleARN: "not-an-arn"}, {RoleARN: "arn:aws:iam::111122223333:role/again"}}
	c.AllowedAccountIDs = []string{"444455556666", "555566667777"}
	c.Repository = "666677778888.dkr.ecr.us-east-1.amazonaws.com/web-api"
	c.Cluster = "arn:aws:ecs:us-east-1:777788889999:cluster/prod"
	c.Services = []string{"api-service", "arn:aws:ecs:us-east-1:888899990000:service/prod/worker"}
	want := []string{"111122223333", "444455556666", "555566667777", "666677778888", "777788889999", "888899990000"}
	if diff := cmp.Diff(want, c.AccountIDs()); diff != "" {
		t.Errorf("AccountIDs (-want +got):\n%s", diff)
	}
	c = Default()
	c.RoleToAssume, c.Repository, c.Cluster = "not-an-arn", "web-api", "prod"
	if got := c.AccountIDs(); len(got) != 0 {
		t.Errorf("AccountIDs of names without accounts = %v, want none", got)
	}
}

// TestPrintFlags: the usage text lists every flag with what it takes and
// its default or that it is required.
func TestPrintFlags(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	PrintFlags(&b)
	for _, want := range []string{
		"  --role-to-assume value  (required)\n",
		"  --role-duration-seconds value  (default 900)\n",
		"  --force-new-deployment[=true|false]  (default false)\n",
		"  --service list\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("PrintFlags lacks %q:\n%s", want, b.String())
		}
	}
}

// ids lists n distinct IDs of a kind (subnet, sg), comma-separated.
func ids(kind string, n int) string {
	var list []string
	for i := range n {
		list = append(list, fmt.Sprintf("%s-%08x", kind, i))
	}
	return strings.Join(list, ",")
}

// providers lists n distinct capacity providers of weight 1.
func providers(n int) string {
	var list []string
	for i := range n {
		list = append(list, fmt.Sprintf("cp-%d:1", i))
	}
	return strings.Join(list, ",")
}
