// Package partition knows the AWS partitions (aws, aws-cn, aws-us-gov and
// the isolated ones) as the AWS SDK does: which partition a region is in,
// and the ARNs and ECR registry hosts of each.
package partition

import (
	"regexp"
	"slices"
	"strings"
)

//go:generate go run ./gen

// Partition is one AWS partition: a set of regions with their own ARNs,
// endpoints and accounts. A role in one partition cannot be used in another.
type Partition struct {
	// ID is what ARNs carry after "arn:": aws, aws-cn, aws-us-gov, ...
	ID string
	// DNSSuffix ends the partition's endpoint and registry host names:
	// amazonaws.com, amazonaws.com.cn, ...
	DNSSuffix string
	// SupportsFIPS tells whether the partition has FIPS endpoints.
	SupportsFIPS bool
	// RegionPattern is the regular expression that the SDK matches a region
	// name against to find its partition.
	RegionPattern string
	// Regions are the partition's regions the SDK lists by name.
	Regions []string
}

// patterns are the compiled RegionPatterns, in table order.
var patterns = func() []*regexp.Regexp {
	out := make([]*regexp.Regexp, len(table))
	for i, p := range table {
		out[i] = regexp.MustCompile(p.RegionPattern)
	}
	return out
}()

// All returns every partition the SDK knows, in the order regions are
// matched against them.
func All() []Partition {
	out := make([]Partition, len(table))
	for i, p := range table {
		out[i] = p.clone()
	}
	return out
}

func (p Partition) clone() Partition {
	p.Regions = slices.Clone(p.Regions)
	return p
}

// IDs lists the partitions' IDs, for messages.
func IDs() []string {
	ids := make([]string, len(table))
	for i, p := range table {
		ids[i] = p.ID
	}
	return ids
}

// Lookup returns the partition whose ID is id.
func Lookup(id string) (Partition, bool) {
	for _, p := range table {
		if p.ID == id {
			return p.clone(), true
		}
	}
	return Partition{}, false
}

// ForRegion returns the partition of region as the SDK finds it: a region
// it lists by name, else the first partition whose pattern the name
// matches. Unlike the SDK, which falls back to aws, it reports false for a
// name that matches no partition: that is a typo, not a new region.
func ForRegion(region string) (Partition, bool) {
	for _, p := range table {
		if slices.Contains(p.Regions, region) {
			return p.clone(), true
		}
	}
	for i, re := range patterns {
		if re.MatchString(region) {
			return table[i].clone(), true
		}
	}
	return Partition{}, false
}

// OfARN returns the partition an ARN names (its second field), if it is one
// the SDK knows.
func OfARN(arn string) (Partition, bool) {
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return Partition{}, false
	}
	id, _, ok := strings.Cut(rest, ":")
	if !ok {
		return Partition{}, false
	}
	return Lookup(id)
}

// ARN builds an ARN in the partition: arn:ID:service:region:account:resource.
// Global services such as IAM take an empty region.
func (p Partition) ARN(service, region, account, resource string) string {
	return "arn:" + p.ID + ":" + service + ":" + region + ":" + account + ":" + resource
}

// OIDCProviderARN is the ARN of an account's IAM OIDC identity provider
// for an issuer, named as IAM names it: the issuer URL without https://.
func (p Partition) OIDCProviderARN(account, issuerHost string) string {
	return p.ARN("iam", "", account, "oidc-provider/"+issuerHost)
}

// ExampleRegions returns up to n of the partition's regions, for messages.
func (p Partition) ExampleRegions(n int) []string {
	return slices.Clone(p.Regions[:min(n, len(p.Regions))])
}

// ECRRegistryHost is the host of account's ECR registry in region:
// ACCOUNT.dkr.ecr.REGION.DNSSUFFIX, or dkr.ecr-fips. when fips is set.
func (p Partition) ECRRegistryHost(account, region string, fips bool) string {
	service := "ecr"
	if fips {
		service = "ecr-fips"
	}
	return account + ".dkr." + service + "." + region + "." + p.DNSSuffix
}

// RegistryHost is an ECR registry host, read back into its parts.
type RegistryHost struct {
	// Account owns the registry.
	Account string
	// Region is the registry's region.
	Region string
	// FIPS is true for a dkr.ecr-fips. host.
	FIPS bool
	// Partition is the region's partition, whose DNS suffix the host ends with.
	Partition Partition
}

// ecrHostPattern is the shape of an ECR registry host; the suffix is
// checked against the region's partition.
var ecrHostPattern = regexp.MustCompile(`^(\d{12})\.dkr\.(ecr|ecr-fips)\.([a-z0-9]+(?:-[a-z0-9]+)+)\.([a-z0-9.-]+)$`)

// ParseECRRegistryHost reads an ECR registry host: 12-digit account,
// dkr.ecr (or dkr.ecr-fips where the partition has FIPS endpoints), a
// region the SDK places in a partition, and exactly that partition's DNS
// suffix. Anything else (another registry, a port, a look-alike suffix)
// is not an ECR registry host.
func ParseECRRegistryHost(host string) (RegistryHost, bool) {
	m := ecrHostPattern.FindStringSubmatch(host)
	if m == nil {
		return RegistryHost{}, false
	}
	p, ok := ForRegion(m[3])
	if !ok || m[4] != p.DNSSuffix {
		return RegistryHost{}, false
	}
	fips := m[2] == "ecr-fips"
	if fips && !p.SupportsFIPS {
		return RegistryHost{}, false
	}
	return RegistryHost{Account: m[1], Region: m[3], FIPS: fips, Partition: p}, true
}
