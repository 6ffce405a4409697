package sandbox_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

const account = "111122223333"

// emptyAccountWorld is the demo world with account 111122223333 emptied of
// OIDC providers and roles, as an account is before anyone sets it up.
func emptyAccountWorld(w *sandbox.World) {
	w.Accounts[account].OIDCProviders = nil
	w.Accounts[account].Roles = nil
}

const trustProduction = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com","token.actions.githubusercontent.com:sub":"repo:acme/web-api:environment:production"}}}]}`

func wantAPIError(tb testing.TB, err error, code string, status int, msgPart string) {
	tb.Helper()
	gotCode, gotStatus, msg := sandboxtest.APIError(tb, err)
	if gotCode != code || gotStatus != status || !strings.Contains(msg, msgPart) {
		tb.Errorf("error %s (%d) %q, want %s (%d) containing %q", gotCode, gotStatus, msg, code, status, msgPart)
	}
}

// TestIAMFromAnEmptyAccount sets an account up through the IAM API with
// the real SDK, as setup does, checking IAM's answers and error codes on
// the way, and that each change takes effect at once in STS and ECS.
func TestIAMFromAnEmptyAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sb := sandboxtest.Start(t, emptyAccountWorld)
	api := iam.NewFromConfig(sandboxtest.AdministratorConfig(t, sb, account))

	id, err := sts.NewFromConfig(sandboxtest.AdministratorConfig(t, sb, account)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(id.Arn), "arn:aws:iam::111122223333:user/administrator"; got != want {
		t.Errorf("caller %s, want %s", got, want)
	}

	list, err := api.ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{})
	if err != nil || len(list.OpenIDConnectProviderList) != 0 {
		t.Fatalf("providers of an empty account: %+v, %v", list, err)
	}
	_, err = api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("gha-deploy")})
	wantAPIError(t, err, "NoSuchEntity", 404, "The role with name gha-deploy cannot be found.")

	// A trust policy may name only a provider that exists.
	_, err = api.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("gha-deploy"), AssumeRolePolicyDocument: aws.String(trustProduction)})
	wantAPIError(t, err, "MalformedPolicyDocument", 400, `Invalid principal in policy: "Federated":"arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"`)

	created, err := api.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
		Url: aws.String("https://token.actions.githubusercontent.com"), ClientIDList: []string{"api://other"},
	})
	if err != nil {
		t.Fatal(err)
	}
	providerARN := "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
	if got := aws.ToString(created.OpenIDConnectProviderArn); got != providerARN {
		t.Errorf("provider ARN %s, want %s", got, providerARN)
	}
	_, err = api.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String("https://token.actions.githubusercontent.com")})
	wantAPIError(t, err, "EntityAlreadyExists", 409, "Provider with url https://token.actions.githubusercontent.com already exists.")
	_, err = api.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{Url: aws.String("http://insecure.example")})
	wantAPIError(t, err, "InvalidInput", 400, "Invalid Open ID Connect Provider URL")

	if _, err := api.AddClientIDToOpenIDConnectProvider(ctx, &iam.AddClientIDToOpenIDConnectProviderInput{
		OpenIDConnectProviderArn: aws.String(providerARN), ClientID: aws.String("sts.amazonaws.com"),
	}); err != nil {
		t.Fatal(err)
	}
	provider, err := api.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(providerARN)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"api://other", "sts.amazonaws.com"}, provider.ClientIDList); diff != "" || aws.ToString(provider.Url) != "token.actions.githubusercontent.com" {
		t.Errorf("provider %s, client IDs (-want +got):\n%s", aws.ToString(provider.Url), diff)
	}
	_, err = api.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String("arn:aws:iam::111122223333:oidc-provider/gitlab.example")})
	wantAPIError(t, err, "NoSuchEntity", 404, "OpenIDConnect Provider not found for arn arn:aws:iam::111122223333:oidc-provider/gitlab.example")

	_, err = api.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("gha-deploy"), AssumeRolePolicyDocument: aws.String(trustProduction), MaxSessionDuration: aws.Int32(43201)})
	wantAPIError(t, err, "ValidationError", 400, "Value '43201' at 'maxSessionDuration' failed to satisfy constraint: Member must have value less than or equal to 43200")
	role, err := api.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName: aws.String("gha-deploy"), Path: aws.String("/deploy/"), AssumeRolePolicyDocument: aws.String(trustProduction),
		Description: aws.String("deploys"), MaxSessionDuration: aws.Int32(3600),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(role.Role.Arn), "arn:aws:iam::111122223333:role/deploy/gha-deploy"; got != want {
		t.Errorf("role ARN %s, want %s", got, want)
	}
	_, err = api.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("gha-deploy"), AssumeRolePolicyDocument: aws.String(trustProduction)})
	wantAPIError(t, err, "EntityAlreadyExists", 409, "Role with name gha-deploy already exists.")

	got, err := api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("gha-deploy")})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := url.QueryUnescape(aws.ToString(got.Role.AssumeRolePolicyDocument))
	if err != nil || doc != trustProduction {
		t.Errorf("trust policy read back %q (%v), want the text given", doc, err)
	}
	if aws.ToInt32(got.Role.MaxSessionDuration) != 3600 || aws.ToString(got.Role.Description) != "deploys" || aws.ToString(got.Role.RoleId) == "" {
		t.Errorf("role %+v", got.Role)
	}

	// The role exists: STS now issues its credentials, which may call
	// nothing until a permissions policy says so.
	creds := sandboxtest.WebIdentity(t, sb, "arn:aws:iam::111122223333:role/deploy/gha-deploy", "iam-test")
	session := aws.Config{Region: sb.Region(), BaseEndpoint: aws.String(sb.AWSEndpoint()), Credentials: sandboxtest.StaticCredentials(creds.Credentials)}
	describe := func() error {
		_, err := ecs.NewFromConfig(session).DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod-cluster"), Services: []string{"api-service"}})
		return err
	}
	wantAPIError(t, describe(), "AccessDeniedException", 400, "is not authorized to perform: ecs:DescribeServices")
	_, err = iam.NewFromConfig(session).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("gha-deploy")})
	wantAPIError(t, err, "AccessDenied", 403, "is not authorized to perform: iam:GetRole on resource: arn:aws:iam::111122223333:role/deploy/gha-deploy")

	_, err = api.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("gha-deploy"), PolicyName: aws.String("deploy"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecs:DescribeServices","Resource":"*"}]}`)})
	wantAPIError(t, err, "MalformedPolicyDocument", 400, "Policy document should not specify a principal.")
	_, err = api.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("gha-deploy"), PolicyName: aws.String("deploy"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecs:DescribeServices"}]}`)})
	wantAPIError(t, err, "MalformedPolicyDocument", 400, "Policy statement must contain resources.")
	_, err = api.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("gha-deploy"), PolicyName: aws.String("deploy"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Actions":"ecs:DescribeServices","Resource":"*"}]}`)})
	wantAPIError(t, err, "MalformedPolicyDocument", 400, "Syntax errors in policy.")
	const allowDescribe = `{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":"ecs:DescribeServices","Resource":"arn:aws:ecs:us-east-1:111122223333:service/prod-cluster/api-service"}]}`
	if _, err := api.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("gha-deploy"), PolicyName: aws.String("deploy"), PolicyDocument: aws.String(allowDescribe)}); err != nil {
		t.Fatal(err)
	}
	if err := describe(); err != nil {
		t.Errorf("DescribeServices right after PutRolePolicy: %v", err)
	}
	names, err := api.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("gha-deploy")})
	if err != nil || !cmp.Equal(names.PolicyNames, []string{"deploy"}) {
		t.Errorf("inline policies %v, %v", names, err)
	}
	inline, err := api.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("gha-deploy"), PolicyName: aws.String("deploy")})
	if err != nil {
		t.Fatal(err)
	}
	if doc, _ := url.QueryUnescape(aws.ToString(inline.PolicyDocument)); doc != allowDescribe {
		t.Errorf("inline policy read back %q", doc)
	}
	_, err = api.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("gha-deploy"), PolicyName: aws.String("nope")})
	wantAPIError(t, err, "NoSuchEntity", 404, "The role policy with name nope cannot be found.")

	if _, err := api.UpdateRole(ctx, &iam.UpdateRoleInput{RoleName: aws.String("gha-deploy"), MaxSessionDuration: aws.Int32(7200)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("gha-deploy")}); aws.ToInt32(got.Role.MaxSessionDuration) != 7200 {
		t.Errorf("MaxSessionDuration after UpdateRole: %d", aws.ToInt32(got.Role.MaxSessionDuration))
	}

	// A new trust policy takes effect at once: the job's sub no longer
	// matches.
	otherBranch := strings.Replace(trustProduction, "environment:production", "ref:refs/heads/develop", 1)
	if _, err := api.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("gha-deploy"), PolicyDocument: aws.String(otherBranch)}); err != nil {
		t.Fatal(err)
	}
	_, err = sandboxtest.STSClient(sb, aws.AnonymousCredentials{}).AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String("arn:aws:iam::111122223333:role/deploy/gha-deploy"), RoleSessionName: aws.String("x1"),
		WebIdentityToken: aws.String(sandboxtest.Token(t, sb, "sts.amazonaws.com")),
	})
	wantAPIError(t, err, "AccessDenied", 403, "Not authorized to perform sts:AssumeRoleWithWebIdentity")

	// Every decision is on record, with the statement that made it.
	var allowed, denied, trust bool
	for _, d := range sb.Decisions() {
		switch {
		case d.Action == "ecs:DescribeServices" && d.Allowed:
			allowed = d.Policy == "deploy" && d.Statement == 0 && d.Caller == aws.ToString(creds.AssumedRoleUser.Arn)
		case d.Action == "ecs:DescribeServices" && !d.Allowed:
			denied = d.Statement == -1 && d.Resource == "arn:aws:ecs:us-east-1:111122223333:service/prod-cluster/api-service"
		case d.Trust && d.Action == "sts:AssumeRoleWithWebIdentity" && !d.Allowed:
			trust = len(d.Context["token.actions.githubusercontent.com:sub"]) == 1
		}
	}
	if !allowed || !denied || !trust {
		t.Errorf("decisions on record: allowed %v, denied %v, trust %v:\n%+v", allowed, denied, trust, sb.Decisions())
	}
}

// TestIAMManagedPolicies reads the managed policies attached to a role:
// AWS's AdministratorAccess and a customer managed one, whose statements
// govern the role's sessions too.
func TestIAMManagedPolicies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sb := sandboxtest.Start(t, func(w *sandbox.World) {
		a := w.Accounts[account]
		a.ManagedPolicies = map[string]sandbox.ManagedPolicy{"ecs-read": {Document: sandbox.PolicyDocument{Version: "2012-10-17", Statement: []sandbox.Statement{
			{Effect: "Allow", Action: sandbox.StringList{"ecs:Describe*"}, Resource: sandbox.StringList{"*"}},
		}}}}
		a.Roles["gha-deploy"].AttachedPolicies = []string{"arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::111122223333:policy/ecs-read"}
	})
	api := iam.NewFromConfig(sandboxtest.AdministratorConfig(t, sb, account))
	out, err := api.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("gha-deploy")})
	if err != nil || len(out.AttachedPolicies) != 2 || aws.ToString(out.AttachedPolicies[0].PolicyName) != "AdministratorAccess" {
		t.Fatalf("attached %+v, %v", out, err)
	}
	names, _ := api.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("gha-deploy")})
	if !cmp.Equal(names.PolicyNames, []string{"permissions"}) {
		t.Errorf("inline policies of a world role: %v, want [permissions]", names.PolicyNames)
	}
	for _, arn := range []string{"arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::111122223333:policy/ecs-read"} {
		p, err := api.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		v, err := api.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: p.Policy.DefaultVersionId})
		if err != nil {
			t.Fatal(err)
		}
		if doc, _ := url.QueryUnescape(aws.ToString(v.PolicyVersion.Document)); !strings.Contains(doc, `"Effect":"Allow"`) || aws.ToInt32(p.Policy.AttachmentCount) != 1 {
			t.Errorf("%s: document %q, attachments %d", arn, doc, aws.ToInt32(p.Policy.AttachmentCount))
		}
	}
	_, err = api.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String("arn:aws:iam::111122223333:policy/none")})
	wantAPIError(t, err, "NoSuchEntity", 404, "Policy arn:aws:iam::111122223333:policy/none does not exist or is not attachable.")
	_, err = api.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String("arn:aws:iam::aws:policy/AdministratorAccess"), VersionId: aws.String("v9")})
	wantAPIError(t, err, "NoSuchEntity", 404, "version v9 does not exist")

	// The attached AdministratorAccess lets the role's sessions call anything.
	creds := sandboxtest.WebIdentity(t, sb, "arn:aws:iam::111122223333:role/gha-deploy", "managed")
	session := aws.Config{Region: sb.Region(), BaseEndpoint: aws.String(sb.AWSEndpoint()), Credentials: sandboxtest.StaticCredentials(creds.Credentials)}
	if _, err := iam.NewFromConfig(session).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("gha-deploy")}); err != nil {
		t.Errorf("a role with AdministratorAccess attached: %v", err)
	}
}
