package registry_test

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/registry"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
)

// ecrHostsByCredential groups what the recorder saw by credential: for each
// Authorization header sent, the hosts it went to.
func (c *credentialRecorder) ecrHostsByCredential() map[string]map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]map[string]bool{}
	for _, s := range c.sent {
		if s.authorization == "" {
			continue
		}
		if out[s.authorization] == nil {
			out[s.authorization] = map[string]bool{}
		}
		out[s.authorization][s.host] = true
	}
	return out
}

// hostsReached lists every host a request went to, with or without a
// credential.
func (c *credentialRecorder) hostsReached() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]bool{}
	for _, s := range c.sent {
		out[s.host] = true
	}
	return out
}

// TestECRPasswordsGoToTheirRegistriesAlone pushes, on the sandbox's ECR
// registry hosts (ACCOUNT.dkr.ecr.REGION.amazonaws.com, over TLS, as ECR
// serves them), images read from other registries, and follows every
// request: each ECR password goes to the registry GetAuthorizationToken
// issued it for and to no other host; another account's registry gets a
// password only when ECR's API issued one for it; a registry ECR's API
// issues none for, or one of another region, is never sent one.
func TestECRPasswordsGoToTheirRegistriesAlone(t *testing.T) {
	t.Parallel()
	const (
		runHost     = testAccount + ".dkr.ecr.us-east-1.amazonaws.com"
		runFIPSHost = testAccount + ".dkr.ecr-fips.us-east-1.amazonaws.com"
		otherHost   = otherAccount + ".dkr.ecr.us-east-1.amazonaws.com"
		// No account of the world: ECR's API issues no password for it.
		strangerHost = "999988887777.dkr.ecr.us-east-1.amazonaws.com"
		// The run's account in another region: its own registry there,
		// which the run's password is not for.
		otherRegionHost = testAccount + ".dkr.ecr.us-west-2.amazonaws.com"
	)
	tests := []struct {
		name, image string
		// wantHosts are the hosts each password went to, one set per
		// password, sorted by their first host; nil when the push fails.
		wantHosts [][]string
	}{
		{"the_runs_registry", "docker://" + runHost + "/builds:b1", [][]string{{runHost}}},
		{"the_runs_registry_by_its_fips_name", "docker://" + runFIPSHost + "/builds:b1", [][]string{{runFIPSHost, runHost}}},
		{"another_accounts_registry_with_its_own_login", "docker://" + otherHost + "/shared:release-3", [][]string{{runHost}, {otherHost}}},
		{"a_registry_ecr_issues_no_password_for", "docker://" + strangerHost + "/app:v1", nil},
		{"the_runs_account_in_another_region", "docker://" + otherRegionHost + "/builds:b1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sb := startSandbox(t, sourceWorld(t, false), sandbox.Options{})
			if got := sb.RegistryHost(testAccount); got != runHost {
				t.Fatalf("the sandbox names the run's registry %s, want %s", got, runHost)
			}
			seed(t, sb, testAccount, "builds:b1", platformImage(t, "linux", "amd64", 4096, 2))
			seed(t, sb, otherAccount, "shared:release-3", platformImage(t, "linux", "amd64", 4096, 2))
			recorder := &credentialRecorder{inner: sb.Transport(nil)}
			var masked []string
			_, log, err := pushFrom(t, sb, tt.image, runHost+"/promoted", []string{"v1"}, func(r *registry.PushRequest) {
				r.HTTPClient = &http.Client{Transport: recorder}
				r.Mask = func(s string) { masked = append(masked, s) }
			})
			byCredential := recorder.ecrHostsByCredential()
			if tt.wantHosts == nil {
				if err == nil {
					t.Fatalf("Push from %s succeeded, want it refused\n%s", tt.image, log)
				}
				host := strings.TrimPrefix(tt.image, "docker://")
				host, _, _ = strings.Cut(host, "/")
				if recorder.hostsReached()[host] {
					t.Errorf("a request went to %s, which no password was issued for", host)
				}
				for auth, hosts := range byCredential {
					if len(hosts) != 1 || !hosts[runHost] {
						t.Errorf("a credential (%d characters) went to %v, want %s alone", len(auth), slices.Sorted(maps.Keys(hosts)), runHost)
					}
				}
				t.Logf("refused: %v", err)
				assertNoSecrets(t, sb, log+err.Error())
				return
			}
			if err != nil {
				t.Fatalf("Push from %s: %v\n%s", tt.image, err, log)
			}
			var got [][]string
			for auth, hosts := range byCredential {
				if !slices.ContainsFunc(masked, func(pw string) bool { return auth == "Basic "+basicAuth(pw) }) {
					t.Errorf("a credential (%d characters) was sent that is not an ECR password the run masked", len(auth))
				}
				got = append(got, slices.Sorted(maps.Keys(hosts)))
			}
			slices.SortFunc(got, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
			if !slices.EqualFunc(got, tt.wantHosts, slices.Equal) {
				t.Errorf("the ECR passwords went to %v, want %v (one set of hosts per password)", got, tt.wantHosts)
			}
			for host := range recorder.hostsReached() {
				if !strings.HasSuffix(host, ".amazonaws.com") {
					t.Errorf("a request went to %s, not an ECR registry host", host)
				}
			}
			assertNoSecrets(t, sb, log)
		})
	}
}
