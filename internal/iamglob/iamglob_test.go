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
