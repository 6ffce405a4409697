package testenv

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// LockImageBuilds holds, until the returned function is called, a lock that
// every test process shares (a file lock in the temporary directory) for
// building or removing images in the test engine. The engine's classic
// builder, when builds and forced removals run at once, now and then loses
// an image a build step has just committed ("unable to find image
// sha256:…"; moby/moby#37965); one image change at a time avoids it, and
// the builds of the tests are small.
func LockImageBuilds(tb testing.TB) (unlock func()) {
	tb.Helper()
	path := filepath.Join(os.TempDir(), "oidc-ecs-deploy-test-image-builds.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		tb.Fatalf("open the image builds' lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		tb.Fatalf("take the image builds' lock: %v", err)
	}
	return func() { _ = f.Close() } // closing the file releases the lock
}
