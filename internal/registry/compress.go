package registry

import (
	"bytes"
	"compress/gzip"
	"io"
	"sync"
)

// compressBlockSize is how much of a layer each gzip member holds.
const compressBlockSize = 1 << 20

// compressionLevel trades a slightly larger layer for several times the
// speed of gzip's default level, which is what bounds a push on a fast
// network (docker push compresses at the default level, one core a layer).
const compressionLevel = gzip.BestSpeed

// parallelGzip compresses src into dst on workers goroutines: src is cut
// into blocks of compressBlockSize, each compressed as its own gzip member,
// and the members are written in order. A sequence of gzip members is one
// valid gzip stream (RFC 1952), which every layer reader (Go's, containerd's,
// docker's) decompresses as a whole. The output depends only on the input,
// so the same layer always compresses to the same digest, and memory stays
// at a few blocks per worker whatever the layer's size.
func parallelGzip(dst io.Writer, src io.Reader, workers int) (int64, error) {
	if workers < 1 {
		workers = 1
	}
	type job struct {
		in   *bytes.Buffer
		out  *bytes.Buffer
		done chan struct{}
	}
	pool := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	jobs := make(chan *job, workers)
	ordered := make(chan *job, workers*2)

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			zw, _ := gzip.NewWriterLevel(io.Discard, compressionLevel)
			for j := range jobs {
				zw.Reset(j.out)
				zw.Write(j.in.Bytes())
				zw.Close()
				close(j.done)
			}
		}()
	}

	// The writer drains results in order while the reader below fills
	// blocks; a failed write stops the reader through writeErr.
	var (
		written  int64
		writeErr error
		errMu    sync.Mutex
	)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for j := range ordered {
			<-j.done
			errMu.Lock()
			failed := writeErr != nil
			errMu.Unlock()
			if !failed {
				n, err := dst.Write(j.out.Bytes())
				written += int64(n)
				if err != nil {
					errMu.Lock()
					writeErr = err
					errMu.Unlock()
				}
			}
			j.in.Reset()
			j.out.Reset()
			pool.Put(j.in)
			pool.Put(j.out)
		}
	}()

	var readErr error
	empty := true
	for {
		errMu.Lock()
		failed := writeErr != nil
		errMu.Unlock()
		if failed {
			break
		}
		in := pool.Get().(*bytes.Buffer)
		in.Grow(compressBlockSize)
		n, err := io.CopyN(in, src, compressBlockSize)
		if n > 0 || empty {
			empty = false
			j := &job{in: in, out: pool.Get().(*bytes.Buffer), done: make(chan struct{})}
			ordered <- j
			jobs <- j
		} else {
			pool.Put(in)
		}
		if err == io.EOF {
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
