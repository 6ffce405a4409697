// Package deploy puts a pushed image into service on Amazon ECS: it renders
// and registers a task definition revision pinned by digest (or forces a new
// deployment), updates the services, and watches the deployments it started
// until they really succeed or fail.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/retry"
)

// ECSAPI is the part of the Amazon ECS client that deploying uses;
// *ecs.Client implements it.
type ECSAPI interface {
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	RegisterTaskDefinition(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, optFns ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
	DescribeServiceDeployments(ctx context.Context, in *ecs.DescribeServiceDeploymentsInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServiceDeploymentsOutput, error)
	ContinueServiceDeployment(ctx context.Context, in *ecs.ContinueServiceDeploymentInput, optFns ...func(*ecs.Options)) (*ecs.ContinueServiceDeploymentOutput, error)
	StopServiceDeployment(ctx context.Context, in *ecs.StopServiceDeploymentInput, optFns ...func(*ecs.Options)) (*ecs.StopServiceDeploymentOutput, error)
	ListTasks(ctx context.Context, in *ecs.ListTasksInput, optFns ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
	DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
	RunTask(ctx context.Context, in *ecs.RunTaskInput, optFns ...func(*ecs.Options)) (*ecs.RunTaskOutput, error)
	StopTask(ctx context.Context, in *ecs.StopTaskInput, optFns ...func(*ecs.Options)) (*ecs.StopTaskOutput, error)
	ListServices(ctx context.Context, in *ecs.ListServicesInput, optFns ...func(*ecs.Options)) (*ecs.ListServicesOutput, error)
	ListTaskDefinitions(ctx context.Context, in *ecs.ListTaskDefinitionsInput, optFns ...func(*ecs.Options)) (*ecs.ListTaskDefinitionsOutput, error)
	DeregisterTaskDefinition(ctx context.Context, in *ecs.DeregisterTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.DeregisterTaskDefinitionOutput, error)
}

var _ ECSAPI = (*ecs.Client)(nil)

// Logger receives what a deployment has to say. The workflow runner
// (ghaction.Runner) implements it: Errorf becomes an error annotation.
// Formats are this package's; every argument is untrusted text (an ECS
// event, a stopped reason, a task definition value), which the Logger
// prints on one line and never as a workflow command (an error argument
// keeps its lines, each neutralised).
// Calls are serialised by this package, so an implementation need not be
// safe for concurrent use.
type Logger interface {
	Infof(format string, args ...any)
	Warningf(format string, args ...any)
	Errorf(format string, args ...any)
	// Annotate reports a problem at a place: a task definition file's
	// error at its file and line.
	Annotate(level ghaction.Level, at ghaction.Annotation, format string, args ...any)
	// Group starts a collapsible group of lines; calling end closes it.
	Group(title string) (end func())
}

// DefaultCluster is the cluster ECS uses when none is named.
const DefaultCluster = "default"

// DefaultWaitTimeout is how long a rollout is watched when Request.WaitTimeout is zero.
const DefaultWaitTimeout = 30 * time.Minute

// Request is what to deploy, and where.
type Request struct {
	// Cluster is the ECS cluster's name or ARN; DefaultCluster when empty.
	Cluster string
	// Services are the services to deploy to, in parallel.
	Services []string
	// TaskDefinitionFile, when set, is a JSON file used as the base of the new
	// revision instead of each service's current task definition. It may be in
	// RegisterTaskDefinition's input shape or DescribeTaskDefinition's output
	// shape.
	TaskDefinitionFile string
	// ContainerNames are the containers that get the new image. When empty,
	// every container whose image is in Image.RepositoryURI gets it.
	ContainerNames []string
	// Image is the pushed image.
	Image Image
	// ForceNewDeployment deploys without a new revision: ECS starts new tasks
	// of the current task definition, re-pulling its tags.
	ForceNewDeployment bool
	// Wait watches the deployments until they finish. Without it the run ends
	// after UpdateService and every result is OutcomeNotWaited.
	Wait bool
	// WaitTimeout bounds the watch; DefaultWaitTimeout when zero.
	WaitTimeout time.Duration
	// Caller is the ARN of the session that deploys, as GetCallerIdentity
	// reports it. After a lost RegisterTaskDefinition answer, a revision
	// registered by anyone else is never taken for ours; empty skips that
	// check.
	Caller string
	// Region is the region of the cluster, for the AWS CLI commands that
	// follow a deployment the run leaves behind; may be empty.
	Region string
	// PauseCheck, when set, checks the new revision while a PAUSE
	// lifecycle hook holds a BLUE_GREEN, LINEAR or CANARY deployment, and
	// continues it or stops it with a rollback. Without it the watch waits
	// for someone else to continue.
	PauseCheck *PauseCheck
	// RollbackOnCancel stops our deployments still in progress with a
	// rollback when the run is interrupted; without it ECS goes on.
	RollbackOnCancel bool
	// CodeDeploy deploys the services whose deployment controller is
	// CODE_DEPLOY: a CodeDeploy deployment of the new revision, in
	// CodeDeployApplication's CodeDeployDeploymentGroup (empty: the names
	// the AWS console gives them, AppECS-CLUSTER-SERVICE and
	// DgpECS-CLUSTER-SERVICE).
	CodeDeploy                                       CodeDeployAPI
	CodeDeployApplication, CodeDeployDeploymentGroup string
	// Retry is the run's retry policy, shared with the client's retryer so
	// that the outer tries (a look-then-retry after a server error, a
	// watch poll that failed) pay from the same budget; a policy of its
	// own when nil.
	Retry *retry.Policy
	// Clock times the steps and paces the watch; the wall clock when nil.
	Clock Clock
	// Heartbeat is how long the watch stays silent while nothing changes
	// before it prints where every deployment stands; DefaultHeartbeat
	// when zero.
	Heartbeat time.Duration
	// OneOff, when set, runs a one-off task of the first service's new
	// revision (migrations) before any service is updated; the run fails
	// with nothing updated unless it succeeds.
	OneOff *OneOff
	// Logs reads the one-off task's awslogs output; without it the output
	// is not shown.
	Logs LogsAPI
	// KeepRevisions, when positive, keeps the newest KeepRevisions ACTIVE
	// revisions of each deployed family once every deployment succeeded,
	// deregistering older ones that no service of the cluster uses.
	KeepRevisions int
}

// Image is an image pushed to a repository.
type Image struct {
	// RepositoryURI is the repository, e.g.
	// 111122223333.dkr.ecr.us-east-1.amazonaws.com/web-api.
	RepositoryURI string
	// Digest is the manifest digest, sha256:<64 hex>. Prepare does not need
	// it; the new revision pins the image by it.
	Digest string
	// Tags are the tags just pushed; force-new-deployment mode fails, before
	// it changes anything, when the service's images reference none of them.
	Tags []string
}

// Reference is the image pinned by digest: repository@sha256:....
func (i Image) Reference() string { return i.RepositoryURI + "@" + i.Digest }

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Outcome is how a service's deployment ended.
type Outcome string

// The outcomes of a service's deployment.
const (
	OutcomeSucceeded Outcome = "succeeded"
	OutcomeFailed    Outcome = "failed"
	OutcomeTimedOut  Outcome = "timed out"
	// OutcomeNotWaited: the deployment was started but not watched.
	OutcomeNotWaited Outcome = "skipped-wait"
	// OutcomeNotStarted: nothing was changed on the service, because a
	// problem with it or with another service stopped the run first.
	OutcomeNotStarted Outcome = "not started"
	// OutcomeInterrupted: the deployment was started and the run was
	// interrupted while it went on; ECS carries on with it regardless.
	OutcomeInterrupted Outcome = "interrupted"
	// OutcomeUnknown: the run was interrupted while UpdateService was in
	// flight, and nobody could look whether ECS applied it.
	OutcomeUnknown Outcome = "unknown"
)

// ServiceResult is what happened to one service.
type ServiceResult struct {
	// Service is the service's name.
	Service string
	// Cluster is the cluster's name or ARN as requested.
	Cluster string
	// TaskDefinitionARN is the revision the service was updated to.
	TaskDefinitionARN string
	// DeploymentID is the ECS deployment (ecs-svc/...) that UpdateService started.
	DeploymentID string
	// ServiceDeploymentARN identifies the same deployment in the
	// ServiceDeployment API, when ECS reported it.
	ServiceDeploymentARN string
	// Outcome is how it ended.
	Outcome Outcome
	// Duration runs from UpdateService to the end of the watch.
	Duration time.Duration
	// Failure says why it failed or timed out, in one line.
	Failure string
	// StoppedReasons are the reasons ECS gave for stopping the deployment's
	// tasks, one line per distinct reason, when it failed.
	StoppedReasons []string
	// LastEvents are the service's latest events, oldest first.
	LastEvents []string
	// Rollout is where the rollout last stood, e.g. "IN_PROGRESS, 2/3 running, 1 pending".
	Rollout string
	// Registration is when the new revision was registered (a revision
	// several services share has one registration); zero when none was.
	Registration Span
	// Deployment runs from UpdateService to the end of the run's part in
	// the deployment: its end, the watch's timeout, or an interrupt.
	Deployment Span
	// Stages are the lifecycle stages the watch saw the deployment enter,
	// in order (BLUE_GREEN, LINEAR and CANARY deployments).
	Stages []Stage
}

// Run deploys req.Image to every service of req and, when req.Wait, watches
// the deployments. It returns one result per service, in req.Services order,
// even when it fails; the error joins every service's failure.
//
// Every failure is also reported through log.Errorf (an error annotation),
// with the stopped tasks' reasons and the latest events when a rollout
// failed, so the caller need not print the error again.
func Run(ctx context.Context, client ECSAPI, req Request, log Logger) ([]ServiceResult, error) {
	plan, err := Prepare(ctx, client, req, log)
	if err != nil {
		return plan.notStarted(), err
	}
	return plan.Deploy(ctx, req.Image)
}

// Plan is a prepared deployment: services checked and task definitions read,
// waiting only for the image digest. Deploy carries it out.
type Plan struct {
	client ECSAPI
	req    Request
	log    *syncLogger

	services []*serviceState
	// fileBase is the task definition read from req.TaskDefinitionFile.
	fileBase *taskDef
	// problems are per-service failures found while preparing.
	problems map[string]string
	// prepareErr is why Prepare failed; such a plan cannot be deployed.
	prepareErr error
	// oneOff is what became of the one-off task, once Deploy ran it.
	oneOff *OneOffResult
	// housekeeping is what keep-revisions did.
	housekeeping *Housekeeping
}

// OneOff is what became of the one-off task; nil when none was run.
func (p *Plan) OneOff() *OneOffResult {
	if p == nil {
		return nil
	}
	return p.oneOff
}

// Prepare reads the services and their task definitions (or the task
// definition file) and checks everything that can be checked before the
// image digest is known, changing nothing. It can run while the image is
// pushed. The Plan is never nil, so its results can be reported even when
// Prepare fails.
func Prepare(ctx context.Context, client ECSAPI, req Request, log Logger) (*Plan, error) {
	p, err := prepare(ctx, client, req, log)
	if err != nil {
		p.prepareErr = err
		p.log.errorf(err)
	}
	return p, err
}

func prepare(ctx context.Context, client ECSAPI, req Request, log Logger) (*Plan, error) {
	if req.Cluster == "" {
		req.Cluster = DefaultCluster
	}
	if req.WaitTimeout <= 0 {
		req.WaitTimeout = DefaultWaitTimeout
	}
	if req.Retry == nil {
		req.Retry = retry.New(retry.Options{})
	}
	if req.Clock == nil {
		req.Clock = realClock{}
	}
	if req.Heartbeat <= 0 {
		req.Heartbeat = DefaultHeartbeat
	}
	p := &Plan{client: client, req: req, log: &syncLogger{log: log}, problems: map[string]string{}}
	for _, name := range req.Services {
		p.services = append(p.services, &serviceState{name: name, log: p.log.forService(name, len(req.Services) > 1), clock: req.Clock, seen: map[string]bool{}})
	}
	if len(req.Services) == 0 {
		return p, errors.New("deploy: no service named")
	}
	if dup := duplicate(req.Services); dup != "" {
		return p, fmt.Errorf("deploy: service %q is named twice", dup)
	}
	if !req.ForceNewDeployment && len(req.ContainerNames) == 0 && req.Image.RepositoryURI == "" {
		return p, errors.New("deploy: no container name and no repository to find the containers by")
	}
	if req.TaskDefinitionFile != "" && !req.ForceNewDeployment {
		base, err := readTaskDefinitionFile(req.TaskDefinitionFile)
		if err != nil {
			return p, err
		}
		p.fileBase = base
	}
	if err := p.describeServices(ctx); err != nil {
		return p, err
	}
	if err := p.readTaskDefinitions(ctx); err != nil {
		return p, err
	}
	err := p.problemError()
	return p, err
}

func duplicate(names []string) string {
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			return n
		}
		seen[n] = true
	}
	return ""
}

// problemError joins the per-service problems found so far, in service order.
func (p *Plan) problemError() error {
	var errs []error
	for _, s := range p.services {
		if msg, ok := p.problems[s.name]; ok {
			errs = append(errs, errors.New(msg))
		}
	}
	return errors.Join(errs...)
}

// notStarted is the results of a run stopped before any change.
func (p *Plan) notStarted() []ServiceResult {
	if p == nil {
		return nil
	}
	out := make([]ServiceResult, 0, len(p.services))
	for _, s := range p.services {
		r := ServiceResult{Service: s.name, Cluster: p.req.Cluster, Outcome: OutcomeNotStarted}
		if msg, ok := p.problems[s.name]; ok {
			r.Outcome, r.Failure = OutcomeFailed, msg
		}
		out = append(out, r)
	}
	return out
}

// Deploy registers the new revisions (or forces new deployments), updates
// every service in parallel and, when the request says so, watches the
// deployments. It returns one result per service, in request order; the
// error joins every service's failure.
func (p *Plan) Deploy(ctx context.Context, image Image) ([]ServiceResult, error) {
	if p.prepareErr != nil {
		// Prepare has reported it already.
		return p.notStarted(), p.prepareErr
	}
	if err := p.check(image); err != nil {
		p.log.errorf(err)
		return p.notStarted(), err
	}
	p.req.Image = image
	return p.deploy(ctx)
}

// check refuses an image the plan cannot pin: Deploy has refused a plan
// with problems already.
func (p *Plan) check(image Image) error {
	if !p.req.ForceNewDeployment {
		if !digestPattern.MatchString(image.Digest) {
			return fmt.Errorf("deploy: image digest %q is not sha256:<64 hex digits>", image.Digest)
		}
		if image.RepositoryURI == "" {
			return errors.New("deploy: no image repository to pin the digest in")
		}
		if p.req.Image.RepositoryURI != "" && image.RepositoryURI != p.req.Image.RepositoryURI {
			return fmt.Errorf("deploy: image repository %s is not the prepared one, %s", image.RepositoryURI, p.req.Image.RepositoryURI)
		}
	}
	return nil
}

// deploy starts every service's deployment and watches them.
func (p *Plan) deploy(ctx context.Context) ([]ServiceResult, error) {

	// Services sharing a base task definition share the new revision: one
	// RegisterTaskDefinition each, not one per service.
	revisions := newRevisionSet(p)
	if p.req.OneOff != nil {
		if err := p.runOneOff(ctx, revisions); err != nil {
			p.log.errorf(err)
			return p.notStarted(), err
		}
	}
	var wg sync.WaitGroup
	for _, s := range p.services {
		wg.Go(func() { p.start(ctx, s, revisions) })
	}
	wg.Wait()

	if p.req.Wait {
		p.watch(ctx)
	}
	if ctx.Err() != nil {
		p.reportInterrupted(ctx)
	}
	// Every failure reaches the log as an error annotation, once; the
	// watch has already reported those it explained.
	for _, s := range p.services {
		if s.err != nil && !s.reported {
			s.log.errorf("%v", s.err)
		}
	}
	results, err := p.results()
	if err == nil && ctx.Err() == nil && p.req.KeepRevisions > 0 && p.req.Wait {
		p.housekeep(ctx)
	}
	return results, err
}

// results collects every service's result and the joined error.
func (p *Plan) results() ([]ServiceResult, error) {
	out := make([]ServiceResult, 0, len(p.services))
	var errs []error
	for _, s := range p.services {
		out = append(out, s.result)
		if s.err != nil {
			errs = append(errs, s.err)
		}
	}
	return out, errors.Join(errs...)
}

// serviceState is one service's part of a run.
type serviceState struct {
	name  string
	log   *serviceLogger
	clock Clock

	// From Prepare.
	arn            string
	taskDefinition string // the service's current task definition ARN
	primaryBefore  string // the id of its PRIMARY deployment before ours
	desiredCount   int32
	// placement is where the service runs its tasks: what a one-off task
	// of its revision copies unless told otherwise.
	placement placement
	base      *taskDef
	// controller is the service's deployment controller, loadBalancers
	// its load balancers (a CODE_DEPLOY service's AppSpec names the
	// first's container and port).
	controller    types.DeploymentControllerType
	loadBalancers []types.LoadBalancer
	// lastEvent is the time of the newest event already seen, and seen the
	// IDs of the events seen: only later events, or unseen ones of the same
	// instant, are printed.
	lastEvent time.Time
	seen      map[string]bool

	// From Deploy.
	updatedAt time.Time
	// updateSent is set once UpdateService was sent: from then on ECS may
	// have changed the service, whatever became of the answer.
	updateSent bool
	watch      *watchState
	result     ServiceResult
	err        error
	// reported is set once the failure was printed as an error annotation.
	reported bool
	// cancelStop says what became of stopping our deployment when the run
	// was interrupted (rollback-on-cancel).
	cancelStop string
	// codeDeploy is our CodeDeploy deployment, for a CODE_DEPLOY service.
	codeDeploy *codeDeployWatch
}

// fail records a failure that ended the service's part of the run.
func (s *serviceState) fail(outcome Outcome, err error) {
	s.result.Outcome = outcome
	s.result.Failure = err.Error()
	s.err = err
	s.ended()
}

// ended marks the end of the run's part in the service's deployment.
func (s *serviceState) ended() {
	if !s.updatedAt.IsZero() {
		now := s.clock.Now()
		s.result.Duration = now.Sub(s.updatedAt)
		s.result.Deployment = Span{Start: s.updatedAt, End: now}
	}
}

// syncLogger serialises calls to a Logger shared by parallel services.
type syncLogger struct {
	mu  sync.Mutex
	log Logger
	// noticed are the permissions whose absence the run has reported.
	noticed map[string]bool
}

// notice says, once a run, that an optional call was denied: what the run
// does without it and what allowing it would add. err is the denial, whose
// message names the resource; fallback names it otherwise.
func (l *syncLogger) notice(call policy.Call, err error, fallback string) {
	resource := fallback
	if _, r, ok := policy.ParseDenied(errorMessage(err)); ok {
		resource = r
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.noticed[call.Action] {
		return
	}
	if l.noticed == nil {
		l.noticed = map[string]bool{}
	}
	l.noticed[call.Action] = true
	l.log.Annotate(ghaction.LevelNotice, ghaction.Annotation{}, "%s", call.Notice(resource))
}

func (l *syncLogger) forService(name string, prefixed bool) *serviceLogger {
	sl := &serviceLogger{l: l}
	if prefixed {
		sl.prefix = "[" + name + "] "
	}
	return sl
}

// errorf reports a run's error as one error annotation; a task definition
// file's error points at its place in the file.
func (l *syncLogger) errorf(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var fe *FileError
	if errors.As(err, &fe) {
		l.log.Annotate(ghaction.LevelError, fe.Annotation(), "%v", err)
		return
	}
	l.log.Errorf("%v", err)
}

// infof prints a line that concerns no one service.
func (l *syncLogger) infof(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log.Infof(format, args...)
}

// warningf prints a warning annotation that concerns no one service.
func (l *syncLogger) warningf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log.Warningf(format, args...)
}

// group prints lines inside a collapsible group.
func (l *syncLogger) group(title string, lines []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	end := l.log.Group(title)
	for _, line := range lines {
		l.log.Infof("%s", line)
	}
	end()
}

// serviceLogger prefixes each line with its service's name when several
// services are deployed at once.
type serviceLogger struct {
	l      *syncLogger
	prefix string
}

func (s *serviceLogger) infof(format string, args ...any) {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	s.l.log.Infof("%s"+format, append([]any{s.prefix}, args...)...)
}

func (s *serviceLogger) warningf(format string, args ...any) {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	s.l.log.Warningf("%s"+format, append([]any{s.prefix}, args...)...)
}

func (s *serviceLogger) errorf(format string, args ...any) {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	s.l.log.Errorf("%s"+format, append([]any{s.prefix}, args...)...)
}
