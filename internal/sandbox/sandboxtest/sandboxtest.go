// Package sandboxtest holds helpers for tests and benchmarks that run
// against the sandbox: starting it, fetching GitHub ID tokens from its token
// service, AWS clients and configurations whose credentials come from the
// web-identity flow, AWS errors as tests compare them, signed requests of
// other clients, the AWS CLI, pushing a random image, and small
// goroutine-safe test fixtures. Every service package of the sandbox tests
// itself through it, from an external _test package.
//
// The functions that take a context return errors, so that the benchmark
// programs can use them; the ones that take a testing.TB fail the test.
package sandboxtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/httpclient"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
)

// STSAudience is the audience the action asks its ID token for.
const STSAudience = "sts.amazonaws.com"

// Start starts the demo world, changed by mutate when it is not nil, with
// default options, and closes the sandbox when the test ends.
func Start(tb testing.TB, mutate func(w *sandbox.World)) *sandbox.Sandbox {
	tb.Helper()
	w := sandbox.DemoWorld()
	if mutate != nil {
		mutate(w)
	}
	return StartWorld(tb, w, sandbox.Options{})
}

// StartWorld starts a sandbox serving w with opts and closes it when the
// test ends.
func StartWorld(tb testing.TB, w *sandbox.World, opts sandbox.Options) *sandbox.Sandbox {
	tb.Helper()
	sb, err := sandbox.Start(context.Background(), w, opts)
	if err != nil {
		tb.Fatalf("start sandbox: %v", err)
	}
	tb.Cleanup(func() {
		if err := sb.Close(); err != nil {
			tb.Errorf("close sandbox: %v", err)
		}
	})
	return sb
}

// InRegion moves w to region: the world's region, and every ARN its roles,
// policies and task definitions name into the region's partition and the
// region itself, as a world built in that region would name them (ECS
// refuses a task definition whose roles are in another partition).
func InRegion(tb testing.TB, w *sandbox.World, region string) {
	tb.Helper()
	p, ok := partition.ForRegion(region)
	if !ok {
		tb.Fatalf("region %q is in no partition", region)
	}
	data, err := json.Marshal(w)
	if err != nil {
		tb.Fatal(err)
	}
	from := regexp.MustCompile(`arn:aws:([a-z0-9-]*):` + regexp.QuoteMeta(w.Region) + `:`)
	data = from.ReplaceAll(data, []byte("arn:aws:${1}:"+region+":"))
	data = bytes.ReplaceAll(data, []byte(`"arn:aws:`), []byte(`"arn:`+p.ID+`:`))
	moved, err := sandbox.ParseWorld(data)
	if err != nil {
		tb.Fatalf("move the world to %s: %v", region, err)
	}
	moved.Region = region
	*w = *moved
}

// IDToken fetches a GitHub ID token for audience from the token service that
// env describes (ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN), as a job does.
func IDToken(ctx context.Context, env map[string]string, audience string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, env["ACTIONS_ID_TOKEN_REQUEST_URL"]+"&audience="+url.QueryEscape(audience), nil)
	if err != nil {
		return "", fmt.Errorf("request an ID token: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("request an ID token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("request an ID token: %s", resp.Status)
	}
	var body struct {
		Value string `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("decode the ID token response: %w", err)
	}
	if body.Value == "" {
		return "", errors.New("decode the ID token response: no token in it")
	}
	return body.Value, nil
}

// TokenRetriever fetches a fresh ID token for STS from the token service
// that Env describes on every call, as a job's credential refresh does. It
// is a stscreds.IdentityTokenRetriever.
type TokenRetriever struct{ Env map[string]string }

// GetIdentityToken fetches a new ID token.
func (r TokenRetriever) GetIdentityToken() ([]byte, error) {
	tok, err := IDToken(context.Background(), r.Env, STSAudience)
	return []byte(tok), err
}

// WebIdentityConfig returns an AWS configuration for the endpoint and region
// in env (AWS_ENDPOINT_URL, AWS_REGION) whose credentials come from the
// web-identity flow the action uses: a fresh ID token from the token service
// in env for every refresh, exchanged at STS for credentials of roleARN,
// cached until a second before they expire. An empty sessionName lets the
// SDK choose one.
func WebIdentityConfig(env map[string]string, roleARN, sessionName string) aws.Config {
	base := aws.Config{
		Region:       env["AWS_REGION"],
		BaseEndpoint: aws.String(env["AWS_ENDPOINT_URL"]),
	}
	provider := stscreds.NewWebIdentityRoleProvider(sts.NewFromConfig(base), roleARN, TokenRetriever{Env: env}, func(o *stscreds.WebIdentityRoleOptions) {
		if sessionName != "" {
			o.RoleSessionName = sessionName
		}
	})
	cfg := base.Copy()
	cfg.Credentials = aws.NewCredentialsCache(provider, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = time.Second
	})
	return cfg
}

// PushRandomImage pushes a small random image to ref (REGISTRY/NAME:TAG
// on one of sb's ECR registries) with the registry login cfg's credentials
// get from ECR, and returns the image's digest.
func PushRandomImage(ctx context.Context, sb *sandbox.Sandbox, cfg aws.Config, ref string) (string, error) {
	img, err := random.Image(1024, 2)
	if err != nil {
		return "", fmt.Errorf("make a random image: %w", err)
	}
	return Push(ctx, sb, cfg, ref, img)
}

// Push pushes an image or an index to ref (REGISTRY/NAME:TAG on one of
// sb's ECR registries, by its ECR host name or its plain entrance) with a
// registry password cfg's credentials get from ECR for the account of
// that registry (registryID, or the caller's when empty), and returns its
// digest.
func Push(ctx context.Context, sb *sandbox.Sandbox, cfg aws.Config, ref string, t remote.Taggable, registryID ...string) (string, error) {
	password, err := RegistryPassword(ctx, cfg, registryID...)
	if err != nil {
		return "", err
	}
	r, err := Reference(ref)
	if err != nil {
		return "", err
	}
	err = remote.Push(r, t, remote.WithContext(ctx), remote.WithTransport(sb.Transport(nil)),
		remote.WithAuth(&authn.Basic{Username: "AWS", Password: password}))
	if err != nil {
		return "", fmt.Errorf("push %s: %w", r, err)
	}
	d, err := t.(interface{ Digest() (v1.Hash, error) }).Digest()
	if err != nil {
		return "", fmt.Errorf("digest: %w", err)
	}
	return d.String(), nil
}

// Reference parses an image reference on a sandbox's registry as
// go-containerregistry's clients read it: over TLS for an ECR host name,
// over plain HTTP for a loopback address (a plain entrance, a test
// registry).
func Reference(ref string) (name.Reference, error) {
	var opts []name.Option
	if host, _, ok := strings.Cut(ref, "/"); ok && isLoopback(host) {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("parse reference %s: %w", ref, err)
	}
	return r, nil
}

// isLoopback reports whether host[:port] is a loopback address.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// HTTPClient is a client for a run against sb: httpclient's transport,
// with timeouts t (its defaults where zero), reaching sb as
// Sandbox.Transport does (the ECR registry hosts by name over TLS, every
// other endpoint on loopback, no name looked up).
func HTTPClient(sb *sandbox.Sandbox, t httpclient.Timeouts) *http.Client {
	return &http.Client{Transport: sb.Transport(httpclient.NewTransport(t))}
}

// RegistryPassword is a registry password ECR's GetAuthorizationToken gives
// cfg's credentials, for the registry of registryID (the caller's account
// when empty).
func RegistryPassword(ctx context.Context, cfg aws.Config, registryID ...string) (string, error) {
	// The sandbox's ECR lends one password per account's registry, and a
	// test of another account's front names it.
	in := &ecr.GetAuthorizationTokenInput{RegistryIds: registryID} //nolint:staticcheck // SA1019: the sandbox answers for the registry named
	out, err := ecr.NewFromConfig(cfg).GetAuthorizationToken(ctx, in)
	if err != nil {
		return "", fmt.Errorf("ECR GetAuthorizationToken: %w", err)
	}
	if len(out.AuthorizationData) == 0 {
		return "", errors.New("ECR GetAuthorizationToken: no authorization data")
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
	if err != nil {
		return "", fmt.Errorf("decode the ECR authorization token: %w", err)
	}
	_, password, _ := strings.Cut(string(raw), ":")
	return password, nil
}

// PlatformImage is a random image of layers layers of size bytes each,
// wholly in OCI media types (manifest, config, gzipped layers) as BuildKit
// writes one, whose config declares the platform os/arch.
func PlatformImage(os, arch string, size, layers int64) (v1.Image, error) {
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for range layers {
		l, err := random.Layer(size, types.OCILayer)
		if err != nil {
			return nil, err
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = os, arch
	return mutate.ConfigFile(img, cf)
}

// PlatformIndex is an OCI image index of one PlatformImage per platform
// (os/arch), as docker buildx build --platform makes one.
func PlatformIndex(size, layers int64, platforms ...string) (v1.ImageIndex, error) {
	var adds []mutate.IndexAddendum
	for _, p := range platforms {
		os, arch, _ := strings.Cut(p, "/")
		img, err := PlatformImage(os, arch, size, layers)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: os, Architecture: arch}}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...), nil
}

// WriteLayout writes an image or an index as buildx's OCI exporter does,
// into dir: index.json names it (an index names the images).
func WriteLayout(dir string, t remote.Taggable) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	switch t := t.(type) {
	case v1.ImageIndex:
		return p.AppendIndex(t)
	case v1.Image:
		return p.AppendImage(t)
	}
	return fmt.Errorf("write a layout of %T: neither an image nor an index", t)
}

// SyncBuffer is a buffer that goroutines or a process may write while a
// test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Clock is a sandbox clock (sandbox.Options.Now) that a test moves forward.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now is the wall clock moved forward by every Advance so far.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// SteppedClock is a sandbox clock (sandbox.Options.Now) that stands still
// until the test moves it: the simulated world changes only between the
// steps the test makes, however long the client takes between its calls.
// It starts at the wall clock's time, so that signatures made with the wall
// clock stay within the five minutes AWS allows.
type SteppedClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewSteppedClock returns a clock standing at the wall clock's time.
func NewSteppedClock() *SteppedClock { return &SteppedClock{now: time.Now()} }

// Now is where the clock stands.
func (c *SteppedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Step moves the clock forward by d.
func (c *SteppedClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
