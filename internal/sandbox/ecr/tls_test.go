package ecr_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/testenv"
)

// TestRegistryHostsAreECRs: in aws and in aws-cn, ECR's API names each
// account's registry by its real host (proxyEndpoint https://HOST,
// repositoryUri HOST/NAME), and that host, with its FIPS name, is served
// over TLS with a certificate that verifies against the sandbox's CA,
// whose authority is limited to those names.
func TestRegistryHostsAreECRs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		region, host, fips, arn string
	}{
		{"us-east-1", "111122223333.dkr.ecr.us-east-1.amazonaws.com", "111122223333.dkr.ecr-fips.us-east-1.amazonaws.com", "arn:aws:iam::111122223333:role/gha-deploy"},
		{"cn-north-1", "111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn", "111122223333.dkr.ecr-fips.cn-north-1.amazonaws.com.cn", "arn:aws-cn:iam::111122223333:role/gha-deploy"},
	}
	for _, tt := range tests {
		t.Run(tt.region, func(t *testing.T) {
			t.Parallel()
			w := sandbox.DemoWorld()
			sandboxtest.InRegion(t, w, tt.region)
			sb := sandboxtest.StartWorld(t, w, sandbox.Options{})
			client := ecr.NewFromConfig(sandboxtest.WebIdentityConfig(sb.Env(), tt.arn, ""))
			_, proxy := registryLogin(t, client)
			repos, err := client.DescribeRepositories(context.Background(), &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"web-api"}})
			if err != nil {
				t.Fatal(err)
			}
			got := []string{proxy, *repos.Repositories[0].RepositoryUri, sb.RegistryHost(ecrTestAccount)}
			if diff := cmp.Diff([]string{"https://" + tt.host, tt.host + "/web-api", tt.host}, got); diff != "" {
				t.Errorf("proxyEndpoint, repositoryUri, RegistryHost (-want +got):\n%s", diff)
			}
			// Every account's registry, by its name and its FIPS name.
			var want []string
			for account := range w.Accounts {
				want = append(want, strings.Replace(tt.host, ecrTestAccount, account, 1), strings.Replace(tt.fips, ecrTestAccount, account, 1))
			}
			slices.Sort(want)
			if diff := cmp.Diff(want, sb.RegistryHosts()); diff != "" {
				t.Errorf("RegistryHosts (-want +got):\n%s", diff)
			}

			block, _ := pem.Decode(sb.CACertificate())
			ca, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatalf("the CA certificate: %v", err)
			}
			if !ca.IsCA || !ca.MaxPathLenZero || !slices.Equal(ca.PermittedDNSDomains, sb.RegistryHosts()) {
				t.Errorf("the CA: IsCA %v, MaxPathLenZero %v, permitted names %v; want a CA for the registry hosts alone", ca.IsCA, ca.MaxPathLenZero, ca.PermittedDNSDomains)
			}
			roots := x509.NewCertPool()
			roots.AddCert(ca)
			for _, host := range sb.RegistryHosts() {
				conn, err := tls.Dial("tcp", sb.RegistryAddress(), &tls.Config{ServerName: host, RootCAs: roots})
				if err != nil {
					t.Errorf("TLS to %s at %s with the sandbox's CA: %v", host, sb.RegistryAddress(), err)
					continue
				}
				leaf := conn.ConnectionState().PeerCertificates[0]
				_ = conn.Close()
				if leaf.NotAfter.Before(time.Now().Add(24 * time.Hour)) {
					t.Errorf("the certificate of %s expires at %v", host, leaf.NotAfter)
				}
			}
			// Without the sandbox's CA the certificate is not trusted; for
			// another name it is not valid.
			var unknown x509.UnknownAuthorityError
			if _, err := tls.Dial("tcp", sb.RegistryAddress(), &tls.Config{ServerName: tt.host}); !errors.As(err, &unknown) {
				t.Errorf("TLS to %s with the system's roots: %v, want an unknown authority", tt.host, err)
			}
			var invalid x509.HostnameError
			if _, err := tls.Dial("tcp", sb.RegistryAddress(), &tls.Config{ServerName: "registry.example.invalid", RootCAs: roots}); !errors.As(err, &invalid) {
				t.Errorf("TLS as registry.example.invalid: %v, want a certificate not valid for that name", err)
			}
		})
	}
}

// TestRegistryAnswersByName: the TLS listener tells registries apart by
// the name the client asked for, and refuses a name it does not serve;
// Transport reaches the registry hosts by name and looks up no other name.
func TestRegistryAnswersByName(t *testing.T) {
	t.Parallel()
	w := sandbox.DemoWorld()
	w.Accounts["444455556666"].Repositories = map[string]*sandbox.Repository{"mirror": {}}
	sb := sandboxtest.StartWorld(t, w, sandbox.Options{})
	client := &http.Client{Transport: sb.Transport(nil)}
	for _, account := range []string{ecrTestAccount, "444455556666"} {
		resp, err := client.Get("https://" + sb.RegistryHost(account) + "/v2/")
		if err != nil {
			t.Fatalf("GET https://%s/v2/: %v", sb.RegistryHost(account), err)
		}
		resp.Body.Close()
		if want := `Basic realm="https://` + sb.RegistryHost(account) + `/",service="ecr.amazonaws.com"`; resp.Header.Get("WWW-Authenticate") != want {
			t.Errorf("%s answers %q, want %q", account, resp.Header.Get("WWW-Authenticate"), want)
		}
	}
	// A name the sandbox does not serve, sent to its listener.
	req, _ := http.NewRequest(http.MethodGet, "https://"+sb.RegistryHost(ecrTestAccount)+"/v2/", nil)
	req.Host = "999988887777.dkr.ecr.us-east-1.amazonaws.com"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("Host %s: %s, want 421", req.Host, resp.Status)
	}
	// Transport dials no name it does not map.
	for _, url := range []string{"https://999988887777.dkr.ecr.us-east-1.amazonaws.com/v2/", "https://registry.example.invalid/v2/", "http://" + sb.RegistryHost(ecrTestAccount) + "/v2/"} {
		resp, err := client.Get(url)
		if err == nil {
			_ = resp.Body.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "looks up no name") {
			t.Errorf("GET %s: %v, want the sandbox's transport to refuse it", url, err)
		}
	}
}

// TestEmptyRepositoryListsNoTags: a repository that exists but holds no
// image lists no tags (200, as the distribution spec has a registry answer
// for a repository it has), though the registry backend has never heard of
// it.
func TestEmptyRepositoryListsNoTags(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"in-process", "distribution"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			url := ""
			if backend == "distribution" {
				url = "http://" + testenv.Registry(t)
			}
			f := startStrictFront(t, url)
			if status, body := f.request(t, http.MethodGet, "/v2/other/tags/list"); status != http.StatusOK || body != `{"name":"other","tags":[]}` {
				t.Errorf("tags of the empty repository other: %d %s, want 200 and no tags", status, body)
			}
		})
	}
}
