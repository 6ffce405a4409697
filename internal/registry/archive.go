package registry

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// archiveInfo is what a cheap look at a docker save archive tells.
type archiveInfo struct {
	// configDigest is the config digest of its (first) image, "" when it
	// cannot tell: a re-push of an image already in the registry stops
	// before compressing anything.
	configDigest string
	// platform is that image's platform, as its config declares it; nil
	// when, and only when, configDigest is "".
	platform *v1.Platform
	// holdsIndex reports an image index: the archive is an OCI layout
	// (index.json) whose one entry is an index, as docker save writes a
	// multi-platform image of the containerd image store.
	holdsIndex bool
}

// maxArchiveMetadataBytes bounds each small file scanArchive keeps: a file
// of this size is kept, a larger one is skipped (its image is then one whose
// config digest and platform are not known before it is read).
const maxArchiveMetadataBytes = 1 << 20

// scanArchive reads a docker save archive's small files (tar skips over
// the layers of a file by seeking): manifest.json and the image config,
// and index.json with the index it names.
func scanArchive(file string) archiveInfo {
	var info archiveInfo
	f, err := os.Open(file)
	if err != nil {
		return info
	}
	defer func() { _ = f.Close() }() // read only
	tr := tar.NewReader(f)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		name := path.Clean(h.Name)
		if h.Typeflag == tar.TypeReg && h.Size <= maxArchiveMetadataBytes && (strings.HasSuffix(name, ".json") || strings.HasPrefix(name, "blobs/")) {
			if data, err := io.ReadAll(tr); err == nil {
				files[name] = data
			}
		}
	}
	var manifests []saveManifest
	if json.Unmarshal(files["manifest.json"], &manifests) == nil && len(manifests) > 0 {
		// The config digest is told with the platform or not at all: an
		// image already in the registry is then known with its platform.
		if cfg, ok := files[path.Clean(manifests[0].Config)]; ok {
			if cf, err := v1.ParseConfigFile(bytes.NewReader(cfg)); err == nil {
				h, _, _ := v1.SHA256(bytes.NewReader(cfg)) // of bytes in memory: cannot fail
				info.configDigest = h.String()
				info.platform = &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}
			}
		}
	}
	var root v1.IndexManifest
	if json.Unmarshal(files["index.json"], &root) == nil && len(root.Manifests) == 1 && root.Manifests[0].MediaType.IsIndex() {
		d := root.Manifests[0].Digest
		var idx v1.IndexManifest
		if json.Unmarshal(files["blobs/"+d.Algorithm+"/"+d.Hex], &idx) == nil {
			for _, m := range idx.Manifests {
				info.holdsIndex = info.holdsIndex || m.MediaType.IsImage()
			}
		}
	}
	return info
}

// layoutFile is what an OCI layout holds: its marker, its index, and blobs
// named by their digest. Nothing else of an archive is written out.
var layoutFile = regexp.MustCompile(`^(oci-layout|index\.json|blobs/sha256/[0-9a-f]{64})$`)

// openSavedLayout writes out the OCI layout a docker save stream holds (a
// multi-platform image of the containerd image store) into a temporary
// directory, checking every blob against its digest, and opens it. The
// directory is removed when the source is closed.
func openSavedLayout(r io.Reader, name string) (*artifactSource, error) {
	dir, err := os.MkdirTemp("", "oidc-ecs-deploy-layout-")
	if err != nil {
		return nil, fmt.Errorf("create a temporary directory for %s: %w", name, err)
	}
	cleanup := func() error { return os.RemoveAll(dir) }
	if err := extractLayout(r, dir); err != nil {
		return nil, errors.Join(fmt.Errorf("read %s: %w", name, err), cleanup())
	}
	src, err := openOCILayout(dir)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("read %s: %w", name, err), cleanup())
	}
	src.name, src.closeFn = name, cleanup
	return src, nil
}

// extractLayout writes the OCI layout files of a tar stream into dir.
func extractLayout(r io.Reader, dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o700); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || !layoutFile.MatchString(name) {
			continue
		}
		if err := writeLayoutFile(filepath.Join(dir, filepath.FromSlash(name)), name, tr); err != nil {
			return err
		}
	}
}

// writeLayoutFile writes one file of the layout; a blob whose content does
// not hash to its name is an error.
func writeLayoutFile(file, name string, r io.Reader) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), r); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Close(); err != nil {
		return err
	}
	if want, ok := strings.CutPrefix(name, "blobs/sha256/"); ok && hex.EncodeToString(h.Sum(nil)) != want {
		return fmt.Errorf("blob %s is corrupt: its content has digest sha256:%s", name, hex.EncodeToString(h.Sum(nil)))
	}
	return nil
}
