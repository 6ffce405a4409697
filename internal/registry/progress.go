package registry

import (
	"io"
	"sync"
	"time"
)

// layerProgress reports how far the upload of a layer has come: bytes
// done, the rate since the last report, and the time left at that rate. It
// prints at most once per interval, whatever the size of the reads (which
// go-containerregistry makes in chunks of a few kilobytes), and only from
// the reads themselves, so that a layer that finishes within the interval
// prints nothing beyond its start and end lines.
type layerProgress struct {
	label string
	size  int64
	every time.Duration
	now   func() time.Time
	logf  func(format string, args ...any)

	mu sync.Mutex
	// done is what this attempt has read; start is when it began.
	done  int64
	start time.Time
	// lastAt and lastDone are the previous report's time and bytes.
	lastAt   time.Time
	lastDone int64
}

// restart begins a new attempt: a retried upload sends the layer again.
func (p *layerProgress) restart() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.done, p.start, p.lastAt, p.lastDone = 0, now, now, 0
}

// read counts n more bytes and reports when the interval has passed.
func (p *layerProgress) read(n int) {
	p.mu.Lock()
	p.done += int64(n)
	now := p.now()
	elapsed := now.Sub(p.lastAt)
	if elapsed < p.every || p.done >= p.size {
		p.mu.Unlock()
		return
	}
	rate := float64(p.done-p.lastDone) / elapsed.Seconds()
	done, size := p.done, p.size
	p.lastAt, p.lastDone = now, p.done
	p.mu.Unlock()
	left := "time left unknown"
	if rate > 0 {
		left = (time.Duration(float64(size-done) / rate * float64(time.Second))).Round(time.Second).String() + " left"
	}
	p.logf("%s: %s of %s (%d%%), %s/s, %s", p.label, HumanSize(done), HumanSize(size), done*100/max(size, 1), HumanSize(int64(rate)), left)
}

// layerReader counts what go-containerregistry reads of a layer.
type layerReader struct {
	io.ReadCloser
	p *layerProgress
}

func (r *layerReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	r.p.read(n)
	return n, err
}
