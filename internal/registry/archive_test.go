package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// tarEntry is one regular file of a tar stream a test writes.
type tarEntry struct {
	name    string
	content []byte
}

// tarOf is a tar stream of the given files, in their order.
func tarOf(tb testing.TB, entries ...tarEntry) []byte {
	tb.Helper()
	files := make([]tarFile, len(entries))
	for i, e := range entries {
		files[i] = tarFile{header: &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.content)), Typeflag: tar.TypeReg}, data: e.content}
	}
	return tarOfFiles(tb, files...)
}

// tarFile is one entry of a tar stream a test writes: its header, and the
// content of a regular file.
type tarFile struct {
	header *tar.Header
	data   []byte
}

// tarOfFiles is a tar stream of the given entries, in their order.
func tarOfFiles(tb testing.TB, files ...tarFile) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := tw.WriteHeader(f.header); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// imageConfig is an image config of the given platform, as docker writes
// it, padded with trailing spaces (which JSON ignores) to size bytes when
// size is larger.
func imageConfig(tb testing.TB, p v1.Platform, size int) []byte {
	tb.Helper()
	cfg, err := json.Marshal(v1.ConfigFile{
		OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion,
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	if pad := size - len(cfg); pad > 0 {
		cfg = append(cfg, bytes.Repeat([]byte(" "), pad)...)
	}
	return cfg
}

// saveManifestOf is the manifest.json docker save writes for one image
// whose config is at configPath in the archive.
func saveManifestOf(tb testing.TB, configPath string) []byte {
	tb.Helper()
	m, err := json.Marshal([]map[string]any{{"Config": configPath, "RepoTags": []string{"app:1"}, "Layers": []string{}}})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestDockerArchiveKnownImage reads what a docker save archive tells of
// its image before the image is read: the config digest (which lets a
// re-push of an image the registry has stop before compressing anything)
// is the config's own, whatever the archive names it, and the platform is
// the one the config declares. What it cannot tell stays unknown.
func TestDockerArchiveKnownImage(t *testing.T) {
	t.Parallel()
	arm := v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	windows := v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348.2227"}
	armConfig := imageConfig(t, arm, 0)
	windowsConfig := imageConfig(t, windows, 0)
	atLimit := imageConfig(t, arm, maxArchiveMetadataBytes)
	overLimit := imageConfig(t, arm, maxArchiveMetadataBytes+1)
	otherHex := sha256Hex([]byte("another config"))

	tests := []struct {
		name         string
		archive      []tarEntry
		configDigest string // "" for unknown
		platform     *v1.Platform
	}{
		{"config_under_blobs", []tarEntry{
			{"manifest.json", saveManifestOf(t, "blobs/sha256/"+sha256Hex(armConfig))},
			{"blobs/sha256/" + sha256Hex(armConfig), armConfig},
		}, "sha256:" + sha256Hex(armConfig), &arm},
		{"config_named_json", []tarEntry{
			{sha256Hex(windowsConfig) + ".json", windowsConfig},
			{"manifest.json", saveManifestOf(t, sha256Hex(windowsConfig)+".json")},
		}, "sha256:" + sha256Hex(windowsConfig), &windows},
		{"config_named_for_another_digest", []tarEntry{
			{"manifest.json", saveManifestOf(t, "blobs/sha256/"+otherHex)},
			{"blobs/sha256/" + otherHex, armConfig},
		}, "sha256:" + sha256Hex(armConfig), &arm},
		{"config_at_the_size_limit", []tarEntry{
			{"manifest.json", saveManifestOf(t, "blobs/sha256/"+sha256Hex(atLimit))},
			{"blobs/sha256/" + sha256Hex(atLimit), atLimit},
		}, "sha256:" + sha256Hex(atLimit), &arm},
		{"config_one_byte_over_the_size_limit", []tarEntry{
			{"manifest.json", saveManifestOf(t, "blobs/sha256/"+sha256Hex(overLimit))},
			{"blobs/sha256/" + sha256Hex(overLimit), overLimit},
		}, "", nil},
		{"config_not_an_image_config", []tarEntry{
			{"manifest.json", saveManifestOf(t, "config.json")},
			{"config.json", []byte("not json")},
		}, "", nil},
		{"config_missing", []tarEntry{
			{"manifest.json", saveManifestOf(t, "blobs/sha256/"+otherHex)},
		}, "", nil},
		{"no_image", []tarEntry{
			{"manifest.json", []byte("[]")},
			{"blobs/sha256/" + sha256Hex(armConfig), armConfig},
		}, "", nil},
		{"manifest_not_json", []tarEntry{
			{"manifest.json", []byte("{")},
			{"blobs/sha256/" + sha256Hex(armConfig), armConfig},
		}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "image.tar")
			if err := os.WriteFile(file, tarOf(t, tt.archive...), 0o600); err != nil {
				t.Fatal(err)
			}
			src, err := openDockerArchive(file)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = src.Close() }()
			ts, ok := src.(*tarSource)
			if !ok {
				t.Fatalf("openDockerArchive returned a %T, want the streamed *tarSource of a single image", src)
			}
			if got := ts.knownConfigDigest(); got != tt.configDigest {
				t.Errorf("config digest %q, want %q", got, tt.configDigest)
			}
			if diff := cmp.Diff(tt.platform, ts.platform); diff != "" {
				t.Errorf("platform (-want +got):\n%s", diff)
			}
		})
	}
}

// failingReader reads its data, then fails with err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// failingWriter fails every write with err.
type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// TestSavedLayoutBlobsAreChecked writes out the files of an OCI layout in
// a docker save stream: a blob whose content does not hash to its name is
// refused, naming it and the digest it has; a reader's error is returned.
func TestSavedLayoutBlobsAreChecked(t *testing.T) {
	t.Parallel()
	blob := []byte(`{"schemaVersion":2}`)
	blobName := "blobs/sha256/" + sha256Hex(blob)
	errRead := errors.New("connection reset by peer")

	tests := []struct {
		name    string
		file    string
		content *failingReader
		wantErr string // "" for none
	}{
		{"blob", blobName, &failingReader{data: blob, err: io.EOF}, ""},
		{"index", "index.json", &failingReader{data: []byte(`{"manifests":[]}`), err: io.EOF}, ""},
		{"corrupt_blob", blobName, &failingReader{data: []byte(`{"schemaVersion":3}`), err: io.EOF},
			"blob " + blobName + " is corrupt: its content has digest sha256:" + sha256Hex([]byte(`{"schemaVersion":3}`))},
		{"truncated_blob", blobName, &failingReader{data: blob[:5], err: io.EOF},
			"blob " + blobName + " is corrupt: its content has digest sha256:" + sha256Hex(blob[:5])},
		{"read_fails", blobName, &failingReader{data: blob[:5], err: errRead}, errRead.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := append([]byte(nil), tt.content.data...)
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o700); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, filepath.FromSlash(tt.file))
			err := writeLayoutFile(file, tt.file, tt.content)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("writeLayoutFile(%s) = %v, want the error %q", tt.file, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("writeLayoutFile(%s): %v", tt.file, err)
			}
			if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s holds %q (%v), want %q", tt.file, got, err, want)
			}
		})
	}

	t.Run("stream", func(t *testing.T) {
		t.Parallel()
		corrupt := []byte("tampered")
		stream := tarOf(t,
			tarEntry{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
			tarEntry{"index.json", []byte(`{"schemaVersion":2,"manifests":[]}`)},
			tarEntry{blobName, corrupt},
		)
		_, err := openSavedLayout(bytes.NewReader(stream), "the docker save archive image.tar")
		want := "read the docker save archive image.tar: blob " + blobName + " is corrupt: its content has digest sha256:" + sha256Hex(corrupt)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("openSavedLayout = %v, want the error %q", err, want)
		}
	})
}

// TestCompressReturnsWhatFailed compresses a layer: what it returns on a
// failure is the failure itself, the reader's or the writer's, so the
// user reads what went wrong where.
func TestCompressReturnsWhatFailed(t *testing.T) {
	t.Parallel()
	errRead := errors.New("read the layer: input/output error")
	errWrite := errors.New("write the compressed layer: no space left on device")
	data := bytes.Repeat([]byte("layer data "), compressBlockSize/5) // two blocks and a bit

	tests := []struct {
		name    string
		src     *failingReader
		dst     func(*bytes.Buffer) io.Writer
		wantErr error
	}{
		{"whole_layer", &failingReader{data: data, err: io.EOF}, func(b *bytes.Buffer) io.Writer { return b }, nil},
		{"read_fails_after_a_block", &failingReader{data: data[:compressBlockSize+7], err: errRead}, func(b *bytes.Buffer) io.Writer { return b }, errRead},
		{"read_fails_at_once", &failingReader{err: errRead}, func(b *bytes.Buffer) io.Writer { return b }, errRead},
		{"write_fails", &failingReader{data: data, err: io.EOF}, func(*bytes.Buffer) io.Writer { return failingWriter{errWrite} }, errWrite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			plain := sha256.New()
			written, err := newParallelGzip(2).compress(tt.dst(&out), tt.src, plain)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("compress = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if written != int64(out.Len()) {
				t.Errorf("compress reports %d bytes written, the writer got %d", written, out.Len())
			}
			zr, err := gzip.NewReader(&out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("the compressed layer reads back as %d bytes (%v), want the %d bytes given", len(got), err, len(data))
			}
			if hex.EncodeToString(plain.Sum(nil)) != sha256Hex(data) {
				t.Error("the uncompressed bytes handed on do not hash to the layer's")
			}
		})
	}
}
