package endpoint

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// FuzzCheck: an accepted endpoint is https, or http to a loopback address,
// without credentials in it; a refused one is named in one line.
func FuzzCheck(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw string) {
		err := Check("AWS_ENDPOINT_URL", raw)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Variable != "AWS_ENDPOINT_URL" || strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("Check(%q) = %q: want one line naming the variable", raw, err)
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil {
			t.Fatalf("Check accepted %q, which does not parse: %v", raw, perr)
		}
		if u.User != nil || u.Hostname() == "" {
			t.Errorf("Check accepted %q: credentials, or no host", raw)
		}
		switch u.Scheme {
		case "https":
		case "http":
			if !IsLoopback(u.Hostname()) {
				t.Errorf("Check accepted plain http to %q, not a loopback address", u.Hostname())
			}
		default:
			t.Errorf("Check accepted the scheme %q in %q", u.Scheme, raw)
		}
	})
}
