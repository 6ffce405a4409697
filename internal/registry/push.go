package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
)

// session is one push's clients of the target repository, and of the
// source registry for an image copied from one.
type session struct {
	puller *remote.Puller
	up     *remote.Pusher
	source *remote.Puller // nil unless the image comes from a registry
	wd     *watchdog
	refs   []name.Tag
}

// push uploads src to the repository and tags it.
func (p *pusher) push(ctx context.Context, src imageSource, tags []string) (*PushResult, error) {
	t := p.target
	refs := make([]name.Tag, len(tags))
	for i, tag := range tags {
		var err error
		if refs[i], err = p.remote.tag(tag); err != nil {
			return nil, err
		}
	}
	p.logf("pushing %s to %s (tags %s)", src, t.uri(), strings.Join(tags, ", "))

	// A push that moves no byte for stallTimeout is cancelled, with the
	// reason as the context's cause: what moves is the image read from its
	// source and the bytes go-containerregistry reports sent.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wd := newWatchdog(p.stallTimeout)
	go wd.watch(ctx, cancel, pushStalled(t.host, p.stallTimeout))
	updates := make(chan v1.Update, 64)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for range updates {
			wd.touch()
		}
	}()
	// Every call that reports progress has returned by the time push does.
	defer func() { close(updates); <-drained }()

	res, err := p.pushWith(ctx, src, tags, refs, wd, updates)
	if err != nil {
		var stall *stallError
		if cause := context.Cause(ctx); errors.As(cause, &stall) {
			return nil, fmt.Errorf("push to %s: %w", t.uri(), stall)
		}
		return nil, err
	}
	return res, nil
}

func (p *pusher) pushWith(ctx context.Context, src imageSource, tags []string, refs []name.Tag, wd *watchdog, updates chan<- v1.Update) (*PushResult, error) {
	// Each registry is pinged once, and its pullers and pushers share the
	// connection.
	if err := p.connect(ctx, p.remote.conn); err != nil {
		return nil, explain(err, p.target)
	}
	s := &session{wd: wd, refs: refs}
	var err error
	opts := p.remote.options(ctx)
	if s.puller, err = remote.NewPuller(opts...); err != nil {
		return nil, err
	}
	if s.up, err = remote.NewPusher(append(opts, remote.WithProgress(updates))...); err != nil {
		return nil, err
	}
	switch src := src.(type) {
	case *tarSource:
		return p.pushStream(ctx, s, src, tags)
	case *artifactSource:
		return p.pushArtifact(ctx, s, src, nil, tags)
	case *registrySource:
		if src.conn != p.remote.conn {
			if err := p.connect(ctx, src.conn); err != nil {
				return nil, fmt.Errorf("read %s: %w", src, err)
			}
		}
		if s.source, err = remote.NewPuller(src.conn.options(ctx)...); err != nil {
			return nil, err
		}
		if err := p.resolve(ctx, s, src); err != nil {
			return nil, err
		}
		return p.pushArtifact(ctx, s, src.artifactSource, src, tags)
	}
	return nil, fmt.Errorf("push: unknown image source %T", src)
}

// connect pings a registry, under the run's retry policy.
func (p *pusher) connect(ctx context.Context, c *conn) error {
	return p.retry.Do(ctx, "reach the registry "+c.registry.RegistryStr(), func(ctx context.Context) error {
		err := c.connect(ctx)
		if err != nil {
			// A failed ping is tried afresh.
			c.once = sync.Once{}
		}
		return err
	})
}

// pushStream pushes an image read from a docker save stream: the layers
// upload as they are compressed, while the stream is still being read.
func (p *pusher) pushStream(ctx context.Context, s *session, src *tarSource, tags []string) (*PushResult, error) {
	t := p.target
	// What the tags point at now decides whether there is anything to do:
	// a tag already on this very image needs nothing, and a tag on another
	// image of an immutable repository is an error before any upload.
	existing, err := p.existingTags(ctx, s.puller, tags, s.refs)
	if err != nil {
		return nil, explain(err, t)
	}
	var same *remote.Descriptor
	if cd := src.knownConfigDigest(); cd != "" {
		for _, tag := range tags {
			if d := existing[tag]; d != nil && configDigestOf(d) == cd {
				same = d
				break
			}
		}
		if t.immutable {
			for _, tag := range tags {
				if d := existing[tag]; d != nil && configDigestOf(d) != cd && (same == nil || d.Digest != same.Digest) {
					return nil, immutableError(tag, t, d.Digest)
				}
			}
		}
	}

	var (
		manifest remote.Taggable
		digest   v1.Hash
		platform v1.Platform
	)
	if same != nil {
		p.logf("image already in %s as %s: no layer to push", t.uri(), same.Digest)
		manifest, digest = same, same.Digest
		// A config digest is known with its platform (tarSource).
		platform = *src.platform
	} else {
		img, err := p.uploadStream(ctx, s, src)
		if err != nil {
			return nil, err
		}
		if digest, err = img.Digest(); err != nil {
			return nil, fmt.Errorf("push to %s: the manifest of %s: %w", t.uri(), src, err)
		}
		if platform, err = imagePlatform(img); err != nil {
			return nil, fmt.Errorf("push to %s: the config of %s: %w", t.uri(), src, err)
		}
		manifest = img
	}
	pushed := PushedImage{Repository: t.uri(), Digest: digest.String(), Platforms: []v1.Platform{platform}}
	if err := p.tagAll(ctx, s, manifest, pushed, tags, existing, ""); err != nil {
		return nil, err
	}
	return p.result(pushed, tags, ""), nil
}

// pushArtifact pushes an image or an index in registry form: an OCI
// layout, an image in memory, or an image in a registry (rs). Its digest
// is known before anything is sent, so an image already in the repository
// is found with one request, and one from the repository itself is only
// tagged.
func (p *pusher) pushArtifact(ctx context.Context, s *session, a *artifactSource, rs *registrySource, tags []string) (*PushResult, error) {
	t := p.target
	digest, err := a.digest()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", a, err)
	}
	var (
		existing map[string]*remote.Descriptor
		present  bool
	)
	switch {
	case rs != nil && rs.inPlace:
		present = true
		p.logf("%s is in %s already (%s): nothing to copy", rs, t.uri(), digest)
	case rs != nil:
		// Tags are written without being read first: a tag that an
		// IMMUTABLE repository holds on this very image is found then.
		present = p.hasManifest(ctx, s, digest)
	default:
		if existing, err = p.existingTags(ctx, s.puller, tags, s.refs); err != nil {
			return nil, explain(err, t)
		}
		for _, tag := range tags {
			d := existing[tag]
			switch {
			case d == nil:
			case d.Digest == digest:
				present = true
			case t.immutable:
				return nil, immutableError(tag, t, d.Digest)
			}
		}
		present = present || p.hasManifest(ctx, s, digest)
	}
	if present && (rs == nil || !rs.inPlace) {
		p.logf("%s %s is in %s already: nothing to upload", kindOf(a), digest, t.uri())
	}
	if !present {
		if a.index != nil {
			err = p.uploadIndex(ctx, s, a.index, "")
		} else {
			err = p.uploadImage(ctx, s, a.image, "")
		}
		if err != nil {
			return nil, err
		}
	}
	pushed := PushedImage{Repository: t.uri(), Digest: digest.String(), Index: a.index != nil}
	if a.index != nil {
		pushed.Platforms, err = p.indexPlatforms(ctx, a.index)
	} else {
		var platform v1.Platform
		platform, err = p.platformOf(ctx, a.image)
		pushed.Platforms = []v1.Platform{platform}
	}
	if err != nil {
		return nil, explain(fmt.Errorf("read the platforms of %s: %w", a, err), t)
	}
	if a.index != nil {
		names := make([]string, len(pushed.Platforms))
		for i, pl := range pushed.Platforms {
			names[i] = platformName(pl)
		}
		p.logf("index %s: %s", digest, strings.Join(names, ", "))
	}
	sourceTag := ""
	source := ""
	if rs != nil {
		// The second read of a tag: it must still name what was copied.
		if err := p.recheck(ctx, s, rs); err != nil {
			return nil, err
		}
		source = rs.resolved()
		if tag, ok := rs.ref.(name.Tag); ok && rs.inPlace {
			sourceTag = tag.TagStr()
		}
	}
	if err := p.tagAll(ctx, s, a.taggable(), pushed, tags, existing, sourceTag); err != nil {
		return nil, err
	}
	return p.result(pushed, tags, source), nil
}

func withArticle(kind string) string {
	if kind == "index" {
		return "an index"
	}
	return "an image"
}

func kindOf(a *artifactSource) string {
	if a.index != nil {
		return "index"
	}
	return "image"
}

// hasManifest reports whether the repository holds the manifest digest;
// false when it cannot tell (a role that may not read it).
func (p *pusher) hasManifest(ctx context.Context, s *session, digest v1.Hash) bool {
	var found bool
	err := p.retry.Do(ctx, "look for "+digest.String()+" in "+p.target.uri(), func(ctx context.Context) error {
		_, err := s.puller.Head(ctx, p.remote.repo.Digest(digest.String()))
		if isManifestUnknown(err) {
			return nil
		}
		found = err == nil
		return err
	})
	return err == nil && found
}

// result is what the push reports.
func (p *pusher) result(pushed PushedImage, tags []string, source string) *PushResult {
	repo := p.target.uri()
	platforms := make([]string, len(pushed.Platforms))
	for i, pl := range pushed.Platforms {
		platforms[i] = platformName(pl)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return &PushResult{
		Repository:    repo,
		ImageURI:      repo + ":" + tags[0],
		Digest:        pushed.Digest,
		Image:         repo + "@" + pushed.Digest,
		Tags:          append([]string(nil), tags...),
		Index:         pushed.Index,
		Platforms:     platforms,
		Source:        source,
		LayersPushed:  p.pushed,
		LayersSkipped: p.skipped,
		LayersMounted: p.mounted,
		BytesPushed:   p.bytes,
		Layers:        append([]LayerTiming(nil), p.layers...),
	}
}

// tagAll checks the pushed image with BeforeTags, then puts its manifest
// under every tag. A tag that already points at it (existing, read before
// the push, or sourceTag, the tag it was resolved by in this very
// repository) is left alone; a tag an IMMUTABLE repository holds is fine
// when it holds it on this very image.
func (p *pusher) tagAll(ctx context.Context, s *session, manifest remote.Taggable, pushed PushedImage, tags []string, existing map[string]*remote.Descriptor, sourceTag string) error {
	t := p.target
	if p.beforeTags != nil {
		// Waiting for the deploy's plan moves no byte: it is not a stall.
		resume := s.wd.pause()
		err := p.beforeTags(ctx, pushed)
		resume()
		if err != nil {
			return err
		}
	}
	digest, err := v1.NewHash(pushed.Digest)
	if err != nil {
		return err
	}
	if t.immutable {
		for _, tag := range tags {
			if d := existing[tag]; d != nil && d.Digest != digest {
				return immutableError(tag, t, d.Digest)
			}
		}
	}
	for i, tag := range tags {
		if d := existing[tag]; (d != nil && d.Digest == digest) || tag == sourceTag {
			p.logf("tag %s already points at %s", tag, digest)
			continue
		}
		err := p.retry.Do(ctx, "push tag "+tag+" to "+t.uri(), func(ctx context.Context) error {
			return s.up.Put(ctx, s.refs[i], manifest)
		})
		var te *transport.Error
		if errors.As(err, &te) && len(te.Errors) > 0 && te.Errors[0].Code == transport.TagInvalidErrorCode {
			// An IMMUTABLE repository refuses to write a tag it holds,
			// even on the same image: that one is there already.
			if d, herr := s.puller.Head(ctx, s.refs[i]); herr == nil {
				if d.Digest == digest {
					p.logf("tag %s already points at %s", tag, digest)
					continue
				}
				return immutableError(tag, t, d.Digest)
			}
			return fmt.Errorf("push tag %s to %s: %s (the tag is taken by another image in an immutable repository: push under a new tag)", tag, t.uri(), te.Errors[0].Message)
		}
		if err != nil {
			return explain(fmt.Errorf("push tag %s: %w", tag, err), t)
		}
		p.logf("tag %s -> %s", tag, digest)
	}
	return nil
}

// existingTags reads what each tag points at now; a tag that does not
// exist is absent from the map. A role that may not read the repository's
// images (ecr:BatchGetImage) pushes without knowing, and says so once.
func (p *pusher) existingTags(ctx context.Context, puller *remote.Puller, tags []string, refs []name.Tag) (map[string]*remote.Descriptor, error) {
	existing, err := p.readTags(ctx, puller, tags, refs)
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusForbidden {
		resource := p.target.uri()
		if len(te.Errors) > 0 {
			if _, r, ok := policy.ParseDenied(te.Errors[0].Message); ok {
				resource = r
			}
		}
		p.noticef("%s", policy.CallECRReadTags.Notice(resource))
		return map[string]*remote.Descriptor{}, nil
	}
	return existing, err
}

func (p *pusher) readTags(ctx context.Context, puller *remote.Puller, tags []string, refs []name.Tag) (map[string]*remote.Descriptor, error) {
	existing := map[string]*remote.Descriptor{}
	var mu sync.Mutex
	// Not errgroup.WithContext: a descriptor read keeps its context, and
	// reads its image later on.
	var g errgroup.Group
	for i, tag := range tags {
		g.Go(func() error {
			var d *remote.Descriptor
			err := p.retry.Do(ctx, "read tag "+tag+" of "+p.target.uri(), func(ctx context.Context) error {
				var err error
				d, err = puller.Get(ctx, refs[i])
				if isManifestUnknown(err) {
					return nil
				}
				return err
			})
			switch {
			case err != nil:
				return fmt.Errorf("read tag %s: %w", tag, err)
			case d == nil:
				return nil
			}
			mu.Lock()
			existing[tag] = d
			mu.Unlock()
			return nil
		})
	}
	return existing, g.Wait()
}

func immutableError(tag string, t target, digest v1.Hash) error {
	return fmt.Errorf("tag %s already exists in the immutable repository %s on another image (%s) and cannot be overwritten: push under a new tag (the commit SHA), or make the repository MUTABLE", tag, t.uri(), digest)
}

// uploadStream uploads every layer of a stream source, concurrently, as
// the source hands them over, then its config, and returns the image.
func (p *pusher) uploadStream(ctx context.Context, s *session, src *tarSource) (v1.Image, error) {
	g, gctx := errgroup.WithContext(ctx)
	var img v1.Image
	g.Go(func() error {
		var err error
		img, err = src.read(gctx, func(l v1.Layer) error {
			if err := gctx.Err(); err != nil {
				return err
			}
			// The reader waits for an upload slot before handing on
			// the next layer, so compressed layers never pile up far
			// ahead of the uploads.
			release, err := p.slots.acquire(gctx)
			if err != nil {
				return err
			}
			g.Go(func() error {
				defer release()
				return p.upload(gctx, s, "layer", "", l, false)
			})
			return nil
		}, s.wd.touch)
		if err != nil {
			return err
		}
		config, err := partial.ConfigLayer(img)
		if err != nil {
			return fmt.Errorf("read the config of %s: %w", src, err)
		}
		g.Go(func() error { return p.uploadBlob(gctx, s, "config", "", config) })
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return img, nil
}

// uploadImage uploads an image's layers and config, concurrently, and then
// its manifest by digest when it is an index's child (label names its
// platform); a top-level image's manifest is put under the tags later.
func (p *pusher) uploadImage(ctx context.Context, s *session, img v1.Image, label string) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("read the layers of %s: %w", orImage(label), err)
	}
	config, err := partial.ConfigLayer(img)
	if err != nil {
		return fmt.Errorf("read the config of %s: %w", orImage(label), err)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, l := range layers {
		g.Go(func() error { return p.uploadBlob(gctx, s, "layer", label, l) })
	}
	g.Go(func() error { return p.uploadBlob(gctx, s, "config", label, config) })
	return g.Wait()
}

func orImage(label string) string {
	if label == "" {
		return "the image"
	}
	return "the " + label + " image"
}

// uploadIndex uploads every image an index lists (an index it lists, in
// turn, likewise), all at once, each manifest put by digest once its blobs
// are in: what the index names is in the repository before the index.
func (p *pusher) uploadIndex(ctx context.Context, s *session, idx v1.ImageIndex, label string) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("read the index: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, d := range im.Manifests {
		child := childLabel(label, d)
		ref := p.remote.repo.Digest(d.Digest.String())
		switch {
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return fmt.Errorf("read the %s image %s: %w", child, d.Digest, err)
			}
			g.Go(func() error {
				if err := p.uploadImage(gctx, s, img, child); err != nil {
					return err
				}
				return p.putChild(gctx, s, ref, img, child)
			})
		case d.MediaType.IsIndex():
			sub, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return fmt.Errorf("read the index %s it lists: %w", d.Digest, err)
			}
			g.Go(func() error {
				if err := p.uploadIndex(gctx, s, sub, child); err != nil {
					return err
				}
				return p.putChild(gctx, s, ref, sub, child)
			})
		default:
			return fmt.Errorf("the index lists %s of media type %q, which is neither an image nor an index: push it with a registry client that copies artifacts (crane copy, oras), then deploy it with docker://", d.Digest, d.MediaType)
		}
	}
	return g.Wait()
}

// childLabel names an index's entry in the log: its platform, or what it is.
func childLabel(parent string, d v1.Descriptor) string {
	label := ShortDigest(d.Digest.String())
	switch {
	case isAttestation(d):
		label = "attestation " + label
	case d.Platform != nil && d.Platform.Architecture != "":
		label = d.Platform.String()
	}
	if parent != "" {
		return parent + " " + label
	}
	return label
}

// putChild puts a manifest an index lists, by digest.
func (p *pusher) putChild(ctx context.Context, s *session, ref name.Digest, m remote.Taggable, label string) error {
	err := p.retry.Do(ctx, "push manifest "+label+" to "+p.target.uri(), func(ctx context.Context) error {
		return s.up.Put(ctx, ref, m)
	})
	if err != nil {
		return explain(fmt.Errorf("push the %s manifest %s: %w", label, ref.DigestStr(), err), p.target)
	}
	p.logf("%s manifest %s: pushed", label, ShortDigest(ref.DigestStr()))
	return nil
}

// uploadBlob uploads one blob, in one of the push's upload slots.
func (p *pusher) uploadBlob(ctx context.Context, s *session, kind, label string, l v1.Layer) error {
	return p.upload(ctx, s, kind, label, l, true)
}

// upload uploads one blob unless the registry has it, or mounts it from
// the repository of the registry it comes from, logging a layer's start
// and end; in an upload slot of its own when inSlot, or in the caller's.
// A blob that several images share is sent once; the others wait for it.
func (p *pusher) upload(ctx context.Context, s *session, kind, label string, l v1.Layer, inSlot bool) error {
	d, err := l.Digest()
	if err != nil {
		return err
	}
	return p.blobs.do(ctx, d, func() error {
		if inSlot {
			release, err := p.slots.acquire(ctx)
			if err != nil {
				return err
			}
			defer release()
		}
		return p.uploadOnce(ctx, s, kind, label, d, l)
	})
}

func (p *pusher) uploadOnce(ctx context.Context, s *session, kind, label string, d v1.Hash, l v1.Layer) error {
	size, err := l.Size()
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%s %s (%s)", kind, ShortDigest(d.String()), HumanSize(size))
	if label != "" {
		what = label + " " + what
	}
	tl := &trackedLayer{}
	var blob v1.Layer = tl
	if ml, ok := l.(*remote.MountableLayer); ok && ml.Reference.Context().RegistryStr() == p.remote.repo.RegistryStr() {
		// A blob of another repository of this registry: the registry
		// mounts it when it may, and the upload is what it falls back to.
		tl.Layer = ml.Layer
		blob = &remote.MountableLayer{Layer: tl, Reference: ml.Reference}
	} else if ok {
		tl.Layer = ml.Layer
	} else {
		tl.Layer = l
	}
	if kind == "layer" {
		tl.onOpen = func() { p.logf("%s: pushing", what) }
		tl.progress = &layerProgress{label: what, size: size, every: p.progressEvery, now: p.now, logf: p.logf}
	}
	start := p.now()
	err = p.retry.Do(ctx, "upload "+what+" to "+p.target.uri(), func(ctx context.Context) error {
		return s.up.Upload(ctx, p.remote.repo, blob)
	})
	if err != nil {
		return explain(fmt.Errorf("upload %s: %w", what, err), p.target)
	}
	uploaded := tl.opened.Load()
	mounted := !uploaded && p.remote.mounts.has(d.String())
	end := p.now()
	p.mu.Lock()
	if kind == "layer" {
		p.layers = append(p.layers, LayerTiming{Digest: d.String(), Size: size, Uploaded: uploaded, Start: start, End: end})
	}
	switch {
	case uploaded:
		p.bytes += size
		if kind == "layer" {
			p.pushed++
		}
	case kind != "layer":
	case mounted:
		p.mounted++
	default:
		p.skipped++
	}
	p.mu.Unlock()
	switch {
	case kind != "layer":
	case uploaded:
		p.logf("%s: pushed in %.1fs", what, end.Sub(start).Seconds())
	case mounted:
		p.logf("%s: mounted from %s", what, blob.(*remote.MountableLayer).Reference.Context().RepositoryStr())
	default:
		p.logf("%s: already in the registry", what)
	}
	return nil
}

// slots bounds the blobs uploading at once.
type slots chan struct{}

func (s slots) acquire(ctx context.Context) (release func(), err error) {
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// blobJobs runs each blob's upload once per push, however many images
// share it; the others wait for its outcome.
type blobJobs struct {
	mu   sync.Mutex
	jobs map[v1.Hash]*blobJob
}

type blobJob struct {
	done chan struct{}
	err  error
}

func (b *blobJobs) do(ctx context.Context, d v1.Hash, f func() error) error {
	b.mu.Lock()
	if b.jobs == nil {
		b.jobs = map[v1.Hash]*blobJob{}
	}
	j, running := b.jobs[d]
	if !running {
		j = &blobJob{done: make(chan struct{})}
		b.jobs[d] = j
	}
	b.mu.Unlock()
	if running {
		select {
		case <-j.done:
			return j.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	j.err = f()
	close(j.done)
	return j.err
}

// trackedLayer tells whether go-containerregistry read the layer to upload
// it, or found it in the registry already.
type trackedLayer struct {
	v1.Layer
	onOpen func()
	once   sync.Once
	opened atomic.Bool
	// progress, when set, reports the bytes read for the upload.
	progress *layerProgress
}

func (l *trackedLayer) Compressed() (io.ReadCloser, error) {
	l.once.Do(func() {
		l.opened.Store(true)
		if l.onOpen != nil {
			l.onOpen()
		}
	})
	rc, err := l.Layer.Compressed()
	if err != nil || l.progress == nil {
		return rc, err
	}
	// Every attempt reads the layer from its start.
	l.progress.restart()
	return &layerReader{ReadCloser: rc, p: l.progress}, nil
}

// watchdog notices a push that has stopped moving.
type watchdog struct {
	timeout time.Duration
	last    atomic.Int64 // unix nanoseconds of the last progress
	paused  atomic.Int32 // waits in progress that are not stalls
}

// pause stops the watchdog until the returned resume is called, for a
// wait that is not the registry's or the image's.
func (w *watchdog) pause() (resume func()) {
	w.paused.Add(1)
	return func() {
		w.touch()
		w.paused.Add(-1)
	}
}

func newWatchdog(timeout time.Duration) *watchdog {
	w := &watchdog{timeout: timeout}
	w.touch()
	return w
}

// touch records progress.
func (w *watchdog) touch() { w.last.Store(time.Now().UnixNano()) }

// watch cancels the push with stall once nothing has moved for the
// timeout, or returns when ctx ends.
func (w *watchdog) watch(ctx context.Context, cancel context.CancelCauseFunc, stall *stallError) {
	tick := time.NewTicker(max(w.timeout/8, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if w.paused.Load() > 0 {
				w.touch()
				continue
			}
			if now.Sub(time.Unix(0, w.last.Load())) >= w.timeout {
				cancel(stall)
				return
			}
		}
	}
}

// stallError is a push, or the export of an image, cancelled for making no
// progress.
type stallError struct {
	timeout time.Duration
	// what says what stood still.
	what string
}

// pushStalled is the stall of a push to host.
func pushStalled(host string, timeout time.Duration) *stallError {
	return &stallError{timeout: timeout, what: fmt.Sprintf("nothing was read from the image or sent to the registry %s (it accepts connections but does not answer, or the image source stopped)", host)}
}

func (e *stallError) Error() string {
	return fmt.Sprintf("the push made no progress for %s: %s; try again, and check the registry's and the network's health", e.timeout, e.what)
}
