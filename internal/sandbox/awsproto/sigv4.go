package awsproto

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Credentials looks up the session an access key ID belongs to.
type Credentials interface {
	Lookup(accessKeyID string) (*Session, bool)
}

// Verifier checks SigV4 signatures against the sessions STS issued.
type Verifier struct {
	Credentials Credentials
	// Region is the region calls must be signed for.
	Region string
	// Now is the server's clock.
	Now func() time.Time
}

// authorization is what the Authorization header of a SigV4 request says.
type authorization struct {
	AccessKeyID   string
	Date          string // yyyymmdd of the credential scope
	Region        string
	Service       string
	SignedHeaders []string
	Signature     string
}

func parseAuthorization(h string) (authorization, bool) {
	const prefix = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(h, prefix) {
		return authorization{}, false
	}
	var a authorization
	for _, part := range strings.Split(strings.TrimPrefix(h, prefix), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return authorization{}, false
		}
		switch k {
		case "Credential":
			scope := strings.Split(v, "/")
			if len(scope) != 5 || scope[4] != "aws4_request" {
				return authorization{}, false
			}
			a.AccessKeyID, a.Date, a.Region, a.Service = scope[0], scope[1], scope[2], scope[3]
		case "SignedHeaders":
			a.SignedHeaders = strings.Split(v, ";")
		case "Signature":
			a.Signature = v
		}
	}
	if a.AccessKeyID == "" || a.Signature == "" || len(a.SignedHeaders) == 0 {
		return authorization{}, false
	}
	return a, true
}

// maxClockSkew is how far a request's X-Amz-Date may be from the server's
// clock, as AWS enforces.
const maxClockSkew = 5 * time.Minute

// Verify checks a signed request the way AWS does: the access key must be
// one STS issued, the session token must be its own, the credentials must
// not have expired, and the signature, recomputed with the SDK's own signer
// over the headers the client signed, must match. The error codes are the
// ones the protocol uses.
func (v *Verifier) Verify(r *http.Request, body []byte, service string, p Protocol) (*Session, *Error) {
	return v.VerifyGlobal(r, body, service, p, "")
}

// VerifyGlobal is Verify for a global service, whose calls may also be
// signed for its signing region (IAM's us-east-1) when it is not empty.
func (v *Verifier) VerifyGlobal(r *http.Request, body []byte, service string, p Protocol, signingRegion string) (*Session, *Error) {
	json := p == JSON
	authz := r.Header.Get("Authorization")
	if authz == "" {
		if json {
			return nil, &Error{Status: 400, Code: "MissingAuthenticationTokenException", Message: "Missing Authentication Token"}
		}
		return nil, &Error{Status: 403, Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token"}
	}
	a, ok := parseAuthorization(authz)
	if !ok {
		return nil, incompleteSignature(json)
	}
	sess, ok := v.Credentials.Lookup(a.AccessKeyID)
	if !ok {
		if json {
			return nil, &Error{Status: 400, Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid."}
		}
		return nil, &Error{Status: 403, Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Amz-Security-Token")), []byte(sess.SessionToken)) != 1 {
		if json {
			return nil, &Error{Status: 400, Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid."}
		}
		return nil, &Error{Status: 403, Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}
	}
	now := v.Now()
	if !now.Before(sess.Expiration) {
		if json {
			return nil, &Error{Status: 400, Code: "ExpiredTokenException", Message: "The security token included in the request is expired"}
		}
		return nil, &Error{Status: 400, Code: "ExpiredToken", Message: "The security token included in the request is expired"}
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || a.Date != signedAt.Format("20060102") {
		return nil, incompleteSignature(json)
	}
	if d := now.Sub(signedAt); d > maxClockSkew || d < -maxClockSkew {
		return nil, signatureMismatch(json, "Signature expired: "+signedAt.Format("20060102T150405Z")+" is now earlier than "+now.Add(-maxClockSkew).UTC().Format("20060102T150405Z")+" ("+now.UTC().Format("20060102T150405Z")+" - 5 min.)")
	}
	if a.Service != service || a.Region != v.Region && (signingRegion == "" || a.Region != signingRegion) {
		return nil, signatureMismatch(json, "Credential should be scoped to a valid region and service, not '"+a.Region+"/"+a.Service+"'. ")
	}

	// Rebuild the request with only the headers the client signed, and sign
	// it again with the SDK's signer; the SDK signs every header it is given
	// apart from a few it ignores, none of which clients sign.
	clone, err := http.NewRequestWithContext(context.Background(), r.Method, r.URL.String(), bytes.NewReader(body)) //nolint:gosec // G704: signed to compare, never sent
	if err != nil {
		return nil, incompleteSignature(json)
	}
	clone.URL.RawQuery = r.URL.RawQuery
	clone.Host = r.Host
	for _, name := range a.SignedHeaders {
		if name == "host" {
			continue
		}
		if vs, ok := r.Header[http.CanonicalHeaderKey(name)]; ok {
			clone.Header[http.CanonicalHeaderKey(name)] = vs
		}
	}
	clone.Header.Del("Authorization")
	// The SDK's signer signs Content-Length whenever the request has one,
	// but clients such as botocore do not: sign it only if the client did.
	clone.ContentLength = 0
	for _, name := range a.SignedHeaders {
		if name == "content-length" {
			clone.ContentLength = int64(len(body))
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: sess.AccessKeyID, SecretAccessKey: sess.SecretAccessKey, SessionToken: sess.SessionToken}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableHeaderHoisting = true })
	if err := signer.SignHTTP(context.Background(), creds, clone, hex.EncodeToString(sum[:]), a.Service, a.Region, signedAt); err != nil {
		return nil, incompleteSignature(json)
	}
	want, ok := parseAuthorization(clone.Header.Get("Authorization"))
	if !ok || subtle.ConstantTimeCompare([]byte(want.Signature), []byte(a.Signature)) != 1 {
		return nil, signatureMismatch(json, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return sess, nil
}

func incompleteSignature(json bool) *Error {
	if json {
		return &Error{Status: 400, Code: "IncompleteSignatureException", Message: "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters."}
	}
	return &Error{Status: 400, Code: "IncompleteSignature", Message: "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters."}
}

func signatureMismatch(json bool, msg string) *Error {
	if json {
		return &Error{Status: 400, Code: "InvalidSignatureException", Message: msg}
	}
	return &Error{Status: 403, Code: "SignatureDoesNotMatch", Message: msg}
}
