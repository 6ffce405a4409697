// Package registry pushes a container image, or a multi-platform image
// index, to Amazon ECR: it logs in with GetAuthorizationToken (the password
// held in memory, and sent to that registry only), reads the image from the
// Docker engine, an OCI image layout, a docker save archive or another
// registry (with the runner's Docker config credential for that registry
// only), and uploads it with go-containerregistry, streaming, mounting and
// skipping what the registry already has.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/retry"
)

// PushRequest says what to push where.
type PushRequest struct {
	// Image is the `image` input: a local image in the Docker engine (name,
	// name:tag or ID), oci:PATH (an OCI image layout),
	// docker-archive:PATH (a docker save tarball) or docker://REFERENCE
	// (an image or index in a registry, by tag or digest).
	Image string
	// Source, when set, is pushed instead of Image: an image already in
	// memory (the demo generates one).
	Source v1.Image
	// Repository is the `repository` input: an ECR repository name in the
	// role's account and region, or a full repository URI
	// (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME). A URI must name the
	// registry the role's ECR login is for.
	Repository string
	// Tags are pushed, every one; the first names the image in ImageURI.
	Tags []string
	// Getenv reads the environment (DOCKER_HOST, DOCKER_TLS_VERIFY,
	// DOCKER_CERT_PATH, DOCKER_API_VERSION; DOCKER_CONFIG, HOME and PATH
	// for a docker:// source's credential); os.Getenv in production.
	Getenv func(string) string
	// Mask is called with each form of every registry credential (the ECR
	// password, its Basic authorization, a Docker config password or
	// token) before anything could print it (::add-mask:: on a runner);
	// may be nil.
	Mask func(secret string)
	// HTTPClient's transport carries the registry requests (the run's, with
	// its timeouts); when nil, httpclient's transport with the default
	// dial, TLS handshake and response header timeouts.
	HTTPClient *http.Client
	// Noticef reports, once each, what the push did without for want of
	// an optional permission (a notice annotation on a runner); a line on
	// the progress writer when nil.
	Noticef func(format string, args ...any)
	// Retry is the run's retry policy: a registry call that fails
	// transiently is made again by it, paid from the run's budget; a
	// policy of the push's own, logging to the progress writer, when nil.
	Retry *retry.Policy
	// Concurrency bounds parallel blob uploads; 4 when zero.
	Concurrency int
	// StallTimeout fails a push during which no byte was read from the
	// image or sent to the registry for that long; 3 minutes when zero.
	StallTimeout time.Duration
	// OnRepository, when set, is called with the repository URI (host/name)
	// as soon as it is known, before any upload: the deploy reads the
	// services and their task definitions meanwhile.
	OnRepository func(uri string)
	// BeforeTags, when set, is called once every blob, and every manifest
	// an index lists, is in the repository, and before any tag is written
	// (the manifest put): an error stops the push with every tag where it
	// was. The deploy's plan, and the image's platforms against the task
	// definitions, are checked there, so that a deploy that cannot happen
	// moves no tag.
	BeforeTags func(ctx context.Context, image PushedImage) error
	// ProgressInterval is the least time between two progress lines of a
	// layer being uploaded (bytes done, rate, time left); 5 seconds when
	// zero. A layer that takes less has only its start and end lines.
	ProgressInterval time.Duration
	// Now is the clock of the progress lines and the layers' timings;
	// time.Now when nil.
	Now func() time.Time
}

// PushedImage is what a push put in the repository, before its tags move.
type PushedImage struct {
	// Repository is the repository URI, host/name.
	Repository string
	// Digest is the digest of the image manifest, or of the index.
	Digest string
	// Index reports an image index (a multi-platform image).
	Index bool
	// Platforms are the image's platform, or those of the images the
	// index lists (attestations aside), in the index's order.
	Platforms []v1.Platform
}

// PushResult is what a push produced.
type PushResult struct {
	// Repository is the repository URI, host/name.
	Repository string
	// ImageURI is repository:first tag.
	ImageURI string
	// Digest is the manifest digest, sha256:..., of the index for a
	// multi-platform image.
	Digest string
	// Image is repository@digest: what a task definition pins.
	Image string
	// Tags are the tags that now point at Digest.
	Tags []string
	// Index reports an image index; Platforms are the platforms pushed
	// (os/architecture[/variant]).
	Index     bool
	Platforms []string
	// Source is the image a docker:// source resolved to,
	// REGISTRY/NAME@sha256:...; empty for other sources.
	Source string
	// LayersPushed, LayersMounted and LayersSkipped count the layers
	// uploaded, those the registry mounted from another of its
	// repositories, and those it already had; BytesPushed is what was
	// uploaded.
	LayersPushed  int
	LayersMounted int
	LayersSkipped int
	BytesPushed   int64
	// Layers are the image's layers as the push went: each one's upload,
	// or its check when the registry had it, in the order they ended.
	Layers []LayerTiming
}

// LayerTiming is when a layer was pushed.
type LayerTiming struct {
	// Digest is the layer's sha256:... digest, Size its compressed size.
	Digest string
	Size   int64
	// Uploaded is false when the registry had the layer already.
	Uploaded   bool
	Start, End time.Time
}

const (
	defaultConcurrency      = 4
	defaultStallTimeout     = 3 * time.Minute
	defaultProgressInterval = 5 * time.Second
)

// setDefaults fills in what the request leaves unset: notices go to
// progress as "notice:" lines.
func (req *PushRequest) setDefaults(progress io.Writer) {
	if req.Getenv == nil {
		req.Getenv = func(string) string { return "" }
	}
	if req.Noticef == nil {
		req.Noticef = func(format string, args ...any) { fmt.Fprintf(progress, "notice: "+format+"\n", args...) }
	}
	if req.Concurrency <= 0 {
		req.Concurrency = defaultConcurrency
	}
	if req.StallTimeout <= 0 {
		req.StallTimeout = defaultStallTimeout
	}
	if req.ProgressInterval <= 0 {
		req.ProgressInterval = defaultProgressInterval
	}
	if req.Now == nil {
		req.Now = time.Now
	}
}

// Push pushes req's image to ECR with the credentials of awsCfg and reports
// progress to progress, one line per layer as it starts and as it ends.
func Push(ctx context.Context, awsCfg aws.Config, req PushRequest, progress io.Writer) (*PushResult, error) {
	if progress == nil {
		progress = io.Discard
	}
	if len(req.Tags) == 0 {
		return nil, errors.New("push: no tag to push (the tags input defaults to the commit SHA, GITHUB_SHA)")
	}
	if req.Repository == "" {
		return nil, errors.New("push: no repository given (an ECR repository name, e.g. my-api, or its URI)")
	}
	req.setDefaults(progress)
	api := ecr.NewFromConfig(awsCfg)

	// The repository lookup, the login and finding the image are
	// independent round trips: a re-push that has nothing to upload is
	// mostly these, so they run at once.
	var (
		t     target
		creds *ecrLogin
		src   imageSource
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		t, err = resolveTarget(gctx, api, req.Repository, req.Noticef)
		return err
	})
	g.Go(func() error {
		// A repository named without its registry is in the caller's
		// account, whose password GetAuthorizationToken returns by default.
		pre, err := parseRepository(req.Repository)
		if err != nil {
			return err
		}
		creds, err = login(gctx, api, pre)
		if err == nil && req.Mask != nil {
			for _, s := range creds.secrets() {
				req.Mask(s)
			}
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
		defer func() { _ = src.Close() }() // its content was read in full, or the push failed
	}
	if err != nil {
		return nil, err
	}
	if t.host == "" {
		// A name ECR did not resolve: the login's registry.
		t.host = creds.endpoint.Host
	}
	if err := creds.checkTarget(t); err != nil {
		return nil, err
	}
	if req.OnRepository != nil {
		req.OnRepository(t.uri())
	}
	r, err := newRemote(creds, t, req)
	if err != nil {
		return nil, err
	}
	defer r.close()
	p := &pusher{out: progress, noticef: req.Noticef, remote: r, target: t, retry: req.Retry, stallTimeout: req.StallTimeout,
		beforeTags: req.BeforeTags, slots: make(slots, req.Concurrency),
		progressEvery: req.ProgressInterval, now: req.Now}
	if p.retry == nil {
		p.retry = retry.New(retry.Options{Logf: p.logf})
	}
	if rs, ok := src.(*registrySource); ok {
		env := sourceEnv{api: api, target: t, login: creds, remote: r, req: req, logf: p.logf}
		defer rs.close()
		if err := rs.reach(ctx, env); err != nil {
			return nil, err
		}
	}
	return p.push(ctx, src, req.Tags)
}

// openSource reads the image input. A docker:// source is only parsed
// here: it is reached once the target's registry is known.
func openSource(ctx context.Context, req PushRequest) (imageSource, error) {
	if req.Source != nil {
		return &artifactSource{name: "the generated image", image: req.Source}, nil
	}
	switch {
	case req.Image == "":
		return nil, fmt.Errorf("push: %w (the image input names a local image, oci:PATH, docker-archive:PATH or docker://REFERENCE)", errNoImage)
	case strings.HasPrefix(req.Image, "oci:"):
		return nonNil(openOCILayout(strings.TrimPrefix(req.Image, "oci:")))
	case strings.HasPrefix(req.Image, "docker-archive:"):
		return openDockerArchive(strings.TrimPrefix(req.Image, "docker-archive:"))
	case strings.HasPrefix(req.Image, "docker://"):
		return nonNil(parseRegistrySource(strings.TrimPrefix(req.Image, "docker://")))
	}
	return openDockerEngine(ctx, strings.TrimPrefix(req.Image, "docker-daemon:"), req.Getenv, req.StallTimeout)
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
	out          io.Writer
	noticef      func(format string, args ...any)
	remote       *remoteRepo
	target       target
	retry        *retry.Policy
	stallTimeout time.Duration
	beforeTags   func(ctx context.Context, image PushedImage) error
	// slots bounds the blobs uploading at once; blobs sends each once.
	slots slots
	blobs blobJobs

	// progressEvery is the least time between two progress lines of a
	// layer; now is the clock.
	progressEvery time.Duration
	now           func() time.Time

	mu                       sync.Mutex
	pushed, mounted, skipped int
	bytes                    int64
	layers                   []LayerTiming
}

func (p *pusher) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, format+"\n", args...)
}

// HumanSize prints a byte count the way the run's lines show it: 12.5 MB.
func HumanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 2, 64) + " GB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " kB"
	}
	return strconv.FormatInt(n, 10) + " B"
}
