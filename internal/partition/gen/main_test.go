package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTableIsCurrent fails when the committed table differs from what the
// SDK version in go.mod carries: after an SDK upgrade, run go generate.
func TestTableIsCurrent(t *testing.T) {
	t.Parallel()
	dir, version, err := sdkDir()
	if err != nil {
		t.Fatal(err)
	}
	want, err := generate(dir, version)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "partitions_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("partitions_gen.go is not what %s %s gives; run go generate ./internal/partition (-want +got):\n%s", sdkModule, version, diff)
	}
}
