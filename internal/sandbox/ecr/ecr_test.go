package ecr_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

const (
	ecrTestAccount = "111122223333"
	ecrTestRole    = "arn:aws:iam::111122223333:role/gha-deploy"
)

// ecrSandbox starts the demo world (with a mutable repository "scratch"
// besides the immutable "web-api") on the in-process registry, and returns
// an ECR client with web-identity credentials of the deploy role.
func ecrSandbox(t *testing.T, clock *sandboxtest.Clock) (*sandbox.Sandbox, *ecr.Client) {
	t.Helper()
	w := sandbox.DemoWorld()
	acct := w.Accounts[ecrTestAccount]
	acct.Repositories["scratch"] = &sandbox.Repository{}
	role := acct.Roles["gha-deploy"]
	role.Permissions.Statement = append(role.Permissions.Statement, sandbox.Statement{
		Effect: "Allow", Action: sandbox.StringList{"ecr:*"},
		Resource: sandbox.StringList{"arn:aws:ecr:us-east-1:111122223333:repository/scratch"},
	})
	opts := sandbox.Options{}
	if clock != nil {
		opts.Now = clock.Now
	}
	sb := sandboxtest.StartWorld(t, w, opts)
	client := ecr.NewFromConfig(sandboxtest.WebIdentityConfig(sb.Env(), ecrTestRole, ""))
	return sb, client
}

// registryLogin returns the registry password GetAuthorizationToken issues.
func registryLogin(t *testing.T, client *ecr.Client) (password, proxy string) {
	t.Helper()
	out, err := client.GetAuthorizationToken(context.Background(), &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatalf("GetAuthorizationToken: %v", err)
	}
	d := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(d.AuthorizationToken))
	if err != nil {
		t.Fatal(err)
	}
	user, pw, _ := strings.Cut(string(raw), ":")
	if user != "AWS" {
		t.Errorf("token user = %q, want AWS", user)
	}
	if left := time.Until(aws.ToTime(d.ExpiresAt)); left < 11*time.Hour || left > 13*time.Hour {
		t.Errorf("token expires in %v, want 12 h", left)
	}
	return pw, aws.ToString(d.ProxyEndpoint)
}

func TestAuthorizationToken(t *testing.T) {
	t.Parallel()
	sb, client := ecrSandbox(t, nil)
	pw, proxy := registryLogin(t, client)
	if want := "https://111122223333.dkr.ecr.us-east-1.amazonaws.com"; proxy != want || "https://"+sb.RegistryHost(ecrTestAccount) != want {
		t.Errorf("proxyEndpoint = %q, want %q", proxy, want)
	}
	found := false
	for _, s := range sb.Secrets() {
		found = found || s == pw
	}
	if !found {
		t.Error("Secrets() lacks the registry password")
	}
}

func TestDescribeRepositories(t *testing.T) {
	t.Parallel()
	_, client := ecrSandbox(t, nil)
	ctx := context.Background()
	out, err := client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"web-api"}})
	if err != nil {
		t.Fatalf("DescribeRepositories: %v", err)
	}
	r := out.Repositories[0]
	got := []string{aws.ToString(r.RepositoryName), aws.ToString(r.RegistryId), aws.ToString(r.RepositoryUri), aws.ToString(r.RepositoryArn), string(r.ImageTagMutability)}
	want := []string{"web-api", ecrTestAccount, "111122223333.dkr.ecr.us-east-1.amazonaws.com/web-api", "arn:aws:ecr:us-east-1:111122223333:repository/web-api", "IMMUTABLE"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("repository (-want +got):\n%s", diff)
	}

	_, err = client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"scratch-missing"}})
	var denied interface{ ErrorCode() string }
	if !errors.As(err, &denied) || denied.ErrorCode() != "AccessDeniedException" {
		t.Errorf("DescribeRepositories of a repository the role may not see: %v, want AccessDeniedException", err)
	}
}

func TestDescribeRepositoriesMissing(t *testing.T) {
	t.Parallel()
	w := sandbox.DemoWorld()
	role := w.Accounts[ecrTestAccount].Roles["gha-deploy"]
	role.Permissions.Statement = append(role.Permissions.Statement, sandbox.Statement{Effect: "Allow", Action: sandbox.StringList{"ecr:*"}, Resource: sandbox.StringList{"*"}})
	sb := sandboxtest.StartWorld(t, w, sandbox.Options{})
	client := ecr.NewFromConfig(sandboxtest.WebIdentityConfig(sb.Env(), ecrTestRole, ""))
	_, err := client.DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"nope"}})
	var nf *ecrtypes.RepositoryNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("DescribeRepositories(nope) = %v, want RepositoryNotFoundException", err)
	}
	if got, want := aws.ToString(nf.Message), "The repository with name 'nope' does not exist in the registry with id '111122223333'"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
}

// TestFront pushes with go-containerregistry through the front, by its ECR
// host name over TLS and by its plain loopback entrance, and checks what
// ECR's API then reports, and the front's refusals.
func TestFront(t *testing.T) {
	t.Parallel()
	for _, entrance := range []string{"ecr_host", "plain"} {
		t.Run(entrance, func(t *testing.T) {
			t.Parallel()
			clock := &sandboxtest.Clock{}
			sb, client := ecrSandbox(t, clock)
			host, scheme := sb.RegistryHost(ecrTestAccount), "https"
			if entrance == "plain" {
				host, scheme = sb.PlainRegistryHost(ecrTestAccount), "http"
			}
			testFront(t, sb, client, clock, host, scheme)
		})
	}
}

func testFront(t *testing.T, sb *sandbox.Sandbox, client *ecr.Client, clock *sandboxtest.Clock, host, scheme string) {
	t.Helper()
	ctx := context.Background()
	pw, _ := registryLogin(t, client)
	tr := sb.Transport(nil)
	httpClient := &http.Client{Transport: tr}
	auth := remote.WithAuth(&authn.Basic{Username: "AWS", Password: pw})
	viaSandbox := remote.WithTransport(tr)

	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	ref := frontRef(t, host+"/web-api:v1")
	if err := remote.Write(ref, img, auth, viaSandbox); err != nil {
		t.Fatalf("push through the front: %v", err)
	}
	// Another image on the immutable tag is refused with ECR's
	// TAG_INVALID, and so is the same manifest put again (remote.Put sends
	// it without looking first), as ECR refuses it.
	other, _ := random.Image(4096, 1)
	err = remote.Write(ref, other, auth, viaSandbox)
	assertRegistryError(t, err, http.StatusBadRequest, "TAG_INVALID", "The image tag 'v1' already exists in the 'web-api' repository and cannot be overwritten because the repository is immutable.")
	err = remote.Put(ref, img, auth, viaSandbox)
	assertRegistryError(t, err, http.StatusBadRequest, "TAG_INVALID", "The image tag 'v1' already exists in the 'web-api' repository and cannot be overwritten because the repository is immutable.")

	// What ECR's API reports.
	imgs, err := client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("web-api"), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if err != nil {
		t.Fatalf("DescribeImages: %v", err)
	}
	if got := aws.ToString(imgs.ImageDetails[0].ImageDigest); got != digest.String() {
		t.Errorf("DescribeImages digest = %s, want %s", got, digest)
	}
	got, err := client.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("web-api"), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("v1")}, {ImageTag: aws.String("v9")}}})
	if err != nil {
		t.Fatalf("BatchGetImage: %v", err)
	}
	raw, _ := img.RawManifest()
	if len(got.Images) != 1 || aws.ToString(got.Images[0].ImageManifest) != string(raw) {
		t.Errorf("BatchGetImage returned %d images, want the pushed manifest", len(got.Images))
	}
	if len(got.Failures) != 1 || got.Failures[0].FailureCode != ecrtypes.ImageFailureCodeImageNotFound {
		t.Errorf("BatchGetImage failures = %+v, want ImageNotFound for v9", got.Failures)
	}
	_, err = client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("web-api"), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("v9")}}})
	var inf *ecrtypes.ImageNotFoundException
	if !errors.As(err, &inf) {
		t.Errorf("DescribeImages(v9) = %v, want ImageNotFoundException", err)
	}

	// Refusals, as ECR words them.
	wrong := remote.WithAuth(&authn.Basic{Username: "AWS", Password: "not-a-password"})
	err = remote.Write(ref, img, wrong, viaSandbox)
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
		t.Errorf("push with a wrong password: %v, want 401", err)
	}
	req, _ := http.NewRequest(http.MethodGet, scheme+"://"+host+"/v2/web-api/manifests/v1", nil)
	req.SetBasicAuth("AWS", "not-a-password")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"UNAUTHORIZED"`) {
		t.Errorf("wrong password: %d %s, want 401 UNAUTHORIZED", resp.StatusCode, body)
	}

	resp, err = httpClient.Get(scheme + "://" + host + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// ECR's challenge names the registry as the client reached it.
	if got, want := resp.Header.Get("WWW-Authenticate"), `Basic realm="`+scheme+"://"+host+`/",service="ecr.amazonaws.com"`; resp.StatusCode != http.StatusUnauthorized || got != want {
		t.Errorf("anonymous /v2/ = %d %q, want 401 with %s", resp.StatusCode, got, want)
	}

	clock.Advance(13 * time.Hour)
	_, err = remote.Head(ref, auth, viaSandbox)
	if err == nil {
		t.Fatal("an expired password was accepted")
	}
	req, _ = http.NewRequest(http.MethodGet, scheme+"://"+host+"/v2/web-api/manifests/v1", nil)
	req.SetBasicAuth("AWS", pw)
	resp, err = httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "Your authorization token has expired. Reauthenticate and try again.") {
		t.Errorf("expired password: %d %s", resp.StatusCode, body)
	}
}

func TestFrontRepositoryAndPermissions(t *testing.T) {
	t.Parallel()
	w := sandbox.DemoWorld()
	role := w.Accounts[ecrTestAccount].Roles["gha-deploy"]
	role.Permissions.Statement = append(role.Permissions.Statement,
		sandbox.Statement{Effect: "Allow", Action: sandbox.StringList{"ecr:*"}, Resource: sandbox.StringList{"arn:aws:ecr:us-east-1:111122223333:repository/nope"}},
	)
	w.Accounts[ecrTestAccount].Repositories["pull-only"] = &sandbox.Repository{}
	role.Permissions.Statement = append(role.Permissions.Statement,
		sandbox.Statement{Effect: "Deny", Action: sandbox.StringList{"ecr:InitiateLayerUpload", "ecr:PutImage"}, Resource: sandbox.StringList{"arn:aws:ecr:us-east-1:111122223333:repository/pull-only"}},
		sandbox.Statement{Effect: "Allow", Action: sandbox.StringList{"ecr:*"}, Resource: sandbox.StringList{"arn:aws:ecr:us-east-1:111122223333:repository/pull-only"}},
	)
	sb := sandboxtest.StartWorld(t, w, sandbox.Options{})
	client := ecr.NewFromConfig(sandboxtest.WebIdentityConfig(sb.Env(), ecrTestRole, ""))
	pw, _ := registryLogin(t, client)
	auth := remote.WithAuth(&authn.Basic{Username: "AWS", Password: pw})
	viaSandbox := remote.WithTransport(sb.Transport(nil))
	host := sb.RegistryHost(ecrTestAccount)
	img, _ := random.Image(1024, 1)

	err := remote.Write(frontRef(t, host+"/nope:v1"), img, auth, viaSandbox)
	assertRegistryError(t, err, http.StatusNotFound, "NAME_UNKNOWN", "The repository with name 'nope' does not exist in the registry with id '111122223333'")

	err = remote.Write(frontRef(t, host+"/pull-only:v1"), img, auth, viaSandbox)
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusForbidden || !strings.Contains(err.Error(), "is not authorized to perform: ecr:") {
		t.Errorf("push to a repository the role may not push to: %v, want 403 DENIED naming the action", err)
	}
}

func TestFrontFaults(t *testing.T) {
	t.Parallel()
	sb, client := ecrSandbox(t, nil)
	pw, _ := registryLogin(t, client)
	sb.InjectFault(sandbox.Fault{Service: "registry", Operation: "manifest-put", Code: "TOOMANYREQUESTS"})
	img, _ := random.Image(1024, 1)
	ref := frontRef(t, sb.RegistryHost(ecrTestAccount)+"/scratch:v1")
	err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "AWS", Password: pw}), remote.WithTransport(sb.Transport(nil)), remote.WithRetryBackoff(remote.Backoff{Steps: 1}))
	assertRegistryError(t, err, http.StatusTooManyRequests, "TOOMANYREQUESTS", "Rate exceeded")
}

// frontRef parses a reference on a registry front: by ECR host name over
// TLS, by the plain entrance over HTTP.
func frontRef(tb testing.TB, s string) name.Reference {
	tb.Helper()
	ref, err := sandboxtest.Reference(s)
	if err != nil {
		tb.Fatal(err)
	}
	return ref
}

func assertRegistryError(t *testing.T, err error, status int, code, message string) {
	t.Helper()
	var terr *transport.Error
	if !errors.As(err, &terr) {
		t.Errorf("error = %v, want a registry error %d %s", err, status, code)
		return
	}
	if terr.StatusCode != status || len(terr.Errors) == 0 || string(terr.Errors[0].Code) != code || terr.Errors[0].Message != message {
		t.Errorf("registry error = %d %+v, want %d %s %q", terr.StatusCode, terr.Errors, status, code, message)
	}
}
