package registry

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// compressBlockSize is how much of a layer each gzip member holds.
const compressBlockSize = 1 << 20

// compressionLevel trades a slightly larger layer for several times the
// speed of gzip's default level, which is what bounds a push on a fast
// network (docker push compresses at the default level, one core a layer).
// klauspost/compress's gzip (go-containerregistry's own) compresses at this
// level several times faster than the standard library's, and passes
// incompressible data through at memory speed.
const compressionLevel = gzip.BestSpeed

// parallelGzip compresses layers on several goroutines: a layer is cut into
// blocks of compressBlockSize, each compressed as its own gzip member, and
// the members are written in order. A sequence of gzip members is one valid
// gzip stream (RFC 1952), which every layer reader (Go's, containerd's,
// docker's) decompresses as a whole. The output depends only on the input,
// so the same layer always compresses to the same digest.
//
// Memory is a fixed set of blocks, allocated once and reused for every
// layer: two per worker and one more, so that the workers stay busy while
// the finished blocks are written out in order. Nothing is allocated per
// block, which keeps the heap, and so the garbage collector's headroom, at
// a few megabytes whatever the image's size.
type parallelGzip struct {
	workers int
	free    chan *gzipBlock
	writers []*gzip.Writer
}

// gzipBlock is one block of a layer and its compressed form.
type gzipBlock struct {
	in   []byte
	n    int // bytes of in that hold data
	out  bytes.Buffer
	done chan struct{}
}

func newParallelGzip(workers int) *parallelGzip {
	workers = max(workers, 1)
	p := &parallelGzip{workers: workers, free: make(chan *gzipBlock, 2*workers+1)}
	for range cap(p.free) {
		b := &gzipBlock{in: make([]byte, compressBlockSize), done: make(chan struct{}, 1)}
		// Incompressible input grows by a few bytes per 64 kB of stored
		// deflate blocks; the margin keeps the buffer from ever doubling.
		b.out.Grow(compressBlockSize + compressBlockSize/64 + 1024)
		p.free <- b
	}
	for range workers {
		zw, _ := gzip.NewWriterLevel(io.Discard, compressionLevel)
		p.writers = append(p.writers, zw)
	}
	return p
}

// compress writes src, compressed, to dst and returns the bytes written.
// The uncompressed bytes are written to plain as well, in order: hashing
// them there keeps the hash off the reading goroutine.
func (p *parallelGzip) compress(dst io.Writer, src io.Reader, plain io.Writer) (int64, error) {
	jobs := make(chan *gzipBlock, p.workers)
	ordered := make(chan *gzipBlock, cap(p.free))
	var wg sync.WaitGroup
	for _, zw := range p.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				b.out.Reset()
				zw.Reset(&b.out)
				// Writes to a bytes.Buffer do not fail, so neither does
				// the compressor that writes to it.
				_, _ = zw.Write(b.in[:b.n])
				_ = zw.Close()
				b.done <- struct{}{}
			}
		}()
	}

	// The writer drains the blocks in order while the reader below fills
	// them; a failed write stops the reader through failed.
	var (
		written  int64
		writeErr error
	)
	failed := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for b := range ordered {
			<-b.done
			if writeErr == nil {
				_, _ = plain.Write(b.in[:b.n]) // a hash: it does not fail
				n, err := dst.Write(b.out.Bytes())
				written += int64(n)
				if err != nil {
					writeErr = err
					close(failed)
				}
			}
			p.free <- b
		}
	}()

	var readErr error
	for first := true; ; first = false {
		var b *gzipBlock
		select {
		case b = <-p.free:
		case <-failed:
		}
		if b == nil {
			break
		}
		n, err := io.ReadFull(src, b.in)
		b.n = n
		if n == 0 && !first {
			// Nothing more: an empty layer still gets its one (empty)
			// member above.
			p.free <- b
		} else {
			ordered <- b
			jobs <- b
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	close(jobs)
	close(ordered)
	wg.Wait()
	<-writerDone
	if readErr != nil {
		return written, readErr
	}
	return written, writeErr
}
