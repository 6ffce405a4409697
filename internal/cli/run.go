package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/awsauth"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/endpoint"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/httpclient"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/oidc"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/retry"
)

// Deps is what Run needs from its surroundings, injected so that tests run
// in parallel against a sandbox without touching the process.
type Deps struct {
	// Getenv reads the token request variables, AWS_ENDPOINT_URL and the
	// run's GITHUB_* variables; required.
	Getenv func(string) string
	// HTTPClient makes every request (token service, AWS, registry); a
	// client with Timeouts when nil.
	HTTPClient *http.Client
	// Timeouts bound each request's stages when HTTPClient is nil; the
	// defaults when zero.
	Timeouts httpclient.Timeouts
	// AuthenticateTimeout bounds the Authenticate phase (the token, STS,
	// the role chain and GetCallerIdentity); 5 minutes when zero. Each AWS
	// call is bounded by Auth.CallTimeout.
	AuthenticateTimeout time.Duration
	// Runner prints the log, masks secrets, sets outputs and the summary; required.
	Runner *ghaction.Runner
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Auth tunes credential refresh; its Getenv, HTTPClient, Mask and
	// Retry are filled in from the fields here.
	Auth awsauth.Options
	// Retry tunes the run's retry policy (tests shorten the waits); its
	// Logf prints to the run's log when nil.
	Retry retry.Options
	// ImageSource, when set, is pushed instead of reading the image input
	// from the Docker engine or a file: the demo's generated image.
	ImageSource v1.Image
	// ProgressInterval is the least time between two progress lines of a
	// layer being pushed; the registry's default (5 s) when zero.
	ProgressInterval time.Duration
}

// Result is what a run did. Fields of steps that did not run stay empty.
type Result struct {
	// AccountID is the account of the final role (after the role chain).
	AccountID string
	// AssumedRoleARN is the session's ARN as GetCallerIdentity reports it:
	// arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION.
	AssumedRoleARN string
	// RoleSessionName is the session name, as CloudTrail shows it.
	RoleSessionName string
	// CredentialsExpire is when the current credentials expire; they are
	// refreshed with a new OIDC token before then.
	CredentialsExpire time.Time

	// Repository is the repository URI the image was pushed to (push step).
	Repository string
	// ImageURI is repository:tag of the pushed image (push step).
	ImageURI string
	// ImageDigest is the pushed image's sha256:... digest (push step).
	ImageDigest string
	// Image is repository@digest, what the deploy pins (push step).
	Image string
	// Platforms are the platforms of the pushed image, or of the images
	// of a pushed index (push step).
	Platforms []string
	// Source is what a docker:// image input resolved to,
	// REGISTRY/NAME@sha256:... (push step).
	Source string

	// Services holds one result per deployed service (deploy step).
	Services []ServiceResult

	// Token holds the claims of the ID token the run presented to STS
	// (never the token): sub, job_workflow_ref, environment, aud.
	Token *oidc.Claims
	// Accounts are the AWS accounts the run touched, in order.
	Accounts []AccountUse
	// CloudTrailURL is CloudTrail's event history filtered to the run's
	// role session name, in the run's region; empty where the partition's
	// console has no public address.
	CloudTrailURL string
	// OneOff is what became of the one-off task (run-task); nil when none ran.
	OneOff *deploy.OneOffResult
}

// ServiceResult is the outcome of deploying one service: what the deploy
// reported, and the console pages to look at it.
type ServiceResult struct {
	deploy.ServiceResult
	// DeploymentURL and TaskDefinitionURL are the console pages of the
	// service's deployments and of the revision.
	DeploymentURL     string
	TaskDefinitionURL string
}

// run is the state of one Run, handed from phase to phase.
type run struct {
	cfg    config.Config
	deps   Deps
	out    *ghaction.Runner
	awsCfg aws.Config
	result Result
	// interrupted is set when a signal stopped the run.
	interrupted bool
	// retry is the run's one retry policy: every client and loop of the
	// run pays its retries from its budget.
	retry *retry.Policy

	// prep is the deploy's preparation, started during the push.
	prepMu sync.Mutex
	prep   *preparation

	// started is when the run began; timeline collects its phases.
	started  time.Time
	timeline timeline
}

// phase is one step of the flow, printed as one log group.
type phase struct {
	title   string
	enabled bool
	// do runs the phase.
	do func(ctx context.Context) error
}

// phases is the flow, in order. Each phase reads what earlier ones left in
// r (r.awsCfg after Authenticate) and writes its part of r.result.
func (r *run) phases() []phase {
	return []phase{
		{title: "Authenticate", enabled: true, do: r.authenticate},
		// Push (ECR): runs when cfg.PushRequested(). It uses r.awsCfg,
		// masks the registry password with r.out.Mask, and fills
		// r.result.ImageURI, ImageDigest and Image.
		{title: "Push image", enabled: r.cfg.PushRequested(), do: r.push},
		// Deploy (ECS): runs when cfg.DeployRequested(). It uses r.awsCfg
		// and r.result.Image, and fills r.result.Services.
		{title: "Deploy", enabled: r.cfg.DeployRequested(), do: r.deploy},
	}
}

// Run runs the flow for cfg. It validates cfg first, so a literal Config
// gets the same checks as one read from inputs or flags.
func Run(ctx context.Context, cfg config.Config, deps Deps) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if err := checkTaskDefinitionFile(cfg); err != nil {
		return Result{}, err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.HTTPClient == nil {
		deps.HTTPClient = httpclient.New(deps.Timeouts)
		defer deps.HTTPClient.CloseIdleConnections()
	}
	if deps.AuthenticateTimeout <= 0 {
		deps.AuthenticateTimeout = 5 * time.Minute
	}
	r := &run{cfg: cfg, deps: deps, out: deps.Runner, started: deps.Now()}
	retryOpts := deps.Retry
	if retryOpts.Logf == nil {
		retryOpts.Logf = r.out.Infof
	}
	r.retry = retry.New(retryOpts)
	defer r.stopBackground()
	maskAccountIDs(r.out, cfg)
	r.result.RoleSessionName = cfg.RoleSessionName
	r.result.CloudTrailURL = newConsole(cfg.AWSRegion).cloudTrail(cfg.RoleSessionName)
	phases := r.phases()
	var err error
	for _, p := range phases {
		if !p.enabled {
			continue
		}
		end := r.out.Group(p.title)
		err = p.do(ctx)
		end()
		if err != nil {
			err = fmt.Errorf("%s: %w", strings.ToLower(p.title), explainStall(err))
			if ctx.Err() != nil && r.cfg.DeployRequested() && !r.changedServices() {
				r.out.Infof("Interrupted during %s: no service was changed.", strings.ToLower(p.title))
			}
			break
		}
	}
	r.interrupted = ctx.Err() != nil
	r.result.Accounts = r.accountsTouched()
	r.summarize(err)
	return r.result, err
}

// changedServices reports whether the run may have changed a service: an
// update was sent, whatever became of it.
func (r *run) changedServices() bool {
	for _, s := range r.result.Services {
		if s.Outcome != deploy.OutcomeNotStarted {
			return true
		}
	}
	return false
}

// authenticate turns the job's OIDC token into credentials for the role,
// then the role chain, and proves them with GetCallerIdentity.
func (r *run) authenticate(ctx context.Context) error {
	source := &oidc.TokenSource{Getenv: r.deps.Getenv, Client: r.deps.HTTPClient, Mask: r.out.Mask, Retry: r.retry}
	// Fail before any network call when the job may not request a token,
	// or when the token or signed requests would go where they must not.
	if err := source.Check(); err != nil {
		return err
	}
	tokens := &auditedTokens{src: source, now: r.deps.Now}
	phaseStart := r.deps.Now()
	defer func() {
		// The timeline: the first token fetch, then the rest of the phase
		// (STS, the role chain, GetCallerIdentity).
		token, fetched := tokens.firstFetch()
		credentials := span{section: "Authenticate", name: "credentials", start: phaseStart, end: r.deps.Now(), failed: r.result.AssumedRoleARN == ""}
		if len(r.cfg.RoleChain) > 0 {
			credentials.name = fmt.Sprintf("credentials, %d role chain hops", len(r.cfg.RoleChain))
		}
		if fetched {
			r.timeline.add(token)
			credentials.start = token.end
			if token.failed {
				return
			}
		}
		r.timeline.add(credentials)
		r.result.Token = tokens.firstClaims()
	}()
	endpoints, err := endpoint.ReadAWS(r.deps.Getenv)
	if err != nil {
		return err
	}
	for _, line := range endpoints.InEffect() {
		r.out.Infof("AWS endpoint override in effect: %s", line)
	}
	r.out.Infof("Role to assume:    %s", r.cfg.RoleToAssume)
	r.out.Infof("Role session name: %s", r.cfg.RoleSessionName)
	r.out.Infof("Session duration:  %ds", r.cfg.RoleDurationSeconds)
	r.out.Infof("Token audience:    %s", r.cfg.Audience)
	for i, hop := range r.cfg.RoleChain {
		ext := ""
		if hop.ExternalID != "" {
			ext = " (with external ID)"
		}
		r.out.Infof("Role chain hop %d:  %s%s, %ds", i+1, hop.RoleARN, ext, r.cfg.ChainedSessionSeconds())
	}

	opts := r.deps.Auth
	opts.Getenv, opts.HTTPClient, opts.Mask, opts.Now, opts.Retry = r.deps.Getenv, r.deps.HTTPClient, r.out.Mask, r.deps.Now, r.retry
	// The configuration keeps the run's context: it fetches new tokens
	// for as long as the run lasts. The phase's own calls have a deadline.
	awsCfg, err := awsauth.Load(ctx, r.cfg, tokens, opts)
	if err != nil {
		return err
	}
	phaseCtx, cancel := context.WithTimeout(ctx, r.deps.AuthenticateTimeout)
	defer cancel()
	creds, id, err := proveCredentials(phaseCtx, awsCfg)
	if err != nil {
		if ctx.Err() == nil && phaseCtx.Err() != nil {
			return fmt.Errorf("no credentials within %s, the phase's deadline: %w", r.deps.AuthenticateTimeout, err)
		}
		return err
	}
	if r.cfg.MaskAWSAccountID {
		r.out.MaskIdentifier(id.Account)
	}
	if err := checkAllowedAccount(r.cfg, id); err != nil {
		return err
	}
	r.awsCfg = awsCfg
	r.result.AccountID = id.Account
	r.result.AssumedRoleARN = id.ARN
	r.result.CredentialsExpire = creds.Expires
	r.out.Infof("Assumed role:      %s", id.ARN)
	if c := tokens.firstClaims(); c != nil {
		r.out.Infof("Token claims:      sub=%s job_workflow_ref=%s environment=%s", c.Subject, c.JobWorkflowRef, c.Environment)
	}
	if len(r.cfg.AllowedAccountIDs) > 0 {
		r.out.Infof("Account:           %s (one of allowed-account-ids)", id.Account)
	} else {
		r.out.Infof("Account:           %s", id.Account)
	}
	r.out.Infof("Credentials expire %s (in %s); they are refreshed with a new OIDC token before then",
		creds.Expires.UTC().Format(time.RFC3339), creds.Expires.Sub(r.deps.Now()).Round(time.Second))
	// No step output here: action.yml declares only the push and deploy
	// outputs, and the identity is in the log and the job summary.
	return nil
}

// maskAccountIDs hides, under mask-aws-account-id, every account ID the
// inputs name, before anything is printed.
func maskAccountIDs(out *ghaction.Runner, cfg config.Config) {
	if !cfg.MaskAWSAccountID {
		return
	}
	for _, id := range cfg.AccountIDs() {
		out.MaskIdentifier(id)
	}
}

// checkAllowedAccount is the account guard: with allowed-account-ids set,
// the final role's account must be one of them, or the run stops before
// anything is pushed or changed.
func checkAllowedAccount(cfg config.Config, id awsauth.Identity) error {
	if len(cfg.AllowedAccountIDs) == 0 || slices.Contains(cfg.AllowedAccountIDs, id.Account) {
		return nil
	}
	which := "role-to-assume"
	if len(cfg.RoleChain) > 0 {
		which = "the last role of role-chain"
	}
	return fmt.Errorf("the credentials are for account %s (%s, %s), which allowed-account-ids (%s) does not list: "+
		"stopped before anything was pushed or changed; check %s, or add %s to allowed-account-ids if the run is meant for it",
		id.Account, id.ARN, which, strings.Join(cfg.AllowedAccountIDs, ", "), which, id.Account)
}

// checkTaskDefinitionFile reads the task-definition input's file as the
// deploy will, so that a file RegisterTaskDefinition would refuse (a
// misspelt key, a bad value) fails the run before any network call, as a
// *deploy.FileError that points at the place in the file.
func checkTaskDefinitionFile(cfg config.Config) error {
	if cfg.TaskDefinition == "" || cfg.ForceNewDeployment || !cfg.DeployRequested() {
		return nil
	}
	_, err := deploy.ReadTaskDefinitionFile(cfg.TaskDefinition)
	return err
}

// proveCredentials obtains the credentials (fetching the token, assuming
// the roles) and asks STS whose they are.
func proveCredentials(ctx context.Context, awsCfg aws.Config) (aws.Credentials, awsauth.Identity, error) {
	creds, err := awsCfg.Credentials.Retrieve(ctx)
	if err != nil {
		return creds, awsauth.Identity{}, awsauth.Explained(err)
	}
	id, err := awsauth.CallerIdentity(ctx, awsCfg)
	return creds, id, err
}

// explainStall says which endpoint stopped answering, when one did.
func explainStall(err error) error {
	stall, ok := httpclient.Stalled(err)
	if !ok {
		return err
	}
	explained := fmt.Errorf("%s did not answer in time: %w", stall.What(), err)
	if _, ok := errors.AsType[reportedError](err); ok {
		// Already in the log, naming the call; the summary says it plainly.
		return reportedError{explained}
	}
	return explained
}

// summarize writes the job summary: what was done, and on failure why.
// Every value in it is untrusted text (inputs, AWS's answers, ECS events),
// escaped by the summary builder for where it goes.
func (r *run) summarize(runErr error) {
	sum := r.out.NewSummary()
	res := r.result
	switch {
	case runErr == nil:
		sum.Heading(3, "oidc-ecs-deploy succeeded")
	case r.interrupted:
		sum.Heading(3, "oidc-ecs-deploy interrupted")
	default:
		sum.Heading(3, "oidc-ecs-deploy failed")
	}
	var rows [][]ghaction.Cell
	row := func(k, v string) {
		if v != "" {
			rows = append(rows, []ghaction.Cell{ghaction.Plain(k), ghaction.Code(v)})
		}
	}
	row("Image", res.ImageURI)
	row("Digest", res.ImageDigest)
	row("Platforms", strings.Join(res.Platforms, ", "))
	row("Source", res.Source)
	if o := res.OneOff; o != nil {
		row("One-off task", o.TaskARN)
		if o.ExitCode != nil {
			row("One-off task exit code", strconv.Itoa(int(*o.ExitCode)))
		}
	}
	if len(rows) > 0 {
		sum.Table([]string{"", ""}, rows)
	}
	if len(res.Services) > 0 {
		var services [][]ghaction.Cell
		for _, s := range res.Services {
			status := string(s.Outcome)
			if s.Failure != "" {
				// The whole explanation is under "Why it failed".
				first, _, _ := strings.Cut(s.Failure, "\n")
				status += ": " + first
			}
			service, revision := ghaction.Code(s.Service), ghaction.Code(s.TaskDefinitionARN)
			if s.DeploymentURL != "" {
				service = ghaction.Link(s.Service, s.DeploymentURL)
			}
			if s.TaskDefinitionURL != "" {
				revision = ghaction.Link(revisionName(s.TaskDefinitionARN), s.TaskDefinitionURL)
			}
			services = append(services, []ghaction.Cell{service, revision,
				ghaction.Code(s.DeploymentID), ghaction.Plain(status), ghaction.Plain(s.Duration.Round(time.Second).String())})
		}
		sum.Table([]string{"Service", "Revision", "Deployment", "Result", "Duration"}, services)
	}
	now := r.deps.Now()
	if spans := append(r.timeline.all(), deploySpans(res.Services, now)...); len(spans) > 0 {
		sum.Paragraph("**Timeline**")
		sum.Gantt(fmt.Sprintf("oidc-ecs-deploy, %s", now.Sub(r.started).Round(time.Second)), ganttTasks(spans))
	}
	for _, s := range res.Services {
		if s.Failure == "" || (len(s.StoppedReasons) == 0 && len(s.LastEvents) == 0) {
			continue
		}
		sum.Paragraph("**%s**", s.Service)
		if len(s.StoppedReasons) > 0 {
			sum.Paragraph("Stopped tasks:")
			reasons := make([]ghaction.Cell, len(s.StoppedReasons))
			for i, reason := range s.StoppedReasons {
				reasons[i] = ghaction.Code(reason)
			}
			sum.List(reasons)
		}
		if len(s.LastEvents) > 0 {
			sum.Paragraph("Last service events:")
			events := make([]string, len(s.LastEvents))
			for i, ev := range s.LastEvents {
				events[i] = ghaction.Line(ev)
			}
			sum.CodeBlock(strings.Join(events, "\n"))
		}
	}
	if runErr != nil && r.interrupted {
		sum.Paragraph("**Where it stopped**")
		sum.CodeBlock(runErr.Error())
	} else if runErr != nil {
		sum.Paragraph("**Why it failed**")
		sum.CodeBlock(runErr.Error())
	}
	r.auditTrail(sum)
	r.links(sum)
	if err := r.out.AppendSummary(sum); err != nil {
		r.out.Warningf("%v", err)
	}
}
