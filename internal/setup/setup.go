// Package setup performs the account steps of the OIDC deploy guide with
// the caller's own AWS credentials, idempotently: the IAM OIDC provider
// (or the audience it lacks), each role of the plan in the caller's account
// with the generated trust policy, sessions of one hour at most, and the
// generated inline permissions policy. It reads first and changes only
// what differs, so a second run changes nothing.
package setup

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

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
)

// IAMAPI is what setup calls of IAM; *iam.Client implements it.
type IAMAPI interface {
	GetOpenIDConnectProvider(ctx context.Context, in *iam.GetOpenIDConnectProviderInput, optFns ...func(*iam.Options)) (*iam.GetOpenIDConnectProviderOutput, error)
	CreateOpenIDConnectProvider(ctx context.Context, in *iam.CreateOpenIDConnectProviderInput, optFns ...func(*iam.Options)) (*iam.CreateOpenIDConnectProviderOutput, error)
	AddClientIDToOpenIDConnectProvider(ctx context.Context, in *iam.AddClientIDToOpenIDConnectProviderInput, optFns ...func(*iam.Options)) (*iam.AddClientIDToOpenIDConnectProviderOutput, error)
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	CreateRole(ctx context.Context, in *iam.CreateRoleInput, optFns ...func(*iam.Options)) (*iam.CreateRoleOutput, error)
	UpdateAssumeRolePolicy(ctx context.Context, in *iam.UpdateAssumeRolePolicyInput, optFns ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error)
	UpdateRole(ctx context.Context, in *iam.UpdateRoleInput, optFns ...func(*iam.Options)) (*iam.UpdateRoleOutput, error)
	GetRolePolicy(ctx context.Context, in *iam.GetRolePolicyInput, optFns ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, optFns ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
}

var _ IAMAPI = (*iam.Client)(nil)

// Step is one item of the setup: what it is about, and what it changes.
type Step struct {
	// Change is the change to make, in words; empty when the item is
	// already as generated.
	Change string
	// Unchanged says what is already as generated, when Change is empty.
	Unchanged string
	// Diff shows, for an update, the document as it is and as it will be.
	Diff string
	// apply makes the change.
	apply func(ctx context.Context) error
}

// Setup is the steps for one account, read from it and not yet applied.
type Setup struct {
	// Account is the caller's account, where the steps are made.
	Account string
	Steps   []Step
	// Elsewhere lists the roles of the plan in other accounts, which a run
	// with those accounts' credentials sets up.
	Elsewhere []string
}

// Changes counts the steps that change something.
func (s *Setup) Changes() int {
	n := 0
	for _, st := range s.Steps {
		if st.Change != "" {
			n++
		}
	}
	return n
}

// Apply makes the changes, in order, and stops at the first that fails.
func (s *Setup) Apply(ctx context.Context) error {
	for _, st := range s.Steps {
		if st.apply == nil {
			continue
		}
		if err := st.apply(ctx); err != nil {
			return fmt.Errorf("%s: %w", st.Change, err)
		}
	}
	return nil
}

// notFound reports whether IAM answered that the entity does not exist.
func notFound(err error) bool {
	_, ok := errors.AsType[*types.NoSuchEntityException](err)
	return ok
}

// Read reads what account holds of the plan and returns the steps that
// would make it as generated. It changes nothing.
func Read(ctx context.Context, api IAMAPI, plan *policy.Plan, account string) (*Setup, error) {
	s := &Setup{Account: account}
	if plan.Roles[0].Account == account {
		step, err := providerStep(ctx, api, plan)
		if err != nil {
			return nil, err
		}
		s.Steps = append(s.Steps, step)
	}
	for _, role := range plan.Roles {
		if role.Account != account {
			s.Elsewhere = append(s.Elsewhere, role.ARN)
			continue
		}
		steps, err := roleSteps(ctx, api, plan, role)
		if err != nil {
			return nil, err
		}
		s.Steps = append(s.Steps, steps...)
	}
	return s, nil
}

// providerStep: the account's OIDC provider for the issuer, accepting the
// audience.
func providerStep(ctx context.Context, api IAMAPI, plan *policy.Plan) (Step, error) {
	audience := plan.Request.Audience
	out, err := api.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: aws.String(plan.ProviderARN)})
	switch {
	case notFound(err):
		in := &iam.CreateOpenIDConnectProviderInput{Url: aws.String(plan.ProviderURL), ClientIDList: []string{audience}}
		if plan.ProviderURL == policy.DefaultIssuer {
			in.ThumbprintList = policy.GitHubThumbprints()
		}
		return Step{
			Change: fmt.Sprintf("create the IAM OIDC provider for %s, accepting the audience %s", plan.ProviderURL, audience),
			apply: func(ctx context.Context) error {
				_, err := api.CreateOpenIDConnectProvider(ctx, in)
				return err
			},
		}, nil
	case err != nil:
		return Step{}, fmt.Errorf("read the IAM OIDC provider %s: %w", plan.ProviderARN, err)
	case !slices.Contains(out.ClientIDList, audience):
		return Step{
			Change: fmt.Sprintf("add the audience %s to the IAM OIDC provider for %s (it accepts %s)", audience, plan.ProviderURL, listOrNone(out.ClientIDList)),
			apply: func(ctx context.Context) error {
				_, err := api.AddClientIDToOpenIDConnectProvider(ctx, &iam.AddClientIDToOpenIDConnectProviderInput{
					OpenIDConnectProviderArn: aws.String(plan.ProviderARN), ClientID: aws.String(audience)})
				return err
			},
		}, nil
	}
	return Step{Unchanged: fmt.Sprintf("the IAM OIDC provider for %s exists and accepts the audience %s", plan.ProviderURL, audience)}, nil
}

func listOrNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// roleSteps: the role with the generated trust policy and a session of one
// hour at most, and its inline permissions policy.
func roleSteps(ctx context.Context, api IAMAPI, plan *policy.Plan, role policy.Role) ([]Step, error) {
	trust := role.Trust.Compact()
	perms, hasPerms := role.Permissions()
	var steps []Step
	out, err := api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role.Name)})
	exists := err == nil
	switch {
	case notFound(err):
		steps = append(steps, Step{
			Change: fmt.Sprintf("create the role %s (path %s) with the generated trust policy (%s), sessions of at most %d s",
				role.Name, role.Path, trustSummary(role.Trust), policy.MaxSessionSeconds),
			apply: func(ctx context.Context) error {
				_, err := api.CreateRole(ctx, &iam.CreateRoleInput{
					RoleName:                 aws.String(role.Name),
					Path:                     aws.String(role.Path),
					AssumeRolePolicyDocument: aws.String(trust),
					Description:              aws.String("Assumed by oidc-ecs-deploy for " + plan.Request.Scope.Repository),
					MaxSessionDuration:       aws.Int32(policy.MaxSessionSeconds),
				})
				return err
			},
		})
	case err != nil:
		return nil, fmt.Errorf("read the role %s: %w", role.Name, err)
	default:
		if got := aws.ToString(out.Role.Arn); got != role.ARN {
			return nil, fmt.Errorf("the role %s exists as %s, not %s: name the existing role's ARN in role-to-assume (or role-chain), or choose another name", role.Name, got, role.ARN)
		}
		current, err := decodeDocument(aws.ToString(out.Role.AssumeRolePolicyDocument))
		if err != nil {
			return nil, fmt.Errorf("read the trust policy of %s: %w", role.Name, err)
		}
		if current.Compact() == role.Trust.Compact() {
			steps = append(steps, Step{Unchanged: fmt.Sprintf("the role %s exists with the generated trust policy (%s)", role.Name, trustSummary(role.Trust))})
		} else {
			steps = append(steps, Step{
				Change: fmt.Sprintf("replace the trust policy of %s by the generated one (%s)", role.Name, trustSummary(role.Trust)),
				Diff:   Diff(current.JSON(), role.Trust.JSON()),
				apply: func(ctx context.Context) error {
					_, err := api.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(role.Name), PolicyDocument: aws.String(trust)})
					return err
				},
			})
		}
		if d := aws.ToInt32(out.Role.MaxSessionDuration); d > policy.MaxSessionSeconds {
			steps = append(steps, Step{
				Change: fmt.Sprintf("shorten the longest session of %s from %d s to %d s (the action refreshes its credentials, so it needs no more)", role.Name, d, policy.MaxSessionSeconds),
				apply: func(ctx context.Context) error {
					_, err := api.UpdateRole(ctx, &iam.UpdateRoleInput{RoleName: aws.String(role.Name), MaxSessionDuration: aws.Int32(policy.MaxSessionSeconds)})
					return err
				},
			})
		} else {
			steps = append(steps, Step{Unchanged: fmt.Sprintf("sessions of %s last at most %d s", role.Name, d)})
		}
	}
	if !hasPerms {
		steps = append(steps, Step{Unchanged: fmt.Sprintf("%s needs no permissions policy", role.Name)})
		return steps, nil
	}
	doc := perms.Compact()
	put := func(ctx context.Context) error {
		_, err := api.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role.Name), PolicyName: aws.String(policy.InlinePolicyName), PolicyDocument: aws.String(doc)})
		return err
	}
	summary := fmt.Sprintf("%d statements, %d actions", len(perms.Statement), len(role.Grants))
	if !exists {
		steps = append(steps, Step{Change: fmt.Sprintf("put the generated permissions policy %s on %s (%s)", policy.InlinePolicyName, role.Name, summary), apply: put})
		return steps, nil
	}
	got, err := api.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role.Name), PolicyName: aws.String(policy.InlinePolicyName)})
	switch {
	case notFound(err):
		steps = append(steps, Step{Change: fmt.Sprintf("put the generated permissions policy %s on %s (%s)", policy.InlinePolicyName, role.Name, summary), apply: put})
	case err != nil:
		return nil, fmt.Errorf("read the policy %s of %s: %w", policy.InlinePolicyName, role.Name, err)
	default:
		current, err := decodeDocument(aws.ToString(got.PolicyDocument))
		if err != nil {
			return nil, fmt.Errorf("read the policy %s of %s: %w", policy.InlinePolicyName, role.Name, err)
		}
		if current.Compact() == perms.Compact() {
			steps = append(steps, Step{Unchanged: fmt.Sprintf("the permissions policy %s of %s is the generated one (%s)", policy.InlinePolicyName, role.Name, summary)})
		} else {
			steps = append(steps, Step{
				Change: fmt.Sprintf("replace the permissions policy %s of %s by the generated one (%s)", policy.InlinePolicyName, role.Name, summary),
				Diff:   Diff(current.JSON(), perms.JSON()),
				apply:  put,
			})
		}
	}
	return steps, nil
}

// trustSummary says in a few words whom a trust policy admits.
func trustSummary(d policy.Document) string {
	var who []string
	for _, st := range d.Statement {
		for _, ops := range st.Condition {
			for k, v := range ops {
				if strings.HasSuffix(k, ":sub") {
					who = append(who, strings.Join(v, ", "))
				}
			}
		}
		if len(who) == 0 {
			who = append(who, strings.Join(st.Principal["AWS"], ", "))
		}
	}
	return "admits " + strings.Join(who, "; ")
}

// decodeDocument reads a policy document as IAM returns it: URL-encoded JSON.
func decodeDocument(s string) (policy.Document, error) {
	if decoded, err := url.QueryUnescape(s); err == nil {
		s = decoded
	}
	return policy.ParseDocument([]byte(s))
}

// Diff is a line diff of two texts: "- " for lines only in before, "+ "
// for lines only in after, "  " for lines in both.
func Diff(before, after string) string {
	a := strings.Split(strings.TrimSuffix(before, "\n"), "\n")
	b := strings.Split(strings.TrimSuffix(after, "\n"), "\n")
	// lcs[i][j] is the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out.WriteString("  " + a[i] + "\n")
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			out.WriteString("- " + a[i] + "\n")
			i++
		default:
			out.WriteString("+ " + b[j] + "\n")
			j++
		}
	}
	return out.String()
}

// Lines renders the setup for a person: + for a change (with its diff),
// = for what is already as generated, and a closing line.
func (s *Setup) Lines(dryRun bool) []string {
	var lines []string
	for _, st := range s.Steps {
		if st.Change == "" {
			lines = append(lines, "  = "+st.Unchanged)
			continue
		}
		lines = append(lines, "  + "+st.Change)
		for _, l := range strings.Split(strings.TrimSuffix(st.Diff, "\n"), "\n") {
			if l != "" {
				lines = append(lines, "      "+l)
			}
		}
	}
	for _, arn := range s.Elsewhere {
		lines = append(lines, "  – "+arn+" is in another account: run setup with that account's credentials, with the same flags")
	}
	n := s.Changes()
	switch {
	case n == 0:
		lines = append(lines, "Nothing to change: account "+s.Account+" is set up as generated.")
	case dryRun:
		lines = append(lines, fmt.Sprintf("Dry run: %d change(s) to make; nothing was changed. Run without --dry-run to make them.", n))
	default:
		lines = append(lines, fmt.Sprintf("Done: %d change(s) made in account %s.", n, s.Account))
	}
	return lines
}
