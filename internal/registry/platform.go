package registry

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// imagePlatform is the platform an image's config declares.
func imagePlatform(img v1.Image) (v1.Platform, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Platform{}, err
	}
	return v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}, nil
}

// platformOf reads an image's platform, under the run's retry policy: an
// image in a registry has its config fetched.
func (p *pusher) platformOf(ctx context.Context, img v1.Image) (v1.Platform, error) {
	var platform v1.Platform
	err := p.retry.Do(ctx, "read the image config", func(context.Context) error {
		var err error
		platform, err = imagePlatform(img)
		return err
	})
	return platform, err
}

// indexPlatforms lists the platforms of the images an index lists, in its
// order, nested indexes included and attestations left out: as the index's
// descriptors name them, or, for one that names none, as the image's config
// declares it.
func (p *pusher) indexPlatforms(ctx context.Context, idx v1.ImageIndex) ([]v1.Platform, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []v1.Platform
	for _, d := range im.Manifests {
		switch {
		case isAttestation(d):
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("read index %s: %w", d.Digest, err)
			}
			more, err := p.indexPlatforms(ctx, child)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
		case !d.MediaType.IsImage():
		case d.Platform != nil && d.Platform.OS != "" && d.Platform.Architecture != "":
			out = append(out, *d.Platform)
		default:
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("read image %s: %w", d.Digest, err)
			}
			platform, err := p.platformOf(ctx, img)
			if err != nil {
				return nil, fmt.Errorf("read the config of image %s: %w", d.Digest, err)
			}
			out = append(out, platform)
		}
	}
	return out, nil
}

// isAttestation reports an index entry that is not an image to run but the
// attestations (provenance, SBOM) BuildKit attaches to one: its platform is
// unknown/unknown, and its annotation says what it is.
func isAttestation(d v1.Descriptor) bool {
	if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// platformName is how the log names a platform: os/architecture[/variant],
// "unknown" for an image whose config names none, and "unknown" for the
// part it leaves out.
func platformName(p v1.Platform) string {
	if p.OS == "" {
		if p.Architecture == "" {
			return "unknown"
		}
		p.OS = "unknown"
	}
	return p.String()
}
