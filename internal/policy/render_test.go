package policy

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/schema"
	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/xeipuuv/gojsonschema"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"go.yaml.in/yaml/v3"
)

// renderCases are plans to render: every mode, and a role chain within one
// account and across two.
func renderCases(tb testing.TB) map[string]*Plan {
	tb.Helper()
	out := map[string]*Plan{}
	for _, c := range readmeModes(tb) {
		out[strings.ReplaceAll(c.Name, " ", "_")] = c.Plan
	}
	out["chain_in_one_account"] = mustPlan(tb, readmeRequest(func(r *Request) {
		r.RoleChain = []Hop{{RoleARN: "arn:aws:iam::111122223333:role/deploy/narrow-deploy", ExternalID: "x-1"}}
	}))
	return out
}

// resolveIntrinsics evaluates the few intrinsic functions the templates
// use, as CloudFormation would with CreateOIDCProvider true: Ref of the
// provider and Fn::GetAtt of a role give their ARNs.
func resolveIntrinsics(v any, arns map[string]string) any {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 1 {
			if args, ok := v["Fn::If"].([]any); ok {
				return resolveIntrinsics(args[1], arns)
			}
			if ref, ok := v["Ref"].(string); ok && arns[ref] != "" {
				return arns[ref]
			}
			if args, ok := v["Fn::GetAtt"].([]any); ok && args[1] == "Arn" {
				return arns[args[0].(string)]
			}
		}
		out := map[string]any{}
		for k, e := range v {
			out[k] = resolveIntrinsics(e, arns)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = resolveIntrinsics(e, arns)
		}
		return out
	}
	return v
}

// asJSONValue turns a document into the generic form a template decodes to.
func asJSONValue(tb testing.TB, d Document) any {
	tb.Helper()
	var v any
	if err := json.Unmarshal([]byte(d.JSON()), &v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// TestCloudFormationTemplates checks each template against CloudFormation's
// resource specification (goformation's JSON schema of it: resource types,
// their properties, required ones and value types), and that its roles and
// policies are the plan's.
func TestCloudFormationTemplates(t *testing.T) {
	t.Parallel()
	cfnSchema := gojsonschema.NewStringLoader(schema.CloudformationSchema)
	for name, p := range renderCases(t) {
		for _, account := range p.Accounts() {
			t.Run(name+"_"+account, func(t *testing.T) {
				t.Parallel()
				out, err := p.CloudFormation(account)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("template:\n%s", out)
				var tmpl map[string]any
				if err := yaml.Unmarshal(out, &tmpl); err != nil {
					t.Fatalf("the template is not YAML: %v", err)
				}
				res, err := gojsonschema.Validate(cfnSchema, gojsonschema.NewGoLoader(tmpl))
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				for _, e := range res.Errors() {
					t.Errorf("schema: %s", e)
				}

				resources := tmpl["Resources"].(map[string]any)
				arns := map[string]string{cfnProviderID: p.ProviderARN}
				for id, r := range resources {
					if r.(map[string]any)["Type"] == "AWS::IAM::Role" {
						props := r.(map[string]any)["Properties"].(map[string]any)
						arns[id] = fmt.Sprintf("arn:%s:iam::%s:role%s%s", p.Partition, account, props["Path"], props["RoleName"])
					}
				}
				_, hasProvider := resources[cfnProviderID]
				if want := p.Roles[0].Account == account; hasProvider != want {
					t.Errorf("template creates the OIDC provider: %v, want %v", hasProvider, want)
				}
				roles, _, _ := p.rolesIn(account)
				found := 0
				for id, r := range resources {
					props, _ := r.(map[string]any)["Properties"].(map[string]any)
					if r.(map[string]any)["Type"] != "AWS::IAM::Role" {
						continue
					}
					for _, role := range roles {
						if arns[id] != role.ARN {
							continue
						}
						found++
						if got := props["MaxSessionDuration"]; got != MaxSessionSeconds {
							t.Errorf("%s: MaxSessionDuration %v, want %d", id, got, MaxSessionSeconds)
						}
						if diff := cmp.Diff(asJSONValue(t, role.Trust), resolveIntrinsics(props["AssumeRolePolicyDocument"], arns)); diff != "" {
							t.Errorf("%s: trust policy (-plan +template):\n%s", id, diff)
						}
						doc, ok := role.Permissions()
						policies, _ := props["Policies"].([]any)
						if !ok {
							if len(policies) > 0 {
								t.Errorf("%s: has policies, want none", id)
							}
							continue
						}
						if len(policies) != 1 {
							t.Fatalf("%s: %d policies, want 1", id, len(policies))
						}
						pol := policies[0].(map[string]any)
						if pol["PolicyName"] != InlinePolicyName {
							t.Errorf("%s: policy name %v", id, pol["PolicyName"])
						}
						if diff := cmp.Diff(asJSONValue(t, doc), pol["PolicyDocument"]); diff != "" {
							t.Errorf("%s: permissions (-plan +template):\n%s", id, diff)
						}
					}
				}
				if found != len(roles) {
					t.Errorf("template creates %d of the account's %d roles", found, len(roles))
				}
			})
		}
	}
}

// terraformResources are the attributes of the Terraform AWS provider's
// resources the configurations use, as its documentation lists them
// (arguments only; "count" is Terraform's own).
var terraformResources = map[string][]string{
	"aws_iam_openid_connect_provider": {"count", "url", "client_id_list", "thumbprint_list", "tags"},
	"aws_iam_role": {"count", "name", "name_prefix", "path", "description", "max_session_duration", "assume_role_policy",
		"force_detach_policies", "permissions_boundary", "tags"},
	"aws_iam_role_policy": {"count", "name", "name_prefix", "role", "policy"},
}

// TestTerraformConfigurations parses each configuration with HCL, checks
// its blocks and every resource's arguments against the provider's, and
// evaluates the policies (jsonencode of the documents, the references
// resolved to their ARNs) to compare them with the plan's.
func TestTerraformConfigurations(t *testing.T) {
	t.Parallel()
	topSchema := &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "terraform"}, {Type: "provider", LabelNames: []string{"name"}},
		{Type: "variable", LabelNames: []string{"name"}}, {Type: "locals"},
		{Type: "resource", LabelNames: []string{"type", "name"}}, {Type: "output", LabelNames: []string{"name"}},
	}}
	for name, p := range renderCases(t) {
		for _, account := range p.Accounts() {
			t.Run(name+"_"+account, func(t *testing.T) {
				t.Parallel()
				out, err := p.Terraform(account)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("configuration:\n%s", out)
				file, diags := hclsyntax.ParseConfig(out, "main.tf", hcl.InitialPos)
				if diags.HasErrors() {
					t.Fatalf("parse: %s", diags)
				}
				content, diags := file.Body.Content(topSchema)
				if diags.HasErrors() {
					t.Fatalf("top-level blocks: %s", diags)
				}
				roles, withProvider, _ := p.rolesIn(account)
				roleARNs := map[string]cty.Value{}
				var providerSeen bool
				policies := map[string]hcl.Expression{}
				trusts := map[string]hcl.Expression{}
				for _, b := range content.Blocks {
					switch b.Type {
					case "provider":
						attrs, diags := b.Body.JustAttributes()
						if diags.HasErrors() {
							t.Fatal(diags)
						}
						v, _ := attrs["allowed_account_ids"].Expr.Value(nil)
						if got := v.Index(cty.NumberIntVal(0)).AsString(); got != account {
							t.Errorf("provider pinned to %s, want %s", got, account)
						}
					case "resource":
						typ := b.Labels[0]
						known, ok := terraformResources[typ]
						if !ok {
							t.Errorf("resource type %s is not one the configuration should create", typ)
							continue
						}
						attrs, diags := b.Body.JustAttributes()
						if diags.HasErrors() {
							t.Fatalf("%s.%s: %s", typ, b.Labels[1], diags)
						}
						for attr := range attrs {
							if !containsString(known, attr) {
								t.Errorf("%s.%s: unknown argument %s", typ, b.Labels[1], attr)
							}
						}
						switch typ {
						case "aws_iam_openid_connect_provider":
							providerSeen = true
						case "aws_iam_role":
							n, _ := attrs["name"].Expr.Value(nil)
							path, _ := attrs["path"].Expr.Value(nil)
							roleARNs[b.Labels[1]] = cty.StringVal(fmt.Sprintf("arn:%s:iam::%s:role%s%s", p.Partition, account, path.AsString(), n.AsString()))
							trusts[b.Labels[1]] = attrs["assume_role_policy"].Expr
							if v, _ := attrs["max_session_duration"].Expr.Value(nil); !v.Equals(cty.NumberIntVal(MaxSessionSeconds)).True() {
								t.Errorf("%s: max_session_duration %#v", b.Labels[1], v)
							}
						case "aws_iam_role_policy":
							policies[b.Labels[1]] = attrs["policy"].Expr
						}
					}
				}
				if providerSeen != withProvider {
					t.Errorf("configuration creates the OIDC provider: %v, want %v", providerSeen, withProvider)
				}
				ctx := &hcl.EvalContext{
					Variables: map[string]cty.Value{
						"local": cty.ObjectVal(map[string]cty.Value{"oidc_provider_arn": cty.StringVal(p.ProviderARN)}),
						"aws_iam_role": cty.ObjectVal(func() map[string]cty.Value {
							m := map[string]cty.Value{}
							for k, arn := range roleARNs {
								m[k] = cty.ObjectVal(map[string]cty.Value{"arn": arn, "id": cty.StringVal(k)})
							}
							return m
						}()),
					},
					Functions: map[string]function.Function{"jsonencode": stdlib.JSONEncodeFunc},
				}
				for _, role := range roles {
					var name string
					for k, arn := range roleARNs {
						if arn.AsString() == role.ARN {
							name = k
						}
					}
					if name == "" {
						t.Errorf("no aws_iam_role for %s", role.ARN)
						continue
					}
					evalDoc := func(e hcl.Expression) any {
						v, diags := e.Value(ctx)
						if diags.HasErrors() {
							t.Fatalf("%s: %s", name, diags)
						}
						var doc any
						if err := json.Unmarshal([]byte(v.AsString()), &doc); err != nil {
							t.Fatal(err)
						}
						return doc
					}
					if diff := cmp.Diff(asJSONValue(t, role.Trust), evalDoc(trusts[name])); diff != "" {
						t.Errorf("%s: trust policy (-plan +configuration):\n%s", name, diff)
					}
					doc, ok := role.Permissions()
					if e, has := policies[name]; has != ok {
						t.Errorf("%s: aws_iam_role_policy present: %v, want %v", name, has, ok)
					} else if ok {
						if diff := cmp.Diff(asJSONValue(t, doc), evalDoc(e)); diff != "" {
							t.Errorf("%s: permissions (-plan +configuration):\n%s", name, diff)
						}
					}
				}
			})
		}
	}
}

func containsString(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func TestRenderRefusesAnAccountWithoutRoles(t *testing.T) {
	t.Parallel()
	p := mustPlan(t, readmeRequest())
	if _, err := p.CloudFormation("999999999999"); err == nil || !strings.Contains(err.Error(), "111122223333") {
		t.Errorf("CloudFormation(other account) = %v, want an error naming the plan's account", err)
	}
	if _, err := p.Terraform("999999999999"); err == nil {
		t.Error("Terraform(other account) succeeded")
	}
}

func TestHCLStringEscapesTemplates(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`arn:aws:s3:::bucket/${aws:username}`: `"arn:aws:s3:::bucket/$${aws:username}"`,
		`100%{x}`:                             `"100%%{x}"`,
		`quote"and\back`:                      `"quote\"and\\back"`,
	} {
		if got := hclString(in); got != want {
			t.Errorf("hclString(%q) = %s, want %s", in, got, want)
		}
		expr, diags := hclsyntax.ParseExpression([]byte(hclString(in)), "x", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		if v, _ := expr.Value(nil); v.AsString() != in {
			t.Errorf("%s evaluates to %q, want %q", hclString(in), v.AsString(), in)
		}
	}
}
