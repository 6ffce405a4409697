// Package testenv gives tests the real services they need (a Docker engine,
// a registry, peer command-line tools), started by scripts/test.sh, and
// decides what happens when one is missing: in CI (CI=true) the test fails,
// elsewhere it is skipped with the command that would provide it.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// The variables scripts/test.sh exports for the services it started.
const (
	// DockerHostVar holds the DOCKER_HOST of the test's own Docker engine.
	DockerHostVar = "OIDC_ECS_DEPLOY_TEST_DOCKER_HOST"
	// RegistryVar holds host:port of the real registry (Debian's docker-registry).
	RegistryVar = "OIDC_ECS_DEPLOY_TEST_REGISTRY"
)

// InCI reports whether tests run in CI, where nothing may be skipped.
func InCI() bool { return os.Getenv("CI") == "true" }

// missing fails the test in CI and skips it elsewhere.
func missing(tb testing.TB, what string) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("%s is missing; CI must provide it (run the tests through scripts/test.sh)", what)
	}
	tb.Skipf("%s is missing; run the tests through scripts/test.sh to start it", what)
}

// DockerHost returns the DOCKER_HOST of a running Docker engine.
func DockerHost(tb testing.TB) string {
	tb.Helper()
	host := os.Getenv(DockerHostVar)
	if host == "" {
		missing(tb, "a Docker engine ("+DockerHostVar+")")
	}
	return host
}

// Registry returns host:port of a running OCI registry, reached over plain HTTP.
func Registry(tb testing.TB) string {
	tb.Helper()
	reg := os.Getenv(RegistryVar)
	if reg == "" {
		missing(tb, "a registry ("+RegistryVar+")")
	}
	return reg
}

// Command returns the path of a command-line tool the test runs (aws,
// skopeo, docker, crane, actionlint).
func Command(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		missing(tb, "the command "+name)
	}
	return path
}
