package policy

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/awslabs/goformation/v7/schema"
	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/xeipuuv/gojsonschema"
	"go.yaml.in/yaml/v3"
)

// matches reports whether an EventBridge pattern of exact values and
// anything-but lists matches an event, as EventBridge matches them: every
// field the pattern names must be in the event with one of its values.
func matches(pattern, event map[string]any) bool {
	for k, want := range pattern {
		got, ok := event[k]
		if !ok {
			return false
		}
		switch want := want.(type) {
		case map[string]any:
			sub, ok := got.(map[string]any)
			if !ok || !matches(want, sub) {
				return false
			}
		case []any:
			hit := false
			for _, w := range want {
				switch w := w.(type) {
				case string:
					hit = hit || got == w
				case map[string]any:
					if but, ok := w["anything-but"].([]any); ok {
						hit = hit || !slices.Contains(but, got)
					}
				}
			}
			if !hit {
				return false
			}
		}
	}
	return true
}

// cloudTrailEvent is CloudTrail's record of an AssumeRoleWithWebIdentity
// call by a GitHub token with sub, as EventBridge delivers it.
func cloudTrailEvent(roleARN, sub string) map[string]any {
	return map[string]any{
		"source":      "aws.sts",
		"detail-type": "AWS API Call via CloudTrail",
		"detail": map[string]any{
			"eventSource": "sts.amazonaws.com",
			"eventName":   "AssumeRoleWithWebIdentity",
			"userIdentity": map[string]any{
				"type": "WebIdentityUser", "userName": sub,
				"identityProvider": "token.actions.githubusercontent.com",
			},
			"requestParameters": map[string]any{"roleArn": roleARN, "roleSessionName": "acme-web-api-1-1"},
		},
	}
}

func asMap(tb testing.TB, v any) map[string]any {
	tb.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestSubjectAlert: the CloudFormation template passes CloudFormation's
// resource specification, the Terraform configuration parses with the
// provider's arguments, both carry the same pattern, and the pattern
// matches CloudTrail's record of the role assumed by another sub, not by
// the expected one, nor of another role.
func TestSubjectAlert(t *testing.T) {
	t.Parallel()
	p := mustPlan(t, readmeRequest())
	role, sub := p.Roles[0].ARN, p.Request.Scope.Subject()
	pattern := asMap(t, p.subjectAlertPattern())
	for _, tc := range []struct {
		name  string
		event map[string]any
		want  bool
	}{
		{"expected_sub", cloudTrailEvent(role, sub), false},
		{"another_repository", cloudTrailEvent(role, "repo:mallory/web-api:environment:production"), true},
		{"another_environment", cloudTrailEvent(role, "repo:acme/web-api:environment:staging"), true},
		{"a_pull_request", cloudTrailEvent(role, "repo:acme/web-api:pull_request"), true},
		{"another_role", cloudTrailEvent("arn:aws:iam::111122223333:role/other", "repo:mallory/x:ref:refs/heads/main"), false},
	} {
		if got := matches(pattern, asMap(t, tc.event)); got != tc.want {
			t.Errorf("%s: the pattern matches %v, want %v", tc.name, got, tc.want)
		}
	}

	out, err := p.SubjectAlertCloudFormation()
	if err != nil {
		t.Fatal(err)
	}
	var tmpl map[string]any
	if err := yaml.Unmarshal(out, &tmpl); err != nil {
		t.Fatalf("the template is not YAML: %v\n%s", err, out)
	}
	// The specification types a Ref by what it resolves to: the topic's ARN.
	resolved := resolveIntrinsics(tmpl, map[string]string{"DeployRoleAlertTopic": "arn:aws:sns:us-east-1:111122223333:deploy-role-alert"})
	res, err := gojsonschema.Validate(gojsonschema.NewStringLoader(schema.CloudformationSchema), gojsonschema.NewGoLoader(resolved))
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	for _, e := range res.Errors() {
		t.Errorf("schema: %s", e)
	}
	rule := tmpl["Resources"].(map[string]any)["DeployRoleAlertRule"].(map[string]any)["Properties"].(map[string]any)
	if diff := cmp.Diff(pattern, asMap(t, rule["EventPattern"])); diff != "" {
		t.Errorf("the template's pattern (-plan +template):\n%s", diff)
	}

	tf, err := p.SubjectAlertTerraform()
	if err != nil {
		t.Fatal(err)
	}
	file, diags := hclsyntax.ParseConfig(tf, "alert.tf", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse: %s\n%s", diags, tf)
	}
	content, diags := file.Body.Content(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "resource", LabelNames: []string{"type", "name"}}}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	// The arguments of the Terraform AWS provider's resources used, as its
	// documentation lists them.
	known := map[string][]string{
		"aws_sns_topic":               {"name", "display_name", "kms_master_key_id", "tags"},
		"aws_sns_topic_policy":        {"arn", "policy"},
		"aws_cloudwatch_event_rule":   {"name", "description", "event_pattern", "event_bus_name", "state", "tags"},
		"aws_cloudwatch_event_target": {"rule", "arn", "target_id", "event_bus_name", "input", "role_arn"},
	}
	var tfPattern map[string]any
	for _, b := range content.Blocks {
		args, ok := known[b.Labels[0]]
		if !ok {
			t.Errorf("resource type %s", b.Labels[0])
			continue
		}
		attrs, diags := b.Body.JustAttributes()
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		for name, attr := range attrs {
			if !slices.Contains(args, name) {
				t.Errorf("%s.%s: unknown argument %s", b.Labels[0], b.Labels[1], name)
			}
			if name == "event_pattern" {
				v, diags := attr.Expr.Value(nil)
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				if err := json.Unmarshal([]byte(v.AsString()), &tfPattern); err != nil {
					t.Fatalf("event_pattern is not JSON: %v", err)
				}
			}
		}
	}
	if diff := cmp.Diff(pattern, tfPattern); diff != "" {
		t.Errorf("the configuration's pattern (-plan +configuration):\n%s", diff)
	}
}
