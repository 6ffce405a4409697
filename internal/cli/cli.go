// Package cli holds the subcommands of oidc-ecs-deploy and wires the other
// packages into the deploy flow.
package cli

import (
	"context"
	"fmt"
	"io"
)

// Main runs the command line args and returns the process exit code.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "not yet implemented")
	return 2
}
