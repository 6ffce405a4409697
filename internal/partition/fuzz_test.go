package partition

import (
	"strings"
	"testing"
)

// FuzzParseECRRegistryHost: a host read as an ECR registry host is exactly
// the host its parts build again, in the region's own partition, with no
// port; the password may go only there.
func FuzzParseECRRegistryHost(f *testing.F) {
	f.Fuzz(func(t *testing.T, host string) {
		h, ok := ParseECRRegistryHost(host)
		if !ok {
			return
		}
		if rebuilt := h.Partition.ECRRegistryHost(h.Account, h.Region, h.FIPS); rebuilt != host {
			t.Errorf("ParseECRRegistryHost(%q) = %+v, which builds %q", host, h, rebuilt)
		}
		if p, ok := ForRegion(h.Region); !ok || p.ID != h.Partition.ID {
			t.Errorf("host %q: region %s is in %q, the host says %q", host, h.Region, p.ID, h.Partition.ID)
		}
		if strings.ContainsAny(host, ":/@ \t\r\n") || !strings.HasSuffix(host, "."+h.Partition.DNSSuffix) {
			t.Errorf("host %q accepted with a port, path, user or space, or without the partition's suffix", host)
		}
		if h.FIPS && !h.Partition.SupportsFIPS {
			t.Errorf("host %q: FIPS in %s, which has no FIPS endpoints", host, h.Partition.ID)
		}
	})
}
