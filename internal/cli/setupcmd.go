//go:build !action

package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/setup"
)

const setupSynopsis = "oidc-ecs-deploy setup --github-repository OWNER/REPO (--environment NAME | --branch NAME | --tag NAME) [--dry-run] [action inputs]"

// setupCommand makes the caller's account hold what the policy command
// prints: the OIDC provider with the audience, each role with its trust
// policy, a one-hour session limit and its permissions policy. It reads
// first, changes only what differs, and with --dry-run changes nothing.
func setupCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	f := newPlanFlags("setup", io.Discard)
	dryRun := f.fs.Bool("dry-run", false, "print what would change, and change nothing")
	plan, code := parsePlan(f, args, getenv, stdout, stderr, setupSynopsis, "dry-run")
	if plan == nil {
		return code
	}
	out := ghaction.New(stdout, getenv)
	for _, n := range plan.Notes {
		out.Infof("note: %s", n)
	}
	ctx, cancel := context.WithTimeout(ctx, callerTimeout)
	defer cancel()
	who, _, err := loadCaller(ctx, getenv, plan.Request.Region)
	if err != nil {
		fmt.Fprintf(stderr, "setup: %v\n", err)
		return ExitFailure
	}
	api := iam.NewFromConfig(who.cfg)
	s, err := setup.Read(ctx, api, plan, who.account)
	if err != nil {
		fmt.Fprintf(stderr, "setup: %v\n", err)
		return ExitFailure
	}
	out.Infof("Account %s, as %s", who.account, who.arn)
	lines := s.Lines(*dryRun)
	for _, l := range lines[:len(lines)-1] {
		out.Infof("%s", l)
	}
	if !*dryRun {
		if err := s.Apply(ctx); err != nil {
			fmt.Fprintf(stderr, "setup: %v\n", err)
			return ExitFailure
		}
	}
	out.Infof("%s", lines[len(lines)-1])
	return ExitOK
}
