// Command oidc-ecs-deploy deploys a container image to Amazon ECS from GitHub
// Actions with short-lived credentials obtained through OIDC.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	// The action's image holds nothing but this binary, so the CA roots
	// that TLS to AWS needs are built in; a system pool, when present,
	// still takes precedence.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
