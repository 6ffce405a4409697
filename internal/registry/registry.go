// Package registry pushes a container image to Amazon ECR: it logs in with
// GetAuthorizationToken (the password held in memory only), reads the image
// from the Docker engine, an OCI image layout or a docker save archive, and
// uploads it, streaming and skipping what the registry already has.
package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
)

// PushRequest says what to push where.
type PushRequest struct {
	// Image is the `image` input: a local image in the Docker engine (name,
	// name:tag or ID), oci:PATH (an OCI image layout) or docker-archive:PATH
	// (a docker save tarball).
	Image string
	// Source, when set, is pushed instead of Image: an image already in
	// memory (the demo generates one).
	Source v1.Image
	// Repository is the `repository` input: an ECR repository name in the
	// role's account and region, or a full repository URI
	// (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME, or host:port/NAME).
	Repository string
	// Tags are pushed, every one; the first names the image in ImageURI.
	Tags []string
	// Getenv reads the environment (DOCKER_HOST); os.Getenv in production.
	Getenv func(string) string
	// Mask is called with the registry password before anything could
	// print it (::add-mask:: on a runner); may be nil.
	Mask func(secret string)
	// HTTPClient talks to the registry; a default client when nil.
	HTTPClient *http.Client
	// Concurrency bounds parallel blob uploads; 4 when zero.
	Concurrency int
	// OnRepository, when set, is called with the repository URI (host/name)
	// as soon as it is known, before any upload: the deploy reads the
	// services and their task definitions meanwhile.
	OnRepository func(uri string)
}

// PushResult is what a push produced.
type PushResult struct {
	// Repository is the repository URI, host/name.
	Repository string
	// ImageURI is repository:first tag.
	ImageURI string
	// Digest is the manifest digest, sha256:...
	Digest string
	// Image is repository@digest: what a task definition pins.
	Image string
	// Tags are the tags that now point at Digest.
	Tags []string
	// LayersPushed and LayersSkipped count the layers uploaded and those
	// the registry already had; BytesPushed is what was uploaded.
	LayersPushed  int
	LayersSkipped int
	BytesPushed   int64
}

// ecrAPI is what Push calls of Amazon ECR.
type ecrAPI interface {
	DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput, optFns ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
	GetAuthorizationToken(ctx context.Context, in *ecr.GetAuthorizationTokenInput, optFns ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error)
}

// target is the repository a push goes to.
type target struct {
	host       string
	name       string
	registryID string // empty when unknown (a non-ECR host)
	region     string // empty: the configured region
	immutable  bool   // known only when DescribeRepositories answered
}

func (t target) uri() string { return t.host + "/" + t.name }

// Push pushes req's image to ECR with the credentials of awsCfg and reports
// progress to progress, one line per layer as it starts and as it ends.
func Push(ctx context.Context, awsCfg aws.Config, req PushRequest, progress io.Writer) (*PushResult, error) {
	if progress == nil {
		progress = io.Discard
	}
	if req.Getenv == nil {
		req.Getenv = func(string) string { return "" }
	}
	if len(req.Tags) == 0 {
		return nil, errors.New("push: no tag to push (the tags input defaults to the commit SHA, GITHUB_SHA)")
	}
	if req.Repository == "" {
		return nil, errors.New("push: no repository given (an ECR repository name, e.g. my-api, or its URI)")
	}
	p := &pusher{out: progress}
	api := ecr.NewFromConfig(awsCfg)

	// The repository lookup, the login and finding the image are
	// independent round trips: a re-push that has nothing to upload is
	// mostly these, so they run at once.
	var (
		t        target
		password string
		src      imageSource
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		t, err = resolveTarget(gctx, api, req.Repository)
		if err == nil && req.OnRepository != nil {
			req.OnRepository(t.uri())
		}
		return err
	})
	g.Go(func() error {
		// A repository named without its registry is in the caller's
		// account, whose password GetAuthorizationToken returns by default.
		pre, err := parseRepository(req.Repository)
		if err != nil {
			return err
		}
		password, err = login(gctx, api, pre)
		if err == nil && req.Mask != nil {
			req.Mask(password)
		}
		return err
	})
	g.Go(func() error {
		var err error
		src, err = openSource(gctx, req)
		return err
	})
	err := g.Wait()
	if src != nil {
		defer src.Close()
	}
	if err != nil {
		return nil, err
	}
	httpClient := req.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     30 * time.Second,
			ForceAttemptHTTP2:   true,
		}}
		defer httpClient.CloseIdleConnections()
	}
	c := newRepoClient(httpClient, t.host, t.name, "AWS", password)
	return p.push(ctx, c, t, src, req)
}

// resolveTarget finds the repository: by name through DescribeRepositories
// (which also fails clearly when it is missing), or from a URI.
func resolveTarget(ctx context.Context, api ecrAPI, repository string) (target, error) {
	t, err := parseRepository(repository)
	if err != nil {
		return t, err
	}
	if t.host != "" && t.registryID == "" {
		// A registry that is not on an amazonaws.com host (the sandbox's):
		// the registry itself answers for the repository.
		return t, nil
	}
	in := &ecr.DescribeRepositoriesInput{RepositoryNames: []string{t.name}}
	if t.registryID != "" {
		in.RegistryId = aws.String(t.registryID)
	}
	out, err := api.DescribeRepositories(ctx, in, withRegion(t.region))
	if err != nil {
		var nf *ecrtypes.RepositoryNotFoundException
		if errors.As(err, &nf) {
			where := "the role's account"
			if t.registryID != "" {
				where = "account " + t.registryID
			}
			return t, fmt.Errorf("ECR repository %q does not exist in %s (%s); create it, or name another with the repository input", t.name, where, aws.ToString(nf.Message))
		}
		return t, fmt.Errorf("look up ECR repository %q: %w", t.name, err)
	}
	if len(out.Repositories) == 0 {
		return t, fmt.Errorf("look up ECR repository %q: ECR returned no repository", t.name)
	}
	r := out.Repositories[0]
	uriHost, _, _ := strings.Cut(aws.ToString(r.RepositoryUri), "/")
	if t.host == "" {
		t.host = uriHost
	}
	t.registryID = aws.ToString(r.RegistryId)
	t.immutable = r.ImageTagMutability == ecrtypes.ImageTagMutabilityImmutable
	return t, nil
}

// parseRepository reads the repository input: a name, or a URI whose host
// may be an ECR registry (account and region in its name).
func parseRepository(repository string) (target, error) {
	var t target
	host, name, isURI := strings.Cut(repository, "/")
	if isURI && (strings.ContainsAny(host, ".:") || host == "localhost") {
		t.host, t.name = host, name
		if h, ok := partition.ParseECRRegistryHost(host); ok {
			t.registryID, t.region = h.Account, h.Region
		}
	} else {
		t.name = repository
	}
	if t.name == "" || strings.ContainsAny(t.name, ":@ ") {
		return t, fmt.Errorf("repository %q is neither an ECR repository name (my-api) nor a repository URI (123456789012.dkr.ecr.us-east-1.amazonaws.com/my-api)", repository)
	}
	return t, nil
}

func withRegion(region string) func(*ecr.Options) {
	return func(o *ecr.Options) {
		if region != "" {
			o.Region = region
		}
	}
}

// login fetches a registry password with GetAuthorizationToken. It stays in
// memory: nothing is written to a Docker config file.
func login(ctx context.Context, api ecrAPI, t target) (string, error) {
	in := &ecr.GetAuthorizationTokenInput{}
	if t.registryID != "" {
		in.RegistryIds = []string{t.registryID} //nolint:staticcheck // still how a registry other than the caller's is named
	}
	out, err := api.GetAuthorizationToken(ctx, in, withRegion(t.region))
	if err != nil {
		return "", fmt.Errorf("log in to ECR (GetAuthorizationToken) for %s: %w", t.uri(), err)
	}
	if len(out.AuthorizationData) == 0 {
		return "", fmt.Errorf("log in to ECR for %s: GetAuthorizationToken returned no authorization data", t.uri())
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
	if err != nil {
		return "", fmt.Errorf("log in to ECR for %s: the authorization token is not base64", t.uri())
	}
	user, password, ok := strings.Cut(string(raw), ":")
	if !ok || user != "AWS" || password == "" {
		return "", fmt.Errorf("log in to ECR for %s: the authorization token is not AWS:<password>", t.uri())
	}
	return password, nil
}

// openSource reads the image input.
func openSource(ctx context.Context, req PushRequest) (imageSource, error) {
	if req.Source != nil {
		return &v1Source{name: "the generated image", img: req.Source}, nil
	}
	switch {
	case req.Image == "":
		return nil, fmt.Errorf("push: %w (the image input names a local image, oci:PATH or docker-archive:PATH)", errNoImage)
	case strings.HasPrefix(req.Image, "oci:"):
		return nonNil(openOCILayout(strings.TrimPrefix(req.Image, "oci:")))
	case strings.HasPrefix(req.Image, "docker-archive:"):
		return nonNil(openDockerArchive(strings.TrimPrefix(req.Image, "docker-archive:")))
	}
	return nonNil(openDockerEngine(ctx, strings.TrimPrefix(req.Image, "docker-daemon:"), req.Getenv))
}

// nonNil keeps a failed opener's typed nil out of the interface.
func nonNil[S imageSource](src S, err error) (imageSource, error) {
	if err != nil {
		return nil, err
	}
	return src, nil
}

// pusher carries one push's progress output and counters.
type pusher struct {
	mu  sync.Mutex
	out io.Writer

	pushed, skipped int
	bytes           int64
}

func (p *pusher) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, format+"\n", args...)
}

// push uploads src to the repository and tags it.
func (p *pusher) push(ctx context.Context, c *repoClient, t target, src imageSource, req PushRequest) (*PushResult, error) {
	p.logf("pushing %s to %s (tags %s)", src, t.uri(), strings.Join(req.Tags, ", "))

	// What the tags point at now decides whether there is anything to do:
	// a tag already on this very image needs nothing, and a tag on another
	// image of an immutable repository is an error before any upload.
	existing := map[string]*remoteManifest{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, tag := range req.Tags {
		g.Go(func() error {
			m, err := c.getManifest(gctx, tag)
			if err != nil {
				return explain(fmt.Errorf("read tag %s: %w", tag, err), t)
			}
			if m != nil {
				mu.Lock()
				existing[tag] = m
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var same *remoteManifest
	if cd := src.knownConfigDigest(); cd != "" {
		for _, tag := range req.Tags {
			if m := existing[tag]; m != nil && configDigestOf(m.raw) == cd {
				same = m
				break
			}
		}
		if t.immutable {
			for _, tag := range req.Tags {
				if m := existing[tag]; m != nil && configDigestOf(m.raw) != cd && (same == nil || m.digest != same.digest) {
					return nil, immutableError(tag, t, m.digest)
				}
			}
		}
	}

	var manifest []byte
	var mediaType string
	if same != nil {
		p.logf("image already in %s as %s: no layer to push", t.uri(), same.digest)
		manifest, mediaType = same.raw, same.mediaType
	} else {
		var err error
		manifest, mediaType, err = p.uploadAll(ctx, c, t, src, req.Concurrency)
		if err != nil {
			return nil, err
		}
	}
	digest := digestOf(manifest)
	if t.immutable {
		for _, tag := range req.Tags {
			if m := existing[tag]; m != nil && m.digest != digest {
				return nil, immutableError(tag, t, m.digest)
			}
		}
	}
	for _, tag := range req.Tags {
		if m := existing[tag]; m != nil && m.digest == digest {
			p.logf("tag %s already points at %s", tag, digest)
			continue
		}
		if err := c.putManifest(ctx, tag, manifest, mediaType); err != nil {
			var re *RegistryError
			if errors.As(err, &re) && re.Code == "TAG_INVALID" {
				return nil, fmt.Errorf("push tag %s to %s: %s (the tag is taken by another image in an immutable repository: push under a new tag)", tag, t.uri(), re.Message)
			}
			return nil, explain(fmt.Errorf("push tag %s: %w", tag, err), t)
		}
		p.logf("tag %s -> %s", tag, digest)
	}
	repo := t.uri()
	return &PushResult{
		Repository:    repo,
		ImageURI:      repo + ":" + req.Tags[0],
		Digest:        digest,
		Image:         repo + "@" + digest,
		Tags:          append([]string(nil), req.Tags...),
		LayersPushed:  p.pushed,
		LayersSkipped: p.skipped,
		BytesPushed:   p.bytes,
	}, nil
}

func immutableError(tag string, t target, digest string) error {
	return fmt.Errorf("tag %s already exists in the immutable repository %s on another image (%s) and cannot be overwritten: push under a new tag (the commit SHA), or make the repository MUTABLE", tag, t.uri(), digest)
}

// uploadAll uploads every blob of src, concurrently, as src hands them over,
// and returns the manifest.
func (p *pusher) uploadAll(ctx context.Context, c *repoClient, t target, src imageSource, concurrency int) ([]byte, string, error) {
	if concurrency <= 0 {
		concurrency = 4
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency + 1)
	var manifest []byte
	var mediaType string
	seen := map[string]bool{}
	g.Go(func() error {
		var err error
		manifest, mediaType, err = src.produce(gctx, func(b blob) error {
			if seen[b.digest] {
				return nil
			}
			seen[b.digest] = true
			if gctx.Err() != nil {
				return gctx.Err()
			}
			g.Go(func() error { return p.uploadBlob(gctx, c, t, b) })
			return nil
		})
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, "", err
	}
	return manifest, mediaType, nil
}

func (p *pusher) uploadBlob(ctx context.Context, c *repoClient, t target, b blob) error {
	label := fmt.Sprintf("%s %s (%s)", b.kind, shortDigest(b.digest), humanSize(b.size))
	exists, err := c.blobExists(ctx, b.digest)
	if err != nil {
		return explain(fmt.Errorf("check %s: %w", label, err), t)
	}
	if exists {
		if b.kind == "layer" {
			p.mu.Lock()
			p.skipped++
			p.mu.Unlock()
			p.logf("%s: already in the registry", label)
		}
		return nil
	}
	start := time.Now()
	if b.kind == "layer" {
		p.logf("%s: pushing", label)
	}
	if err := c.uploadBlob(ctx, b.digest, b.size, b.open); err != nil {
		return explain(fmt.Errorf("upload %s: %w", label, err), t)
	}
	p.mu.Lock()
	if b.kind == "layer" {
		p.pushed++
	}
	p.bytes += b.size
	p.mu.Unlock()
	if b.kind == "layer" {
		p.logf("%s: pushed in %.1fs", label, time.Since(start).Seconds())
	}
	return nil
}

// configDigestOf reads the config digest of an image manifest; "" for an
// index or anything unreadable.
func configDigestOf(manifest []byte) string {
	var m struct {
		Config struct {
			Digest string `json:"digest"`
		} `json:"config"`
	}
	if json.Unmarshal(manifest, &m) != nil {
		return ""
	}
	return m.Config.Digest
}

// explain turns the registry's answers that a user must act on into
// sentences that say what is wrong and where.
func explain(err error, t target) error {
	var re *RegistryError
	if !errors.As(err, &re) {
		return fmt.Errorf("push to %s: %w", t.uri(), err)
	}
	switch {
	case re.StatusCode == http.StatusUnauthorized && strings.Contains(re.Message, "expired"):
		return fmt.Errorf("push to %s: the registry rejected the ECR password as expired (%s); log in again with GetAuthorizationToken: %w", t.uri(), re.Message, err)
	case re.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("push to %s: the registry rejected the ECR password (wrong, or issued for another registry): %w", t.uri(), err)
	case re.StatusCode == http.StatusForbidden:
		return fmt.Errorf("push to %s: the role is not allowed to push there (%s); grant it ecr:BatchCheckLayerAvailability, ecr:InitiateLayerUpload, ecr:UploadLayerPart, ecr:CompleteLayerUpload, ecr:PutImage and ecr:BatchGetImage on the repository: %w", t.uri(), re.Message, err)
	case re.Code == "NAME_UNKNOWN":
		return fmt.Errorf("push to %s: repository %q does not exist in registry %s (%s): %w", t.uri(), t.name, t.host, re.Message, err)
	}
	return fmt.Errorf("push to %s: %w", t.uri(), err)
}
