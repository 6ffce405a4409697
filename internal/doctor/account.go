package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/iamglob"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
)

// IAMAPI is what doctor reads of IAM; *iam.Client implements it.
type IAMAPI interface {
	ListOpenIDConnectProviders(ctx context.Context, in *iam.ListOpenIDConnectProvidersInput, optFns ...func(*iam.Options)) (*iam.ListOpenIDConnectProvidersOutput, error)
	GetOpenIDConnectProvider(ctx context.Context, in *iam.GetOpenIDConnectProviderInput, optFns ...func(*iam.Options)) (*iam.GetOpenIDConnectProviderOutput, error)
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	ListRolePolicies(ctx context.Context, in *iam.ListRolePoliciesInput, optFns ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
	GetRolePolicy(ctx context.Context, in *iam.GetRolePolicyInput, optFns ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedRolePoliciesInput, optFns ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	GetPolicy(ctx context.Context, in *iam.GetPolicyInput, optFns ...func(*iam.Options)) (*iam.GetPolicyOutput, error)
	GetPolicyVersion(ctx context.Context, in *iam.GetPolicyVersionInput, optFns ...func(*iam.Options)) (*iam.GetPolicyVersionOutput, error)
}

var _ IAMAPI = (*iam.Client)(nil)

// AccountOptions say what to check in an account.
type AccountOptions struct {
	// Plan is what the account should hold, generated from the inputs.
	Plan *policy.Plan
	// Account is the account the credentials are for: its roles are
	// checked, the others are named as not checked.
	Account string
	// Subjects are the sub claims the deploy job presents (from the
	// workflow); the plan's scope when empty.
	Subjects []Subject
}

// CheckAccount checks the account against the plan: the OIDC provider
// accepts the audience; each role exists, its trust policy pins aud with
// StringEquals and sub to exactly what the deploy job presents, its
// permissions are within the generated ones and include every required
// one, and its sessions last at most an hour.
func CheckAccount(ctx context.Context, r *Report, api IAMAPI, opts AccountOptions) error {
	p := opts.Plan
	r.Role = p.Roles[0].ARN
	if p.Roles[0].Account == opts.Account {
		c, err := checkProvider(ctx, api, p)
		if err != nil {
			return err
		}
		r.add(c)
	}
	subjects := opts.Subjects
	if len(subjects) == 0 {
		subjects = []Subject{{Value: p.Request.Scope.Subject(), Why: "the scope given"}}
	}
	for i, role := range p.Roles {
		if role.Account != opts.Account {
			r.Skipped = append(r.Skipped, fmt.Sprintf("%s is in account %s, not %s: run doctor with that account's credentials", role.ARN, role.Account, opts.Account))
			continue
		}
		prefix := ""
		if len(p.Roles) > 1 {
			prefix = role.Name + ": "
		}
		out, err := api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role.Name)})
		if _, missing := errors.AsType[*types.NoSuchEntityException](err); missing {
			r.add(Check{ID: "account.role", Title: prefix + "the role exists", Detail: role.ARN + " does not exist",
				Fix: "create it with its trust policy and permissions: oidc-ecs-deploy setup, with the same flags (or the policy command's output)"})
			continue
		}
		if err != nil {
			return fmt.Errorf("read the role %s: %w", role.Name, err)
		}
		trust, err := decodeDocument(aws.ToString(out.Role.AssumeRolePolicyDocument))
		if err != nil {
			return fmt.Errorf("read the trust policy of %s: %w", role.Name, err)
		}
		if i == 0 {
			r.add(checkTrustAudience(p, trust, prefix))
			r.add(checkTrustSubject(p, trust, subjects, prefix))
		} else {
			r.add(checkChainTrust(role, trust, prefix))
		}
		docs, err := rolePolicies(ctx, api, role.Name)
		if err != nil {
			return err
		}
		r.add(checkWithin(role, docs, prefix))
		r.add(checkEnough(role, docs, prefix))
		r.add(checkSession(role, aws.ToInt32(out.Role.MaxSessionDuration), prefix))
	}
	return nil
}

// decodeDocument reads a policy document as IAM returns it: URL-encoded JSON.
func decodeDocument(s string) (policy.Document, error) {
	if decoded, err := url.QueryUnescape(s); err == nil {
		s = decoded
	}
	return policy.ParseDocument([]byte(s))
}

func checkProvider(ctx context.Context, api IAMAPI, p *policy.Plan) (Check, error) {
	aud := p.Request.Audience
	c := Check{ID: "account.provider", Title: "the IAM OIDC provider for " + p.ProviderURL + " exists and accepts the audience " + aud}
	list, err := api.ListOpenIDConnectProviders(ctx, &iam.ListOpenIDConnectProvidersInput{})
	if err != nil {
		return c, fmt.Errorf("list the IAM OIDC providers: %w", err)
	}
	var arns []string
	for _, e := range list.OpenIDConnectProviderList {
		arns = append(arns, aws.ToString(e.Arn))
	}
	if !slices.Contains(arns, p.ProviderARN) {
		c.Detail = fmt.Sprintf("account %s has no IAM OIDC provider for %s (it has: %s), so STS rejects every token from it", p.Roles[0].Account, p.ProviderURL, listOrNone(arns))
		c.Fix = fmt.Sprintf("aws iam create-open-id-connect-provider --url %s --client-id-list %s   (or: oidc-ecs-deploy setup)", p.ProviderURL, aud)
		return c, nil
	}
	out, err := api.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(p.ProviderARN)})
	if err != nil {
		return c, fmt.Errorf("read the IAM OIDC provider %s: %w", p.ProviderARN, err)
	}
	if !slices.Contains(out.ClientIDList, aud) {
		c.Detail = fmt.Sprintf("%s accepts the audiences %s, not %s, so STS rejects the job's token (Incorrect token audience)", p.ProviderARN, listOrNone(out.ClientIDList), aud)
		c.Fix = fmt.Sprintf("aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn %s --client-id %s   (or: oidc-ecs-deploy setup)", p.ProviderARN, aud)
		return c, nil
	}
	c.OK = true
	c.Detail = p.ProviderARN + " accepts " + strings.Join(out.ClientIDList, ", ")
	return c, nil
}

func listOrNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// webIdentityStatements are the trust policy's Allow statements that let a
// token of the plan's provider in.
func webIdentityStatements(p *policy.Plan, trust policy.Document) []policy.Statement {
	var out []policy.Statement
	for _, st := range trust.Statement {
		if st.Effect != "Allow" || !iamglob.MatchAny(st.Action, "sts:AssumeRoleWithWebIdentity", true) {
			continue
		}
		if slices.Contains(st.Principal["Federated"], p.ProviderARN) {
			out = append(out, st)
		}
	}
	return out
}

// conditionValues lists a statement's condition values for key, by operator.
func conditionValues(st policy.Statement, key string) map[string][]string {
	out := map[string][]string{}
	for op, keys := range st.Condition {
		for k, v := range keys {
			if strings.EqualFold(k, key) {
				out[op] = append(out[op], v...)
			}
		}
	}
	return out
}

// generatedCondition is the Condition block of the generated trust
// statement, to paste as a fix.
func generatedCondition(p *policy.Plan) string {
	host := strings.TrimPrefix(p.ProviderURL, "https://")
	return fmt.Sprintf(`"Condition": {
  "StringEquals": {
    "%s:aud": "%s",
    "%s:sub": "%s"
  }
}`, host, p.Request.Audience, host, p.Request.Scope.Subject())
}

func describeStatement(i int, st policy.Statement) string {
	if st.Sid != "" {
		return fmt.Sprintf("statement %d (%s)", i+1, st.Sid)
	}
	return fmt.Sprintf("statement %d", i+1)
}

// checkTrustAudience: every statement that admits the provider's tokens
// pins aud to the audience with StringEquals.
func checkTrustAudience(p *policy.Plan, trust policy.Document, prefix string) Check {
	host := strings.TrimPrefix(p.ProviderURL, "https://")
	key := host + ":aud"
	c := Check{ID: "account.trust-aud", Title: prefix + "the trust policy pins aud to " + p.Request.Audience + " with StringEquals"}
	sts := webIdentityStatements(p, trust)
	if len(sts) == 0 {
		c.OK = true
		c.Detail = "no statement admits tokens of " + p.ProviderARN + " (see the sub item)"
		return c
	}
	var problems []string
	for i, st := range sts {
		vals := conditionValues(st, key)
		eq := vals["StringEquals"]
		switch {
		case len(vals) == 0:
			problems = append(problems, describeStatement(i, st)+" has no aud condition: tokens requested for any audience are admitted")
		case len(eq) == 0:
			ops := make([]string, 0, len(vals))
			for op := range vals {
				ops = append(ops, op)
			}
			slices.Sort(ops)
			problems = append(problems, fmt.Sprintf("%s tests aud with %s, not StringEquals", describeStatement(i, st), strings.Join(ops, ", ")))
		case !slices.Equal(eq, []string{p.Request.Audience}):
			problems = append(problems, fmt.Sprintf("%s pins aud to %s, not %s (the action's audience input)", describeStatement(i, st), strings.Join(eq, ", "), p.Request.Audience))
		}
	}
	if len(problems) == 0 {
		c.OK = true
		c.Detail = fmt.Sprintf("StringEquals %s = %s", key, p.Request.Audience)
		return c
	}
	c.Detail = strings.Join(problems, "\n")
	c.Fix = fmt.Sprintf("in the trust policy's Condition, under StringEquals, set\n  %q: %q\nas the generated policy does:\n%s\n(oidc-ecs-deploy setup updates the trust policy, showing the difference)", key, p.Request.Audience, generatedCondition(p))
	return c
}

// checkTrustSubject: the statements admit the sub the deploy job presents,
// pinned with StringEquals (StringLike only for a wildcard), and no other.
func checkTrustSubject(p *policy.Plan, trust policy.Document, subjects []Subject, prefix string) Check {
	host := strings.TrimPrefix(p.ProviderURL, "https://")
	key := host + ":sub"
	var want []string
	for _, s := range subjects {
		want = append(want, s.Value)
	}
	c := Check{ID: "account.trust-sub", Title: prefix + "the trust policy admits exactly the deploy job's sub (" + strings.Join(want, ", ") + ")"}
	c.Fix = fmt.Sprintf("admit exactly the job's sub, with StringEquals: in the trust policy's Condition set\n  %q: %q\nas the generated policy does:\n%s\n(oidc-ecs-deploy setup updates the trust policy, showing the difference)", key, p.Request.Scope.Subject(), generatedCondition(p))
	sts := webIdentityStatements(p, trust)
	if len(sts) == 0 {
		c.Detail = "no statement of the trust policy admits tokens of " + p.ProviderARN + ", so no job can assume the role"
		return c
	}
	owner, repo, _ := strings.Cut(p.Request.Scope.Repository, "/")
	var problems []string
	// admitted are the sub patterns the statements admit.
	var admitted []string
	for i, st := range sts {
		vals := conditionValues(st, key)
		if len(vals) == 0 {
			problems = append(problems, describeStatement(i, st)+" has no sub condition: it admits a job of any repository on GitHub")
			admitted = append(admitted, "*")
			continue
		}
		for op, values := range vals {
			for _, v := range values {
				wild := strings.ContainsAny(v, "*?")
				switch {
				case op == "StringLike" && !wild:
					problems = append(problems, fmt.Sprintf("%s tests sub %s with StringLike, which has no wildcard to match: use StringEquals", describeStatement(i, st), v))
				case op == "StringEquals" && wild:
					problems = append(problems, fmt.Sprintf("%s tests sub %s with StringEquals, which takes the * literally: no job has that sub", describeStatement(i, st), v))
					continue
				case op != "StringLike" && op != "StringEquals":
					problems = append(problems, fmt.Sprintf("%s tests sub with %s: use StringEquals", describeStatement(i, st), op))
				}
				switch v {
				case "repo:" + owner + "/*", "repo:" + owner + "/*:*":
					problems = append(problems, fmt.Sprintf("%s admits %s: every job of every repository of %s", describeStatement(i, st), v, owner))
				case "repo:" + owner + "/" + repo + ":*":
					problems = append(problems, fmt.Sprintf("%s admits %s: every branch, tag, pull request and environment of %s/%s", describeStatement(i, st), v, owner, repo))
				}
				admitted = append(admitted, v)
			}
		}
	}
	for _, s := range subjects {
		if !s.Exact() {
			continue
		}
		if !slices.ContainsFunc(admitted, func(a string) bool { return iamglob.Match(a, s.Value) }) {
			problems = append(problems, fmt.Sprintf("the job's sub %s (%s) is not admitted (the trust policy admits %s): STS would refuse the job", s.Value, s.Why, strings.Join(admitted, ", ")))
		}
	}
	for _, a := range admitted {
		if !slices.ContainsFunc(subjects, func(s Subject) bool { return iamglob.Match(s.Value, a) }) && !slices.ContainsFunc(problems, func(pr string) bool { return strings.Contains(pr, "admits "+a+":") }) {
			problems = append(problems, fmt.Sprintf("the trust policy admits %s, which the deploy job does not present: a job elsewhere (another branch, environment or repository) could assume the role", a))
		}
	}
	if len(problems) == 0 {
		c.OK = true
		c.Detail = fmt.Sprintf("%s %s", key, strings.Join(admitted, ", "))
		return c
	}
	c.Detail = strings.Join(dedupe(problems), "\n")
	return c
}

func dedupe(list []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// checkChainTrust: a role of the chain trusts exactly the role before it,
// with the external ID when one is given.
func checkChainTrust(role policy.Role, trust policy.Document, prefix string) Check {
	c := Check{ID: "account.trust-chain", Title: prefix + "the trust policy admits the previous role of the chain, as generated"}
	if trust.Compact() == role.Trust.Compact() {
		c.OK = true
		c.Detail = "admits " + strings.Join(role.Trust.Statement[0].Principal["AWS"], ", ")
		return c
	}
	c.Detail = "the trust policy differs from the generated one"
	c.Fix = "replace it by the generated one (oidc-ecs-deploy setup with this account's credentials does, showing the difference):\n" + role.Trust.JSON()
	return c
}

func checkSession(role policy.Role, seconds int32, prefix string) Check {
	c := Check{ID: "account.session", Title: fmt.Sprintf("%ssessions of the role last at most %d s", prefix, policy.MaxSessionSeconds)}
	if seconds <= policy.MaxSessionSeconds {
		c.OK = true
		c.Detail = fmt.Sprintf("MaxSessionDuration %d", seconds)
		return c
	}
	c.Detail = fmt.Sprintf("MaxSessionDuration is %d s: a leaked session works for %s; the action refreshes its credentials with a new token, so it never needs more than an hour", seconds, humanSeconds(seconds))
	c.Fix = fmt.Sprintf("aws iam update-role --role-name %s --max-session-duration %d   (or: oidc-ecs-deploy setup)", role.Name, policy.MaxSessionSeconds)
	return c
}

func humanSeconds(s int32) string {
	if s%3600 == 0 {
		return fmt.Sprintf("%d hours", s/3600)
	}
	return fmt.Sprintf("%d s", s)
}

// namedDocument is one of a role's permission policies.
type namedDocument struct {
	name string
	doc  policy.Document
}

// rolePolicies reads every permission policy of a role: its inline
// policies and the default versions of its attached managed policies.
func rolePolicies(ctx context.Context, api IAMAPI, role string) ([]namedDocument, error) {
	var out []namedDocument
	inline := iam.NewListRolePoliciesPaginator(api, &iam.ListRolePoliciesInput{RoleName: aws.String(role)})
	for inline.HasMorePages() {
		page, err := inline.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the inline policies of %s: %w", role, err)
		}
		for _, name := range page.PolicyNames {
			got, err := api.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(name)})
			if err != nil {
				return nil, fmt.Errorf("read the inline policy %s of %s: %w", name, role, err)
			}
			doc, err := decodeDocument(aws.ToString(got.PolicyDocument))
			if err != nil {
				return nil, fmt.Errorf("inline policy %s of %s: %w", name, role, err)
			}
			out = append(out, namedDocument{name: "inline policy " + name, doc: doc})
		}
	}
	attached := iam.NewListAttachedRolePoliciesPaginator(api, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)})
	for attached.HasMorePages() {
		page, err := attached.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the managed policies attached to %s: %w", role, err)
		}
		for _, ap := range page.AttachedPolicies {
			arn := aws.ToString(ap.PolicyArn)
			pol, err := api.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
			if err != nil {
				return nil, fmt.Errorf("read the managed policy %s: %w", arn, err)
			}
			ver, err := api.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: pol.Policy.DefaultVersionId})
			if err != nil {
				return nil, fmt.Errorf("read the managed policy %s: %w", arn, err)
			}
			doc, err := decodeDocument(aws.ToString(ver.PolicyVersion.Document))
			if err != nil {
				return nil, fmt.Errorf("managed policy %s: %w", arn, err)
			}
			out = append(out, namedDocument{name: "managed policy " + arn, doc: doc})
		}
	}
	return out, nil
}

// checkWithin: every Allow of the role's policies is within the generated
// grants: no action the run does not call, no resource wider than it
// needs, no condition left out.
func checkWithin(role policy.Role, docs []namedDocument, prefix string) Check {
	c := Check{ID: "account.permissions", Title: prefix + "the role's permissions are within the generated policy"}
	var problems []string
	for _, nd := range docs {
		for i, st := range nd.doc.Statement {
			if st.Effect != "Allow" {
				continue
			}
			where := nd.name + " " + describeStatement(i, st)
			if len(st.NotAction) > 0 {
				problems = append(problems, where+" uses NotAction: it allows every action it does not name")
			}
			if len(st.NotResource) > 0 {
				problems = append(problems, where+" uses NotResource: it allows every resource it does not name")
			}
			for _, a := range st.Action {
				switch {
				case a == "*" || a == "*:*":
					problems = append(problems, fmt.Sprintf("%s allows %s: every action of every service", where, a))
					continue
				case strings.ContainsAny(a, "*?"):
					var needed []string
					for _, g := range role.Grants {
						if iamglob.Match(strings.ToLower(a), strings.ToLower(g.Action)) && !slices.Contains(needed, g.Action) {
							needed = append(needed, g.Action)
						}
					}
					msg := fmt.Sprintf("%s allows %s: every action it matches", where, a)
					if len(needed) > 0 {
						msg += ", where the run calls only " + strings.Join(needed, ", ")
					} else {
						msg += ", none of which the run calls"
					}
					problems = append(problems, msg)
					continue
				}
				grants := grantsFor(role, a)
				if len(grants) == 0 {
					problems = append(problems, fmt.Sprintf("%s allows %s, which the run never calls", where, a))
					continue
				}
				resources := st.Resource
				if len(resources) == 0 && len(st.NotResource) == 0 {
					resources = []string{"*"}
				}
				for _, res := range resources {
					if !slices.ContainsFunc(grants, func(g policy.Grant) bool {
						return slices.ContainsFunc(g.Resources, func(gr string) bool { return iamglob.Match(gr, res) })
					}) {
						problems = append(problems, fmt.Sprintf("%s allows %s on %s, where the run needs it only on %s", where, a, res, strings.Join(grants[0].Resources, ", ")))
					}
				}
				for _, g := range grants {
					if len(g.Condition) > 0 && !conditionCovers(st.Condition, g.Condition) {
						problems = append(problems, fmt.Sprintf("%s allows %s without the condition %s", where, a, describeCondition(g.Condition)))
						break
					}
				}
			}
		}
	}
	if len(problems) == 0 {
		c.OK = true
		c.Detail = fmt.Sprintf("%d policy document(s), nothing beyond the generated one", len(docs))
		return c
	}
	c.Detail = strings.Join(dedupe(problems), "\n")
	perms, _ := role.Permissions()
	c.Fix = fmt.Sprintf("remove what is named above: make the generated policy %s the role's only permissions (oidc-ecs-deploy setup puts it; detach or delete the others):\n%s", policy.InlinePolicyName, perms.JSON())
	return c
}

// grantsFor are the role's grants of an action (case-insensitive).
func grantsFor(role policy.Role, action string) []policy.Grant {
	var out []policy.Grant
	for _, g := range role.Grants {
		if strings.EqualFold(g.Action, action) {
			out = append(out, g)
		}
	}
	return out
}

// conditionCovers reports whether have tests every key of want, each with
// values among want's (have may test more keys, which only narrows).
func conditionCovers(have, want policy.Condition) bool {
	for op, keys := range want {
		for k, vals := range keys {
			got := conditionValues(policy.Statement{Condition: have}, k)[op]
			if len(got) == 0 {
				return false
			}
			for _, g := range got {
				if !slices.Contains(vals, g) {
					return false
				}
			}
		}
	}
	return true
}

func describeCondition(cond policy.Condition) string {
	var parts []string
	for op, keys := range cond {
		for k, v := range keys {
			parts = append(parts, fmt.Sprintf("%s %s = %s", op, k, strings.Join(v, ", ")))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// checkEnough: the role's policies allow every required grant; a missing
// optional one is named, since the run goes on without it.
func checkEnough(role policy.Role, docs []namedDocument, prefix string) Check {
	c := Check{ID: "account.permissions-required", Title: prefix + "the role's permissions allow every call the mode needs"}
	var missing, optional []string
	for _, g := range role.Grants {
		if allowsGrant(docs, g) {
			continue
		}
		line := fmt.Sprintf("%s on %s (%s)", g.Action, strings.Join(g.Resources, ", "), g.For)
		if g.Required() {
			missing = append(missing, line)
		} else {
			optional = append(optional, line)
		}
	}
	var detail []string
	if len(optional) > 0 {
		detail = append(detail, "optional, the run prints a notice without them: "+strings.Join(optional, "; "))
	}
	if len(missing) == 0 {
		c.OK = true
		c.Detail = strings.Join(detail, "\n")
		return c
	}
	c.Detail = strings.Join(append([]string{"the run fails without: " + strings.Join(missing, "; ")}, detail...), "\n")
	perms, _ := role.Permissions()
	c.Fix = fmt.Sprintf("allow them as the generated policy does (oidc-ecs-deploy setup puts it):\n%s", perms.JSON())
	return c
}

// allowsGrant reports whether some Allow statement grants g's action on
// every one of its resources, without a condition g lacks.
func allowsGrant(docs []namedDocument, g policy.Grant) bool {
	for _, res := range g.Resources {
		allowed := false
		for _, nd := range docs {
			for _, st := range nd.doc.Statement {
				if st.Effect != "Allow" || !iamglob.MatchAny(st.Action, g.Action, true) {
					continue
				}
				resources := st.Resource
				if len(resources) == 0 {
					resources = []string{"*"}
				}
				if !slices.ContainsFunc(resources, func(r string) bool { return iamglob.Match(r, res) }) {
					continue
				}
				// The statement applies to the call only when the call's
				// condition keys (the grant's) satisfy its conditions.
				if len(st.Condition) > 0 && !conditionCovers(g.Condition, st.Condition) {
					continue
				}
				allowed = true
			}
		}
		if !allowed {
			return false
		}
	}
	return true
}
