package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// layerTar is a one-file tar: a layer as docker save holds it.
func layerTar(tb testing.TB, content string) []byte {
	tb.Helper()
	return tarOf(tb, tarEntry{name: "app/" + content, content: []byte(content)})
}

func gzipOf(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return out.Bytes()
}

func sha(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// saveEntry is a file or a link of a save stream.
type saveEntry struct {
	name, link string
	symlink    bool
	data       []byte
}

func saveStream(tb testing.TB, entries ...saveEntry) []byte {
	tb.Helper()
	files := make([]tarFile, len(entries))
	for i, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}
		if e.link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, e.link, 0
			if e.symlink {
				h.Typeflag = tar.TypeSymlink
			}
		}
		files[i] = tarFile{header: h, data: e.data}
	}
	return tarOfFiles(tb, files...)
}

// TestReadSaveStream: a docker save stream's layers are spooled under a
// directory of the push's own, compressed unless they come compressed,
// found through the links docker save writes for a layer it holds once
// (symbolic, relative to the link, or hard, and a link to a link), and
// checked against the config; the directory goes when the source closes.
func TestReadSaveStream(t *testing.T) {
	t.Parallel()
	plain, zipped := layerTar(t, "one"), layerTar(t, "two")
	zippedGz := gzipOf(zipped)
	config := func(diffs ...v1.Hash) []byte {
		data, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": diffs}})
		return data
	}
	manifest, _ := json.Marshal([]saveManifest{{Config: "config.json", Layers: []string{"a/layer.tar", "blobs/sha256/two", "c/layer.tar", "d/layer.tar"}}})
	good := config(sha(plain), sha(zipped), sha(plain), sha(plain))
	stream := func(cfg []byte) []byte {
		return saveStream(t,
			saveEntry{name: "a/layer.tar", data: plain},
			saveEntry{name: "blobs/sha256/two", data: zippedGz},
			saveEntry{name: "b/layer.tar", link: "../a/layer.tar", symlink: true},
			saveEntry{name: "c/layer.tar", link: "../b/layer.tar", symlink: true},
			saveEntry{name: "d/layer.tar", link: "a/layer.tar"},
			saveEntry{name: "config.json", data: cfg},
			saveEntry{name: "manifest.json", data: manifest},
		)
	}
	read := func(data []byte) (*tarSource, v1.Image, int, error) {
		src := &tarSource{name: "the test stream", open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
		var emitted []v1.Layer
		progress := 0
		img, err := src.read(context.Background(), func(l v1.Layer) error { emitted = append(emitted, l); return nil }, func() { progress++ })
		if err == nil && len(emitted) != 2 {
			t.Errorf("%d layers emitted, want the 2 the stream holds", len(emitted))
		}
		return src, img, progress, err
	}

	src, img, progress, err := read(stream(good))
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 4 {
		t.Fatalf("image of %d layers (%v), want 4", len(layers), err)
	}
	digests := make([]v1.Hash, len(layers))
	for i, l := range layers {
		digests[i], _ = l.Digest()
	}
	if digests[1] != sha(zippedGz) || digests[0] != digests[2] || digests[0] != digests[3] || digests[0] == sha(plain) {
		t.Errorf("layer digests %v: want the compressed one as it came, and the plain one compressed once for its three names", digests)
	}
	if cd, _ := img.ConfigName(); cd != sha(good) || progress == 0 {
		t.Errorf("config %s (want %s), progress told %d times", cd, sha(good), progress)
	}
	spooled, err := os.ReadDir(src.tmpDir)
	if err != nil || len(spooled) != 2 || !strings.HasPrefix(src.tmpDir, os.TempDir()) {
		t.Errorf("spooled %d files in %q (%v), want the 2 layers in a temporary directory", len(spooled), src.tmpDir, err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src.tmpDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the spool directory %s outlived the source: %v", src.tmpDir, err)
	}

	// A layer that does not hash to what the config says is refused.
	src, _, _, err = read(stream(config(sha(zipped), sha(zipped), sha(plain), sha(plain))))
	if err == nil || !strings.Contains(err.Error(), "is corrupt: layer a/layer.tar has digest "+sha(plain).String()) {
		t.Errorf("read of a corrupt stream = %v", err)
	}
	_ = src.Close()
}

// TestLooksLikeLayer tells layers (gzip, or a tar's first block) from the
// metadata beside them.
func TestLooksLikeLayer(t *testing.T) {
	t.Parallel()
	ustar := make([]byte, 512)
	copy(ustar[257:], "ustar")
	almostZero := make([]byte, 512)
	almostZero[100] = 1
	for _, tt := range []struct {
		name string
		head []byte
		want bool
	}{
		{"gzip", []byte{0x1f, 0x8b}, true},
		{"half a gzip header", []byte{0x1f}, false},
		{"gzip's first byte only", []byte{0x1f, 0x00}, false},
		{"gzip's second byte only", []byte{0x00, 0x8b}, false},
		{"a tar header", ustar, true},
		{"an empty tar", make([]byte, 512), true},
		{"a short zero block", make([]byte, 511), false},
		{"a block not all zero", almostZero, false},
		{"JSON", []byte(`{"architecture": "amd64"}`), false},
	} {
		if got := looksLikeLayer(tt.head); got != tt.want {
			t.Errorf("looksLikeLayer(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestShortDigest is a digest's first 12 hex digits, with or without its
// algorithm; a shorter one whole.
func TestShortDigest(t *testing.T) {
	t.Parallel()
	hex64 := strings.Repeat("0123456789ab", 5) + "cdef"
	for in, want := range map[string]string{
		"sha256:" + hex64:   "0123456789ab",
		hex64:               "0123456789ab",
		"0123456789ab":      "0123456789ab",
		"0123456789a":       "0123456789a",
		"sha256:0123456789": "0123456789",
	} {
		if got := ShortDigest(in); got != want {
			t.Errorf("ShortDigest(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHumanSize prints sizes as the run's lines show them, each unit from
// its first byte.
func TestHumanSize(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1 << 10: "1.0 kB", 1536: "1.5 kB", 1<<20 - 1: "1024.0 kB",
		1 << 20: "1.0 MB", 1<<30 - 1: "1024.0 MB", 1 << 30: "1.00 GB", 3 << 29: "1.50 GB",
	} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestProgressReaderCountsReadsThatGotSomething: a read that got nothing
// is no progress.
func TestProgressReaderCountsReadsThatGotSomething(t *testing.T) {
	t.Parallel()
	calls := 0
	r := progressReader{r: io.MultiReader(&emptyReads{2}, strings.NewReader("data")), progress: func() { calls++ }}
	if data, err := io.ReadAll(r); err != nil || string(data) != "data" || calls != 1 {
		t.Errorf("read %q (%v), progress told %d times, want once", data, err, calls)
	}
}

// emptyReads answers n reads with nothing and no error, then EOF.
type emptyReads struct{ n int }

func (e *emptyReads) Read([]byte) (int, error) {
	if e.n > 0 {
		e.n--
		return 0, nil
	}
	return 0, io.EOF
}

// TestExplain: the registry's answers a user must act on are told with
// what to do; others with their status.
func TestExplain(t *testing.T) {
	t.Parallel()
	tg := target{host: "111122223333.dkr.ecr.us-east-1.amazonaws.com", name: "app"}
	te := func(status int, code transport.ErrorCode, message string) error {
		e := &transport.Error{StatusCode: status}
		if code != "" {
			e.Errors = []transport.Diagnostic{{Code: code, Message: message}}
		}
		return e
	}
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"expired", te(http.StatusUnauthorized, transport.UnauthorizedErrorCode, "Your authorization token has expired. Reauthenticate and try again."),
			"the registry rejected the ECR password as expired (Your authorization token has expired. Reauthenticate and try again.); log in again with GetAuthorizationToken"},
		{"wrong password", te(http.StatusUnauthorized, transport.UnauthorizedErrorCode, "Not Authorized"), "the registry rejected the ECR password (401: wrong, or issued for another registry)"},
		{"401 with no body", te(http.StatusUnauthorized, "", ""), "the registry rejected the ECR password (401: wrong"},
		{"denied, saying what", te(http.StatusForbidden, transport.DeniedErrorCode, "User: arn:aws:sts::111122223333:assumed-role/gha-deploy/run is not authorized to perform: ecr:PutImage on resource: arn:aws:ecr:us-east-1:111122223333:repository/app because no identity-based policy allows the ecr:PutImage action"),
			"the role may not call ecr:PutImage there"},
		{"denied, saying nothing", te(http.StatusForbidden, "", ""), "the role is not allowed to push there (); grant it ecr:BatchCheckLayerAvailability"},
		{"no such repository", te(http.StatusNotFound, transport.NameUnknownErrorCode, "repository app not found"), `repository "app" does not exist in registry 111122223333.dkr.ecr.us-east-1.amazonaws.com (repository app not found)`},
		{"anything else", te(http.StatusBadGateway, "", ""), "the registry answered 502"},
		{"not the registry's", errors.New("connection reset"), "push to 111122223333.dkr.ecr.us-east-1.amazonaws.com/app: connection reset"},
	} {
		if got := explain(tt.err, tg); !strings.Contains(got.Error(), tt.want) || !errors.Is(got, tt.err) {
			t.Errorf("%s: explain = %q, want %q, wrapping the registry's error", tt.name, got, tt.want)
		}
	}
}
