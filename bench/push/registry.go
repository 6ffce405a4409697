package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/registry"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// Goals of the registry sections: deploying an image already in the
// repository costs at most one registry round trip per tag beyond reading
// it (its index, and its tag again), well under a copy by crane or skopeo.
const targetInPlaceRatio = 0.5

// inPlaceRepo holds the image the in-place section tags again.
const inPlaceRepo = "bench/inplace"

// countingTransport counts the requests a client sends: its round trips.
type countingTransport struct {
	inner http.RoundTripper
	n     atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.inner.RoundTrip(r)
	if err == nil {
		// As the proxy counts the peers': requests the registry answered.
		c.n.Add(1)
	}
	if os.Getenv("BENCH_VERBOSE") != "" {
		status := "error"
		if err == nil {
			status = resp.Status
		}
		fmt.Fprintf(os.Stderr, "  ours: %s %s://%s%s -> %s\n", r.Method, r.URL.Scheme, r.URL.Host, r.URL.Path, status)
	}
	return resp, err
}

// countingProxy sits in front of the ECR front for the peer tools and
// counts their requests; upload locations are pointed back at it, so every
// request of a push goes through it. It reaches the front by its ECR host
// name over TLS, as our push does, so that both pay for TLS to the
// registry.
type countingProxy struct {
	host string
	n    atomic.Int64
}

func startCountingProxy(sb *sandbox.Sandbox, front string) (*countingProxy, func()) {
	target, _ := url.Parse("https://" + front)
	p := &countingProxy{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = front // the front tells registries apart by name
		},
		Transport: sb.Transport(nil),
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		if loc := resp.Header.Get("Location"); loc != "" {
			resp.Header.Set("Location", strings.Replace(loc, "https://"+front, "http://"+p.host, 1))
		}
		if ch := resp.Header.Get("WWW-Authenticate"); ch != "" {
			resp.Header.Set("WWW-Authenticate", strings.Replace(ch, "https://"+front, "http://"+p.host, 1))
		}
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.n.Add(1)
		rp.ServeHTTP(w, r)
	}))
	u, _ := url.Parse(srv.URL)
	p.host = u.Host
	return p, srv.Close
}

// peerEnv is what the peer tools need to reach the ECR front through the
// counting proxy: a Docker config with the registry password (crane), and
// the password itself (skopeo's --creds).
type peerEnv struct {
	proxy     *countingProxy
	password  string
	configDir string
}

func (e *peerEnv) crane(args ...string) error {
	cmd := exec.Command("crane", append(args, "--insecure")...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+e.configDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("crane %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (e *peerEnv) skopeo(args ...string) error {
	return command("skopeo", append([]string{"copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false",
		"--src-creds", "AWS:" + e.password, "--dest-creds", "AWS:" + e.password}, args...)...)
}

// measured is one run of one tool: how long it took and how many requests
// it sent to the registry.
type measured struct {
	took  time.Duration
	trips int64
}

// pushOurs pushes image to repository (a URI: no lookup) with our push,
// in this process, counting its registry requests; its ECR login is one
// more AWS API call, which the peers are spared (they get the password).
func pushOurs(ctx context.Context, sb *sandbox.Sandbox, image, repository string, tags []string) (measured, *registry.PushResult, error) {
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), roleARN, "")
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return measured{}, nil, err
	}
	ct := &countingTransport{inner: sb.Transport(nil)}
	start := time.Now()
	res, err := registry.Push(ctx, cfg, registry.PushRequest{
		Image: image, Repository: repository, Tags: tags, HTTPClient: &http.Client{Transport: ct},
		Getenv: func(string) string { return "" },
	}, nil)
	return measured{took: time.Since(start), trips: ct.n.Load()}, res, err
}

// registrySections runs the two registry benchmarks: deploying an image
// already in the repository (docker://) against crane copy and skopeo copy
// of the same reference, and pushing a two-platform index from an OCI
// layout against skopeo copy --all, crane push --index and crane index
// append (docker buildx imagetools create needs buildx, which the test
// engine lacks).
func registrySections(ctx context.Context, o options, sb *sandbox.Sandbox, work, nonce string) error {
	front := sb.RegistryHost(account)
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), roleARN, "")
	password, err := sandboxtest.RegistryPassword(ctx, cfg)
	if err != nil {
		return err
	}
	proxy, stop := startCountingProxy(sb, front)
	defer stop()
	configDir := filepath.Join(work, "docker-config")
	if err := os.MkdirAll(configDir, 0o700); err != nil {
		return err
	}
	auth := fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, proxy.host, basic("AWS", password))
	if err := os.WriteFile(filepath.Join(configDir, "config.json"), []byte(auth), 0o600); err != nil {
		return err
	}
	peers := &peerEnv{proxy: proxy, password: password, configDir: configDir}
	if err := inPlaceSection(ctx, o, sb, peers, nonce); err != nil {
		return err
	}
	return indexSection(ctx, o, sb, peers, work, nonce)
}

// inPlaceSection: an index of two platforms is in bench/inplace under a
// build tag; each tool puts it under one more tag of the same repository.
func inPlaceSection(ctx context.Context, o options, sb *sandbox.Sandbox, peers *peerEnv, nonce string) error {
	front := sb.RegistryHost(account)
	repo := inPlaceRepo
	idx, err := sandboxtest.PlatformIndex(2<<20, 3, "linux/amd64", "linux/arm64")
	if err != nil {
		return err
	}
	cfg := sandboxtest.WebIdentityConfig(sb.Env(), roleARN, "")
	if _, err := sandboxtest.Push(ctx, sb, cfg, front+"/"+repo+":build", idx); err != nil {
		return err
	}
	fmt.Printf("\n== an image already in the repository, tagged again (a two-platform index, 2 x 3 layers of 2 MB)\n")
	results := map[string][]measured{}
	tools := []string{"ours", "crane", "skopeo"}
	for i := range o.runs {
		order := append(slices.Clone(tools[i%len(tools):]), tools[:i%len(tools)]...)
		for _, tool := range order {
			tag := fmt.Sprintf("release-%s-%s-%d", nonce, tool, i)
			var m measured
			var err error
			switch tool {
			case "ours":
				var res *registry.PushResult
				m, res, err = pushOurs(ctx, sb, "docker://"+front+"/"+repo+":build", front+"/"+repo, []string{tag})
				if err == nil && (res.BytesPushed != 0 || res.LayersPushed != 0) {
					err = fmt.Errorf("our push uploaded %d bytes of an image already there", res.BytesPushed)
				}
			case "crane":
				m, err = peerRun(peers, func() error {
					return peers.crane("copy", peers.proxy.host+"/"+repo+":build", peers.proxy.host+"/"+repo+":"+tag)
				})
			case "skopeo":
				m, err = peerRun(peers, func() error {
					return peers.skopeo("--all", "docker://"+peers.proxy.host+"/"+repo+":build", "docker://"+peers.proxy.host+"/"+repo+":"+tag)
				})
			}
			if err != nil {
				return fmt.Errorf("%s, run %d: %w", tool, i+1, err)
			}
			fmt.Printf("run %d %-7s %6.3fs  %3d round trips\n", i+1, tool, m.took.Seconds(), m.trips)
			results[tool] = append(results[tool], m)
		}
	}
	report(results, tools, "ours")
	ours, crane, skopeo := medianOf(results["ours"]), medianOf(results["crane"]), medianOf(results["skopeo"])
	fmt.Printf("our round trips: %d for 1 tag: resolving the tag, reading it again before it moves, putting the tag, and the connection's ping; plus 1 AWS API call (the ECR login) the peers are spared\n", ours.trips)
	fmt.Printf("target <= %.2fx crane copy and skopeo copy: %s\n", targetInPlaceRatio,
		verdict(ours.took.Seconds() <= targetInPlaceRatio*crane.took.Seconds() && ours.took.Seconds() <= targetInPlaceRatio*skopeo.took.Seconds()))
	return nil
}

// indexSection: a two-platform OCI layout (2 x 4 layers of 8 MB,
// incompressible) pushed to a new repository by each tool.
func indexSection(ctx context.Context, o options, sb *sandbox.Sandbox, peers *peerEnv, work, nonce string) error {
	fmt.Printf("\n== a two-platform index pushed from an OCI layout (2 x 4 layers of 8 MB, new content each run)\n")
	front := sb.RegistryHost(account)
	results := map[string][]measured{}
	tools := indexTools
	for i := range o.runs {
		idx, err := sandboxtest.PlatformIndex(8<<20, 4, "linux/amd64", "linux/arm64")
		if err != nil {
			return err
		}
		dir := filepath.Join(work, fmt.Sprintf("layout-%d", i))
		if err := sandboxtest.WriteLayout(dir, idx); err != nil {
			return err
		}
		// crane index append composes an index of images in the registry:
		// each platform is pushed from a layout of its own first.
		m, _ := idx.IndexManifest()
		var platformDirs []string
		for j, d := range m.Manifests {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return err
			}
			pd := filepath.Join(work, fmt.Sprintf("layout-%d-%d", i, j))
			if err := sandboxtest.WriteLayout(pd, img); err != nil {
				return err
			}
			platformDirs = append(platformDirs, pd)
		}
		order := append(slices.Clone(tools[i%len(tools):]), tools[:i%len(tools)]...)
		for _, tool := range order {
			repo := indexRepo(tool, i)
			var m measured
			var err error
			switch tool {
			case "ours":
				m, _, err = pushOurs(ctx, sb, "oci:"+dir, front+"/"+repo, []string{"v1"})
			case "skopeo":
				m, err = peerRun(peers, func() error {
					return peers.skopeo("--all", "oci:"+dir, "docker://"+peers.proxy.host+"/"+repo+":v1")
				})
			case "crane-push":
				m, err = peerRun(peers, func() error { return peers.crane("push", dir, peers.proxy.host+"/"+repo+":v1") })
			case "crane-index":
				m, err = peerRun(peers, func() error {
					args := []string{"index", "append", "-t", peers.proxy.host + "/" + repo + ":v1"}
					for j, pd := range platformDirs {
						ref := fmt.Sprintf("%s/%s:p%d", peers.proxy.host, repo, j)
						if err := peers.crane("push", pd, ref); err != nil {
							return err
						}
						args = append(args, "-m", ref)
					}
					return peers.crane(args...)
				})
			}
			if err != nil {
				return fmt.Errorf("%s, run %d: %w", tool, i+1, err)
			}
			fmt.Printf("run %d %-11s %6.3fs  %3d round trips\n", i+1, tool, m.took.Seconds(), m.trips)
			results[tool] = append(results[tool], m)
		}
		// Temporary copies under the benchmark's own directory: what stays
		// goes with it.
		_ = os.RemoveAll(dir)
		for _, pd := range platformDirs {
			_ = os.RemoveAll(pd)
		}
	}
	report(results, tools, "ours")
	return nil
}

// indexRepo is the repository a tool pushes the index to in run i.
func indexRepo(tool string, i int) string { return fmt.Sprintf("bench/index-%s-%d", tool, i) }

// indexTools are the tools of the index section.
var indexTools = []string{"ours", "skopeo", "crane-push", "crane-index"}

// registryRepositories are the repositories the registry sections use,
// which the sandbox's world must hold before it starts.
func registryRepositories(runs int) []string {
	repos := []string{inPlaceRepo}
	for i := range runs {
		for _, tool := range indexTools {
			repos = append(repos, indexRepo(tool, i))
		}
	}
	return repos
}

func basic(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// peerRun times a peer tool's run and counts the requests it sent through
// the proxy.
func peerRun(peers *peerEnv, f func() error) (measured, error) {
	before := peers.proxy.n.Load()
	start := time.Now()
	err := f()
	return measured{took: time.Since(start), trips: peers.proxy.n.Load() - before}, err
}

func medianOf(ms []measured) measured {
	s := slices.Clone(ms)
	slices.SortFunc(s, func(a, b measured) int { return int(a.took - b.took) })
	trips := make([]int64, len(ms))
	for i, m := range ms {
		trips[i] = m.trips
	}
	slices.Sort(trips)
	return measured{took: s[len(s)/2].took, trips: trips[len(trips)/2]}
}

// report prints each tool's medians, and their ratios to ours.
func report(results map[string][]measured, tools []string, base string) {
	fmt.Printf("medians of %d runs\n%-11s %9s %12s %13s\n", len(results[base]), "tool", "time", "round trips", "ours/tool")
	b := medianOf(results[base])
	for _, tool := range tools {
		m := medianOf(results[tool])
		fmt.Printf("%-11s %8.3fs %12d %12.2fx\n", tool, m.took.Seconds(), m.trips, b.took.Seconds()/m.took.Seconds())
	}
}
