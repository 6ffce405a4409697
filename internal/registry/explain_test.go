package registry

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
)

// TestWrongPassword talks to the sandbox's ECR front with a password it
// never issued: the push's error says the registry refused the password.
func TestWrongPassword(t *testing.T) {
	t.Parallel()
	sb, err := sandbox.Start(context.Background(), sandbox.DemoWorld(), sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	tgt := target{host: sb.RegistryHost("111122223333"), name: "web-api"}
	c := newRepoClient(http.DefaultClient, tgt.host, tgt.name, "AWS", "not-the-password")
	_, err = c.getManifest(context.Background(), "v1")
	if err == nil {
		t.Fatal("the front accepted a wrong password")
	}
	err = explain(err, tgt)
	for _, want := range []string{"rejected the ECR password", tgt.host + "/web-api", "401"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "not-the-password") {
		t.Errorf("error %q shows the password", err)
	}
}
