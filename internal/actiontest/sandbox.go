package actiontest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// Sandbox is a standalone sandbox: the command-line tool (BuildCLI) running
// `oidc-ecs-deploy sandbox`, serving on loopback until Stop.
type Sandbox struct {
	// Env is the environment the sandbox wrote for its clients: the token
	// request variables, AWS_ENDPOINT_URL, the region and the run's GITHUB_*.
	Env map[string]string
	// Registry is the environment it wrote for registry clients
	// (sandbox-registry.env): HTTPS_PROXY and SSL_CERT_FILE, which take a
	// Go client to its ECR registry hosts by name over TLS;
	// SANDBOX_ECR_ADDRESS and SANDBOX_ECR_HOSTS, where those hosts are
	// served; SANDBOX_ECR_PLAIN_<ACCOUNT>, each account's plain entrance.
	Registry map[string]string

	cmd  *exec.Cmd
	log  *sandboxtest.SyncBuffer
	done chan struct{}
	err  error
}

// StartSandbox starts `binary sandbox --world worldFile --env-file ...` with
// the ECR registry front forwarding to registryBackend (a base URL; empty
// for the in-process registry), and waits until it has written the
// environment of its clients. extraArgs are added to the command line
// (e.g. --quiet).
func StartSandbox(ctx context.Context, binary, worldFile, registryBackend, dir string, extraArgs ...string) (*Sandbox, error) {
	envFile := filepath.Join(dir, "sandbox.env")
	args := []string{"sandbox", "--world", worldFile, "--env-file", envFile}
	if registryBackend != "" {
		args = append(args, "--registry-backend", registryBackend)
	}
	args = append(args, extraArgs...)
	s := &Sandbox{log: &sandboxtest.SyncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(binary, args...)
	s.cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the sandbox: %w", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	var last []byte
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("the sandbox exited before it was ready (%w); its output:\n%s", s.err, s.log.String())
		case <-deadline:
			return nil, errors.Join(fmt.Errorf("the sandbox wrote no complete %s within 30 s; its output:\n%s", envFile, s.log.String()), s.Stop())
		case <-ctx.Done():
			return nil, errors.Join(fmt.Errorf("start the sandbox: %w", ctx.Err()), s.Stop())
		case <-tick.C:
		}
		data, err := os.ReadFile(envFile)
		if err != nil || len(data) == 0 || !bytes.Equal(data, last) {
			last = data // wait for two equal reads: the file is complete
			continue
		}
		env, err := ReadEnvFile(envFile)
		if err != nil {
			continue
		}
		if env["AWS_ENDPOINT_URL"] == "" || env["ACTIONS_ID_TOKEN_REQUEST_URL"] == "" || env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] == "" {
			continue
		}
		// The sandbox writes the registry clients' file before the job's.
		registry, err := ReadEnvFile(filepath.Join(dir, "sandbox-registry.env"))
		if err != nil {
			return nil, errors.Join(fmt.Errorf("the sandbox wrote %s but no registry clients' environment: %w", envFile, err), s.Stop())
		}
		s.Env, s.Registry = env, registry
		return s, nil
	}
}

// Log is everything the sandbox process printed so far.
func (s *Sandbox) Log() string { return s.log.String() }

// Stop ends the sandbox process and waits for it.
func (s *Sandbox) Stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	// A process that has exited already refuses the signal; it is waited
	// for below all the same.
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	var exit *exec.ExitError
	if s.err != nil && !errors.As(s.err, &exit) {
		return s.err
	}
	return nil
}
