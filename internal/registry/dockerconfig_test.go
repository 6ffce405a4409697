package registry

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
)

// writeConfig writes a Docker config file into a directory of its own.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func authOf(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// TestDockerConfigCredential reads credentials as docker login writes
// them, under the keys docker uses, for the asked registry only.
func TestDockerConfigCredential(t *testing.T) {
	t.Parallel()
	config := `{"auths": {
		"ghcr.io": {"auth": "` + authOf("octocat", "ghp-secret") + `"},
		"https://registry.example.invalid/v2/": {"auth": "` + authOf("ci", "example-secret") + `"},
		"https://index.docker.io/v1/": {"auth": "` + authOf("hubuser", "hub-secret") + `"},
		"token.example.invalid": {"identitytoken": "refresh-token"},
		"empty.example.invalid": {}
	}}`
	dir := writeConfig(t, config)
	tests := []struct {
		host string
		want *authn.AuthConfig // nil: none
	}{
		{"ghcr.io", &authn.AuthConfig{Username: "octocat", Password: "ghp-secret"}},
		{"GHCR.io", &authn.AuthConfig{Username: "octocat", Password: "ghp-secret"}},
		{"registry.example.invalid", &authn.AuthConfig{Username: "ci", Password: "example-secret"}},
		{"index.docker.io", &authn.AuthConfig{Username: "hubuser", Password: "hub-secret"}},
		{"registry-1.docker.io", &authn.AuthConfig{Username: "hubuser", Password: "hub-secret"}},
		{"token.example.invalid", &authn.AuthConfig{IdentityToken: "refresh-token"}},
		{"empty.example.invalid", nil},
		{"quay.io", nil},
		{"ghcr.io.example.invalid", nil},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadDockerConfig(func(k string) string { return map[string]string{"DOCKER_CONFIG": dir}[k] })
			if err != nil {
				t.Fatal(err)
			}
			cred, err := cfg.credential(context.Background(), tc.host)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if cred != nil {
					t.Errorf("credential(%s) = one from %s, want none", tc.host, cred.from)
				}
				return
			}
			if cred == nil {
				t.Fatalf("credential(%s) = none", tc.host)
			}
			got, err := cred.auth.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("credential(%s) (-want +got):\n%s", tc.host, diff)
			}
			for _, secret := range []string{tc.want.Password, tc.want.IdentityToken} {
				if secret != "" && !strings.Contains(strings.Join(cred.secrets, " "), secret) {
					t.Errorf("credential(%s) does not list %q among its secrets to mask", tc.host, secret)
				}
			}
		})
	}
}

// TestDockerConfigLocations: DOCKER_CONFIG, else ~/.docker; none at all
// is no credential, and a config that cannot be read is an error.
func TestDockerConfigLocations(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".docker"), 0o700); err != nil {
		t.Fatal(err)
	}
	config := `{"auths": {"ghcr.io": {"auth": "` + authOf("octocat", "from-home") + `"}}}`
	if err := os.WriteFile(filepath.Join(home, ".docker", "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(env map[string]string) (*dockerConfig, error) {
		return loadDockerConfig(func(k string) string { return env[k] })
	}
	cfg, err := load(map[string]string{"HOME": home})
	if err != nil {
		t.Fatal(err)
	}
	if cred, _ := cfg.credential(context.Background(), "ghcr.io"); cred == nil || cred.from != filepath.Join(home, ".docker", "config.json") {
		t.Errorf("~/.docker/config.json was not read: %+v", cred)
	}
	cfg, err = load(map[string]string{"HOME": home, "DOCKER_CONFIG": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if cred, _ := cfg.credential(context.Background(), "ghcr.io"); cred != nil {
		t.Errorf("DOCKER_CONFIG without a config file: a credential from %s, want none (DOCKER_CONFIG wins over HOME)", cred.from)
	}
	if _, err := load(map[string]string{"DOCKER_CONFIG": writeConfig(t, `{"auths": `)}); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("a config that does not parse: %v, want an error naming the file", err)
	}
	if _, err := load(map[string]string{"DOCKER_CONFIG": writeConfig(t, `{"auths": {"ghcr.io": {"auth": "not base64!"}}}`)}); err == nil || strings.Contains(err.Error(), "not base64") {
		t.Errorf("a config with a broken auth: %v, want an error that does not quote it", err)
	}
}

// TestDockerCredentialHelper runs a credential helper as docker does, from
// the PATH of the environment, for the registry the config names it for.
func TestDockerCredentialHelper(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	helper := `#!/bin/sh
read server
case "$1 $server" in
"get ghcr.io") echo '{"ServerURL":"ghcr.io","Username":"octocat","Secret":"from-helper"}' ;;
"get token.example.invalid") echo '{"ServerURL":"token.example.invalid","Username":"<token>","Secret":"helper-token"}' ;;
"get broken.example.invalid") echo 'the keychain is locked' ; exit 1 ;;
*) echo 'credentials not found in native keychain' ; exit 1 ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-test"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := writeConfig(t, `{"credHelpers": {"ghcr.io": "test", "token.example.invalid": "test", "broken.example.invalid": "test", "path.example.invalid": "../evil"}, "credsStore": "absent"}`)
	cfg, err := loadDockerConfig(func(k string) string {
		return map[string]string{"DOCKER_CONFIG": dir, "PATH": bin}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cred, err := cfg.credential(ctx, "ghcr.io")
	if err != nil || cred == nil {
		t.Fatalf("credential(ghcr.io) = %v, %v", cred, err)
	}
	if got, _ := cred.auth.Authorization(); got.Username != "octocat" || got.Password != "from-helper" || cred.from != "docker-credential-test" {
		t.Errorf("credential(ghcr.io) = %+v from %s", got, cred.from)
	}
	cred, err = cfg.credential(ctx, "token.example.invalid")
	if err != nil || cred == nil {
		t.Fatalf("credential(token) = %v, %v", cred, err)
	}
	if got, _ := cred.auth.Authorization(); got.IdentityToken != "helper-token" || got.Username != "" {
		t.Errorf("a helper's <token> answer = %+v, want an identity token", got)
	}
	if _, err := cfg.credential(ctx, "broken.example.invalid"); err == nil || !strings.Contains(err.Error(), "docker-credential-test") {
		t.Errorf("a failing helper: %v, want an error naming it", err)
	}
	if _, err := cfg.credential(ctx, "path.example.invalid"); err == nil || !strings.Contains(err.Error(), "not a helper name") {
		t.Errorf("a helper named by a path: %v, want a refusal", err)
	}
	// credsStore is used for the registries without a helper of their own;
	// one that is not installed is an error naming it.
	if _, err := cfg.credential(ctx, "quay.io"); err == nil || !strings.Contains(err.Error(), "docker-credential-absent") {
		t.Errorf("a credsStore that is not installed: %v, want an error naming it", err)
	}
}

func TestSameSite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host, registry string
		want           bool
	}{
		{"ghcr.io", "ghcr.io", true},
		{"auth.docker.io", "index.docker.io", true},
		{"auth.docker.io", "registry-1.docker.io", true},
		{"gitlab.com", "registry.gitlab.com", true},
		{"evil.io", "ghcr.io", false},
		{"ghcr.io.evil.invalid", "ghcr.io", false},
		{"a.example.co.uk", "b.other.co.uk", false},
		{"127.0.0.1:5001", "127.0.0.1:5000", false},
		{"localhost:5000", "127.0.0.1:5000", false},
		{"10.0.0.1", "10.0.0.2", false},
	}
	for _, tc := range tests {
		if got := sameSite(tc.host, tc.registry); got != tc.want {
			t.Errorf("sameSite(%q, %q) = %v, want %v", tc.host, tc.registry, got, tc.want)
		}
	}
}
