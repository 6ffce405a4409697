package config

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
)

// fieldSeparator separates the values of FuzzInputs' text, one per input in
// the order of Inputs(): a new input is fuzzed without a change here.
const fieldSeparator = "\x1e"

// FuzzInputs reads every input from fuzzed values, both as the runner passes
// them (INPUT_*) and as flags, and checks what holds for any text: both
// ways agree; an accepted Config validates again and keeps the invariants
// the rest of the flow relies on; a refusal is one line per problem, each
// naming a known input.
func FuzzInputs(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		values := strings.Split(text, fieldSeparator)
		env := map[string]string{}
		var args []string
		for i, in := range Inputs() {
			if i >= len(values) {
				break
			}
			env[InputEnvName(in.Name)] = values[i]
			if values[i] != "" {
				args = append(args, "--"+in.Name+"="+values[i])
			}
		}
		fromInputs, inputsErr := FromInputs(inputsOf(env), run)
		fromFlags, flagsErr := FromFlags(args, run)
		if diff := cmp.Diff(fromInputs, fromFlags); diff != "" {
			t.Errorf("inputs and flags read the same values differently (-inputs +flags):\n%s", diff)
		}
		if errText(inputsErr) != errText(flagsErr) {
			t.Errorf("inputs and flags refuse differently:\n%v\n%v", inputsErr, flagsErr)
		}
		if inputsErr != nil {
			checkRefusal(t, inputsErr)
			return
		}
		checkAccepted(t, fromInputs)
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// checkRefusal: every problem is an *InputError on one line, naming an
// input of Inputs() and saying what is wrong.
func checkRefusal(t *testing.T, err error) {
	t.Helper()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %v is not a list of problems", err)
	}
	names := map[string]bool{}
	for _, in := range Inputs() {
		names[in.Name] = true
	}
	problems := joined.Unwrap()
	if got := len(strings.Split(err.Error(), "\n")); got != len(problems) {
		t.Errorf("%d problems print as %d lines: a problem spans lines\n%q", len(problems), got, err.Error())
	}
	for _, p := range problems {
		var ie *InputError
		if !errors.As(p, &ie) {
			t.Errorf("problem %v is not an *InputError", p)
			continue
		}
		if !names[ie.Input] {
			t.Errorf("problem %q names %q, which is not an input", p, ie.Input)
		}
		if ie.Problem == "" || !strings.HasPrefix(p.Error(), "input "+ie.Input+": ") {
			t.Errorf("problem %q does not say which input and what is wrong", p)
		}
	}
}

var (
	accountID = regexp.MustCompile(`^\d{12}$`)
	roleARN   = regexp.MustCompile(`^arn:([a-z0-9-]+):iam::(\d{12}):role/\S+$`)
)

// checkAccepted: what the flow relies on in an accepted Config.
func checkAccepted(t *testing.T, c Config) {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("an accepted Config does not validate again: %v\n%+v", err, c)
	}
	home, ok := partition.ForRegion(c.AWSRegion)
	if !ok {
		t.Fatalf("accepted aws-region %q is in no partition", c.AWSRegion)
	}
	for _, arn := range append([]string{c.RoleToAssume}, chainARNs(c)...) {
		m := roleARN.FindStringSubmatch(arn)
		if m == nil || m[1] != home.ID {
			t.Errorf("accepted role %q is not a role ARN in %s, the partition of %s", arn, home.ID, c.AWSRegion)
		}
	}
	for _, hop := range c.RoleChain {
		again, problems := ParseRoleChain(hop.String())
		if len(problems) != 0 || !slices.Equal(again, []ChainRole{hop}) {
			t.Errorf("role-chain entry %q reads back as %v, %v", hop.String(), again, problems)
		}
	}
	for _, id := range c.AllowedAccountIDs {
		if !accountID.MatchString(id) {
			t.Errorf("accepted allowed account ID %q is not 12 digits", id)
		}
	}
	// Tags matter only to a push: without one they are not used.
	if c.PushRequested() {
		checkRepository(t, c.Repository, c.AWSRegion)
		if len(c.Tags) == 0 || strings.ContainsAny(c.Image, " \t\r\n") {
			t.Errorf("accepted push of %q with tags %q", c.Image, c.Tags)
		}
		for _, tag := range c.Tags {
			if !tagPattern.MatchString(tag) {
				t.Errorf("accepted tag %q", tag)
			}
		}
	}
	if c.RoleDurationSeconds < MinRoleDurationSeconds || c.RoleDurationSeconds > MaxRoleDurationSeconds ||
		c.WaitForMinutes < 1 || c.WaitForMinutes > maxWaitForMinutes || c.ChainedSessionSeconds() > MaxChainedSessionSeconds {
		t.Errorf("accepted durations out of range: %d s, %d min", c.RoleDurationSeconds, c.WaitForMinutes)
	}
	if !sessionNamePattern.MatchString(c.RoleSessionName) {
		t.Errorf("accepted role session name %q", c.RoleSessionName)
	}
}

func chainARNs(c Config) []string {
	var arns []string
	for _, hop := range c.RoleChain {
		arns = append(arns, hop.RoleARN)
	}
	return arns
}

// checkRepository: an accepted repository is a bare name, or on an ECR
// registry host of region, which rebuilds to the very same host.
func checkRepository(t *testing.T, repository, region string) {
	t.Helper()
	host, name := SplitRepository(repository)
	if !repositoryNamePattern.MatchString(name) {
		t.Errorf("accepted repository %q has the name %q", repository, name)
	}
	if host == "" {
		return
	}
	h, ok := partition.ParseECRRegistryHost(host)
	if !ok {
		t.Fatalf("accepted repository %q is on %q, not an ECR registry host", repository, host)
	}
	home, _ := partition.ForRegion(region)
	if h.Region != region || h.Partition.ID != home.ID {
		t.Errorf("accepted repository %q is in %s (%s), not in aws-region %s (%s)", repository, h.Region, h.Partition.ID, region, home.ID)
	}
	if rebuilt := h.Partition.ECRRegistryHost(h.Account, h.Region, h.FIPS); rebuilt != host {
		t.Errorf("ECR host %q rebuilds as %q", host, rebuilt)
	}
}

// FuzzRepository checks the repository input alone against a region: an
// accepted repository URI is always on an ECR registry host of that region,
// and a refusal is one line.
func FuzzRepository(f *testing.F) {
	f.Fuzz(func(t *testing.T, repository, region string) {
		c := Config{Repository: repository, AWSRegion: region}
		problem := c.repositoryProblem()
		if problem != "" {
			if strings.ContainsAny(problem, "\r\n") {
				t.Errorf("the problem with %q spans lines: %q", repository, problem)
			}
			return
		}
		if _, ok := partition.ForRegion(region); !ok || !regionPattern.MatchString(region) {
			if host, _ := SplitRepository(repository); host != "" {
				t.Errorf("repository URI %q accepted in %q, which is no region", repository, region)
			}
			return
		}
		checkRepository(t, repository, region)
	})
}

// FuzzParseRoleChain reads role-chain text: every entry reads back from its
// own String, the whole chain from its entries, and every problem names
// the role-chain input.
func FuzzParseRoleChain(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		chain, problems := ParseRoleChain(text)
		for _, p := range problems {
			if p.Input != InputRoleChain || strings.ContainsAny(p.Error(), "\r\n") {
				t.Errorf("problem %q: want one line on input role-chain", p.Error())
			}
		}
		var lines []string
		for _, hop := range chain {
			if hop.RoleARN == "" || strings.HasPrefix(hop.RoleARN, "#") || strings.ContainsFunc(hop.RoleARN+hop.ExternalID, isSpace) {
				t.Errorf("entry %+v: an ARN or external ID that is empty, a comment or has spaces", hop)
			}
			lines = append(lines, hop.String())
		}
		again, againProblems := ParseRoleChain(strings.Join(lines, "\n"))
		if len(againProblems) != 0 || !slices.Equal(again, chain) {
			t.Errorf("the chain %v reads back as %v (%v)", chain, again, againProblems)
		}
	})
}

func isSpace(r rune) bool { return strings.TrimSpace(string(r)) == "" }
