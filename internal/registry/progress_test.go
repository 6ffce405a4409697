package registry_test

import (
	"archive/tar"
	"compress/gzip"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/registry"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// streamedLayer is a layer of one file of size pseudo-random bytes (the
// same for the same seed), stored uncompressed in its gzip stream so that
// it is as large as it says; it is generated anew on every read, so a
// large image costs no memory.
func streamedLayer(tb testing.TB, seed uint64, size int64) v1.Layer {
	tb.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() {
			tw := tar.NewWriter(pw)
			err := tw.WriteHeader(&tar.Header{Name: "data-" + strconv.FormatUint(seed, 10) + ".bin", Mode: 0o644, Size: size, Typeflag: tar.TypeReg})
			if err == nil {
				var key [32]byte
				binary.LittleEndian.PutUint64(key[:], seed)
				_, err = io.CopyN(tw, rand.NewChaCha8(key), size)
			}
			if err == nil {
				err = tw.Close()
			}
			pw.CloseWithError(err)
		}()
		return pr, nil
	}, tarball.WithCompressionLevel(gzip.NoCompression))
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// progressLine is a layer's progress line: label, bytes done of size
// (percent), rate, time left.
var progressLine = regexp.MustCompile(`^layer ([0-9a-f]{12}) \(([0-9.]+ [kMG]?B)\): ([0-9.]+ [kMG]?B) of ([0-9.]+ [kMG]?B) \((\d+)%\), ([0-9.]+ [kMG]?B)/s, (\S+) left$`)

func parseSize(tb testing.TB, s string) float64 {
	tb.Helper()
	num, unit, _ := strings.Cut(s, " ")
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		tb.Fatalf("size %q: %v", s, err)
	}
	return f * map[string]float64{"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}[unit]
}

// sizeRounding is how far a size as a line shows it (12.5 MB) may be from
// the count it was rounded from: half its last digit.
func sizeRounding(tb testing.TB, s string) float64 {
	tb.Helper()
	num, unit, _ := strings.Cut(s, " ")
	digit := "1"
	if _, decimals, ok := strings.Cut(num, "."); ok {
		digit = "0." + strings.Repeat("0", len(decimals)-1) + "1"
	}
	return parseSize(tb, digit+" "+unit) / 2
}

// TestLargePushReportsProgress pushes a 512 MB image, two layers of 256 MB,
// through the sandbox's ECR front to a real registry, with a progress line
// due every 100 ms: each layer reports bytes done, rate and time left, at
// most once per interval (counted against how long its upload took), and
// what it reports adds up.
func TestLargePushReportsProgress(t *testing.T) {
	t.Parallel()
	const layerSize = 256 << 20
	const interval = 100 * time.Millisecond
	sb := startSandbox(t, testWorld(t), sandbox.Options{})
	img, err := mutate.AppendLayers(empty.Image, streamedLayer(t, 1, layerSize), streamedLayer(t, 2, layerSize))
	if err != nil {
		t.Fatal(err)
	}
	var out sandboxtest.SyncBuffer
	res, err := pushVia(sb, sandboxtest.WebIdentityConfig(sb.Env(), testRoleARN, ""), registry.PushRequest{
		Source: img, Image: "large", Repository: "app", Tags: []string{"large-512mb"},
		ProgressInterval: interval,
	}, &out)
	if err != nil {
		t.Fatalf("Push: %v\n%s", err, out.String())
	}
	t.Logf("push output:\n%s", out.String())
	if res.LayersPushed != 2 || len(res.Layers) != 2 {
		t.Fatalf("pushed %d layers, timed %d, want 2", res.LayersPushed, len(res.Layers))
	}
	lines := map[string][]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if m := progressLine.FindStringSubmatch(line); m != nil {
			lines[m[1]] = append(lines[m[1]], line)
		} else if strings.Contains(line, "/s,") {
			t.Errorf("a progress line of another shape: %q", line)
		}
	}
	total := 0
	for _, l := range res.Layers {
		short := strings.TrimPrefix(l.Digest, "sha256:")[:12]
		got := lines[short]
		total += len(got)
		took := l.End.Sub(l.Start)
		// One line per interval at most; the layer's first line comes an
		// interval after it opened.
		if most := int(took/interval) + 1; len(got) > most {
			t.Errorf("layer %s: %d progress lines in %s, want at most %d (one per %s)", short, len(got), took, most, interval)
		}
		var lastDone float64
		for _, line := range got {
			m := progressLine.FindStringSubmatch(line)
			size, done, rate := parseSize(t, m[4]), parseSize(t, m[3]), parseSize(t, m[6])
			doneRounding, rateRounding := sizeRounding(t, m[3]), sizeRounding(t, m[6])
			pct, _ := strconv.Atoi(m[5])
			left, err := time.ParseDuration(m[7])
			switch {
			case size < 0.99*float64(l.Size) || size > 1.01*float64(l.Size):
				t.Errorf("%q: size %.0f, want the layer's %d", line, size, l.Size)
			// Shown to a tenth of a megabyte: a slow interval may not move it.
			case done < lastDone || done > size:
				t.Errorf("%q: done %.0f after %.0f, of %.0f", line, done, lastDone, size)
			case pct < int(done*100/size)-1 || pct > int(done*100/size)+1:
				t.Errorf("%q: %d%% of %.0f/%.0f", line, pct, done, size)
			// A rate is measured over an interval at least: it cannot
			// exceed the whole layer sent in one.
			case rate <= 0 || rate > size/interval.Seconds():
				t.Errorf("%q: rate %.0f B/s is implausible", line, rate)
			// The time left is the remaining bytes at the rate, both as
			// counted before rounding for the line: a slow rate (a loaded
			// machine) shown to a tenth of a unit moves it by seconds.
			case err != nil || left < 0 || (size-done-doneRounding)/(rate+rateRounding) > left.Seconds()+1 || (size-done+doneRounding)/max(rate-rateRounding, 1) < left.Seconds()-1:
				t.Errorf("%q: %s left, but %.0f bytes at %.0f B/s take %.1fs", line, m[7], size-done, rate, (size-done)/rate)
			}
			lastDone = done
		}
	}
	if total == 0 {
		t.Errorf("no progress line for a 512 MB push with a line due every %s", interval)
	}
}
