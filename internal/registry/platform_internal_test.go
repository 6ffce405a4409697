package registry

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/retry"
)

// imageOf is a small random image whose config declares platform.
func imageOf(tb testing.TB, platform v1.Platform) v1.Image {
	tb.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		tb.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		tb.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = platform.OS, platform.Architecture, platform.Variant
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// TestIndexPlatforms: the platforms of an index are its images', in order:
// as each descriptor names it, or as the image's config declares it when
// the descriptor names none or half of one; nested indexes are read, and
// attestations and entries that are no image are left out.
func TestIndexPlatforms(t *testing.T) {
	t.Parallel()
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}
	nested := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{
		Add: imageOf(t, v1.Platform{OS: "linux", Architecture: "s390x"}), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "s390x"}},
	})
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: imageOf(t, amd64), Descriptor: v1.Descriptor{Platform: &amd64}},
		// An attestation by its annotation, and one by its platform.
		mutate.IndexAddendum{Add: imageOf(t, v1.Platform{}), Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}, Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"},
		}},
		mutate.IndexAddendum{Add: imageOf(t, v1.Platform{}), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}},
		// No platform named: the config's.
		mutate.IndexAddendum{Add: imageOf(t, v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"})},
		// Half a platform named: the config's.
		mutate.IndexAddendum{Add: imageOf(t, v1.Platform{OS: "windows", Architecture: "amd64"}), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "windows"}}},
		mutate.IndexAddendum{Add: imageOf(t, v1.Platform{OS: "linux", Architecture: "ppc64le"}), Descriptor: v1.Descriptor{Platform: &v1.Platform{Architecture: "ppc64le"}}},
		mutate.IndexAddendum{Add: nested},
		// Not an image: an SBOM beside them.
		mutate.IndexAddendum{Add: static.NewLayer([]byte("{}"), types.MediaType("application/vnd.example.sbom+json"))},
	)
	p := &pusher{retry: retry.New(retry.Options{})}
	got, err := p.indexPlatforms(context.Background(), idx)
	if err != nil {
		t.Fatal(err)
	}
	want := []v1.Platform{
		amd64,
		{OS: "linux", Architecture: "arm", Variant: "v7"},
		{OS: "windows", Architecture: "amd64"},
		{OS: "linux", Architecture: "ppc64le"},
		{OS: "linux", Architecture: "s390x"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("indexPlatforms (-want +got):\n%s", diff)
	}
}

// TestPlatformName: an image whose config names no platform is "unknown",
// and so is the half of one it leaves out.
func TestPlatformName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		p    v1.Platform
		want string
	}{
		{v1.Platform{}, "unknown"},
		{v1.Platform{OS: "linux"}, "linux"},
		{v1.Platform{Architecture: "arm64"}, "unknown/arm64"},
		{v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, "linux/arm/v7"},
	} {
		if got := platformName(tt.p); got != tt.want {
			t.Errorf("platformName(%+v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}

// brokenIndex is an index whose entries cannot be read: as a registry that
// lists what it then fails to serve.
type brokenIndex struct {
	index
	err error
}

// index is v1.ImageIndex under a name that leaves its methods free to
// override.
type index = v1.ImageIndex

func (b brokenIndex) ImageIndex(v1.Hash) (v1.ImageIndex, error) { return nil, b.err }
func (b brokenIndex) Image(v1.Hash) (v1.Image, error)           { return nil, b.err }

// brokenConfig is an image whose config cannot be read.
type brokenConfig struct{ v1.Image }

func (brokenConfig) ConfigFile() (*v1.ConfigFile, error) { return nil, errors.New("config gone") }

// TestIndexPlatformsOfWhatCannotBeRead: an entry that cannot be read is an
// error naming it, nested or not.
func TestIndexPlatformsOfWhatCannotBeRead(t *testing.T) {
	t.Parallel()
	unnamed := imageOf(t, v1.Platform{OS: "linux", Architecture: "amd64"})
	nested := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: unnamed})
	gone := errors.New("gone")
	p := &pusher{retry: retry.New(retry.Options{})}
	for _, tt := range []struct {
		name string
		idx  v1.ImageIndex
		want string
	}{
		{"a nested index", brokenIndex{mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: nested}), gone}, "read index sha256:"},
		{"an image of a nested index", mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: brokenIndex{nested, gone}}), "read image sha256:"},
		{"an image", brokenIndex{mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: unnamed}), gone}, "read image sha256:"},
		{"an image's config", mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: brokenConfig{unnamed}}), "read the config of image sha256:"},
	} {
		_, err := p.indexPlatforms(context.Background(), tt.idx)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: indexPlatforms = %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestUploadIndexRefusesWhatItCannotRead: an index entry that cannot be
// read, or is neither an image nor an index, stops the upload before
// anything of it is sent, naming it.
func TestUploadIndexRefusesWhatItCannotRead(t *testing.T) {
	t.Parallel()
	repo, err := name.NewRepository("registry.example.invalid/app")
	if err != nil {
		t.Fatal(err)
	}
	p := &pusher{remote: &remoteRepo{repo: repo}, retry: retry.New(retry.Options{})}
	img := imageOf(t, v1.Platform{OS: "linux", Architecture: "amd64"})
	nested := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})
	gone := errors.New("gone")
	for _, tt := range []struct {
		name string
		idx  v1.ImageIndex
		want string
	}{
		{"an image", brokenIndex{mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img}), gone}, "read the " + ShortDigest(digestOfImage(t, img)) + " image sha256:"},
		{"an index", brokenIndex{mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: nested}), gone}, "read the index sha256:"},
		{"an SBOM", mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: static.NewLayer([]byte("{}"), types.MediaType("application/vnd.example.sbom+json"))}),
			`of media type "application/vnd.example.sbom+json", which is neither an image nor an index: push it with a registry client that copies artifacts`},
	} {
		err := p.uploadIndex(context.Background(), nil, tt.idx, "")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: uploadIndex = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func digestOfImage(tb testing.TB, img v1.Image) string {
	tb.Helper()
	d, err := img.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return d.String()
}

// TestLabels: an index's entries are named in the log by platform, as an
// attestation, or by short digest, under their parent's name; an image
// without a label is "the image".
func TestLabels(t *testing.T) {
	t.Parallel()
	d := v1.Descriptor{Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}}
	short := ShortDigest(d.Digest.String())
	withPlatform := d
	withPlatform.Platform = &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	halfPlatform := d
	halfPlatform.Platform = &v1.Platform{OS: "linux"}
	attestation := d
	attestation.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
	for _, tt := range []struct {
		parent string
		d      v1.Descriptor
		want   string
	}{
		{"", withPlatform, "linux/arm64/v8"},
		{"", halfPlatform, short},
		{"", d, short},
		{"", attestation, "attestation " + short},
		{"linux/amd64", withPlatform, "linux/amd64 linux/arm64/v8"},
	} {
		if got := childLabel(tt.parent, tt.d); got != tt.want {
			t.Errorf("childLabel(%q, %+v) = %q, want %q", tt.parent, tt.d.Platform, got, tt.want)
		}
	}
	if orImage("") != "the image" || orImage("linux/arm64") != "the linux/arm64 image" {
		t.Errorf(`orImage = %q, %q; want "the image", "the linux/arm64 image"`, orImage(""), orImage("linux/arm64"))
	}
}
