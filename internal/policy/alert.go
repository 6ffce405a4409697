package policy

import (
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// subjectAlertPattern is the EventBridge event pattern that matches
// CloudTrail's record of an AssumeRoleWithWebIdentity call for the
// deploying chain's first role whose token's sub is not the one its trust
// policy expects. CloudTrail names the caller of such a call a
// WebIdentityUser whose userName is the token's sub; the record is there
// whether STS granted the call or refused it, so a refused attempt from
// another repository, branch or environment alerts too.
func (p *Plan) subjectAlertPattern() map[string]any {
	sub := p.Request.Scope.Subject()
	var unexpected any = map[string]any{"anything-but": []string{sub}}
	if strings.ContainsAny(sub, "*") {
		unexpected = map[string]any{"anything-but": map[string]any{"wildcard": sub}}
	}
	return map[string]any{
		"source":      []string{"aws.sts"},
		"detail-type": []string{"AWS API Call via CloudTrail"},
		"detail": map[string]any{
			"eventSource":       []string{"sts.amazonaws.com"},
			"eventName":         []string{"AssumeRoleWithWebIdentity"},
			"requestParameters": map[string]any{"roleArn": []string{p.Roles[0].ARN}},
			"userIdentity":      map[string]any{"userName": []any{unexpected}},
		},
	}
}

// alertDescription says what the alert is for.
func (p *Plan) alertDescription() string {
	return fmt.Sprintf("AssumeRoleWithWebIdentity of %s by a GitHub token whose sub is not %s", p.Roles[0].ARN, p.Request.Scope.Subject())
}

// SubjectAlertCloudFormation is a CloudFormation template of the alert on
// the role's web-identity assumptions: an SNS topic, a topic policy that
// lets EventBridge publish to it, and the EventBridge rule with the
// pattern. Deployed in the region the action calls STS in (its
// aws-region): STS records the call there.
func (p *Plan) SubjectAlertCloudFormation() ([]byte, error) {
	pattern, err := toNode(p.subjectAlertPattern())
	if err != nil {
		return nil, err
	}
	doc := ymap(
		"AWSTemplateFormatVersion", "2010-09-09",
		"Description", "Alert on "+p.alertDescription(),
		"Resources", ymap(
			"DeployRoleAlertTopic", ymap("Type", "AWS::SNS::Topic", "Properties", ymap("DisplayName", "Unexpected deploy role assumption")),
			"DeployRoleAlertTopicPolicy", ymap("Type", "AWS::SNS::TopicPolicy", "Properties", ymap(
				"Topics", ylist(ymap("Ref", "DeployRoleAlertTopic")),
				"PolicyDocument", ymap(
					"Version", "2012-10-17",
					"Statement", ylist(ymap(
						"Effect", "Allow",
						"Principal", ymap("Service", "events.amazonaws.com"),
						"Action", "sns:Publish",
						"Resource", ymap("Ref", "DeployRoleAlertTopic"),
					)),
				),
			)),
			"DeployRoleAlertRule", ymap("Type", "AWS::Events::Rule", "Properties", ymap(
				"Description", p.alertDescription(),
				"State", "ENABLED",
				"EventPattern", pattern,
				"Targets", ylist(ymap("Arn", ymap("Ref", "DeployRoleAlertTopic"), "Id", "sns")),
			)),
		),
		"Outputs", ymap("AlertTopicArn", ymap("Description", "Subscribe the on-call address to this topic", "Value", ymap("Ref", "DeployRoleAlertTopic"))),
	)
	clearStyle(doc)
	return yaml.Marshal(doc)
}

// toNode turns a JSON value into a YAML node.
func toNode(v any) (*yaml.Node, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode the event pattern: %w", err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, fmt.Errorf("encode the event pattern: %w", err)
	}
	return n.Content[0], nil
}

// SubjectAlertTerraform is the same alert as a Terraform configuration.
func (p *Plan) SubjectAlertTerraform() ([]byte, error) {
	pattern, err := json.MarshalIndent(p.subjectAlertPattern(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode the event pattern: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `resource "aws_sns_topic" "deploy_role_alert" {
  name = "deploy-role-alert"
}

resource "aws_sns_topic_policy" "deploy_role_alert" {
  arn = aws_sns_topic.deploy_role_alert.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sns:Publish"
      Resource  = aws_sns_topic.deploy_role_alert.arn
    }]
  })
}

resource "aws_cloudwatch_event_rule" "deploy_role_alert" {
  name          = "deploy-role-alert"
  description   = %s
  event_pattern = <<-PATTERN
%s
  PATTERN
}

resource "aws_cloudwatch_event_target" "deploy_role_alert" {
  rule = aws_cloudwatch_event_rule.deploy_role_alert.name
  arn  = aws_sns_topic.deploy_role_alert.arn
}
`, hclString(p.alertDescription()), indent(string(pattern), "    "))
	return []byte(b.String()), nil
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}
