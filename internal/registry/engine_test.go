package registry_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/versions"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/registry"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/testenv"
)

// testCA is a certificate authority of the test's own.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(tb testing.TB) *testCA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test engine CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue makes a certificate for 127.0.0.1, for a server or a client, and
// returns it and its key in PEM.
func (ca *testCA) issue(tb testing.TB, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// certDir writes what DOCKER_CERT_PATH names: the CA to check the engine
// against, and the client's certificate and key.
func certDir(tb testing.TB, trusted, issuer *testCA) string {
	tb.Helper()
	dir := tb.TempDir()
	cert, key := issuer.issue(tb, x509.ExtKeyUsageClientAuth)
	for name, data := range map[string][]byte{"ca.pem": trusted.pem, "cert.pem": cert, "key.pem": key} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// engineProxy serves the test's Docker engine, a unix socket, on a
// loopback TCP port, as a remote engine is reached: plainly, or with TLS
// that requires a client certificate of ca's.
func engineProxy(tb testing.TB, dockerHost string, ca *testCA) string {
	tb.Helper()
	socket, ok := strings.CutPrefix(dockerHost, "unix://")
	if !ok {
		tb.Fatalf("the test engine %s is not on a unix socket", dockerHost)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	if ca != nil {
		certPEM, keyPEM := ca.issue(tb, x509.ExtKeyUsageServerAuth)
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			tb.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(ca.cert)
		l = tls.NewListener(l, &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		})
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { _ = c.Close() }()
				up, err := net.Dial("unix", socket)
				if err != nil {
					return
				}
				defer func() { _ = up.Close() }()
				done := make(chan struct{})
				go func() {
					_, _ = io.Copy(up, c)
					_ = up.(*net.UnixConn).CloseWrite()
					close(done)
				}()
				_, _ = io.Copy(c, up)
				_ = c.Close()
				<-done
			}()
		}
	}()
	return "tcp://" + l.Addr().String()
}

// TestPushFromRemoteEngines reads the image from the test's engine reached
// over TCP, plainly and with TLS (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), and
// checks that the engine environment is refused where it is unsafe or
// wrong.
func TestPushFromRemoteEngines(t *testing.T) {
	t.Parallel()
	dockerHost := testenv.DockerHost(t)
	sb := startSandbox(t, testWorld(t), sandbox.Options{})
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, "")
	image := buildImage(t, dockerHost, 200<<10, 10<<10)
	ca, otherCA := newTestCA(t), newTestCA(t)
	plain := engineProxy(t, dockerHost, nil)
	secure := engineProxy(t, dockerHost, ca)
	tests := []struct {
		name string
		env  map[string]string
		want []string // in the error; none: the push succeeds
	}{
		{"tcp", map[string]string{"DOCKER_HOST": plain}, nil},
		{"tls_verified", map[string]string{"DOCKER_HOST": secure, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": certDir(t, ca, ca)}, nil},
		{"tls_pinned_api_version", map[string]string{"DOCKER_HOST": secure, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": certDir(t, ca, ca), "DOCKER_API_VERSION": "1.41"}, nil},
		{"tls_engine_of_another_ca", map[string]string{"DOCKER_HOST": secure, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": certDir(t, otherCA, ca)},
			[]string{secure, "certificate"}},
		{"tls_without_verification", map[string]string{"DOCKER_HOST": secure, "DOCKER_CERT_PATH": certDir(t, ca, ca)},
			[]string{"DOCKER_TLS_VERIFY", "trust any server"}},
		{"tls_verify_without_certificates", map[string]string{"DOCKER_HOST": secure, "DOCKER_TLS_VERIFY": "1"},
			[]string{"DOCKER_CERT_PATH"}},
		{"plain_client_to_tls_engine", map[string]string{"DOCKER_HOST": secure}, []string{secure}},
		{"unsupported_scheme", map[string]string{"DOCKER_HOST": "ssh://engine.example.invalid"}, []string{"ssh://engine.example.invalid", "unix://", "tcp://"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out sandboxtest.SyncBuffer
			res, err := pushVia(sb, cfg, registry.PushRequest{
				Image: image, Repository: "app", Tags: []string{"engine-" + strings.ReplaceAll(tc.name, "_", "-")},
				Getenv: getenvOf(tc.env),
			}, &out)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Push: %v\n%s", err, out.String())
				}
				if !strings.Contains(out.String(), tc.env["DOCKER_HOST"]) {
					t.Errorf("the push does not say it read the engine at %s:\n%s", tc.env["DOCKER_HOST"], out.String())
				}
				t.Logf("pushed %s from %s", res.Digest, tc.env["DOCKER_HOST"])
				return
			}
			if err == nil {
				t.Fatalf("Push succeeded, want an error saying %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestEngineClientNegotiatesTheAPIVersion: the engine client speaks the
// engine's API version unless DOCKER_API_VERSION pins one.
func TestEngineClientNegotiatesTheAPIVersion(t *testing.T) {
	t.Parallel()
	dockerHost := testenv.DockerHost(t)
	ctx := context.Background()
	probe, err := registry.EngineClient(getenvOf(map[string]string{"DOCKER_HOST": dockerHost}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = probe.Close() }()
	ping, err := probe.Ping(ctx, client.PingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := probe.ImageList(ctx, client.ImageListOptions{}); err != nil {
		t.Fatalf("list images: %v", err)
	}
	want := ping.APIVersion
	if versions.LessThan(client.MaxAPIVersion, want) {
		want = client.MaxAPIVersion
	}
	if got := probe.ClientVersion(); got != want {
		t.Errorf("negotiated API version %s with an engine that speaks %s, want %s", got, ping.APIVersion, want)
	}

	pinned, err := registry.EngineClient(getenvOf(map[string]string{"DOCKER_HOST": dockerHost, "DOCKER_API_VERSION": "1.40"}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pinned.Close() }()
	if _, err := pinned.ImageList(ctx, client.ImageListOptions{}); err != nil {
		t.Fatalf("list images with API 1.40: %v", err)
	}
	if got := pinned.ClientVersion(); got != "1.40" {
		t.Errorf("API version with DOCKER_API_VERSION=1.40 = %s", got)
	}
}
