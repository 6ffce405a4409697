// Package tlsca is a sandbox's own certificate authority: a CA made for one
// sandbox, and the certificate it issues for the host names the sandbox
// serves over TLS (the ECR registry hosts), so that clients reach them under
// their real names and verify them as they verify AWS's.
package tlsca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// validity is how long the CA and its certificate are valid. Clients check
// it against their own clock, not the sandbox's (which a test may move):
// a sandbox lives for minutes, a standalone one for a working day or so.
const validity = 30 * 24 * time.Hour

// Authority is a CA and the server certificate it issued.
type Authority struct {
	caPEM []byte
	pool  *x509.CertPool
	leaf  tls.Certificate
	names []string
}

// New makes a CA of its own and a certificate for names signed by it. The keys are ECDSA P-256: made in
// a millisecond, so every sandbox has its own.
func New(names []string) (*Authority, error) {
	if len(names) == 0 {
		return nil, errors.New("tlsca: no host names to certify")
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsca: make the CA's key: %w", err)
	}
	caSerial := serial()
	caTemplate := &x509.Certificate{
		SerialNumber: caSerial,
		// The serial in the name tells one sandbox's CA from another's in
		// a client's error message.
		Subject:               pkix.Name{Organization: []string{"oidc-ecs-deploy sandbox"}, CommonName: "oidc-ecs-deploy sandbox CA " + caSerial.Text(16)},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		// The CA signs for the sandbox's names and nothing else, so that
		// trusting it (SSL_CERT_FILE) lends it no other site.
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         names,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("tlsca: make the CA's certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("tlsca: read the CA's certificate: %w", err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsca: make the server's key: %w", err)
	}
	leafTemplate := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"oidc-ecs-deploy sandbox"}, CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTemplate, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("tlsca: issue the server's certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &Authority{
		caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pool:  pool,
		leaf:  tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: key},
		names: append([]string(nil), names...),
	}, nil
}

// serial is a random certificate serial number, as RFC 5280 asks: positive,
// at most 20 octets.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("tlsca: " + err.Error())
	}
	return n.Add(n, big.NewInt(1))
}

// CertificatePEM is the CA's certificate, PEM-encoded: what a client is
// given to trust (SSL_CERT_FILE, a Docker certs.d directory, skopeo's
// --cert-dir).
func (a *Authority) CertificatePEM() []byte { return append([]byte(nil), a.caPEM...) }

// Pool is a certificate pool holding the CA alone.
func (a *Authority) Pool() *x509.CertPool { return a.pool.Clone() }

// Names are the host names the server certificate is for.
func (a *Authority) Names() []string { return append([]string(nil), a.names...) }

// ServerConfig is the TLS configuration of a server presenting the
// certificate: TLS 1.2 and later, HTTP/1.1.
func (a *Authority) ServerConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{a.leaf},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
}
