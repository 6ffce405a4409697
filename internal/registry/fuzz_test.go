package registry

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
)

// The registry the fuzzed runs' ECR login is issued for.
const (
	fuzzAccount = "111122223333"
	fuzzRegion  = "us-east-1"
	fuzzDigest  = "sha256:abababababababababababababababababababababababababababababababab"
)

// FuzzImageReference reads the image and repository inputs of any text as
// the inputs' check does and as the push does, with the ECR login of
// account 111122223333 in us-east-1. What holds for any text:
//   - a refusal is one line per problem, naming its input;
//   - the check and the push agree: an image or repository the check
//     accepts, the push reads, and an image docker://REFERENCE the push
//     cannot read, the check refuses (nothing fails after AWS is called);
//   - a docker:// reference read writes back as the same reference, with
//     the tag or digest given (a digest exactly as given), and its
//     repository pinned by a digest reads back as that repository;
//   - a repository read writes back as the same repository;
//   - no credential confusion: the ECR password reads a source only on
//     the login's own registry (an ECR host of that account and region, as
//     the partition builds it), and an ECR login of another registry is
//     asked only for a host that is exactly an ECR registry host.
func FuzzImageReference(f *testing.F) {
	const ecr = "111122223333.dkr.ecr.us-east-1.amazonaws.com"
	for _, seed := range [][2]string{
		{"web-api:latest", "web-api"},
		{"docker://" + ecr + "/base:1.2", ecr + "/web-api"},
		{"docker://" + ecr + "/web-api@" + fuzzDigest, "team/web-api"},
		{"docker://111122223333.dkr.ecr-fips.us-east-1.amazonaws.com/base:1", ecr + "/web-api"},
		{"docker://444455556666.dkr.ecr.eu-west-1.amazonaws.com/base:1", "web-api"},
		{"docker://111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn/base", "web-api"},
		{"docker://ghcr.io/acme/base:1@" + fuzzDigest, "web-api"},
		{"docker://nginx", "web-api"},
		{"docker://localhost:5000/base:1", "localhost:5000/web-api"},
		{"docker://" + strings.ToUpper(ecr) + "/base", "web-api"},
		{"docker://" + ecr + ".registry.invalid/base", "ghcr.io/acme/web-api"},
		{"docker://" + ecr + ":443/base", "web-api"},
		{"oci:./layout", "web-api"},
		{"docker-archive:image.tar", "web-api"},
		{"docker-daemon:web-api:1", "web-api"},
		{"dir:/tmp/x", "web-api"},
		{"docker://", ""},
		{"docker://a b", "a b"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, image, repository string) {
		pushes, imageProblems, repositoryProblems := inputProblems(t, image, repository)

		t.Run("repository", func(t *testing.T) {
			tgt, err := parseRepository(repository)
			if err != nil {
				if pushes && len(repositoryProblems) == 0 {
					t.Fatalf("the check accepts repository %q, the push refuses it: %v", repository, err)
				}
				if !strings.Contains(err.Error(), "repository "+strconv.Quote(repository)) {
					t.Errorf("refusal %q does not name the repository input's value", err)
				}
				return
			}
			again, err := parseRepository(repositoryInput(tgt))
			if err != nil || again != tgt {
				t.Errorf("repository %q reads as %+v, which writes as %q and reads back as %+v, %v", repository, tgt, repositoryInput(tgt), again, err)
			}
			if tgt.host != "" {
				if h, ok := partition.ParseECRRegistryHost(tgt.host); ok && (tgt.registryID != h.Account || tgt.region != h.Region) {
					t.Errorf("repository %q on ECR host %+v is read as account %q, region %q", repository, h, tgt.registryID, tgt.region)
				}
			}
		})

		ref, isRegistry := strings.CutPrefix(image, "docker://")
		if !isRegistry {
			return
		}
		src, err := parseRegistrySource(ref)
		if err != nil {
			if len(imageProblems) == 0 {
				t.Fatalf("the check accepts image %q, the push refuses it: %v", image, err)
			}
			if !strings.Contains(err.Error(), "image "+image+" ") {
				t.Errorf("refusal %q does not name the image input's value", err)
			}
			return
		}
		if len(imageProblems) == 0 && ref == "" {
			t.Errorf("the check accepts image %q, which names no image", image)
		}
		checkReadsBack(t, ref, src.ref)

		// Whose credential reads the source, against a target the login
		// may push to.
		tgt, err := parseRepository(repository)
		if err != nil {
			return
		}
		login := &ecrLogin{password: "pw", endpoint: &url.URL{Scheme: "https", Host: awsPartition(t).ECRRegistryHost(fuzzAccount, fuzzRegion, false)}}
		if tgt.host == "" {
			tgt.host = login.endpoint.Host
		}
		if login.checkTarget(tgt) != nil {
			return
		}
		if !isLoginRegistry(tgt.host) {
			t.Fatalf("the login issued for %s lets the push send its password to %q", login.endpoint.Host, tgt.host)
		}
		host := src.ref.Context().RegistryStr()
		switch credentialFor(host, tgt, login) {
		case targetRegistry, targetRegistryOtherName:
			if !isLoginRegistry(host) {
				t.Errorf("source %s on %q is read with the ECR password of %s", image, host, login.endpoint.Host)
			}
		case otherECRRegistry:
			h, ok := partition.ParseECRRegistryHost(strings.ToLower(host))
			if !ok || !strings.EqualFold(h.Partition.ECRRegistryHost(h.Account, h.Region, h.FIPS), host) || isLoginRegistry(host) {
				t.Errorf("source %s on %q gets an ECR login of its own (%+v)", image, host, h)
			}
		default:
			if isLoginRegistry(host) {
				t.Errorf("source %s on the login's registry %q is read with the Docker config's credential", image, host)
			}
			if _, ok := partition.ParseECRRegistryHost(strings.ToLower(host)); ok {
				t.Errorf("source %s on the ECR registry %q is read with the Docker config's credential", image, host)
			}
		}
	})
}

// inputProblems are the problems the inputs' check finds with the image
// and the repository, in a configuration whose other inputs are valid.
// Each is one line naming its input. pushes reports whether the inputs ask
// for a push, the only use of the repository input the check checks.
func inputProblems(t *testing.T, image, repository string) (pushes bool, imageProblems, repositoryProblems []string) {
	t.Helper()
	c := config.Config{
		RoleToAssume: "arn:aws:iam::" + fuzzAccount + ":role/gha-deploy", AWSRegion: fuzzRegion,
		RoleSessionName: "gha-deploy", RoleDurationSeconds: 3600, WaitForMinutes: 30,
		Image: image, Repository: repository, Tags: []string{"v1"},
	}
	pushes = c.PushRequested()
	err := c.Validate()
	if err == nil {
		return pushes, nil, nil
	}
	var problems []error
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		problems = joined.Unwrap()
	} else {
		problems = []error{err}
	}
	for _, p := range problems {
		var ie *config.InputError
		if !errors.As(p, &ie) {
			t.Fatalf("problem %v is not an *InputError", p)
		}
		if strings.ContainsAny(p.Error(), "\r\n") || !strings.HasPrefix(p.Error(), "input "+ie.Input+": ") {
			t.Errorf("problem %q is not one line naming its input", p)
		}
		switch ie.Input {
		case config.InputImage:
			imageProblems = append(imageProblems, p.Error())
		case config.InputRepository:
			repositoryProblems = append(repositoryProblems, p.Error())
		}
	}
	return pushes, imageProblems, repositoryProblems
}

// checkReadsBack: a reference read writes back as itself, keeps the tag
// or digest it was given, and its repository pinned by a digest is the
// same repository.
func checkReadsBack(t *testing.T, given string, ref name.Reference) {
	t.Helper()
	again, err := name.ParseReference(ref.Name())
	if err != nil || again.Name() != ref.Name() || !sameRepository(again.Context(), ref.Context()) || again.Identifier() != ref.Identifier() {
		t.Errorf("reference %q reads as %q, which reads back as %v, %v", given, ref.Name(), again, err)
	}
	if _, digest, ok := strings.Cut(given, "@"); ok {
		if d, isDigest := ref.(name.Digest); !isDigest || d.DigestStr() != digest {
			t.Errorf("reference %q with a digest reads as %q, pinned to %q", given, ref.Name(), ref.Identifier())
		}
	} else if i := strings.LastIndex(given, ":"); i > strings.LastIndex(given, "/") {
		if tag, isTag := ref.(name.Tag); !isTag || tag.TagStr() != given[i+1:] {
			t.Errorf("reference %q with a tag reads as %q, tagged %q", given, ref.Name(), ref.Identifier())
		}
	}
	pinned, err := name.NewDigest(ref.Context().Name() + "@" + fuzzDigest)
	if err != nil || !sameRepository(pinned.Context(), ref.Context()) {
		t.Errorf("reference %q pinned by digest, %s@%s, reads as %v, %v", given, ref.Context().Name(), fuzzDigest, pinned, err)
	}
}

// isLoginRegistry reports whether host is a name of the registry the
// fuzzed login is for, as the partition builds those names.
func isLoginRegistry(host string) bool {
	aws, _ := partition.Lookup("aws")
	return strings.EqualFold(host, aws.ECRRegistryHost(fuzzAccount, fuzzRegion, false)) ||
		strings.EqualFold(host, aws.ECRRegistryHost(fuzzAccount, fuzzRegion, true))
}

// repositoryInput writes a target as the repository input names it.
func repositoryInput(t target) string {
	if t.host == "" {
		return t.name
	}
	return t.uri()
}

func awsPartition(tb testing.TB) partition.Partition {
	tb.Helper()
	p, ok := partition.Lookup("aws")
	if !ok {
		tb.Fatal("no aws partition")
	}
	return p
}

// sameRepository reports whether two repositories are the same registry's
// same repository, reached the same way.
func sameRepository(a, b name.Repository) bool {
	return a.Name() == b.Name() && a.RegistryStr() == b.RegistryStr() && a.RepositoryStr() == b.RepositoryStr() && a.Scheme() == b.Scheme()
}
