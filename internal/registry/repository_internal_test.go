package registry

import "testing"

// TestParseRepository: the repository input is a URI when its first
// segment is a host (it has a dot or a port, or is localhost), and an ECR
// registry's host gives the account and region; otherwise it is a name,
// slashes and all.
func TestParseRepository(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in                             string
		host, name, registryID, region string
		wantErr                        bool
	}{
		{in: "my-api", name: "my-api"},
		{in: "team/my-api", name: "team/my-api"},
		{in: "localhost/my-api", host: "localhost", name: "my-api"},
		{in: "registry.example.invalid/team/my-api", host: "registry.example.invalid", name: "team/my-api"},
		{in: "127.0.0.1:5000/my-api", host: "127.0.0.1:5000", name: "my-api"},
		{in: "111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/my-api", host: "111122223333.dkr.ecr.eu-west-1.amazonaws.com", name: "team/my-api", registryID: "111122223333", region: "eu-west-1"},
		{in: "", wantErr: true},
		{in: "my-api:v1", wantErr: true},
		{in: "localhost/", wantErr: true},
		{in: "my api", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseRepository(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseRepository(%q) = %+v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got.host != tt.host || got.name != tt.name || got.registryID != tt.registryID || got.region != tt.region {
			t.Errorf("parseRepository(%q) = %+v, %v; want host %q, name %q, registry %q, region %q", tt.in, got, err, tt.host, tt.name, tt.registryID, tt.region)
		}
	}
}
