package policy

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
)

// FuzzSourceRepository reads a docker:// image input and a repository
// input as the policy does, and checks it against the reference as the
// push reads it (go-containerregistry's reading, which the push uses): the
// policy grants ecr:BatchGetImage on exactly the ECR repository the push
// reads with an ECR login (on an ECR registry host, or on the target's own
// registry), in that registry's account, and on nothing for a source the
// push reads with another credential.
func FuzzSourceRepository(f *testing.F) {
	const ecr = "111122223333.dkr.ecr.us-east-1.amazonaws.com"
	for _, seed := range [][2]string{
		{ecr + "/base:1", "web-api"},
		{ecr + "/team/base@sha256:abababababababababababababababababababababababababababababababab", ecr + "/web-api"},
		{"444455556666.dkr.ecr.eu-west-1.amazonaws.com/base:1", "web-api"},
		{"111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn/base", "web-api"},
		{"127.0.0.1:5000/base:1", "127.0.0.1:5000/web-api"},
		{"library/nginx:1", "library/web-api"},
		{"ghcr.io/acme/base:1", "web-api"},
		{"nginx", "web-api"},
	} {
		f.Add(seed[0], seed[1])
	}
	aws, _ := partition.Lookup("aws")
	const account, region = "111122223333", "us-east-1"
	f.Fuzz(func(t *testing.T, reference, repository string) {
		arn, sourceAccount, granted := sourceRepositoryARN("docker://"+reference, aws, account, region, repository)
		ref, err := name.ParseReference(reference)
		if err != nil || reference == "" {
			return // the inputs' check refuses the image
		}
		host, repo := ref.Context().RegistryStr(), ref.Context().RepositoryStr()
		var want, wantAccount string
		targetHost, _, targetIsURI := strings.Cut(repository, "/")
		targetIsURI = targetIsURI && (strings.ContainsAny(targetHost, ".:") || targetHost == "localhost")
		if h, ok := partition.ParseECRRegistryHost(strings.ToLower(host)); ok {
			want, wantAccount = h.Partition.ARN("ecr", h.Region, h.Account, "repository/"+repo), h.Account
		} else if targetIsURI && strings.EqualFold(host, targetHost) {
			want, wantAccount = aws.ARN("ecr", region, account, "repository/"+repo), account
		}
		switch {
		case want == "" && granted:
			t.Errorf("image docker://%s on %s (not read with an ECR login; target %q) is granted %s", reference, host, repository, arn)
		case want != "" && (!granted || arn != want || sourceAccount != wantAccount):
			t.Errorf("image docker://%s (target %q) is read from %s in account %s; the policy grants %q in account %q (%v)", reference, repository, want, wantAccount, arn, sourceAccount, granted)
		}
	})
}
