//go:build action

package cli

import (
	"context"
	"fmt"
	"io"
)

// The action's image is built with -tags action (see the Dockerfile): the
// binary GitHub runs needs action mode and the deploy command, not the
// commands run at a desk: demo and sandbox (the stand-ins for GitHub and
// AWS, about 1.6 MB of the binary), policy, setup and doctor (with the IAM
// client and the SDK's configuration chain, about 1.5 MB). The command-line
// tool (make build, go install) has them all.

func demoCommand(_ context.Context, _ []string, _ func(string) string, _, stderr io.Writer) int {
	return notInActionBuild("demo", stderr)
}

func sandboxCommand(_ context.Context, _ []string, _, stderr io.Writer) int {
	return notInActionBuild("sandbox", stderr)
}

func notInActionBuild(command string, stderr io.Writer) int {
	fmt.Fprintf(stderr, "%q is not part of the action's image, which runs the deploy only; install the command-line tool for it: go install github.com/oidc-ecs-deploy/oidc-ecs-deploy@latest\n", command)
	return ExitUsage
}

func policyCommand(_ []string, _ func(string) string, _, stderr io.Writer) int {
	return notInActionBuild("policy", stderr)
}

func doctorCommand(_ context.Context, _ []string, _ func(string) string, _, stderr io.Writer) int {
	return notInActionBuild("doctor", stderr)
}

func setupCommand(_ context.Context, _ []string, _ func(string) string, _, stderr io.Writer) int {
	return notInActionBuild("setup", stderr)
}
