package httpclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/httpclient"
)

func TestTimeoutsDefaults(t *testing.T) {
	t.Parallel()
	got := httpclient.Timeouts{ResponseHeader: time.Second}.WithDefaults()
	want := httpclient.Timeouts{Dial: 10 * time.Second, TLSHandshake: 10 * time.Second, ResponseHeader: time.Second}
	if got != want {
		t.Errorf("WithDefaults = %+v, want %+v", got, want)
	}
	tr := httpclient.NewTransport(httpclient.Timeouts{})
	if tr.ResponseHeaderTimeout != 30*time.Second || tr.TLSHandshakeTimeout != 10*time.Second || tr.DialContext == nil {
		t.Errorf("transport timeouts: response header %v, TLS %v", tr.ResponseHeaderTimeout, tr.TLSHandshakeTimeout)
	}
}

func TestStalled(t *testing.T) {
	t.Parallel()
	timedOut := &url.Error{Op: "Post", URL: "http://127.0.0.1:4566/?x=1", Err: context.DeadlineExceeded}
	tests := []struct {
		name string
		err  error
		want string
		ok   bool
	}{
		{"aws_call", &smithy.OperationError{ServiceID: "ECS", OperationName: "DescribeServices", Err: timedOut}, "ECS DescribeServices at http://127.0.0.1:4566", true},
		{"plain_request", timedOut, "http://127.0.0.1:4566", true},
		{"refused", &url.Error{Op: "Get", URL: "http://127.0.0.1:1/", Err: errors.New("connection refused")}, "", false},
		{"answered", errors.New("HTTP 500"), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, ok := httpclient.Stalled(tt.err)
			if ok != tt.ok || (ok && s.What() != tt.want) {
				t.Errorf("Stalled = %q, %v; want %q, %v", s.What(), ok, tt.want, tt.ok)
			}
		})
	}
}

var _ http.RoundTripper = httpclient.NewTransport(httpclient.Timeouts{})
