package registry

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// imageSource is where an image comes from: a stream to read (a docker
// save stream, *tarSource) or an image or index in registry form
// (*artifactSource, and *registrySource for an image in a registry).
type imageSource interface {
	// String names the source for messages.
	String() string
	// Close releases what the source holds (temporary files, connections).
	Close() error
}

// ---- images and indexes in registry form: OCI layouts, images in memory.

// artifactSource is an image, or an image index with the images it lists,
// in registry form: its manifests are pushed byte for byte, so its digest
// is the one its layout, or its registry, recorded, and known before
// anything is read. Exactly one of image and index is set.
type artifactSource struct {
	name    string
	image   v1.Image
	index   v1.ImageIndex
	closeFn func() error
}

func (s *artifactSource) String() string { return s.name }

func (s *artifactSource) Close() error {
	if s.closeFn != nil {
		return s.closeFn()
	}
	return nil
}

// digest is the digest of the manifest (or index) pushed.
func (s *artifactSource) digest() (v1.Hash, error) {
	if s.index != nil {
		return s.index.Digest()
	}
	return s.image.Digest()
}

// taggable is what the tags are put on.
func (s *artifactSource) taggable() remote.Taggable {
	if s.index != nil {
		return s.index
	}
	return s.image
}

// openOCILayout reads an OCI image layout: what its index.json lists is
// pushed as it is. One entry, an image or an index (a multi-platform build
// exported by buildx), is pushed itself; several images for distinct
// platforms are pushed as the index that index.json is.
func openOCILayout(dir string) (*artifactSource, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read the OCI image layout %s: %w", dir, err)
	}
	src, err := pickFromIndex(idx, "the OCI image layout "+dir)
	if err != nil {
		return nil, fmt.Errorf("the OCI image layout %s: %w", dir, err)
	}
	return src, nil
}

// pickFromIndex chooses what an OCI layout's index.json stands for.
func pickFromIndex(idx v1.ImageIndex, name string) (*artifactSource, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read its index.json: %w", err)
	}
	var entries []v1.Descriptor
	for _, d := range im.Manifests {
		if d.MediaType.IsImage() || d.MediaType.IsIndex() {
			entries = append(entries, d)
		}
	}
	switch {
	case len(entries) == 0:
		return nil, errors.New("its index.json lists no image")
	case len(entries) == 1 && entries[0].MediaType.IsIndex():
		child, err := idx.ImageIndex(entries[0].Digest)
		if err != nil {
			return nil, fmt.Errorf("read index %s: %w", entries[0].Digest, err)
		}
		return &artifactSource{name: name, index: child}, nil
	case len(entries) == 1:
		img, err := idx.Image(entries[0].Digest)
		if err != nil {
			return nil, fmt.Errorf("read image %s: %w", entries[0].Digest, err)
		}
		return &artifactSource{name: name, image: img}, nil
	}
	seen := map[string]bool{}
	for _, d := range entries {
		if !d.MediaType.IsImage() || d.Platform == nil || d.Platform.Architecture == "" || seen[d.Platform.String()] {
			return nil, fmt.Errorf("its index.json lists %d images that are not one per platform (they are several builds, or tagged images): export one image, or one multi-platform index (docker buildx build --platform linux/amd64,linux/arm64 --output type=oci,dest=...)", len(entries))
		}
		seen[d.Platform.String()] = true
	}
	return &artifactSource{name: name, index: idx}, nil
}

// ---- images as tar streams: docker save output, from the engine or a file.

// tarSource reads a `docker save` stream once, front to back: each layer is
// compressed as it streams past into a temporary file of its own (hashing
// it on the way, both uncompressed and compressed), and handed on for
// upload while the next is read. Nothing holds the whole image, in memory
// or on disk, before its first layer uploads; memory stays flat whatever
// the image's size; the layer files let a failed upload start over without
// reading the stream again.
type tarSource struct {
	name         string
	open         func(ctx context.Context) (io.ReadCloser, error)
	configDigest string
	// platform is the image's platform when it is known before the image
	// is read (from the engine's inspection, or the archive's config); it
	// is known whenever configDigest is.
	platform *v1.Platform
	tmpDir   string
	closeFn  func() error
}

func (s *tarSource) String() string { return s.name }

// knownConfigDigest is the image's config digest when it is known before
// the image is read; "" otherwise.
func (s *tarSource) knownConfigDigest() string { return s.configDigest }

func (s *tarSource) Close() error {
	var err error
	if s.tmpDir != "" {
		err = os.RemoveAll(s.tmpDir)
	}
	if s.closeFn != nil {
		err = errors.Join(err, s.closeFn())
	}
	return err
}

// saveManifest is one entry of a docker save manifest.json.
type saveManifest struct {
	Config string   `json:"Config"`
	Layers []string `json:"Layers"`
}

// maxCompressWorkers bounds the goroutines compressing a layer, and so the
// blocks in memory (two each): past a few cores the upload, not the
// compression, sets the pace.
const maxCompressWorkers = 8

// maxMetadataBytes bounds the files of a save stream kept in memory
// (manifest.json, image configs); layers are never kept in memory.
const maxMetadataBytes = 16 << 20

// read reads the image, handing each layer to emit as soon as it is ready
// to upload, and returns the image those layers make up. It calls progress
// whenever it has read more of the image.
func (s *tarSource) read(ctx context.Context, emit func(v1.Layer) error, progress func()) (v1.Image, error) {
	rc, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	stream := progressReader{r: rc, progress: progress}
	if s.tmpDir == "" {
		if s.tmpDir, err = os.MkdirTemp("", "oidc-ecs-deploy-push-"); err != nil {
			return nil, fmt.Errorf("create a temporary directory for compressed layers: %w", err)
		}
	}

	metadata := map[string][]byte{}
	layers := map[string]*spooledLayer{} // by path in the archive
	links := map[string]string{}
	tr := tar.NewReader(bufio.NewReaderSize(stream, 256<<10))
	gz := newParallelGzip(min(max(runtime.GOMAXPROCS(0), 2), maxCompressWorkers))
	br := bufio.NewReaderSize(nil, 64<<10)
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", s, err)
		}
		name := path.Clean(h.Name)
		switch h.Typeflag {
		case tar.TypeSymlink, tar.TypeLink:
			target := h.Linkname
			if h.Typeflag == tar.TypeSymlink {
				// The names key an index in memory; nothing is extracted.
				target = path.Join(path.Dir(name), h.Linkname) //nolint:gosec // G305: no file is written under this name
			}
			links[name] = path.Clean(target)
			continue
		case tar.TypeReg:
		default:
			continue
		}
		br.Reset(tr)
		head, _ := br.Peek(512)
		if !looksLikeLayer(head) {
			if h.Size > maxMetadataBytes {
				continue
			}
			data, err := io.ReadAll(br)
			if err != nil {
				return nil, fmt.Errorf("read %s in %s: %w", name, s, err)
			}
			metadata[name] = data
			continue
		}
		l, err := spoolLayer(s.tmpDir, n, br, isGzip(head), gz)
		if err != nil {
			return nil, fmt.Errorf("read layer %s in %s: %w", name, s, err)
		}
		layers[name] = l
		if err := emit(l); err != nil {
			return nil, err
		}
	}
	return s.image(metadata, layers, links)
}

// image assembles the image of a save stream once it has been read: the
// manifest lists the layers in the order manifest.json gives, pointing at
// the compressed layers uploaded.
func (s *tarSource) image(metadata map[string][]byte, layers map[string]*spooledLayer, links map[string]string) (v1.Image, error) {
	var manifests []saveManifest
	if err := json.Unmarshal(metadata["manifest.json"], &manifests); err != nil || len(manifests) == 0 {
		return nil, fmt.Errorf("%s is not a docker save archive: it has no readable manifest.json", s)
	}
	m := manifests[0]
	config, ok := metadata[path.Clean(m.Config)]
	if !ok {
		return nil, fmt.Errorf("%s lacks the image config %s", s, m.Config)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(config))
	if err != nil {
		return nil, fmt.Errorf("read the image config in %s: %w", s, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("%s is inconsistent: its config lists %d layers, its manifest %d", s, len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	configDigest, configSize, err := v1.SHA256(bytes.NewReader(config))
	if err != nil {
		return nil, err
	}
	img := &tarImage{
		config:   config,
		byDigest: map[v1.Hash]*spooledLayer{},
		manifest: v1.Manifest{
			SchemaVersion: 2,
			MediaType:     types.DockerManifestSchema2,
			Config:        v1.Descriptor{MediaType: types.DockerConfigJSON, Size: configSize, Digest: configDigest},
		},
	}
	for i, p := range m.Layers {
		p = path.Clean(p)
		for hops := 0; hops < 8; hops++ {
			if t, ok := links[p]; ok {
				p = t
			}
		}
		l, ok := layers[p]
		if !ok {
			return nil, fmt.Errorf("%s lacks layer %s", s, p)
		}
		want := cfg.RootFS.DiffIDs[i]
		switch {
		case l.diffID == (v1.Hash{}):
			// A layer compressed in the archive: its config names its
			// uncompressed digest.
			l.diffID = want
		case l.diffID != want:
			return nil, fmt.Errorf("%s is corrupt: layer %s has digest %s, its config says %s", s, p, l.diffID, want)
		}
		img.manifest.Layers = append(img.manifest.Layers, v1.Descriptor{MediaType: types.DockerLayer, Size: l.size, Digest: l.digest})
		img.byDigest[l.digest] = l
	}
	if img.rawManifest, err = json.Marshal(img.manifest); err != nil {
		return nil, err
	}
	return partial.CompressedToImage(img)
}

// progressReader reports every read that got something.
type progressReader struct {
	r        io.Reader
	progress func()
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.progress()
	}
	return n, err
}

// tarImage is the image a save stream holds, in registry form.
type tarImage struct {
	config      []byte
	manifest    v1.Manifest
	rawManifest []byte
	byDigest    map[v1.Hash]*spooledLayer
}

var _ partial.CompressedImageCore = (*tarImage)(nil)

func (i *tarImage) RawConfigFile() ([]byte, error)      { return i.config, nil }
func (i *tarImage) MediaType() (types.MediaType, error) { return i.manifest.MediaType, nil }
func (i *tarImage) RawManifest() ([]byte, error)        { return i.rawManifest, nil }

func (i *tarImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := i.byDigest[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("the image has no layer %s", h)
}

// looksLikeLayer tells a layer (a tar, maybe gzipped) from metadata by its
// first block: a gzip header, a tar header, or the zero block of an empty tar.
func looksLikeLayer(head []byte) bool {
	if isGzip(head) {
		return true
	}
	if len(head) < 512 {
		return false
	}
	if bytes.HasPrefix(head[257:], []byte("ustar")) {
		return true
	}
	return bytes.Count(head, []byte{0}) == 512
}

func isGzip(head []byte) bool { return len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b }

// openDockerArchive reads a docker save tarball: an image index in it (a
// multi-platform image saved from the containerd image store, written as
// an OCI layout) is pushed whole; a single image is streamed.
func openDockerArchive(file string) (imageSource, error) {
	st, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("read the docker save archive: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("read the docker save archive %s: it is a directory (for an OCI image layout write oci:%s)", file, file)
	}
	name := "the docker save archive " + file
	info := scanArchive(file)
	if info.holdsIndex {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read the docker save archive: %w", err)
		}
		defer func() { _ = f.Close() }() // read only
		return openSavedLayout(f, name)
	}
	return &tarSource{
		name: name,
		open: func(context.Context) (io.ReadCloser, error) {
			f, err := os.Open(file)
			if err != nil {
				return nil, fmt.Errorf("read the docker save archive: %w", err)
			}
			return f, nil
		},
		configDigest: info.configDigest,
		platform:     info.platform,
	}, nil
}

// ShortDigest is the first 12 hex digits of a digest (sha256:... or the
// bare hex), as the run's lines name layers and images.
func ShortDigest(d string) string {
	_, hex, ok := strings.Cut(d, ":")
	if !ok {
		hex = d
	}
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}

var errNoImage = errors.New("no image to push")
