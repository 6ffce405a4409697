package sandbox

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

// sigV4Auth is what the Authorization header of a SigV4 request says.
type sigV4Auth struct {
	AccessKeyID   string
	Date          string // yyyymmdd of the credential scope
	Region        string
	Service       string
	SignedHeaders []string
	Signature     string
}

func parseSigV4Authorization(h string) (sigV4Auth, bool) {
	const prefix = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(h, prefix) {
		return sigV4Auth{}, false
	}
	var a sigV4Auth
	for _, part := range strings.Split(strings.TrimPrefix(h, prefix), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return sigV4Auth{}, false
		}
		switch k {
		case "Credential":
			scope := strings.Split(v, "/")
			if len(scope) != 5 || scope[4] != "aws4_request" {
				return sigV4Auth{}, false
			}
			a.AccessKeyID, a.Date, a.Region, a.Service = scope[0], scope[1], scope[2], scope[3]
		case "SignedHeaders":
			a.SignedHeaders = strings.Split(v, ";")
		case "Signature":
			a.Signature = v
		}
	}
	if a.AccessKeyID == "" || a.Signature == "" || len(a.SignedHeaders) == 0 {
		return sigV4Auth{}, false
	}
	return a, true
}

// maxClockSkew is how far a request's X-Amz-Date may be from the server's
// clock, as AWS enforces.
const maxClockSkew = 5 * time.Minute

// verifySigV4 checks a signed request the way AWS does: the access key must
// be one STS issued, the session token must be its own, the credentials must
// not have expired, and the signature, recomputed with the SDK's own signer
// over the headers the client signed, must match. The error codes are the
// ones the given protocol family uses.
func (s *Sandbox) verifySigV4(r *http.Request, body []byte, service string, json bool) (*Session, *APIError) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		if json {
			return nil, &APIError{Status: 400, Code: "MissingAuthenticationTokenException", Message: "Missing Authentication Token"}
		}
		return nil, &APIError{Status: 403, Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token"}
	}
	a, ok := parseSigV4Authorization(authz)
	if !ok {
		return nil, incompleteSignature(json)
	}
	sess, ok := s.sessions.lookup(a.AccessKeyID)
	if !ok {
		if json {
			return nil, &APIError{Status: 400, Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid."}
		}
		return nil, &APIError{Status: 403, Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Amz-Security-Token")), []byte(sess.SessionToken)) != 1 {
		if json {
			return nil, &APIError{Status: 400, Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid."}
		}
		return nil, &APIError{Status: 403, Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}
	}
	now := s.now()
	if !now.Before(sess.Expiration) {
		if json {
			return nil, &APIError{Status: 400, Code: "ExpiredTokenException", Message: "The security token included in the request is expired"}
		}
		return nil, &APIError{Status: 400, Code: "ExpiredToken", Message: "The security token included in the request is expired"}
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || a.Date != signedAt.Format("20060102") {
		return nil, incompleteSignature(json)
	}
	if d := now.Sub(signedAt); d > maxClockSkew || d < -maxClockSkew {
		return nil, signatureMismatch(json, "Signature expired: "+signedAt.Format("20060102T150405Z")+" is now earlier than "+now.Add(-maxClockSkew).UTC().Format("20060102T150405Z")+" ("+now.UTC().Format("20060102T150405Z")+" - 5 min.)")
	}
	if a.Service != service || a.Region != s.world.Region {
		return nil, signatureMismatch(json, "Credential should be scoped to a valid region and service, not '"+a.Region+"/"+a.Service+"'. ")
	}

	// Rebuild the request with only the headers the client signed, and sign
	// it again with the SDK's signer; the SDK signs every header it is given
	// apart from a few it ignores, none of which clients sign.
	clone, err := http.NewRequestWithContext(context.Background(), r.Method, r.URL.String(), bytes.NewReader(body))
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
	want, ok := parseSigV4Authorization(clone.Header.Get("Authorization"))
	if !ok || subtle.ConstantTimeCompare([]byte(want.Signature), []byte(a.Signature)) != 1 {
		return nil, signatureMismatch(json, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return sess, nil
}

func incompleteSignature(json bool) *APIError {
	if json {
		return &APIError{Status: 400, Code: "IncompleteSignatureException", Message: "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters."}
	}
	return &APIError{Status: 400, Code: "IncompleteSignature", Message: "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters."}
}

func signatureMismatch(json bool, msg string) *APIError {
	if json {
		return &APIError{Status: 400, Code: "InvalidSignatureException", Message: msg}
	}
	return &APIError{Status: 403, Code: "SignatureDoesNotMatch", Message: msg}
}
