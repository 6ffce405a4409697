package ecr_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/testenv"
)

// TestFrontMounts asks the front to mount blobs across repositories, on
// the real registry backend, and reads what it counted: a mount only with
// BLOB_MOUNTING enabled, from a repository the caller may read layers of,
// of a blob that repository holds; an upload session otherwise.
func TestFrontMounts(t *testing.T) {
	t.Parallel()
	w := sandbox.DemoWorld()
	acct := w.Accounts[ecrTestAccount]
	for _, repo := range []string{"source", "copy", "secret"} {
		acct.Repositories[repo] = &sandbox.Repository{}
	}
	role := acct.Roles["gha-deploy"]
	role.Permissions.Statement = append(role.Permissions.Statement,
		sandbox.Statement{Effect: "Deny", Action: sandbox.StringList{"ecr:GetDownloadUrlForLayer"}, Resource: sandbox.StringList{"arn:aws:ecr:us-east-1:111122223333:repository/secret"}},
		sandbox.Statement{Effect: "Allow", Action: sandbox.StringList{"ecr:*"}, Resource: sandbox.StringList{"arn:aws:ecr:us-east-1:111122223333:repository/*"}},
		sandbox.Statement{Effect: "Allow", Action: sandbox.StringList{"ecr:GetAccountSetting", "ecr:PutAccountSetting"}, Resource: sandbox.StringList{"*"}},
	)
	sb := sandboxtest.StartWorld(t, w, sandbox.Options{RegistryBackend: "http://" + testenv.Registry(t)})
	client := ecr.NewFromConfig(sandboxtest.WebIdentityConfig(sb.Env(), ecrTestRole, ""))
	ctx := context.Background()
	pw, _ := registryLogin(t, client)
	host := sb.RegistryHost(ecrTestAccount)
	tr := sb.Transport(nil)
	auth := remote.WithAuth(&authn.Basic{Username: "AWS", Password: pw})

	img, err := random.Image(8192, 2)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	layer, _ := layers[0].Digest()
	for _, repo := range []string{"source", "secret"} {
		ref, _ := name.ParseReference(host + "/" + repo + ":v1")
		if err := remote.Write(ref, img, auth, remote.WithTransport(tr)); err != nil {
			t.Fatalf("push to %s: %v", repo, err)
		}
	}
	pushed := sb.RegistryUploads(ecrTestAccount, "source")
	size, _ := layers[0].Size()
	if pushed.Blobs != 3 || pushed.Bytes < 2*size || pushed.Mounts != 0 {
		t.Errorf("RegistryUploads(source) after a push of 2 layers and a config = %+v, want 3 blobs, their bytes, no mount", pushed)
	}

	// mount asks for one blob and answers the status and the counts.
	mount := func(from string, digest v1.Hash) (int, sandbox.RegistryUploads) {
		t.Helper()
		before := sb.RegistryUploads(ecrTestAccount, "copy")
		req, _ := http.NewRequest(http.MethodPost, "https://"+host+"/v2/copy/blobs/uploads/?mount="+digest.String()+"&from="+from+"&origin="+host, nil)
		req.SetBasicAuth("AWS", pw)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		after := sb.RegistryUploads(ecrTestAccount, "copy")
		return resp.StatusCode, sandbox.RegistryUploads{Mounts: after.Mounts - before.Mounts, MountsRefused: after.MountsRefused - before.MountsRefused}
	}
	refused := sandbox.RegistryUploads{MountsRefused: 1}
	if status, got := mount("source", layer); status != http.StatusAccepted || got != refused {
		t.Errorf("mount with BLOB_MOUNTING at its default: %d %+v, want 202 and a refused mount", status, got)
	}

	setting, err := client.GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String("BLOB_MOUNTING")})
	if err != nil {
		t.Fatalf("GetAccountSetting: %v", err)
	}
	if got := aws.ToString(setting.Value); got != "DISABLED" {
		t.Errorf("BLOB_MOUNTING = %q, want ECR's default DISABLED", got)
	}
	if _, err := client.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("BLOB_MOUNTING"), Value: aws.String("ON")}); err == nil {
		t.Error("PutAccountSetting BLOB_MOUNTING=ON was accepted")
	}
	if _, err := client.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("BLOB_MOUNTING"), Value: aws.String("ENABLED")}); err != nil {
		t.Fatalf("PutAccountSetting: %v", err)
	}

	missing, _ := v1.NewHash("sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	tests := []struct {
		name   string
		from   string
		digest v1.Hash
		status int
		want   sandbox.RegistryUploads
	}{
		{"from_a_readable_repository", "source", layer, http.StatusCreated, sandbox.RegistryUploads{Mounts: 1}},
		{"from_a_repository_the_caller_may_not_read", "secret", layer, http.StatusAccepted, refused},
		{"from_a_missing_repository", "nowhere", layer, http.StatusAccepted, refused},
		{"a_blob_the_source_lacks", "source", missing, http.StatusAccepted, refused},
	}
	for _, tc := range tests {
		status, got := mount(tc.from, tc.digest)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, status, tc.status)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: counts (-want +got):\n%s", tc.name, diff)
		}
	}
	// The mounted blob is the copy's own now.
	blob, _ := name.NewDigest(host + "/copy@" + layer.String())
	if _, err := remote.Layer(blob, auth, remote.WithTransport(tr)); err != nil {
		t.Errorf("read the mounted blob from the copy: %v", err)
	}
	if got := sb.RegistryUploads(ecrTestAccount, "copy").Bytes; got != 0 {
		t.Errorf("the copy received %d blob bytes, want none", got)
	}
}
