package sandboxtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
)

// WriteCA writes the sandbox's CA certificate to a file of the test's own
// and returns its path: SSL_CERT_FILE for a client we did not write.
func WriteCA(tb testing.TB, sb *sandbox.Sandbox) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "sandbox-ca.pem")
	if err := os.WriteFile(path, sb.CACertificate(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// ProcessEnv is the environment a registry client in another process
// needs to reach sb's ECR registry hosts by name over TLS, as it would
// reach ECR: a client we did not write (skopeo, crane) or the action's
// built binary. HTTPS_PROXY is the sandbox's proxy to those hosts alone
// (Go's clients never proxy the loopback endpoints of AWS and the token
// service); SSL_CERT_FILE is the sandbox's CA, which Go's TLS reads as the
// system's roots. HOME is a directory of the test's own, so that no login
// of the machine's user is read or written; PATH is the test's.
func ProcessEnv(tb testing.TB, sb *sandbox.Sandbox) []string {
	tb.Helper()
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + tb.TempDir(),
		"HTTPS_PROXY=" + sb.RegistryProxyURL(),
		"SSL_CERT_FILE=" + WriteCA(tb, sb),
	}
}
