//go:build !action

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
)

// sandboxCommand serves the sandbox on loopback until ctx ends, and writes
// the environment a client needs as KEY=VALUE lines.
func sandboxCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	worldPath := fs.String("world", "", "world file (JSON); the built-in demo world when empty")
	envFile := fs.String("env-file", "", "write the client environment to this file instead of stdout")
	backend := fs.String("registry-backend", "", "base URL of an external registry for the ECR front (e.g. http://127.0.0.1:5000); in-process when empty")
	registryAddress := fs.String("registry-address", "", "loopback IP:port where the ECR registry hosts are served over TLS (e.g. 127.0.0.2:443, for clients given --add-host NAME:127.0.0.2); 127.0.0.1 on a free port when empty")
	quiet := fs.Bool("quiet", false, "do not log each request on stderr")
	adminEnvFile := fs.String("admin-env-file", "", "write an account administrator's credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_REGION) to this file, for setup, doctor and the AWS CLI")
	adminAccount := fs.String("admin-account", "", "the account whose administrator --admin-env-file holds; the world's first account (in order) when empty")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q\n", fs.Arg(0))
		return ExitUsage
	}
	world := sandbox.DemoWorld()
	if *worldPath != "" {
		var err error
		if world, err = sandbox.LoadWorld(*worldPath); err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			return ExitUsage
		}
	}
	opts := sandbox.Options{RegistryBackend: *backend, RegistryAddress: *registryAddress}
	if !*quiet {
		// The sandbox logs from its request goroutines.
		var mu sync.Mutex
		opts.Logf = func(format string, a ...any) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(stderr, format+"\n", a...)
		}
	}
	sb, err := sandbox.Start(ctx, world, opts)
	if err != nil {
		fmt.Fprintf(stderr, "start the sandbox: %v\n", err)
		return ExitFailure
	}
	defer func() { warnOnError(stderr, "stop the sandbox", sb.Close()) }()

	if *adminEnvFile != "" {
		// Written before the job's environment, whose appearance tells a
		// waiting client that the sandbox is up.
		acct := *adminAccount
		if accounts := slices.Sorted(maps.Keys(world.Accounts)); acct == "" && len(accounts) > 0 {
			acct = accounts[0]
		}
		adminEnv, ok := sb.AdministratorEnv(acct)
		if !ok {
			fmt.Fprintf(stderr, "--admin-account %s: the world has no such account\n", acct)
			return ExitUsage
		}
		if err := writeFileAtomic(*adminEnvFile, []byte(EnvLines(adminEnv))); err != nil {
			fmt.Fprintf(stderr, "write the administrator's environment file: %v\n", err)
			return ExitFailure
		}
	}

	// The registry clients' files go first too: the CA and what reaches
	// the ECR registry hosts.
	dir := "."
	if *envFile != "" {
		dir = filepath.Dir(*envFile)
	}
	registryEnvFile, err := writeRegistryFiles(sb, dir)
	if err != nil {
		fmt.Fprintf(stderr, "write the registry clients' files: %v\n", err)
		return ExitFailure
	}

	env := sb.Env()
	// The AWS CLI v1 reads the region from AWS_DEFAULT_REGION only.
	if _, ok := env["AWS_DEFAULT_REGION"]; !ok {
		env["AWS_DEFAULT_REGION"] = env["AWS_REGION"]
	}
	lines := EnvLines(env)
	if *envFile == "" {
		if _, err := io.WriteString(stdout, lines); err != nil {
			fmt.Fprintf(stderr, "write the environment: %v\n", err)
			return ExitFailure
		}
	} else {
		if err := writeFileAtomic(*envFile, []byte(lines)); err != nil {
			fmt.Fprintf(stderr, "write the environment file: %v\n", err)
			return ExitFailure
		}
		fmt.Fprintf(stdout, "sandbox serving: AWS at %s, GitHub token service at %s; environment in %s\n",
			sb.AWSEndpoint(), sb.GitHubURL(), *envFile)
	}
	// Stdout holds the environment alone when it is not written to a file.
	say := stdout
	if *envFile == "" {
		say = stderr
	}
	fmt.Fprintf(say, "ECR registry hosts (%s) served over TLS at %s; their CA, proxy and plain entrances in %s\n",
		strings.Join(sb.RegistryHosts(), ", "), sb.RegistryAddress(), registryEnvFile)
	fmt.Fprintln(stderr, "sandbox running; interrupt (Ctrl-C) to stop")
	<-ctx.Done()
	return ExitOK
}

// Names of the registry clients' files the sandbox command writes next to
// its environment file.
const (
	sandboxCAFile          = "sandbox-ca.pem"
	sandboxRegistryEnvFile = "sandbox-registry.env"
)

// writeRegistryFiles writes, in dir, the sandbox's CA certificate and the
// environment of a registry client (sandboxRegistryEnvFile): HTTPS_PROXY
// (with NO_PROXY for loopback) and SSL_CERT_FILE, with which a Go client
// (skopeo, crane, the action) reaches the ECR registry hosts by name; SANDBOX_ECR_ADDRESS and
// SANDBOX_ECR_HOSTS, for a client given a host mapping instead (docker run
// --add-host, when the address's port is 443); and
// SANDBOX_ECR_PLAIN_<ACCOUNT>, each account's plain-HTTP loopback entrance,
// for the Docker engine's docker push. It returns the environment file's
// path.
func writeRegistryFiles(sb *sandbox.Sandbox, dir string) (string, error) {
	caFile, err := filepath.Abs(filepath.Join(dir, sandboxCAFile))
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(caFile, sb.CACertificate()); err != nil {
		return "", err
	}
	env := map[string]string{
		"HTTPS_PROXY": sb.RegistryProxyURL(),
		// Go's clients never proxy loopback; others (the AWS CLI) must be
		// told, or they send the sandbox's AWS calls to the proxy.
		"NO_PROXY":            "localhost,127.0.0.1,::1",
		"SSL_CERT_FILE":       caFile,
		"SANDBOX_ECR_ADDRESS": sb.RegistryAddress(),
		"SANDBOX_ECR_HOSTS":   strings.Join(sb.RegistryHosts(), ","),
	}
	for account := range sb.World().Accounts {
		env["SANDBOX_ECR_PLAIN_"+account] = sb.PlainRegistryHost(account)
	}
	path := filepath.Join(dir, sandboxRegistryEnvFile)
	return path, writeFileAtomic(path, []byte(EnvLines(env)))
}

// EnvLines renders an environment as sorted KEY=VALUE lines, the form both
// `set -a; . FILE` and `docker run --env-file` read. Values are the
// sandbox's URLs and tokens, which hold no spaces or quotes.
func EnvLines(env map[string]string) string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, env[k])
	}
	return b.String()
}

// writeFileAtomic writes data (which holds the sandbox's request token) with
// owner-only permissions, renaming it into place so that a reader polling
// for the file never sees half of it.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".env-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		// The temporary file holds the token: it goes, or the error says
		// it stays.
		return errors.Join(err, os.Remove(tmp.Name()))
	}
	return nil
}
