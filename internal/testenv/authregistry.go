package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// AuthRegistry is a registry of the test's own that asks for a password:
// the CNCF distribution registry (Debian's docker-registry) with htpasswd
// Basic authentication, standing in for a registry other than ECR (GHCR,
// Docker Hub) whose credential a runner's Docker config holds.
type AuthRegistry struct {
	// Host is 127.0.0.1:PORT; it speaks plain HTTP.
	Host string
	// Username and Password are the one account of its htpasswd file.
	Username, Password string
}

// StartAuthRegistry starts an AuthRegistry with a random password on a
// loopback port of its own, and stops it when the test ends. The shared
// registry (Registry) asks for no credential; a registry that does is one
// process per test, so that no test sees another's password.
func StartAuthRegistry(tb testing.TB) AuthRegistry {
	tb.Helper()
	bin := Command(tb, "docker-registry")
	dir := tb.TempDir()
	secret := make([]byte, 16)
	rand.Read(secret)
	reg := AuthRegistry{Username: "ci-bot", Password: hex.EncodeToString(secret)}
	hash, err := bcrypt.GenerateFromPassword([]byte(reg.Password), bcrypt.MinCost)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(reg.Username+":"+string(hash)+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	var lc net.ListenConfig
	l, err := lc.Listen(tb.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	reg.Host = l.Addr().String()
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
auth:
  htpasswd:
    realm: test-registry
    path: %s
http:
  addr: %s
`, filepath.Join(dir, "data"), filepath.Join(dir, "htpasswd"), reg.Host)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(config), 0o600); err != nil {
		tb.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", bin, err)
	}
	tb.Cleanup(func() {
		// Killed, it exits with the kill's status: nothing to check.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if err := logFile.Close(); err != nil {
			tb.Errorf("close the registry's log: %v", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequestWithContext(tb.Context(), http.MethodGet, "http://"+reg.Host+"/v2/", nil)
		if err != nil {
			tb.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return reg
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			tb.Fatalf("the registry with htpasswd authentication did not answer on %s within 30 s; its log:\n%s", reg.Host, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
