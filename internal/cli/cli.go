// Package cli holds the subcommands of oidc-ecs-deploy and wires the other
// packages into the deploy flow.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/endpoint"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
)

// Exit codes.
const (
	// ExitOK: the run did everything asked.
	ExitOK = 0
	// ExitFailure: authentication, push or deploy failed.
	ExitFailure = 1
	// ExitUsage: a bad command line or input; nothing was attempted.
	ExitUsage = 2
	// ExitInterrupted: SIGINT or SIGTERM (how GitHub cancels a job) stopped
	// the run; the log says where each service stands. 128 + SIGINT, as a
	// shell reports an interrupted command.
	ExitInterrupted = 130
)

// version is set at build time with -ldflags "-X .../internal/cli.version=v1.2.3".
var version = "dev"

const usage = `oidc-ecs-deploy deploys a container image to Amazon ECS with short-lived AWS
credentials obtained from the GitHub Actions OIDC token.

Usage:
  oidc-ecs-deploy deploy [flags]     run the flow (every action input is a flag)
  oidc-ecs-deploy demo [--scenario NAME] [--list]
                                     run the flow against a built-in sandbox
  oidc-ecs-deploy policy [flags]     print the trust policy and the least-privilege
                                     permissions policy for the inputs (JSON,
                                     CloudFormation or Terraform)
  oidc-ecs-deploy setup [--dry-run] [flags]
                                     create or update the OIDC provider, the
                                     role, its trust and permissions policies
                                     with your own AWS credentials
  oidc-ecs-deploy doctor [--workflow FILE] [flags]
                                     check the workflow and the account, item
                                     by item, each with its fix
  oidc-ecs-deploy sandbox [--world FILE] [--env-file PATH] [--admin-env-file PATH] [--registry-backend URL]
                                     serve the sandbox on loopback until interrupted
  oidc-ecs-deploy version            print the version
  oidc-ecs-deploy help               print this help

As a GitHub container action (no arguments, GITHUB_ACTIONS=true) it reads its
inputs from INPUT_<NAME> variables.

Exit codes: 0 success, 1 failure (authentication, push, deploy; for doctor,
an item that fails), 2 bad command line or input (nothing attempted),
130 interrupted by SIGINT or SIGTERM (the log says where each service stands;
ECS goes on with a deployment that was started).

Run "oidc-ecs-deploy COMMAND --help" for a command's flags.
`

// Main runs the command line args and returns the process exit code.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		// As a step of a job, the action runs with no arguments.
		if ghaction.New(stdout, getenv).InActions() {
			return deployCommand(ctx, nil, getenv, stdout, stderr)
		}
		fmt.Fprint(stderr, usage)
		return ExitUsage
	}
	switch args[0] {
	case "deploy":
		return deployCommand(ctx, args[1:], getenv, stdout, stderr)
	case "demo":
		return demoCommand(ctx, args[1:], getenv, stdout, stderr)
	case "sandbox":
		return sandboxCommand(ctx, args[1:], stdout, stderr)
	case "policy":
		return policyCommand(args[1:], getenv, stdout, stderr)
	case "doctor":
		return doctorCommand(ctx, args[1:], getenv, stdout, stderr)
	case "setup":
		return setupCommand(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "oidc-ecs-deploy", Version())
		return ExitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return ExitOK
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
	return ExitUsage
}

// Version is the version and, when built from a checkout, the commit.
func Version() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	return v
}

// deployCommand reads the config from the action inputs (no arguments in
// Actions) or from flags, and runs the flow.
func deployCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	runner := ghaction.New(stdout, getenv)
	run, err := runner.Context()
	if err != nil {
		return report(ctx, runner, err)
	}
	var cfg config.Config
	if len(args) == 0 && runner.InActions() {
		cfg, err = config.FromInputs(runner.Input, run)
	} else {
		cfg, err = config.FromFlags(args, run)
	}
	if errors.Is(err, flag.ErrHelp) {
		printDeployUsage(stdout)
		return ExitOK
	}
	var usageErr *config.UsageError
	if errors.As(err, &usageErr) {
		// The flag package quotes the command line back: untrusted text.
		fmt.Fprintf(stderr, "%s\n\n", ghaction.Lines(err.Error()))
		printDeployUsage(stderr)
		return ExitUsage
	}
	if err != nil {
		// The problems quote the inputs: hide the accounts in them too.
		maskAccountIDs(runner, cfg)
		return report(ctx, runner, err)
	}
	_, err = Run(ctx, cfg, Deps{Getenv: getenv, Runner: runner})
	code := report(ctx, runner, err)
	if werr := runner.Err(); werr != nil {
		// The log itself could not be written; say so where it can be seen.
		fmt.Fprintf(stderr, "oidc-ecs-deploy: %v\n", werr)
	}
	return code
}

func printDeployUsage(w io.Writer) {
	fmt.Fprint(w, "Usage: oidc-ecs-deploy deploy [flags]\n\nFlags (the action inputs of the same names):\n")
	config.PrintFlags(w)
}

// report prints a run's failure as an error annotation and returns the
// exit code.
func report(ctx context.Context, runner *ghaction.Runner, err error) int {
	if err == nil {
		return ExitOK
	}
	// An interrupt surfaces as whatever call was running; it is not a
	// failure of AWS or of the configuration.
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		runner.Errorf("interrupted: the run stopped at a signal (SIGINT or SIGTERM); where each service stands is printed above")
		return ExitInterrupted
	}
	var inputErr *config.InputError
	var endpointErr *endpoint.Error
	if errors.As(err, &inputErr) || errors.As(err, &endpointErr) {
		// One annotation per problem; an input's is titled with the input
		// to change.
		for _, e := range splitJoined(err) {
			if errors.As(e, &inputErr) {
				runner.Annotate(ghaction.LevelError, ghaction.Annotation{Title: "input " + inputErr.Input},
					"%s", strings.TrimPrefix(inputErr.Error(), "input "+inputErr.Input+": "))
				continue
			}
			runner.Errorf("%v", e)
		}
		return ExitUsage
	}
	if fe, ok := errors.AsType[*deploy.FileError](err); ok {
		// The task-definition input's file, read before anything ran.
		runner.Annotate(ghaction.LevelError, fe.Annotation(), "%v", err)
		return ExitUsage
	}
	var reported reportedError
	if errors.As(err, &reported) {
		// Each failure is already an error annotation; say so once, plainly.
		runner.Infof("failed: %d problem(s), each reported above", len(splitJoined(reported.err)))
		return ExitFailure
	}
	runner.Errorf("%v", err)
	return ExitFailure
}

// splitJoined lists the errors that errors.Join combined into err.
func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
