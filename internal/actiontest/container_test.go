package actiontest

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/testenv"
)

// loopbackAddress is a random address of 127.0.0.0/8 other than
// 127.0.0.1, on which the sandbox can serve its ECR registry hosts on port
// 443 without meeting another test's: Linux answers the whole block on
// the loopback interface.
func loopbackAddress() string {
	b := make([]byte, 3)
	rand.Read(b)
	return fmt.Sprintf("127.%d.%d.%d", 1+int(b[0])%254, b[1], 1+int(b[2])%254)
}

// runContainer runs the action's image as the runner runs a container
// action: docker run with the host's network, --workdir /github/workspace,
// the job's environment, and the runner's mounts (the workspace, home and
// file commands under /github, the Docker engine's socket as
// /var/run/docker.sock). Each of the sandbox's ECR registry hosts is
// mapped to registryIP with --add-host, and the sandbox's CA is the
// container's SSL_CERT_FILE: the action finds ECR by name and verifies its
// certificate as on a runner, with no proxy and no way of its own to map
// a name. edit may change the environment.
func (e *e2e) runContainer(tb testing.TB, image, registryIP string, with map[string]string, edit func(env map[string]string)) actionRun {
	tb.Helper()
	docker := testenv.Command(tb, "docker")
	dir, env := e.job(tb, with)
	for k, v := range map[string]string{
		"GITHUB_OUTPUT":       "/github/file_commands/output",
		"GITHUB_STEP_SUMMARY": "/github/file_commands/summary",
		"GITHUB_WORKSPACE":    "/github/workspace",
		"HOME":                "/github/home",
		"RUNNER_TEMP":         "/github/runner_temp",
		"SSL_CERT_FILE":       "/github/sandbox-ca.pem",
	} {
		env[k] = v
	}
	if edit != nil {
		edit(env)
	}
	args := []string{"run", "--rm", "--network", "host", "--workdir", "/github/workspace",
		"-v", filepath.Join(dir, "workspace") + ":/github/workspace",
		"-v", filepath.Join(dir, "home") + ":/github/home",
		"-v", filepath.Join(dir, "file_commands") + ":/github/file_commands",
		"-v", filepath.Join(dir, "temp") + ":/github/runner_temp",
		"-v", e.sandbox.Registry["SSL_CERT_FILE"] + ":/github/sandbox-ca.pem:ro",
	}
	if socket, ok := strings.CutPrefix(e.dockerHost, "unix://"); ok {
		args = append(args, "-v", socket+":/var/run/docker.sock")
	} else {
		// A remote engine is reached as the job would reach it.
		env["DOCKER_HOST"] = e.dockerHost
	}
	for _, host := range strings.Split(e.sandbox.Registry["SANDBOX_ECR_HOSTS"], ",") {
		args = append(args, "--add-host", host+":"+registryIP)
	}
	for _, kv := range envList(env) {
		args = append(args, "-e", kv)
	}
	args = append(args, image)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, docker, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tb.TempDir(), "DOCKER_HOST=" + e.dockerHost}
	return e.finish(tb, cmd, dir)
}

// TestActionContainerDeploysToARepositoryURI runs the action's image in a
// container as the runner does, with the repository given as its full URI
// (the commonest way the action is configured), against a sandbox that
// serves the account's ECR registry under its real host name over TLS on
// port 443: in aws (ACCOUNT.dkr.ecr.us-east-1.amazonaws.com) and in aws-cn
// (ACCOUNT.dkr.ecr.cn-north-1.amazonaws.com.cn). The host name reaches the
// sandbox through --add-host alone, as DNS would reach ECR, and the
// certificate verifies against the sandbox's CA: the action needs no
// special path to its stand-in.
func TestActionContainerDeploysToARepositoryURI(t *testing.T) {
	t.Parallel()
	image := buildActionImage(t, engine(t), actionBinary(t))
	for _, tc := range []struct {
		name, region string
		force        bool
	}{
		{"aws", "us-east-1", false},
		{"aws_cn", "cn-north-1", false},
		{"aws_cn_force_new_deployment", "cn-north-1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ip := loopbackAddress()
			e := newE2EIn(t, tc.region, ip+":443")
			if got, want := e.sandbox.Registry["SANDBOX_ECR_ADDRESS"], ip+":443"; got != want {
				t.Fatalf("the sandbox serves its ECR registry hosts at %s, want %s", got, want)
			}
			with := e.deployInputs()
			with["repository"] = e.registryHost() + "/" + e.repository
			if tc.force {
				with["force-new-deployment"] = "true"
			}
			r := e.runContainer(t, image, ip, with, nil)
			e.checkDeployed(t, r, tc.force)
			if strings.Contains(r.log, "::notice::") {
				t.Errorf("a run with the README's policy and a repository URI printed a notice:\n%s", r.log)
			}
		})
	}
}
