package registry

import (
	"testing"
	"time"
)

// TestEngineTransportIsBounded: no call to the Docker engine waits without
// a limit: a TLS handshake gets 10 s, and the answer's headers (which a
// large docker save may delay while the engine exports) 3 minutes.
func TestEngineTransportIsBounded(t *testing.T) {
	t.Parallel()
	tr := engineTransport()
	if tr.TLSHandshakeTimeout != 10*time.Second || tr.ResponseHeaderTimeout != 3*time.Minute || tr.DialContext == nil {
		t.Errorf("engine transport: TLS handshake %v, response headers %v, dialer set %v; want 10s, 3m0s, set",
			tr.TLSHandshakeTimeout, tr.ResponseHeaderTimeout, tr.DialContext != nil)
	}
}
