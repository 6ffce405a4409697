//go:build !action

package cli

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// demoImage builds the image the demo pushes, in memory: one small layer
// with a static "server" and its configuration. It is the same image, with
// the same digest, on every run for the same commit, as a reproducible
// build would be.
func demoImage(commit string) (v1.Image, error) {
	stamp := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		body string
	}{
		{"app/", 0o755, ""},
		{"app/server", 0o755, "#!/bin/sh\n# stands in for the web-api server binary\nexec echo serving on :8080\n"},
		{"app/VERSION", 0o644, commit + "\n"},
	}
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), ModTime: stamp, Typeflag: tar.TypeReg}
		if f.body == "" {
			hdr.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("build demo image: %w", err)
		}
		if _, err := io.WriteString(tw, f.body); err != nil {
			return nil, fmt.Errorf("build demo image: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("build demo image: %w", err)
	}
	layerTar := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("build demo image layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("build demo image: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("build demo image: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = "amd64", "linux"
	cfg.Created = v1.Time{Time: stamp}
	cfg.Config.Entrypoint = []string{"/app/server"}
	cfg.Config.ExposedPorts = map[string]struct{}{"8080/tcp": {}}
	cfg.Config.Labels = map[string]string{"org.opencontainers.image.revision": commit}
	return mutate.ConfigFile(img, cfg)
}
