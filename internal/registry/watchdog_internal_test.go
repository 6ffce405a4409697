package registry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestWatchdog: the push is cancelled with the stall once nothing moved
// for the timeout; progress, or a pause for a wait that is not a stall,
// keeps it going; after the pause ends, a stall is caught again.
func TestWatchdog(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	start := func() (*watchdog, context.Context, *stallError) {
		ctx, cancel := context.WithCancelCause(context.Background())
		t.Cleanup(func() { cancel(nil) })
		w := newWatchdog(timeout)
		stall := &stallError{timeout: timeout, what: "nothing moved"}
		go w.watch(ctx, cancel, stall)
		return w, ctx, stall
	}
	stalled := func(ctx context.Context, within time.Duration) bool {
		select {
		case <-ctx.Done():
			return true
		case <-time.After(within):
			return false
		}
	}

	// Nothing moves: cancelled with the stall, and not before the timeout.
	began := time.Now()
	_, ctx, stall := start()
	if !stalled(ctx, 5*time.Second) || !errors.Is(context.Cause(ctx), stall) {
		t.Fatalf("a push that never moved was not cancelled with its stall: %v", context.Cause(ctx))
	}
	if took := time.Since(began); took < timeout {
		t.Errorf("cancelled after %v, before the timeout of %v", took, timeout)
	}

	// Progress keeps it going.
	w, ctx, _ := start()
	for range 8 {
		time.Sleep(timeout / 4)
		w.touch()
	}
	if ctx.Err() != nil {
		t.Fatal("a push that moved every quarter of the timeout was cancelled")
	}

	// A pause keeps it going however long it lasts; after it, a stall is
	// caught again.
	resume := w.pause()
	if stalled(ctx, 3*timeout) {
		t.Fatal("a paused push was cancelled")
	}
	resume()
	if !stalled(ctx, 5*time.Second) {
		t.Fatal("a push that stopped moving after a pause was not cancelled")
	}
}

// TestPushRequestDefaults: what a request leaves unset: four uploads at
// once, a stall after three minutes, a progress line every five seconds,
// the wall clock, no environment, and notices as "notice:" lines of the
// progress; what it sets stays.
func TestPushRequestDefaults(t *testing.T) {
	t.Parallel()
	var progress strings.Builder
	var req PushRequest
	req.setDefaults(&progress)
	if req.Concurrency != 4 || req.StallTimeout != 3*time.Minute || req.ProgressInterval != 5*time.Second || req.Now == nil || req.Getenv("HOME") != "" {
		t.Errorf("defaults: %d at once, stall %v, progress %v, clock set %v", req.Concurrency, req.StallTimeout, req.ProgressInterval, req.Now != nil)
	}
	req.Noticef("allow %s", "ecr:BatchGetImage")
	if progress.String() != "notice: allow ecr:BatchGetImage\n" {
		t.Errorf("a notice printed %q", progress.String())
	}
	set := PushRequest{Concurrency: 1, StallTimeout: time.Second, ProgressInterval: time.Minute}
	set.setDefaults(&progress)
	if set.Concurrency != 1 || set.StallTimeout != time.Second || set.ProgressInterval != time.Minute {
		t.Errorf("what the request set was changed: %d, %v, %v", set.Concurrency, set.StallTimeout, set.ProgressInterval)
	}
}
