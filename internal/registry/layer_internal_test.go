package registry

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSpoolLayer: a layer the stream holds plain is compressed, named by
// its compressed digest and checked by its plain one (its diff ID); one
// held compressed is kept as it is, with no diff ID of the run's own; each
// reads back as it was.
func TestSpoolLayer(t *testing.T) {
	t.Parallel()
	plain := bytes.Repeat([]byte("layer content "), 10000)
	sum := func(b []byte) string { h := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(h[:]) }
	dir := t.TempDir()
	gz := newParallelGzip(2)

	l, err := spoolLayer(dir, 1, bytes.NewReader(plain), false, gz)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := os.ReadFile(l.path)
	if err != nil {
		t.Fatal(err)
	}
	if l.digest.String() != sum(blob) || l.diffID.String() != sum(plain) || l.size != int64(len(blob)) || filepath.Base(l.path) != "layer-001.tar.gz" {
		t.Errorf("spooled %+v, want digest %s, diff ID %s, size %d", l, sum(blob), sum(plain), len(blob))
	}
	readBack(t, l, plain)

	var compressed bytes.Buffer
	zw := gzip.NewWriter(&compressed)
	_, _ = zw.Write(plain)
	_ = zw.Close()
	l, err = spoolLayer(dir, 2, bytes.NewReader(compressed.Bytes()), true, gz)
	if err != nil {
		t.Fatal(err)
	}
	if l.digest.String() != sum(compressed.Bytes()) || l.diffID.Hex != "" || l.size != int64(compressed.Len()) {
		t.Errorf("spooled %+v, want digest %s, no diff ID, size %d", l, sum(compressed.Bytes()), compressed.Len())
	}
	readBack(t, l, plain)

	// A stream that breaks off is the spool's error.
	if _, err := spoolLayer(dir, 3, io.MultiReader(strings.NewReader("part"), errReader{}), true, gz); err == nil || !strings.Contains(err.Error(), "cut on purpose") {
		t.Errorf("spoolLayer of a broken stream = %v, want its error", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, fmt.Errorf("cut on purpose") }

// readBack checks that a spooled layer reads back, uncompressed, as plain.
func readBack(tb testing.TB, l *spooledLayer, plain []byte) {
	tb.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		tb.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, plain) {
		tb.Errorf("Uncompressed read %d bytes (%v), want the %d written", len(got), err, len(plain))
	}
	if err := rc.Close(); err != nil {
		tb.Errorf("Close: %v", err)
	}
}

// TestUncompressedOfABrokenSpool: a spool that is gone, or not gzip, is an
// error when read, not a panic or an empty layer.
func TestUncompressedOfABrokenSpool(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := (&spooledLayer{path: filepath.Join(dir, "gone.tar.gz")}).Uncompressed(); err == nil {
		t.Error("Uncompressed of a missing spool succeeded")
	}
	notGzip := filepath.Join(dir, "plain.tar")
	if err := os.WriteFile(notGzip, []byte("not gzip at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (&spooledLayer{path: notGzip}).Uncompressed(); err == nil {
		t.Error("Uncompressed of a spool that is not gzip succeeded")
	}
}

// TestLayerProgressAtTheEnd: each interval's line (every interval, on
// the dot) tells the rate since the
// last and the time left at it (unknown when nothing came); a layer read
// to its end is not reported as a step of progress (the push reports it
// done), however long it took.
func TestLayerProgressAtTheEnd(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	var lines []string
	p := &layerProgress{label: "layer 1/1", size: 100, every: 2 * time.Second, now: func() time.Time { return now },
		logf: func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }}
	p.restart()
	now = now.Add(2 * time.Second)
	p.read(40)
	// Nothing more in the next interval: no rate to tell the time left by.
	now = now.Add(2 * time.Second)
	p.read(0)
	now = now.Add(2 * time.Second)
	p.read(30)
	now = now.Add(2 * time.Second)
	p.read(30)
	want := []string{
		"layer 1/1: 40 B of 100 B (40%), 20 B/s, 3s left",
		"layer 1/1: 40 B of 100 B (40%), 0 B/s, time left unknown",
		"layer 1/1: 70 B of 100 B (70%), 15 B/s, 2s left",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("progress lines (-want +got):\n%s", diff)
	}
}
