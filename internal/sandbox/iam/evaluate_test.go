package iam

import "testing"

func TestConditions(t *testing.T) {
	t.Parallel()
	ctx := Context{
		"token.actions.githubusercontent.com:sub":         {"repo:acme/web-api:ref:refs/heads/main"},
		"token.actions.githubusercontent.com:aud":         {"sts.amazonaws.com"},
		"token.actions.githubusercontent.com:environment": {"production"},
	}
	tests := []struct {
		name string
		cond map[string]map[string]StringList
		want bool
	}{
		{"string_equals", map[string]map[string]StringList{"StringEquals": {"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"}}}, true},
		{"string_equals_key_case_insensitive", map[string]map[string]StringList{"StringEquals": {"Token.Actions.GithubUserContent.com:AUD": {"sts.amazonaws.com"}}}, true},
		{"string_equals_value_case_sensitive", map[string]map[string]StringList{"StringEquals": {"token.actions.githubusercontent.com:aud": {"STS.amazonaws.com"}}}, false},
		{"string_equals_any_of_values", map[string]map[string]StringList{"StringEquals": {"token.actions.githubusercontent.com:environment": {"staging", "production"}}}, true},
		{"string_like_wildcard", map[string]map[string]StringList{"StringLike": {"token.actions.githubusercontent.com:sub": {"repo:acme/*:ref:refs/heads/*"}}}, true},
		{"string_like_other_repo", map[string]map[string]StringList{"StringLike": {"token.actions.githubusercontent.com:sub": {"repo:other/*"}}}, false},
		{"string_like_question_mark", map[string]map[string]StringList{"StringLike": {"token.actions.githubusercontent.com:sub": {"repo:acme/web-ap?:ref:refs/heads/main"}}}, true},
		{"every_key_must_hold", map[string]map[string]StringList{"StringEquals": {"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"}, "token.actions.githubusercontent.com:sub": {"repo:acme/web-api:pull_request"}}}, false},
		{"every_operator_must_hold", map[string]map[string]StringList{"StringEquals": {"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"}}, "StringNotLike": {"token.actions.githubusercontent.com:sub": {"*:pull_request"}}}, true},
		{"string_not_equals", map[string]map[string]StringList{"StringNotEquals": {"token.actions.githubusercontent.com:environment": {"production"}}}, false},
		{"missing_key_fails_positive", map[string]map[string]StringList{"StringEquals": {"token.actions.githubusercontent.com:job_workflow_ref": {"x"}}}, false},
		{"missing_key_holds_negated", map[string]map[string]StringList{"StringNotEquals": {"token.actions.githubusercontent.com:job_workflow_ref": {"x"}}}, true},
		{"missing_key_if_exists", map[string]map[string]StringList{"StringEqualsIfExists": {"token.actions.githubusercontent.com:job_workflow_ref": {"x"}}}, true},
		{"present_key_if_exists", map[string]map[string]StringList{"StringEqualsIfExists": {"token.actions.githubusercontent.com:environment": {"staging"}}}, false},
		{"for_any_value", map[string]map[string]StringList{"ForAnyValue:StringLike": {"token.actions.githubusercontent.com:aud": {"sts.*", "other"}}}, true},
		{"for_any_value_missing_key", map[string]map[string]StringList{"ForAnyValue:StringEquals": {"token.actions.githubusercontent.com:missing": {"x"}}}, false},
		{"for_all_values", map[string]map[string]StringList{"ForAllValues:StringEquals": {"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com", "other"}}}, true},
		{"for_all_values_missing_key", map[string]map[string]StringList{"ForAllValues:StringEquals": {"token.actions.githubusercontent.com:missing": {"x"}}}, true},
		{"null_true_for_missing_key", map[string]map[string]StringList{"Null": {"token.actions.githubusercontent.com:missing": {"true"}}}, true},
		{"null_true_for_present_key", map[string]map[string]StringList{"Null": {"token.actions.githubusercontent.com:sub": {"true"}}}, false},
		{"unknown_operator_never_matches", map[string]map[string]StringList{"StringEqualz": {"token.actions.githubusercontent.com:aud": {"sts.amazonaws.com"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := conditionsHold(tt.cond, ctx); got != tt.want {
				t.Errorf("conditionsHold(%v) = %v, want %v", tt.cond, got, tt.want)
			}
		})
	}
}

// TestEvaluate checks the one evaluator on both kinds of policy: identity
// policies match Resource, trust policies match Principal, a Deny that
// applies wins, and the decision names the statement that decided.
func TestEvaluate(t *testing.T) {
	t.Parallel()
	identity := PolicyDocument{Statement: []Statement{
		{Effect: "Allow", Action: StringList{"ecs:Describe*"}, Resource: StringList{"*"}},
		{Effect: "Allow", Action: StringList{"ecs:UpdateService"}, Resource: StringList{"arn:aws:ecs:us-east-1:111122223333:service/prod/*"}},
		{Effect: "Deny", Action: StringList{"ecs:UpdateService"}, Resource: StringList{"arn:aws:ecs:us-east-1:111122223333:service/prod/locked"}},
		{Effect: "Allow", Action: StringList{"iam:PassRole"}, Condition: map[string]map[string]StringList{
			"StringEquals": {"iam:PassedToService": {"ecs-tasks.amazonaws.com"}},
		}},
	}}
	trust := PolicyDocument{Statement: []Statement{
		{Effect: "Allow", Principal: map[string]StringList{"AWS": {"111122223333"}}, Action: StringList{"sts:AssumeRole"}},
	}}
	passed := Context{}
	passed.Set("iam:PassedToService", "ecs-tasks.amazonaws.com")
	tests := []struct {
		name   string
		policy PolicyDocument
		req    Request
		want   Decision
	}{
		{"action_wildcard_any_case", identity, Request{Action: "ECS:DescribeServices", Resource: "arn:x"}, Decision{Allowed: true, Statement: 0}},
		{"resource_matches", identity, Request{Action: "ecs:UpdateService", Resource: "arn:aws:ecs:us-east-1:111122223333:service/prod/api"}, Decision{Allowed: true, Statement: 1}},
		{"deny_wins", identity, Request{Action: "ecs:UpdateService", Resource: "arn:aws:ecs:us-east-1:111122223333:service/prod/locked"}, Decision{Allowed: false, Statement: 2}},
		{"implicit_deny", identity, Request{Action: "ecs:UpdateService", Resource: "arn:aws:ecs:us-east-1:111122223333:service/test/api"}, Decision{Allowed: false, Statement: -1}},
		{"no_resource_means_every_resource", identity, Request{Action: "iam:PassRole", Resource: "arn:aws:iam::111122223333:role/x", Context: passed}, Decision{Allowed: true, Statement: 3}},
		{"condition_fails_without_key", identity, Request{Action: "iam:PassRole", Resource: "arn:aws:iam::111122223333:role/x"}, Decision{Allowed: false, Statement: -1}},
		{"trust_names_the_account", trust, Request{Action: "sts:AssumeRole", Principal: &Principal{Type: "AWS", Names: []string{"arn:aws:iam::111122223333:role/a", "111122223333"}}}, Decision{Allowed: true, Statement: 0}},
		{"trust_other_account", trust, Request{Action: "sts:AssumeRole", Principal: &Principal{Type: "AWS", Names: []string{"444455556666"}}}, Decision{Allowed: false, Statement: -1}},
		{"trust_other_principal_type", trust, Request{Action: "sts:AssumeRole", Principal: &Principal{Type: "Federated", Names: []string{"111122223333"}}}, Decision{Allowed: false, Statement: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Evaluate(tt.policy, tt.req); got != tt.want {
				t.Errorf("Evaluate = %+v, want %+v", got, tt.want)
			}
		})
	}
}
