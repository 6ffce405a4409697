package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/net/publicsuffix"
)

// credentialHelperTimeout bounds one run of a Docker credential helper.
const credentialHelperTimeout = 30 * time.Second

// maxDockerConfigBytes bounds the Docker config file read.
const maxDockerConfigBytes = 4 << 20

// dockerConfig is the runner's Docker configuration, as far as registry
// credentials go: $DOCKER_CONFIG/config.json, or ~/.docker/config.json.
// Its credentials are read for one registry at a time, and each is lent to
// its own registry only.
type dockerConfig struct {
	path   string
	file   *configfile.ConfigFile // nil when there is no config file
	getenv func(string) string
}

// loadDockerConfig reads the Docker config the environment names; one that
// does not exist holds no credential.
func loadDockerConfig(getenv func(string) string) (*dockerConfig, error) {
	c := &dockerConfig{getenv: getenv}
	dir := getenv("DOCKER_CONFIG")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return c, nil
		}
		dir = filepath.Join(home, ".docker")
	}
	c.path = filepath.Join(dir, config.ConfigFileName)
	f, err := os.Open(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the Docker config %s: %w", c.path, err)
	}
	defer func() { _ = f.Close() }() // read only
	cf, err := config.LoadFromReader(io.LimitReader(f, maxDockerConfigBytes))
	if err != nil {
		// The decoder's messages name a position, never a value.
		return nil, fmt.Errorf("read the Docker config %s: %w", c.path, err)
	}
	c.file = cf
	return c, nil
}

// dockerCredential is a credential from the Docker config and the registry
// it is for.
type dockerCredential struct {
	host string
	auth authn.Authenticator
	// from says where it came from, for the log: the config file, or the
	// credential helper that gave it.
	from string
	// secrets are what must never be printed.
	secrets []string
}

// credential returns what the Docker config holds for registry host: the
// credential helper configured for it (credHelpers, then credsStore), or
// its entry under auths. Nil when it holds nothing for host.
func (c *dockerConfig) credential(ctx context.Context, host string) (*dockerCredential, error) {
	if c.file == nil {
		return nil, nil
	}
	if helper := c.helperFor(host); helper != "" {
		return c.fromHelper(ctx, helper, host)
	}
	for key, ac := range c.file.AuthConfigs {
		if !sameRegistry(configKeyHost(key), host) {
			continue
		}
		if ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
			continue
		}
		cred := &dockerCredential{
			host: host,
			auth: authn.FromConfig(authn.AuthConfig{Username: ac.Username, Password: ac.Password, IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}),
			from: c.path,
		}
		cred.secrets = nonEmpty(ac.Password, ac.IdentityToken, ac.RegistryToken)
		return cred, nil
	}
	return nil, nil
}

// helperFor names the credential helper the config sets for host.
func (c *dockerConfig) helperFor(host string) string {
	for key, helper := range c.file.CredentialHelpers {
		if sameRegistry(configKeyHost(key), host) {
			return helper
		}
	}
	return c.file.CredentialsStore
}

// helperName is what a credential helper's name may be: the suffix of a
// docker-credential-NAME program, never a path.
var helperName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// fromHelper asks a credential helper, as docker does, for the credential
// of host, with a deadline.
func (c *dockerConfig) fromHelper(ctx context.Context, helper, host string) (*dockerCredential, error) {
	if !helperName.MatchString(helper) {
		return nil, fmt.Errorf("the Docker config %s names the credential helper %q for %s, which is not a helper name (docker-credential-NAME runs it)", c.path, helper, host)
	}
	program, err := lookPath("docker-credential-"+helper, c.getenv("PATH"))
	if err != nil {
		return nil, fmt.Errorf("the Docker config %s names the credential helper %q for %s: %w", c.path, helper, host, err)
	}
	ctx, cancel := context.WithTimeout(ctx, credentialHelperTimeout)
	defer cancel()
	run := func(args ...string) client.Program {
		// helper matched helperName above: docker-credential-NAME is how
		// Docker itself runs a credential helper.
		return &helperRun{cmd: exec.CommandContext(ctx, program, args...)} //nolint:gosec // G204: a checked helper name, as Docker runs it
	}
	var creds *credentials.Credentials
	for _, serverURL := range []string{host, "https://" + host} {
		creds, err = client.Get(run, serverURL)
		if credentials.IsErrCredentialsNotFound(err) {
			continue
		}
		break
	}
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("the credential helper docker-credential-%s gave no answer for %s within %s", helper, host, credentialHelperTimeout)
	case credentials.IsErrCredentialsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("the credential helper docker-credential-%s for %s: %w", helper, host, err)
	}
	cred := &dockerCredential{host: host, from: "docker-credential-" + helper}
	if creds.Username == "<token>" {
		// Docker's convention for an identity token.
		cred.auth = authn.FromConfig(authn.AuthConfig{IdentityToken: creds.Secret})
	} else {
		cred.auth = authn.FromConfig(authn.AuthConfig{Username: creds.Username, Password: creds.Secret})
	}
	cred.secrets = nonEmpty(creds.Secret)
	return cred, nil
}

// helperRun is one run of a credential helper: its output, never its
// standard error, which stays out of the log.
type helperRun struct{ cmd *exec.Cmd }

func (h *helperRun) Output() ([]byte, error) {
	var out bytes.Buffer
	h.cmd.Stdout = &out
	err := h.cmd.Run()
	return out.Bytes(), err
}

func (h *helperRun) Input(in io.Reader) { h.cmd.Stdin = in }

// lookPath finds program in the directories of path.
func lookPath(program, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, program)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not on PATH", program)
}

func nonEmpty(values ...string) []string {
	var out []string
	for _, v := range values {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// configKeyHost is the registry host a Docker config key names: keys may be
// a host, host/path, or a URL (https://index.docker.io/v1/).
func configKeyHost(key string) string {
	if rest, ok := strings.CutPrefix(key, "https://"); ok {
		key = rest
	} else if rest, ok := strings.CutPrefix(key, "http://"); ok {
		key = rest
	}
	host, _, _ := strings.Cut(key, "/")
	return strings.ToLower(host)
}

// sameRegistry reports whether two registry hosts are one registry:
// Docker Hub goes by several names.
func sameRegistry(a, b string) bool {
	return canonicalRegistry(a) == canonicalRegistry(b)
}

func canonicalRegistry(host string) string {
	host = strings.ToLower(host)
	switch host {
	case "docker.io", "registry-1.docker.io", name.DefaultRegistry:
		return name.DefaultRegistry
	}
	return host
}

// sameSite reports whether a request to host may carry the credential of
// registry: it is the registry itself, or a host of the same site (the same
// registrable domain, such as auth.docker.io for index.docker.io, or
// gitlab.com for registry.gitlab.com), where registries serve the token
// service they send clients to. A host named by its IP address, or on
// loopback, is only ever itself.
func sameSite(host, registry string) bool {
	if strings.EqualFold(host, registry) || sameRegistry(host, registry) {
		return true
	}
	h, r := hostname(host), hostname(registry)
	if net.ParseIP(h) != nil || net.ParseIP(r) != nil || isLoopbackHost(host) || isLoopbackHost(registry) {
		return false
	}
	hs, err1 := publicsuffix.EffectiveTLDPlusOne(h)
	rs, err2 := publicsuffix.EffectiveTLDPlusOne(r)
	return err1 == nil && err2 == nil && strings.EqualFold(hs, rs)
}

func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}
