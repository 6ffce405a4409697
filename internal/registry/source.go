package registry

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// blob is content to upload: a layer or a config.
type blob struct {
	kind      string // "layer" or "config", for progress lines
	digest    string
	size      int64
	mediaType string
	// diffID is the digest of the uncompressed layer, when known.
	diffID string
	open   func() (io.ReadCloser, error)
}

// imageSource is where an image comes from.
type imageSource interface {
	// String names the source for messages.
	String() string
	// knownConfigDigest is the image's config digest when it is known
	// before the image is read; "" otherwise.
	knownConfigDigest() string
	// produce reads the image, handing each blob to emit as soon as it is
	// ready to upload, and returns the image manifest and its media type.
	produce(ctx context.Context, emit func(blob) error) (manifest []byte, mediaType string, err error)
	// Close releases what the source holds (temporary files, connections).
	Close() error
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
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

func (s *v1Source) produce(ctx context.Context, emit func(blob) error) ([]byte, string, error) {
	raw, err := s.img.RawManifest()
	if err != nil {
		return nil, "", fmt.Errorf("read the manifest of %s: %w", s, err)
	}
	mt, err := s.img.MediaType()
	if err != nil {
		return nil, "", fmt.Errorf("read the manifest of %s: %w", s, err)
	}
	layers, err := s.img.Layers()
	if err != nil {
		return nil, "", fmt.Errorf("read the layers of %s: %w", s, err)
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, "", fmt.Errorf("read a layer of %s: %w", s, err)
		}
		size, err := l.Size()
		if err != nil {
			return nil, "", fmt.Errorf("read layer %s of %s: %w", d, s, err)
		}
		lmt, _ := l.MediaType()
		if err := emit(blob{kind: "layer", digest: d.String(), size: size, mediaType: string(lmt), open: l.Compressed}); err != nil {
			return nil, "", err
		}
	}
	cfg, err := s.img.RawConfigFile()
	if err != nil {
		return nil, "", fmt.Errorf("read the config of %s: %w", s, err)
	}
	if err := emit(bytesBlob("config", cfg, "")); err != nil {
		return nil, "", err
	}
	return raw, string(mt), nil
}

func bytesBlob(kind string, b []byte, mediaType string) blob {
	return blob{kind: kind, digest: digestOf(b), size: int64(len(b)), mediaType: mediaType,
		open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
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
// compressed as it streams past into a temporary file (hashing it on the
// way, both uncompressed and compressed), and handed on for upload while
// the next is read. Memory stays flat whatever the image's size; the
// temporary files let a failed upload start over without reading the
// stream again.
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
		if cerr := s.closeFn(); err == nil {
			err = cerr
		}
	}
	return err
}

// saveManifest is one entry of a docker save manifest.json.
type saveManifest struct {
	Config string   `json:"Config"`
	Layers []string `json:"Layers"`
}

// maxMetadataBytes bounds the files of a save stream kept in memory
// (manifest.json, image configs); layers are never kept in memory.
const maxMetadataBytes = 16 << 20

func (s *tarSource) produce(ctx context.Context, emit func(blob) error) ([]byte, string, error) {
	rc, err := s.open(ctx)
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	if s.tmpDir == "" {
		if s.tmpDir, err = os.MkdirTemp("", "oidc-ecs-deploy-push-"); err != nil {
			return nil, "", fmt.Errorf("create a temporary directory for compressed layers: %w", err)
		}
	}

	metadata := map[string][]byte{}
	layers := map[string]blob{} // by path in the archive
	links := map[string]string{}
	tr := tar.NewReader(bufio.NewReaderSize(rc, 1<<20))
	workers := max(runtime.GOMAXPROCS(0), 2)
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", fmt.Errorf("read %s: %w", s, err)
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
		br := bufio.NewReaderSize(tr, 64<<10)
		head, _ := br.Peek(512)
		if !looksLikeLayer(head) {
			if h.Size > maxMetadataBytes {
				continue
			}
			data, err := io.ReadAll(br)
			if err != nil {
				return nil, "", fmt.Errorf("read %s in %s: %w", name, s, err)
			}
			metadata[name] = data
			continue
		}
		b, err := s.spool(br, head, n, workers)
		if err != nil {
			return nil, "", fmt.Errorf("read layer %s in %s: %w", name, s, err)
		}
		layers[name] = b
		if err := emit(b); err != nil {
			return nil, "", err
		}
	}

	var manifests []saveManifest
	if err := json.Unmarshal(metadata["manifest.json"], &manifests); err != nil || len(manifests) == 0 {
		return nil, "", fmt.Errorf("%s is not a docker save archive: it has no readable manifest.json", s)
	}
	m := manifests[0]
	config, ok := metadata[path.Clean(m.Config)]
	if !ok {
		return nil, "", fmt.Errorf("%s lacks the image config %s", s, m.Config)
	}
	var cfg struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, "", fmt.Errorf("read the image config in %s: %w", s, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, "", fmt.Errorf("%s is inconsistent: its config lists %d layers, its manifest %d", s, len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	type descriptor struct {
		MediaType string `json:"mediaType"`
		Size      int64  `json:"size"`
		Digest    string `json:"digest"`
	}
	out := struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Config        descriptor   `json:"config"`
		Layers        []descriptor `json:"layers"`
	}{SchemaVersion: 2, MediaType: mediaTypeDockerManifest}
	for i, p := range m.Layers {
		p = path.Clean(p)
		for hops := 0; hops < 8; hops++ {
			if t, ok := links[p]; ok {
				p = t
			}
		}
		b, ok := layers[p]
		if !ok {
			return nil, "", fmt.Errorf("%s lacks layer %s", s, p)
		}
		if b.diffID != "" && b.diffID != cfg.RootFS.DiffIDs[i] {
			return nil, "", fmt.Errorf("%s is corrupt: layer %s has digest %s, its config says %s", s, p, b.diffID, cfg.RootFS.DiffIDs[i])
		}
		out.Layers = append(out.Layers, descriptor{MediaType: mediaTypeDockerLayer, Size: b.size, Digest: b.digest})
	}
	cb := bytesBlob("config", config, mediaTypeDockerConfig)
	if err := emit(cb); err != nil {
		return nil, "", err
	}
	out.Config = descriptor{MediaType: mediaTypeDockerConfig, Size: cb.size, Digest: cb.digest}
	raw, err := json.MarshalIndent(out, "", "   ")
	if err != nil {
		return nil, "", err
	}
	return raw, mediaTypeDockerManifest, nil
}

// looksLikeLayer tells a layer (a tar, maybe gzipped) from metadata by its
// first block: a gzip header, a tar header, or the zero block of an empty tar.
func looksLikeLayer(head []byte) bool {
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
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

// spool compresses one layer into a temporary file (or copies it when it is
// compressed already), hashing it on the way.
func (s *tarSource) spool(r io.Reader, head []byte, n, workers int) (blob, error) {
	f, err := os.CreateTemp(s.tmpDir, fmt.Sprintf("layer-%03d-*.tar.gz", n))
	if err != nil {
		return blob{}, err
	}
	defer f.Close()
	compressed := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, compressed), 1<<20)
	var size int64
	var diff hash.Hash
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		size, err = io.Copy(w, r)
	} else {
		diff = sha256.New()
		size, err = parallelGzip(w, io.TeeReader(r, diff), workers)
	}
	if err != nil {
		return blob{}, err
	}
	if err := w.Flush(); err != nil {
		return blob{}, err
	}
	if err := f.Close(); err != nil {
		return blob{}, err
	}
	b := blob{
		kind:      "layer",
		digest:    "sha256:" + hex.EncodeToString(compressed.Sum(nil)),
		size:      size,
		mediaType: mediaTypeDockerLayer,
		open:      func() (io.ReadCloser, error) { return os.Open(f.Name()) },
	}
	if diff != nil {
		b.diffID = "sha256:" + hex.EncodeToString(diff.Sum(nil))
	}
	return b, nil
}

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
		if h.Typeflag == tar.TypeReg && h.Size < maxMetadataBytes && (h.Name == "manifest.json" || strings.HasSuffix(h.Name, ".json") || strings.HasPrefix(path.Clean(h.Name), "blobs/")) && h.Size < 1<<20 {
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
	return digestOf(cfg)
}

// openDockerEngine finds a local image in the Docker engine.
func openDockerEngine(ctx context.Context, ref string, getenv func(string) string) (*tarSource, error) {
	eng, err := newEngine(getenv("DOCKER_HOST"))
	if err != nil {
		return nil, err
	}
	id, err := eng.imageID(ctx, ref)
	if err != nil {
		eng.close()
		return nil, err
	}
	return &tarSource{
		name:         fmt.Sprintf("image %s (%s) in the Docker engine at %s", ref, shortDigest(id), eng.host),
		configDigest: id,
		open: func(ctx context.Context) (io.ReadCloser, error) {
			// Saving by ID, not by name, pins the image that was inspected
			// even if the name moves meanwhile.
			return eng.save(ctx, id, ref)
		},
		closeFn: func() error { eng.close(); return nil },
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
