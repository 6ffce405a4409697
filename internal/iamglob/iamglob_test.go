package iamglob_test

import (
	"testing"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/iamglob"
)

func TestMatchWithinPatterns(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		pattern, value string
		want           bool
	}{
		{"repo:acme/web-api:ref:refs/heads/*", "repo:acme/web-api:ref:refs/heads/release/*", true},
		{"repo:acme/web-api:environment:production", "repo:acme/web-api:*", false},
		{"arn:aws:ecs:us-east-1:111122223333:task/prod-cluster/*", "arn:aws:ecs:us-east-1:111122223333:task/prod-cluster/abc", true},
		{"a?c", "abc", true},
		{"a?c", "abbc", false},
		{"*", "", true},
		{"a*", "A", false},
	} {
		if got := iamglob.Match(tt.pattern, tt.value); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.value, got, tt.want)
		}
	}
}

func TestMatchAnyFoldsCaseWhenAsked(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		patterns []string
		value    string
		foldCase bool
		want     bool
	}{
		{[]string{"ecr:Get*"}, "ecr:GetAuthorizationToken", false, true},
		{[]string{"ECR:get*"}, "ecr:GetAuthorizationToken", true, true},
		{[]string{"ECR:get*"}, "ecr:GetAuthorizationToken", false, false},
		{[]string{"ecs:Describe*", "ecs:UpdateService"}, "ecs:updateservice", true, true},
		{nil, "ecs:UpdateService", true, false},
	} {
		if got := iamglob.MatchAny(tt.patterns, tt.value, tt.foldCase); got != tt.want {
			t.Errorf("MatchAny(%q, %q, %v) = %v, want %v", tt.patterns, tt.value, tt.foldCase, got, tt.want)
		}
	}
}

// TestMatch holds IAM's wildcards: * for any run of characters (none
// included), ? for exactly one, and nothing else special.
func TestMatch(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		pattern, value string
		want           bool
	}{
		{"ab", "ab", true},
		{"ab", "ac", false},
		{"ab", "abc", false},
		{"abc", "ab", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a*", "a", true},
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxcyyb", false},
		{"*", "", true},
		{"**", "x", true},
		{"a**", "a", true},
		{"arn:aws:ecs:*:111122223333:service/prod/*", "arn:aws:ecs:us-east-1:111122223333:service/prod/api", true},
		{"arn:aws:ecs:*:111122223333:service/prod/*", "arn:aws:ecs:us-east-1:444455556666:service/prod/api", false},
	} {
		if got := iamglob.Match(tt.pattern, tt.value); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.value, got, tt.want)
		}
	}
}
