package policy

import (
	"strings"
	"testing"
)

func TestParseDenied(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string][2]string{
		"User: arn:aws:sts::111122223333:assumed-role/gha-deploy/x is not authorized to perform: ecs:UpdateService on resource: arn:aws:ecs:us-east-1:111122223333:service/prod-cluster/api-service because no identity-based policy allows the ecs:UpdateService action": {"ecs:UpdateService", "arn:aws:ecs:us-east-1:111122223333:service/prod-cluster/api-service"},
		"User: arn:aws:sts::111122223333:assumed-role/gha-deploy/x is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::444455556666:role/prod-deploy":                                                                                                  {"sts:AssumeRole", "arn:aws:iam::444455556666:role/prod-deploy"},
	} {
		action, resource, ok := ParseDenied(msg)
		if !ok || action != want[0] || resource != want[1] {
			t.Errorf("ParseDenied(%q) = %q, %q, %v; want %q, %q", msg, action, resource, ok, want[0], want[1])
		}
	}
	if _, _, ok := ParseDenied("Access Denied"); ok {
		t.Error("a message naming no action parsed")
	}
}

func TestNoticeAndDenied(t *testing.T) {
	t.Parallel()
	n := CallECRReadTags.Notice("arn:aws:ecr:us-east-1:111122223333:repository/web-api")
	for _, want := range []string{"ecr:BatchGetImage is not allowed on arn:aws:ecr:us-east-1:111122223333:repository/web-api", CallECRReadTags.Without, "Allowing it would " + CallECRReadTags.For, CallECRReadTags.Sid} {
		if !strings.Contains(n, want) {
			t.Errorf("notice %q lacks %q", n, want)
		}
	}
	d := Denied("ecs:UpdateService", "arn:aws:ecs:us-east-1:111122223333:service/prod-cluster/api-service")
	if !strings.HasPrefix(d, "what to change: allow ecs:UpdateService on arn:aws:ecs:us-east-1:111122223333:service/prod-cluster/api-service, which the run needs to start the deployment") {
		t.Errorf("Denied = %q", d)
	}
	// An action with a required and an optional call is explained by the
	// required one.
	if d := Denied("ecs:DescribeTaskDefinition", "*"); !strings.Contains(d, CallECSCopyTaskDefinition.For) {
		t.Errorf("Denied(ecs:DescribeTaskDefinition) = %q", d)
	}
	for _, c := range Calls() {
		if !c.Required() && strings.Contains(c.Notice("x"), "..") {
			t.Errorf("%s's notice reads badly: %q", c.Action, c.Notice("x"))
		}
	}
}
