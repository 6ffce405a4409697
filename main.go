// Command oidc-ecs-deploy deploys a container image to Amazon ECS from GitHub
// Actions with short-lived credentials obtained through OIDC.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
