// Package httpclient makes the HTTP clients of a run — for the token
// service, AWS and the registry — each with dial, TLS handshake and
// response header timeouts, so that an endpoint that accepts a connection
// and never answers fails the call in bounded time; and it says which
// endpoint stalled.
package httpclient

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/smithy-go"
)

// Timeouts bound the stages of one request. The zero value of a field is
// its default.
type Timeouts struct {
	// Dial bounds making the TCP connection; 10 s when zero.
	Dial time.Duration
	// TLSHandshake bounds the TLS handshake; 10 s when zero.
	TLSHandshake time.Duration
	// ResponseHeader bounds the wait for the answer's headers once the
	// request is sent; 30 s when zero. AWS and the registry answer in
	// well under a second; an upload's time is not counted, as the wait
	// starts when its body is sent.
	ResponseHeader time.Duration
}

// WithDefaults fills the zero fields.
func (t Timeouts) WithDefaults() Timeouts {
	if t.Dial <= 0 {
		t.Dial = 10 * time.Second
	}
	if t.TLSHandshake <= 0 {
		t.TLSHandshake = 10 * time.Second
	}
	if t.ResponseHeader <= 0 {
		t.ResponseHeader = 30 * time.Second
	}
	return t
}

// NewTransport returns a transport with the timeouts t, for a client that
// needs a http.RoundTripper (go-containerregistry's remote).
func NewTransport(t Timeouts) *http.Transport {
	t = t.WithDefaults()
	dialer := &net.Dialer{Timeout: t.Dial, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   t.TLSHandshake,
		ResponseHeaderTimeout: t.ResponseHeader,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       30 * time.Second,
		// The push uploads several blobs to one registry at once.
		MaxIdleConnsPerHost: 16,
		ForceAttemptHTTP2:   true,
	}
}

// New returns a client with the timeouts t.
func New(t Timeouts) *http.Client { return &http.Client{Transport: NewTransport(t)} }

// Stall is a request that got no answer in time.
type Stall struct {
	// Endpoint is scheme://host of the request.
	Endpoint string
	// Service and Operation name the AWS call, when it was one.
	Service, Operation string
}

// What names the stalled call: "ECS DescribeServices at http://host" or
// "http://host".
func (s Stall) What() string {
	if s.Service == "" {
		return s.Endpoint
	}
	return fmt.Sprintf("%s %s at %s", s.Service, s.Operation, s.Endpoint)
}

// Stalled finds, in err, a request that timed out waiting for its
// connection or its answer, and says where it went.
func Stalled(err error) (Stall, bool) {
	ue, ok := errors.AsType[*url.Error](err)
	if !ok || !ue.Timeout() {
		return Stall{}, false
	}
	s := Stall{Endpoint: ue.URL}
	if u, err := url.Parse(ue.URL); err == nil {
		s.Endpoint = (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
	}
	if oe, ok := errors.AsType[*smithy.OperationError](err); ok {
		s.Service, s.Operation = oe.Service(), oe.Operation()
	}
	return s, true
}
