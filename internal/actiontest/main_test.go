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
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	builtPath string
	buildErr  error
)

// actionBinary builds the action as the Dockerfile does, once per test run.
func actionBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var dir string
		if dir, buildErr = ModuleRoot(); buildErr == nil {
			builtPath, buildErr = BuildBinary(ctx, dir, binDir)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return builtPath
}
