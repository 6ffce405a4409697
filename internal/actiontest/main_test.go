package actiontest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// binDir holds what is built once for every test of the package.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "actiontest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// Binaries built once for every test of the package: the action as the
// Dockerfile builds it, and the command-line tool, whose standalone sandbox
// the action calls.
var (
	actionBuild = onceBuild(BuildBinary)
	cliBuild    = onceBuild(BuildCLI)
)

// actionBinary builds the action as the Dockerfile does, once per test run.
func actionBinary(tb testing.TB) string {
	tb.Helper()
	return actionBuild(tb)
}

// cliBinary builds the command-line tool, once per test run.
func cliBinary(tb testing.TB) string {
	tb.Helper()
	return cliBuild(tb)
}

func onceBuild(build func(ctx context.Context, root, dir string) (string, error)) func(testing.TB) string {
	var (
		once sync.Once
		path string
		err  error
	)
	return func(tb testing.TB) string {
		tb.Helper()
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var dir string
			if dir, err = ModuleRoot(); err == nil {
				path, err = build(ctx, dir, binDir)
			}
		})
		if err != nil {
			tb.Fatal(err)
		}
		return path
	}
}
