package ecr_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/testenv"
)

// strictFront is a sandbox whose deploy role may push to and read the
// mutable repositories "scratch" and "other", and push to but not read
// "secret", in an account with blob mounting enabled; the registry
// password and host of its ECR front.
type strictFront struct {
	sb   *sandbox.Sandbox
	host string // the account's ECR host, served over TLS
	pw   string
	// opts are go-containerregistry's options for the front: the
	// password, and the sandbox's transport to its ECR host.
	opts   []remote.Option
	client *http.Client
}

// startStrictFront starts that sandbox on the in-process registry backend
// (backend "") or on a real distribution registry.
func startStrictFront(t *testing.T, backend string) strictFront {
	t.Helper()
	w := sandbox.DemoWorld()
	acct := w.Accounts[ecrTestAccount]
	role := acct.Roles["gha-deploy"]
	for _, repo := range []string{"scratch", "other", "secret"} {
		acct.Repositories[repo] = &sandbox.Repository{}
	}
	acct.ECRAccountSettings = sandbox.ECRAccountSettings{"BLOB_MOUNTING": "ENABLED"}
	role.Permissions.Statement = append(role.Permissions.Statement,
		sandbox.Statement{Effect: "Deny", Action: sandbox.StringList{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"},
			Resource: sandbox.StringList{"arn:aws:ecr:us-east-1:111122223333:repository/secret"}},
		sandbox.Statement{Effect: "Allow", Action: sandbox.StringList{"ecr:*"}, Resource: sandbox.StringList{
			"arn:aws:ecr:us-east-1:111122223333:repository/scratch",
			"arn:aws:ecr:us-east-1:111122223333:repository/other",
			"arn:aws:ecr:us-east-1:111122223333:repository/secret",
		}},
	)
	sb := sandboxtest.StartWorld(t, w, sandbox.Options{RegistryBackend: backend})
	pw, _ := registryLogin(t, ecr.NewFromConfig(sandboxtest.WebIdentityConfig(sb.Env(), ecrTestRole, "")))
	tr := sb.Transport(nil)
	return strictFront{sb: sb, host: sb.RegistryHost(ecrTestAccount), pw: pw, client: &http.Client{Transport: tr},
		opts: []remote.Option{remote.WithAuth(&authn.Basic{Username: "AWS", Password: pw}), remote.WithTransport(tr)}}
}

func (f strictFront) ref(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(f.host + "/" + s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// request sends an authenticated request to the front and returns its
// status and body.
func (f strictFront) request(t *testing.T, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+f.host+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("AWS", f.pw)
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// blobDigests are an image's config and layer digests.
func blobDigests(t *testing.T, img v1.Image) []string {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	out := []string{m.Config.Digest.String()}
	for _, l := range m.Layers {
		out = append(out, l.Digest.String())
	}
	return out
}

// registryErrors are the codes, messages and details of a registry's
// refusal.
func registryErrors(t *testing.T, err error) (status int, codes, messages, details []string) {
	t.Helper()
	var terr *transport.Error
	if !errors.As(err, &terr) {
		t.Fatalf("error = %v, want a registry error", err)
	}
	for _, d := range terr.Errors {
		codes = append(codes, string(d.Code))
		messages = append(messages, d.Message)
		if s, ok := d.Detail.(string); ok {
			details = append(details, s)
		}
	}
	return terr.StatusCode, codes, messages, details
}

// TestFrontHoldsARegistrysRules runs go-containerregistry's client (and
// crane and skopeo) against the ECR front over both backends, the
// in-process one and a real distribution registry, which must answer
// alike: blobs live per repository, reach another repository only by a
// mount from one the caller may read, a manifest needs its blobs in its
// own repository, and a manifest put by digest must hash to it.
func TestFrontHoldsARegistrysRules(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"in-process", "distribution"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			url := ""
			if backend == "distribution" {
				url = "http://" + testenv.Registry(t)
			}
			f := startStrictFront(t, url)
			img, err := random.Image(2048, 2)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(f.ref(t, "scratch:v1"), img, f.opts...); err != nil {
				t.Fatalf("push to scratch: %v", err)
			}
			if err := remote.Write(f.ref(t, "secret:v1"), img, f.opts...); err != nil {
				t.Fatalf("push to secret: %v", err)
			}
			digests := blobDigests(t, img)

			t.Run("blob_of_another_repository_is_unknown", func(t *testing.T) {
				for _, d := range digests {
					status, body := f.request(t, http.MethodGet, "/v2/other/blobs/"+d)
					if status != http.StatusNotFound || !strings.Contains(body, `"BLOB_UNKNOWN"`) {
						t.Errorf("GET other's blob %s uploaded to scratch = %d %s, want 404 BLOB_UNKNOWN", d, status, body)
					}
				}
			})

			t.Run("manifest_without_its_blobs", func(t *testing.T) {
				err := remote.Put(f.ref(t, "other:orphan"), img, f.opts...)
				status, codes, messages, details := registryErrors(t, err)
				wantCodes := slices.Repeat([]string{"MANIFEST_BLOB_UNKNOWN"}, len(digests))
				wantMessages := slices.Repeat([]string{"blob unknown to registry"}, len(digests))
				slices.Sort(details)
				want := slices.Sorted(slices.Values(digests))
				if status != http.StatusBadRequest || !slices.Equal(codes, wantCodes) || !slices.Equal(messages, wantMessages) || !slices.Equal(details, want) {
					t.Errorf("manifest put to a repository without its blobs = %d %v %v %v, want 400 MANIFEST_BLOB_UNKNOWN \"blob unknown to registry\" for %v", status, codes, messages, details, want)
				}
				if _, err := remote.Head(f.ref(t, "other:orphan"), f.opts...); err == nil {
					t.Error("the refused manifest was stored")
				}
			})

			t.Run("manifest_put_by_another_digest", func(t *testing.T) {
				other, err := random.Image(1024, 1)
				if err != nil {
					t.Fatal(err)
				}
				if err := remote.Write(f.ref(t, "other:real"), other, f.opts...); err != nil {
					t.Fatalf("push to other: %v", err)
				}
				d, _ := img.Digest()
				err = remote.Put(f.ref(t, "other@"+d.String()), other, f.opts...)
				status, codes, messages, _ := registryErrors(t, err)
				if status != http.StatusBadRequest || !slices.Equal(codes, []string{"DIGEST_INVALID"}) || !slices.Equal(messages, []string{"provided digest did not match uploaded content"}) {
					t.Errorf("manifest put by a digest it does not have = %d %v %v, want 400 DIGEST_INVALID \"provided digest did not match uploaded content\"", status, codes, messages)
				}
			})

			t.Run("mount_from_a_repository_the_caller_may_not_read", func(t *testing.T) {
				status, body := f.request(t, http.MethodPost, "/v2/other/blobs/uploads/?mount="+digests[1]+"&from=secret")
				if status != http.StatusAccepted {
					t.Errorf("mount from secret = %d %s, want 202: an upload, not a mount", status, body)
				}
				if status, body := f.request(t, http.MethodHead, "/v2/other/blobs/"+digests[1]); status != http.StatusNotFound {
					t.Errorf("after a refused mount, HEAD other's blob = %d %s, want 404", status, body)
				}
			})

			t.Run("mount_from_a_repository_the_caller_may_read", func(t *testing.T) {
				// go-containerregistry mounts the layers of an image it
				// copies within one registry.
				src, err := remote.Image(f.ref(t, "scratch:v1"), f.opts...)
				if err != nil {
					t.Fatal(err)
				}
				if err := remote.Write(f.ref(t, "other:copied"), src, f.opts...); err != nil {
					t.Fatalf("copy scratch:v1 to other: %v", err)
				}
				for _, d := range digests {
					if status, body := f.request(t, http.MethodHead, "/v2/other/blobs/"+d); status != http.StatusOK {
						t.Errorf("after the copy, HEAD other's blob %s = %d %s, want 200", d, status, body)
					}
				}
				status, body := f.request(t, http.MethodPost, "/v2/other/blobs/uploads/?mount="+digests[0]+"&from=scratch")
				if status != http.StatusCreated {
					t.Errorf("mount from scratch = %d %s, want 201", status, body)
				}
			})
		})
	}
}

// TestFrontRegistryRulesWithPeerTools: crane and skopeo, registry clients
// we did not write, reach the front by its ECR host name over TLS,
// verifying it with the sandbox's CA (no --insecure, no
// --tls-verify=false; without the CA they refuse the registry, as they
// would one impersonating ECR), and meet the same rules: a blob pushed to
// one repository is not in another, and a copy within the registry brings
// the blobs along.
func TestFrontRegistryRulesWithPeerTools(t *testing.T) {
	t.Parallel()
	crane := testenv.Command(t, "crane")
	skopeo := testenv.Command(t, "skopeo")
	f := startStrictFront(t, "")
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(f.ref(t, "scratch:v1"), img, f.opts...); err != nil {
		t.Fatalf("push to scratch: %v", err)
	}
	layer := blobDigests(t, img)[1]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := sandboxtest.ProcessEnv(t, f.sb)
	var withoutCA []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "SSL_CERT_FILE=") {
			withoutCA = append(withoutCA, kv)
		}
	}
	runIn := func(env []string, bin string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	run := func(bin string, args ...string) (string, error) { return runIn(env, bin, args...) }
	if out, err := run(crane, "auth", "login", f.host, "-u", "AWS", "-p", f.pw); err != nil {
		t.Fatalf("crane auth login: %v\n%s", err, out)
	}
	creds := "AWS:" + f.pw
	for bin, args := range map[string][]string{
		crane:  {"blob", f.host + "/scratch@" + layer},
		skopeo: {"inspect", "--creds", creds, "docker://" + f.host + "/scratch:v1"},
	} {
		if out, err := runIn(withoutCA, bin, args...); err == nil || !strings.Contains(out, "certificate") {
			t.Errorf("%s without the sandbox's CA: %v %s, want a certificate it does not trust", bin, err, out)
		}
	}
	out, err := run(crane, "blob", f.host+"/other@"+layer)
	if err == nil || !strings.Contains(out, "BLOB_UNKNOWN") {
		t.Errorf("crane blob other@%s (a layer of scratch) = %v %s, want BLOB_UNKNOWN", layer, err, out)
	}
	if out, err := run(crane, "blob", f.host+"/scratch@"+layer); err != nil {
		t.Errorf("crane blob scratch@%s: %v %s", layer, err, out)
	}

	out, err = run(skopeo, "copy", "--src-creds", creds, "--dest-creds", creds,
		"docker://"+f.host+"/scratch:v1", "docker://"+f.host+"/other:skopeo")
	if err != nil {
		t.Fatalf("skopeo copy scratch:v1 other:skopeo: %v\n%s", err, out)
	}
	if out, err := run(crane, "blob", f.host+"/other@"+layer); err != nil {
		t.Errorf("after skopeo copy, crane blob other@%s: %v %s", layer, err, out)
	}
}
