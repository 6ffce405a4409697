package registry

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// spooledLayer is a layer of a save stream, compressed into a file of its
// own: a v1.Layer that go-containerregistry uploads like any other, and
// opens afresh for every attempt.
type spooledLayer struct {
	path   string
	digest v1.Hash // of the compressed file
	diffID v1.Hash // of the uncompressed tar
	size   int64
}

var _ v1.Layer = (*spooledLayer)(nil)

func (l *spooledLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *spooledLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *spooledLayer) Size() (int64, error)                { return l.size, nil }
func (l *spooledLayer) MediaType() (types.MediaType, error) { return types.DockerLayer, nil }
func (l *spooledLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }

func (l *spooledLayer) Uncompressed() (io.ReadCloser, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return &gzipFile{Reader: zr, f: f}, nil
}

// gzipFile closes the gzip reader and the file under it.
type gzipFile struct {
	*gzip.Reader
	f *os.File
}

func (g *gzipFile) Close() error {
	return errors.Join(g.Reader.Close(), g.f.Close())
}

// spoolLayer writes layer n of a save stream into dir, compressing it with
// gz unless it is compressed already, and hashes it on the way: the
// compressed digest names the blob, the uncompressed one (when this
// compresses it) checks it against the image config.
func spoolLayer(dir string, n int, r io.Reader, compressed bool, gz *parallelGzip) (*spooledLayer, error) {
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("layer-%03d.tar.gz", n)))
	if err != nil {
		return nil, err
	}
	// On an early return; the Close that counts is checked below.
	defer func() { _ = f.Close() }()
	blobHash := sha256.New()
	w := io.MultiWriter(f, blobHash)
	var (
		size int64
		diff hash.Hash
	)
	if compressed {
		size, err = io.Copy(w, r)
	} else {
		diff = sha256.New()
		size, err = gz.compress(w, r, diff)
	}
	if err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	l := &spooledLayer{path: f.Name(), digest: sha256Hash(blobHash), size: size}
	if diff != nil {
		l.diffID = sha256Hash(diff)
	}
	return l, nil
}

func sha256Hash(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}
