package cli

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/oidc"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/registry"
)

// auditedTokens fetches every ID token through src and keeps, for the
// audit trail, the claims of the first (never the token itself: src has
// masked it) and when that first fetch ran.
type auditedTokens struct {
	src *oidc.TokenSource
	now func() time.Time

	mu      sync.Mutex
	fetched bool
	first   span
	claims  *oidc.Claims
}

// Token fetches a new token.
func (a *auditedTokens) Token(ctx context.Context, audience string) (string, error) {
	start := a.now()
	token, err := a.src.Token(ctx, audience)
	end := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.fetched {
		a.fetched = true
		a.first = span{section: "Authenticate", name: "ID token", start: start, end: end, failed: err != nil}
	}
	if err == nil && a.claims == nil {
		if c, perr := oidc.ParseClaims(token); perr == nil {
			a.claims = &c
		}
	}
	return token, err
}

// firstFetch is the first token fetch, if there was one.
func (a *auditedTokens) firstFetch() (span, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.first, a.fetched
}

func (a *auditedTokens) firstClaims() *oidc.Claims {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.claims
}

// AccountUse is an AWS account a run touched, and how: what a reviewer
// looks for in that account's CloudTrail.
type AccountUse struct {
	Account string
	// As says what the account was to the run: the role assumed with the
	// web identity, a role-chain hop, the registry.
	As string
	// Events are the CloudTrail events that show it.
	Events string
}

// accountOf is the account of an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:...).
func accountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

// accountsTouched lists every account the run used, in the order it used
// them, each once with every use: the role's, each role-chain hop's, the
// registry's.
func (r *run) accountsTouched() []AccountUse {
	var out []AccountUse
	index := map[string]int{}
	add := func(account, as, events string) {
		if account == "" {
			return
		}
		if i, ok := index[account]; ok {
			out[i].As += "; " + as
			out[i].Events += ", " + events
			return
		}
		index[account] = len(out)
		out = append(out, AccountUse{Account: account, As: as, Events: events})
	}
	add(accountOf(r.cfg.RoleToAssume), "role-to-assume "+r.cfg.RoleToAssume, "AssumeRoleWithWebIdentity")
	for i, hop := range r.cfg.RoleChain {
		add(accountOf(hop.RoleARN), fmt.Sprintf("role-chain hop %d %s", i+1, hop.RoleARN), "AssumeRole")
	}
	if r.cfg.DeployRequested() {
		account := accountOf(r.cfg.Cluster)
		if account == "" {
			account = r.result.AccountID
		}
		add(account, "ECS cluster "+clusterName(r.cfg.Cluster), "RegisterTaskDefinition, UpdateService")
	}
	if host, _, ok := strings.Cut(r.result.Repository, "/"); ok {
		if rh, ok := partition.ParseECRRegistryHost(host); ok {
			add(rh.Account, "ECR registry "+host, "GetAuthorizationToken, PutImage")
		} else if r.result.AccountID != "" {
			add(r.result.AccountID, "ECR registry "+host, "GetAuthorizationToken, PutImage")
		}
	}
	return out
}

// auditTrail writes what a reviewer needs to match the job to CloudTrail:
// the role, the session, when its credentials expire, the token's claims
// that the trust policy judged, and every account the run touched.
func (r *run) auditTrail(sum *ghaction.Summary) {
	var rows [][]ghaction.Cell
	row := func(k string, v ghaction.Cell) {
		rows = append(rows, []ghaction.Cell{ghaction.Plain(k), v})
	}
	row("Role", ghaction.Code(r.cfg.RoleToAssume))
	for i, hop := range r.cfg.RoleChain {
		row(fmt.Sprintf("Role chain hop %d", i+1), ghaction.Code(hop.RoleARN))
	}
	row("Role session name", ghaction.Code(r.cfg.RoleSessionName))
	if r.result.AssumedRoleARN != "" {
		row("Session", ghaction.Code(r.result.AssumedRoleARN))
	}
	if !r.result.CredentialsExpire.IsZero() {
		row("Credentials expire", ghaction.Plain(r.result.CredentialsExpire.UTC().Format(time.RFC3339)+" (refreshed with a new ID token before then)"))
	}
	if c := r.result.Token; c != nil {
		row("Token sub", ghaction.Code(c.Subject))
		row("Token job_workflow_ref", ghaction.Code(c.JobWorkflowRef))
		env := ghaction.Code(c.Environment)
		if c.Environment == "" {
			env = ghaction.Plain("(none: the job names no environment)")
		}
		row("Token environment", env)
		row("Token aud", ghaction.Code(c.Audience.String()))
	}
	sum.Paragraph("**Audit trail**: the role session, and the ID token claims its trust policy judged (the token itself is never printed)")
	sum.Table([]string{"", ""}, rows)
	if len(r.result.Accounts) > 0 {
		var accounts [][]ghaction.Cell
		for _, a := range r.result.Accounts {
			accounts = append(accounts, []ghaction.Cell{ghaction.Code(a.Account), ghaction.Plain(a.As), ghaction.Plain(a.Events)})
		}
		sum.Table([]string{"Account touched", "As", "CloudTrail events (Username: the role session name)"}, accounts)
	}
}

// links writes the console pages of what the run made or changed, and
// the AWS CLI commands that show the same.
func (r *run) links(sum *ghaction.Summary) {
	c := newConsole(r.cfg.AWSRegion)
	var items []ghaction.Cell
	link := func(text, target string) {
		if target != "" {
			items = append(items, ghaction.Link(text, target))
		}
	}
	res := r.result
	link("CloudTrail: the events of role session "+r.cfg.RoleSessionName, res.CloudTrailURL)
	if res.ImageDigest != "" {
		link("ECR: the pushed image "+registry.ShortDigest(res.ImageDigest), c.image(res.Repository, res.ImageDigest, res.AccountID))
	}
	for _, s := range res.Services {
		link("ECS: the deployments of "+s.Service, s.DeploymentURL)
		link("ECS: task definition "+revisionName(s.TaskDefinitionARN), s.TaskDefinitionURL)
	}
	if len(items) > 0 {
		sum.Paragraph("**Links**")
		sum.List(items)
	}
	cmds := []string{c.lookupEventsCommand(r.cfg.RoleSessionName, r.started)}
	for _, s := range res.Services {
		if s.DeploymentID != "" {
			cmds = append(cmds, c.deploymentCommand(s.Cluster, s.Service, s.ServiceDeploymentARN))
		}
	}
	sum.Paragraph("Without console access, the same with the AWS CLI:")
	sum.CodeBlock(strings.Join(cmds, "\n"))
}
