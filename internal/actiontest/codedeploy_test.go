package actiontest

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// TestCodeDeployReadByAWSCLI: the action deploys a CODE_DEPLOY service
// through CodeDeploy against the standalone sandbox, and Debian's AWS CLI
// (aws deploy get-deployment) reads the deployment the action reported.
func TestCodeDeployReadByAWSCLI(t *testing.T) {
	t.Parallel()
	const role = "arn:aws:iam::111122223333:role/gha-deploy-codedeploy"
	e := newE2E(t)
	with := e.deployInputs()
	with["role-to-assume"] = role
	with["service"] = "checkout-service"
	r := e.run(t, with, nil)
	if r.exitCode != 0 {
		t.Fatalf("exit code %d, want 0\n%s", r.exitCode, r.log)
	}
	checkNoSecrets(t, e.recorder, r, "ID token", "secret access key", "session token", "ECR registry password")
	id := r.outputs["deployment-id"]
	if !regexp.MustCompile(`^d-[A-Z0-9]{9}$`).MatchString(id) {
		t.Fatalf("output deployment-id = %q, want a CodeDeploy deployment ID", id)
	}
	for _, want := range []string{"Started CodeDeploy deployment " + id, "CodeDeploy lifecycle event AllowTraffic: Succeeded", "CodeDeploy deployment " + id + ": Succeeded"} {
		if !strings.Contains(r.log, want) {
			t.Errorf("log lacks %q", want)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	creds, err := sandboxtest.WebIdentityConfig(e.sandbox.Env, role, "actiontest-cli").Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatalf("credentials for the AWS CLI: %v", err)
	}
	var got struct {
		DeploymentInfo struct {
			DeploymentID        string `json:"deploymentId"`
			ApplicationName     string `json:"applicationName"`
			DeploymentGroupName string `json:"deploymentGroupName"`
			Status              string `json:"status"`
			Revision            struct {
				AppSpecContent struct {
					Content string `json:"content"`
				} `json:"appSpecContent"`
			} `json:"revision"`
		} `json:"deploymentInfo"`
	}
	sandboxtest.AWSCLIAt(t, e.sandbox.Env["AWS_ENDPOINT_URL"], testRegion,
		[]string{"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey, "AWS_SESSION_TOKEN=" + creds.SessionToken},
		&got, "deploy", "get-deployment", "--deployment-id", id)
	d := got.DeploymentInfo
	if d.DeploymentID != id || d.Status != "Succeeded" || d.ApplicationName != "AppECS-prod-cluster-checkout-service" || d.DeploymentGroupName != "DgpECS-prod-cluster-checkout-service" {
		t.Errorf("aws deploy get-deployment: %+v, want %s Succeeded in the console-named application and group, as the action said", d, id)
	}
	if td := r.outputs["task-definition-arn"]; !strings.Contains(d.Revision.AppSpecContent.Content, `"TaskDefinition":"`+td+`"`) ||
		!strings.Contains(d.Revision.AppSpecContent.Content, `"ContainerName":"web","ContainerPort":8080`) {
		t.Errorf("the AppSpec CodeDeploy got: %s, want the revision %s behind web:8080", d.Revision.AppSpecContent.Content, td)
	}
}
