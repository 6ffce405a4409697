//go:build !action

package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
)

const policySynopsis = "oidc-ecs-deploy policy --github-repository OWNER/REPO (--environment NAME | --branch NAME | --tag NAME) [--format json|cloudformation|terraform] [--account ID] [action inputs]"

// policyCommand prints the trust policy and the least-privilege permissions
// policy for the action's inputs, as JSON, a CloudFormation template or a
// Terraform configuration.
func policyCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	f := newPlanFlags("policy", io.Discard)
	format := f.fs.String("format", "json", "json (the policies), cloudformation (a template) or terraform (a configuration); the last two create the OIDC provider and the roles")
	account := f.fs.String("account", "", "with a role chain across accounts: the account whose roles the CloudFormation or Terraform output creates (one template per account)")
	plan, code := parsePlan(f, args, getenv, stdout, stderr, policySynopsis, "format", "account")
	if plan == nil {
		return code
	}
	for _, n := range plan.Notes {
		fmt.Fprintf(stderr, "note: %s\n", ghaction.Line(n))
	}
	if *format == "json" {
		return writeDocument(stdout, stderr, []byte(plan.JSON()))
	}
	acct := *account
	if acct == "" {
		accounts := plan.Accounts()
		if len(accounts) > 1 {
			fmt.Fprintf(stderr, "the role chain spans accounts %s, and a %s deploys into one: run once per account with --account, in that order (a trust policy may name only a role that exists)\n",
				strings.Join(accounts, ", "), *format)
			return ExitUsage
		}
		acct = accounts[0]
	}
	var out []byte
	var err error
	switch *format {
	case "cloudformation":
		out, err = plan.CloudFormation(acct)
	case "terraform":
		out, err = plan.Terraform(acct)
	default:
		fmt.Fprintf(stderr, "--format %q: want json, cloudformation or terraform\n", *format)
		return ExitUsage
	}
	if err != nil {
		fmt.Fprintln(stderr, ghaction.Lines(err.Error()))
		return ExitUsage
	}
	return writeDocument(stdout, stderr, out)
}

// writeDocument writes what a command produces (a policy, a template) to
// stdout: often a file it is redirected to, so a failed write fails the
// command.
func writeDocument(stdout, stderr io.Writer, doc []byte) int {
	if _, err := stdout.Write(doc); err != nil {
		fmt.Fprintf(stderr, "write the output: %v\n", err)
		return ExitFailure
	}
	return ExitOK
}

// parsePlan parses a command's flags and plans the roles. A nil plan means
// the command is over, with the exit code returned (help, or bad input,
// reported on stderr).
func parsePlan(f *planFlags, args []string, getenv func(string) string, stdout, stderr io.Writer, synopsis string, own ...string) (*policy.Plan, int) {
	if err := f.parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.printUsage(stdout, synopsis, own...)
			return nil, ExitOK
		}
		fmt.Fprintf(stderr, "%s\n\n", ghaction.Lines(err.Error()))
		f.printUsage(stderr, synopsis, own...)
		return nil, ExitUsage
	}
	req, err := f.request(getenv)
	if err == nil {
		var plan *policy.Plan
		if plan, err = policy.New(req); err == nil {
			return plan, ExitOK
		}
	}
	fmt.Fprintln(stderr, ghaction.Lines(err.Error()))
	var ie *config.InputError
	if !errors.As(err, &ie) {
		fmt.Fprintf(stderr, "run %q for the flags\n", strings.Fields(synopsis)[1]+" --help")
	}
	return nil, ExitUsage
}
