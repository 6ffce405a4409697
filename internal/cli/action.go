//go:build action

package cli

import (
	"context"
	"fmt"
	"io"
)

// The action's image is built with -tags action (see the Dockerfile): the
// binary GitHub runs needs action mode and the deploy command, not the
// demo and the sandbox, whose stand-ins for GitHub and AWS are a sixth of
// the binary. The command-line tool (make build, go install) has both.

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
