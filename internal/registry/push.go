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
)

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
	go wd.watch(ctx, cancel, t.host)
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

	opts := p.remote.options(ctx)
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, err
	}
	up, err := remote.NewPusher(append(opts, remote.WithProgress(updates))...)
	if err != nil {
		return nil, err
	}

	res, err := p.pushWith(ctx, puller, up, src, tags, refs, wd)
	if err != nil {
		var stall *stallError
		if cause := context.Cause(ctx); errors.As(cause, &stall) {
			return nil, fmt.Errorf("push to %s: %w", t.uri(), stall)
		}
		return nil, err
	}
	return res, nil
}

func (p *pusher) pushWith(ctx context.Context, puller *remote.Puller, up *remote.Pusher, src imageSource, tags []string, refs []name.Tag, wd *watchdog) (*PushResult, error) {
	t := p.target
	// What the tags point at now decides whether there is anything to do:
	// a tag already on this very image needs nothing, and a tag on another
	// image of an immutable repository is an error before any upload.
	existing, err := p.existingTags(ctx, puller, tags, refs)
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
	)
	if same != nil {
		p.logf("image already in %s as %s: no layer to push", t.uri(), same.Digest)
		manifest, digest = same, same.Digest
	} else {
		img, err := p.uploadAll(ctx, up, src, wd)
		if err != nil {
			return nil, err
		}
		if digest, err = img.Digest(); err != nil {
			return nil, fmt.Errorf("push to %s: the manifest of %s: %w", t.uri(), src, err)
		}
		manifest = img
	}
	if t.immutable {
		for _, tag := range tags {
			if d := existing[tag]; d != nil && d.Digest != digest {
				return nil, immutableError(tag, t, d.Digest)
			}
		}
	}
	if p.beforeTags != nil {
		// Waiting for the plan moves no byte: it is not a stall.
		resume := wd.pause()
		err := p.beforeTags(ctx)
		resume()
		if err != nil {
			return nil, err
		}
	}
	for i, tag := range tags {
		if d := existing[tag]; d != nil && d.Digest == digest {
			p.logf("tag %s already points at %s", tag, digest)
			continue
		}
		err := p.retry.Do(ctx, "push tag "+tag+" to "+t.uri(), func(ctx context.Context) error {
			return up.Put(ctx, refs[i], manifest)
		})
		if err != nil {
			var te *transport.Error
			if errors.As(err, &te) && len(te.Errors) > 0 && te.Errors[0].Code == transport.TagInvalidErrorCode {
				return nil, fmt.Errorf("push tag %s to %s: %s (the tag is taken by another image in an immutable repository: push under a new tag)", tag, t.uri(), te.Errors[0].Message)
			}
			return nil, explain(fmt.Errorf("push tag %s: %w", tag, err), t)
		}
		p.logf("tag %s -> %s", tag, digest)
	}
	repo := t.uri()
	p.mu.Lock()
	defer p.mu.Unlock()
	return &PushResult{
		Repository:    repo,
		ImageURI:      repo + ":" + tags[0],
		Digest:        digest.String(),
		Image:         repo + "@" + digest.String(),
		Tags:          append([]string(nil), tags...),
		LayersPushed:  p.pushed,
		LayersSkipped: p.skipped,
		BytesPushed:   p.bytes,
	}, nil
}

// existingTags reads what each tag points at now; a tag that does not
// exist is absent from the map. A role that may not read the repository's
// images (ecr:BatchGetImage) pushes without knowing, with a warning.
func (p *pusher) existingTags(ctx context.Context, puller *remote.Puller, tags []string, refs []name.Tag) (map[string]*remote.Descriptor, error) {
	existing, err := p.readTags(ctx, puller, tags, refs)
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusForbidden {
		p.warnf("the role may not read the tags of %s (ecr:BatchGetImage): the image is pushed without checking what they point at, so it is uploaded even if it is there already, and a re-run on an IMMUTABLE repository fails on the tag it pushed; grant the permission to avoid both", p.target.uri())
		return map[string]*remote.Descriptor{}, nil
	}
	return existing, err
}

func (p *pusher) readTags(ctx context.Context, puller *remote.Puller, tags []string, refs []name.Tag) (map[string]*remote.Descriptor, error) {
	existing := map[string]*remote.Descriptor{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for i, tag := range tags {
		g.Go(func() error {
			var d *remote.Descriptor
			err := p.retry.Do(gctx, "read tag "+tag+" of "+p.target.uri(), func(ctx context.Context) error {
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

// uploadAll uploads every layer of src, concurrently, as src hands them
// over, then its config, and returns the image.
func (p *pusher) uploadAll(ctx context.Context, up *remote.Pusher, src imageSource, wd *watchdog) (v1.Image, error) {
	g, gctx := errgroup.WithContext(ctx)
	// The reader holds one slot: it waits for a free one before handing
	// on the next layer, so compressed layers never pile up far ahead of
	// the uploads.
	g.SetLimit(p.jobs + 1)
	seen := map[v1.Hash]bool{}
	var img v1.Image
	g.Go(func() error {
		var err error
		img, err = src.read(gctx, func(l v1.Layer) error {
			d, err := l.Digest()
			if err != nil {
				return fmt.Errorf("read a layer of %s: %w", src, err)
			}
			if seen[d] {
				return nil
			}
			seen[d] = true
			if err := gctx.Err(); err != nil {
				return err
			}
			g.Go(func() error { return p.upload(gctx, up, "layer", l) })
			return nil
		}, wd.touch)
		if err != nil {
			return err
		}
		config, err := partial.ConfigLayer(img)
		if err != nil {
			return fmt.Errorf("read the config of %s: %w", src, err)
		}
		g.Go(func() error { return p.upload(gctx, up, "config", config) })
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return img, nil
}

// upload uploads one blob unless the registry has it, logging a layer's
// start and end.
func (p *pusher) upload(ctx context.Context, up *remote.Pusher, kind string, l v1.Layer) error {
	d, err := l.Digest()
	if err != nil {
		return err
	}
	size, err := l.Size()
	if err != nil {
		return err
	}
	label := fmt.Sprintf("%s %s (%s)", kind, shortDigest(d.String()), humanSize(size))
	tl := &trackedLayer{Layer: l}
	if kind == "layer" {
		tl.onOpen = func() { p.logf("%s: pushing", label) }
	}
	start := time.Now()
	err = p.retry.Do(ctx, "upload "+label+" to "+p.target.uri(), func(ctx context.Context) error {
		return up.Upload(ctx, p.remote.repo, tl)
	})
	if err != nil {
		return explain(fmt.Errorf("upload %s: %w", label, err), p.target)
	}
	uploaded := tl.opened.Load()
	p.mu.Lock()
	switch {
	case uploaded:
		p.bytes += size
		if kind == "layer" {
			p.pushed++
		}
	case kind == "layer":
		p.skipped++
	}
	p.mu.Unlock()
	switch {
	case kind != "layer":
	case uploaded:
		p.logf("%s: pushed in %.1fs", label, time.Since(start).Seconds())
	default:
		p.logf("%s: already in the registry", label)
	}
	return nil
}

// trackedLayer tells whether go-containerregistry read the layer to upload
// it, or found it in the registry already.
type trackedLayer struct {
	v1.Layer
	onOpen func()
	once   sync.Once
	opened atomic.Bool
}

func (l *trackedLayer) Compressed() (io.ReadCloser, error) {
	l.once.Do(func() {
		l.opened.Store(true)
		if l.onOpen != nil {
			l.onOpen()
		}
	})
	return l.Layer.Compressed()
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

// watch cancels the push with a *stallError once nothing has moved for the
// timeout, or returns when ctx ends.
func (w *watchdog) watch(ctx context.Context, cancel context.CancelCauseFunc, host string) {
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
				cancel(&stallError{host: host, timeout: w.timeout})
				return
			}
		}
	}
}

// stallError is a push cancelled for making no progress.
type stallError struct {
	host    string
	timeout time.Duration
}

func (e *stallError) Error() string {
	return fmt.Sprintf("the push made no progress for %s: nothing was read from the image or sent to the registry %s (it accepts connections but does not answer, or the image source stopped); try again, and check the registry's and the network's health", e.timeout, e.host)
}
