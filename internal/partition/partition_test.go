package partition

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"
)

func TestForRegion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		region string
		want   string // partition ID; empty: none
	}{
		{"us-east-1", "aws"},
		{"eu-central-2", "aws"},
		{"ap-southeast-9", "aws"}, // not listed yet: the aws pattern still places it
		{"cn-north-1", "aws-cn"},
		{"cn-northwest-1", "aws-cn"},
		{"us-gov-west-1", "aws-us-gov"},
		{"us-gov-east-1", "aws-us-gov"},
		{"us-iso-east-1", "aws-iso"},
		{"us-isob-east-1", "aws-iso-b"},
		{"eu-isoe-west-1", "aws-iso-e"},
		{"us-isof-south-1", "aws-iso-f"},
		{"xx-east-1", ""},
		{"mars-1", ""},
		{"us-east", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.region, func(t *testing.T) {
			t.Parallel()
			p, ok := ForRegion(tt.region)
			if got := p.ID; got != tt.want || ok != (tt.want != "") {
				t.Errorf("ForRegion(%q) = %q, %t; want %q", tt.region, got, ok, tt.want)
			}
		})
	}
}

// TestTableAgreesWithTheSDKsResolvers resolves the ECR and STS endpoints of
// every listed region with the SDK's own endpoint rules: the host must end
// in the partition's DNS suffix, so the table cannot drift from the code
// that picks the endpoints.
func TestTableAgreesWithTheSDKsResolvers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ecrResolver := ecr.NewDefaultEndpointResolverV2()
	stsResolver := sts.NewDefaultEndpointResolverV2()
	for _, p := range All() {
		if len(p.Regions) == 0 {
			t.Errorf("partition %s lists no region", p.ID)
		}
		for _, region := range p.Regions {
			if got, ok := ForRegion(region); !ok || got.ID != p.ID {
				t.Errorf("ForRegion(%q) = %q, want %q", region, got.ID, p.ID)
			}
			e, err := ecrResolver.ResolveEndpoint(ctx, ecr.EndpointParameters{Region: aws.String(region)})
			if err != nil {
				t.Errorf("resolve ECR in %s: %v", region, err)
				continue
			}
			if got, want := e.URI.Host, "api.ecr."+region+"."+p.DNSSuffix; got != want {
				t.Errorf("ECR endpoint of %s = %q, want %q", region, got, want)
			}
			e, err = stsResolver.ResolveEndpoint(ctx, sts.EndpointParameters{Region: aws.String(region)})
			if err != nil {
				t.Errorf("resolve STS in %s: %v", region, err)
				continue
			}
			if got, want := e.URI.Host, "sts."+region+"."+p.DNSSuffix; got != want {
				t.Errorf("STS endpoint of %s = %q, want %q", region, got, want)
			}
		}
	}
}

func TestARNs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		region string
		want   []string
	}{
		{"us-east-1", []string{
			"arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com",
			"arn:aws:ecr:us-east-1:111122223333:repository/web-api",
			"111122223333.dkr.ecr.us-east-1.amazonaws.com",
			"111122223333.dkr.ecr-fips.us-east-1.amazonaws.com",
		}},
		{"cn-north-1", []string{
			"arn:aws-cn:iam::111122223333:oidc-provider/token.actions.githubusercontent.com",
			"arn:aws-cn:ecr:cn-north-1:111122223333:repository/web-api",
			"111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn",
			"111122223333.dkr.ecr-fips.cn-north-1.amazonaws.com.cn",
		}},
		{"us-gov-west-1", []string{
			"arn:aws-us-gov:iam::111122223333:oidc-provider/token.actions.githubusercontent.com",
			"arn:aws-us-gov:ecr:us-gov-west-1:111122223333:repository/web-api",
			"111122223333.dkr.ecr.us-gov-west-1.amazonaws.com",
			"111122223333.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
		}},
		{"us-iso-east-1", []string{
			"arn:aws-iso:iam::111122223333:oidc-provider/token.actions.githubusercontent.com",
			"arn:aws-iso:ecr:us-iso-east-1:111122223333:repository/web-api",
			"111122223333.dkr.ecr.us-iso-east-1.c2s.ic.gov",
			"111122223333.dkr.ecr-fips.us-iso-east-1.c2s.ic.gov",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.region, func(t *testing.T) {
			t.Parallel()
			p, ok := ForRegion(tt.region)
			if !ok {
				t.Fatalf("ForRegion(%q) found no partition", tt.region)
			}
			got := []string{
				p.OIDCProviderARN("111122223333", "token.actions.githubusercontent.com"),
				p.ARN("ecr", tt.region, "111122223333", "repository/web-api"),
				p.ECRRegistryHost("111122223333", tt.region, false),
				p.ECRRegistryHost("111122223333", tt.region, true),
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ARNs and hosts (-want +got):\n%s", diff)
			}
			for _, arn := range got[:2] {
				if q, ok := OfARN(arn); !ok || q.ID != p.ID {
					t.Errorf("OfARN(%q) = %q, %t; want %q", arn, q.ID, ok, p.ID)
				}
			}
			for i, host := range got[2:] {
				h, ok := ParseECRRegistryHost(host)
				want := RegistryHost{Account: "111122223333", Region: tt.region, FIPS: i == 1, Partition: p}
				if !ok {
					t.Errorf("ParseECRRegistryHost(%q) refused its own host", host)
				} else if diff := cmp.Diff(want, h); diff != "" {
					t.Errorf("ParseECRRegistryHost(%q) (-want +got):\n%s", host, diff)
				}
			}
		})
	}
}

func TestNotECRRegistryHosts(t *testing.T) {
	t.Parallel()
	for _, host := range []string{
		"ghcr.io",
		"127.0.0.1",
		"127.0.0.1:5000",
		"localhost:5000",
		"111122223333.dkr.ecr.us-east-1.amazonaws.com:443",          // a port is not how ECR is named
		"111122223333.dkr.ecr.us-east-1.amazonaws.com.evil.example", // look-alike suffix
		"111122223333.dkr.ecr.us-east-1.amazonaws.com.cn",           // aws region, aws-cn suffix
		"111122223333.dkr.ecr.cn-north-1.amazonaws.com",             // aws-cn region, aws suffix
		"111122223333.dkr.ecr.xx-east-1.amazonaws.com",              // no such partition
		"1111222233.dkr.ecr.us-east-1.amazonaws.com",                // 10-digit account
		"111122223333.dkr.ecr.us-east-1.amazonaws.com.",             // trailing dot
		"111122223333.DKR.ECR.us-east-1.amazonaws.com",
		"public.ecr.aws",
		"",
	} {
		if h, ok := ParseECRRegistryHost(host); ok {
			t.Errorf("ParseECRRegistryHost(%q) = %+v, want not an ECR registry host", host, h)
		}
	}
}

func TestOfARNUnknown(t *testing.T) {
	t.Parallel()
	for _, arn := range []string{"arn:aws-foo:iam::111122223333:role/x", "arn:AWS:iam::111122223333:role/x", "aws:iam::111122223333:role/x", "arn:aws", ""} {
		if p, ok := OfARN(arn); ok {
			t.Errorf("OfARN(%q) = %q, want no partition", arn, p.ID)
		}
	}
}
