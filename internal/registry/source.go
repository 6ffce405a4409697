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
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// imageSource is where an image comes from.
type imageSource interface {
	// String names the source for messages.
	String() string
	// knownConfigDigest is the image's config digest when it is known
	// before the image is read; "" otherwise.
	knownConfigDigest() string
	// read reads the image, handing each layer to emit as soon as it is
	// ready to upload, and returns the image those layers make up. It
	// calls progress whenever it has read more of the image.
	read(ctx context.Context, emit func(v1.Layer) error, progress func()) (v1.Image, error)
	// Close releases what the source holds (temporary files, connections).
	Close() error
}

// ---- images already in registry form: OCI layouts and in-memory images.

// v1Source pushes a go-containerregistry image as it is: its manifest is
// kept byte for byte, so its digest is the one the layout recorded.
type v1Source struct {
	name string
	img  v1.Image
}

func (s *v1Source) String() string { return s.name }

func (s *v1Source) knownConfigDigest() string {
	h, err := s.img.ConfigName()
	if err != nil {
		return ""
	}
	return h.String()
}

func (s *v1Source) Close() error { return nil }

func (s *v1Source) read(_ context.Context, emit func(v1.Layer) error, _ func()) (v1.Image, error) {
	layers, err := s.img.Layers()
	if err != nil {
		return nil, fmt.Errorf("read the layers of %s: %w", s, err)
	}
	for _, l := range layers {
		if err := emit(l); err != nil {
			return nil, err
		}
	}
	return s.img, nil
}

// openOCILayout picks the image to push from an OCI image layout: the only
// image, or the linux/amd64 one of several (ECS on Fargate runs linux/amd64
// unless told otherwise).
func openOCILayout(dir string) (*v1Source, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read the OCI image layout %s: %w", dir, err)
	}
	for depth := 0; depth < 4; depth++ {
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("read the index of the OCI image layout %s: %w", dir, err)
		}
		var pick *v1.Descriptor
		var images []v1.Descriptor
		for _, d := range im.Manifests {
			if d.MediaType.IsImage() || d.MediaType.IsIndex() {
				images = append(images, d)
			}
		}
		switch {
		case len(images) == 1:
			pick = &images[0]
		default:
			for i, d := range images {
				if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == "amd64" {
					pick = &images[i]
					break
				}
			}
		}
		if pick == nil {
			return nil, fmt.Errorf("the OCI image layout %s holds %d images and none is for linux/amd64: export one image", dir, len(images))
		}
		if pick.MediaType.IsIndex() {
			if idx, err = idx.ImageIndex(pick.Digest); err != nil {
				return nil, fmt.Errorf("read index %s in the OCI image layout %s: %w", pick.Digest, dir, err)
			}
			continue
		}
		img, err := idx.Image(pick.Digest)
		if err != nil {
			return nil, fmt.Errorf("read image %s in the OCI image layout %s: %w", pick.Digest, dir, err)
		}
		return &v1Source{name: "the OCI image layout " + dir, img: img}, nil
	}
	return nil, fmt.Errorf("the OCI image layout %s nests indexes too deeply", dir)
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
	tmpDir       string
	closeFn      func() error
}

func (s *tarSource) String() string            { return s.name }
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
		if err == io.EOF {
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
				target = path.Join(path.Dir(name), h.Linkname)
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

// openDockerArchive reads a docker save tarball.
func openDockerArchive(file string) (*tarSource, error) {
	st, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("read the docker save archive: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("read the docker save archive %s: it is a directory (for an OCI image layout write oci:%s)", file, file)
	}
	src := &tarSource{
		name: "the docker save archive " + file,
		open: func(context.Context) (io.ReadCloser, error) {
			f, err := os.Open(file)
			if err != nil {
				return nil, fmt.Errorf("read the docker save archive: %w", err)
			}
			return f, nil
		},
	}
	src.configDigest = archiveConfigDigest(file)
	return src, nil
}

// archiveConfigDigest reads the config digest of a docker save archive
// cheaply (tar skips over the layers of a file by seeking), so that a
// re-push of an image already in the registry can stop before compressing
// anything. "" when it cannot tell.
func archiveConfigDigest(file string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	tr := tar.NewReader(f)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Typeflag == tar.TypeReg && h.Size < 1<<20 && (h.Name == "manifest.json" || strings.HasSuffix(h.Name, ".json") || strings.HasPrefix(path.Clean(h.Name), "blobs/")) {
			data, err := io.ReadAll(tr)
			if err == nil {
				files[path.Clean(h.Name)] = data
			}
		}
	}
	var manifests []saveManifest
	if json.Unmarshal(files["manifest.json"], &manifests) != nil || len(manifests) == 0 {
		return ""
	}
	cfg, ok := files[path.Clean(manifests[0].Config)]
	if !ok {
		return ""
	}
	h, _, err := v1.SHA256(bytes.NewReader(cfg))
	if err != nil {
		return ""
	}
	return h.String()
}

// openDockerEngine finds a local image in the Docker engine.
func openDockerEngine(ctx context.Context, ref string, getenv func(string) string) (*tarSource, error) {
	eng, err := newEngine(getenv)
	if err != nil {
		return nil, err
	}
	id, err := eng.imageID(ctx, ref)
	if err != nil {
		eng.close()
		return nil, err
	}
	return &tarSource{
		name:         fmt.Sprintf("image %s (%s) in %s", ref, shortDigest(id), eng),
		configDigest: id,
		open:         func(ctx context.Context) (io.ReadCloser, error) { return eng.save(ctx, id, ref) },
		closeFn:      eng.close,
	}, nil
}

func shortDigest(d string) string {
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
