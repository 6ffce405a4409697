package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/retry"
)

// Polling cadence. The first look comes soon after UpdateService; while
// nothing changes the interval grows to at most maxPoll; any change, and the
// last stretch of a rollout, bring it back to fastPoll, so that the end of a
// deployment is seen within about a second of ECS marking it.
const (
	fastPoll   = time.Second
	maxPoll    = 10 * time.Second
	pollGrowth = 1.5
	// describeServiceDeploymentsBatch is how many ARNs one
	// DescribeServiceDeployments call accepts.
	describeServiceDeploymentsBatch = 20
	// lastEventsKept is how many of the latest events a result carries.
	lastEventsKept = 5
	// stoppedReasonsKept bounds the distinct stopped reasons reported.
	stoppedReasonsKept = 5
)

// watchState is what the watch knows of one service's deployment.
type watchState struct {
	svc *types.Service
	sd  *types.ServiceDeployment
	// useDeploymentsList is set when the ServiceDeployment API cannot be
	// used (not allowed, or the deployment not found in it): the service's
	// deployments[] is watched instead.
	useDeploymentsList bool
	// suspect counts polls on which another deployment was primary while
	// ours still looked in progress; the ServiceDeployment API lags
	// DescribeServices by a moment, so one such poll is not yet a verdict.
	suspect  int
	line     string
	nearEnd  bool
	finished bool
	// stage is the last lifecycle stage printed, traffic the last traffic
	// split, pausedHook the PAUSE hook already acted on, and stopReason why
	// the run stopped the deployment itself.
	stage      types.ServiceDeploymentLifecycleStage
	traffic    string
	pausedHook string
	stopReason string
	// nextChange is when the deployment is next due to change by itself
	// (its bake time ends, a paused hook times out): the watch looks then.
	nextChange time.Time
	// quiet is set when the last look found the staged deployment as the
	// look before it had (lastStatus, lastUpdated), and quietLooks counts
	// the looks since the service itself was last read.
	quiet       bool
	quietLooks  int
	lastStatus  types.ServiceDeploymentStatus
	lastUpdated time.Time
}

// watch follows every started deployment until each succeeds, fails or the
// wait times out. All services are polled together, in batched calls, so
// that many services cost few requests.
func (p *Plan) watch(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, p.req.WaitTimeout)
	defer cancel()

	var active []*serviceState
	for _, s := range p.services {
		if s.err == nil && s.result.Outcome == OutcomeNotWaited {
			s.watch = &watchState{}
			active = append(active, s)
		}
	}
	if len(active) > 0 {
		w := p.log
		w.mu.Lock()
		w.log.Infof("Watching %d deployment(s) in cluster %s for up to %s", len(active), p.req.Cluster, p.req.WaitTimeout)
		w.mu.Unlock()
	}

	interval := fastPoll
	beat := heartbeat{every: p.req.Heartbeat}
	warned := map[string]bool{}
	var lastErr error
	// refund gives back what the budget paid for polling again after a
	// failed poll, once a poll succeeds.
	var refund func() error
	for len(active) > 0 {
		select {
		case <-ctx.Done():
			p.stopWatching(parent, active, lastErr)
			return
		case <-p.req.Clock.After(interval):
		}

		changed, err := p.poll(ctx, active)
		lastErr = err
		if err != nil {
			if ctx.Err() != nil {
				p.stopWatching(parent, active, nil)
				return
			}
			// Throttling or a passing server or connection error, after
			// the SDK's own retries: slow down and look again, paid from
			// the run's budget; the deadline still bounds the wait.
			if class := retry.Classify(err); class.Transient() {
				refund, err = p.req.Retry.GetToken(ctx, retry.RetryCost)
			}
			if err != nil {
				for _, s := range active {
					s.fail(OutcomeFailed, fmt.Errorf("service %q: watch deployment %s: %w", s.name, s.result.DeploymentID, err))
				}
				return
			}
			if code := errorCode(lastErr); !warned[code] {
				warned[code] = true
				p.log.mu.Lock()
				p.log.log.Warningf("ECS answered %s while watching; slowing down and retrying", code)
				p.log.mu.Unlock()
			}
			interval = min(max(time.Duration(float64(interval)*pollGrowth), 2*time.Second), maxPoll)
			continue
		}

		if refund != nil {
			_ = refund()
			refund = nil
		}
		var next []*serviceState
		var failed []*serviceState
		nearEnd := false
		for _, s := range active {
			switch {
			case s.err != nil:
				failed = append(failed, s)
			case s.watch.finished:
			default:
				next = append(next, s)
				nearEnd = nearEnd || s.watch.nearEnd
			}
		}
		p.explainFailures(ctx, parent, failed)
		active = next
		if beat.due(changed || len(failed) > 0, p.req.Clock.Now()) {
			p.heartbeat(active, beat.lastChange)
		}
		if changed || nearEnd {
			interval = fastPoll
		} else {
			interval = min(time.Duration(float64(interval)*pollGrowth), maxPoll)
		}
		// A change ECS has scheduled (the end of a bake time) is looked
		// for when it is due, not up to maxPoll later.
		for _, s := range active {
			if due := s.watch.nextChange.Sub(p.req.Clock.Now()); due > 0 && due < interval {
				interval = max(due+fastPoll/10, fastPoll/10)
			}
		}
	}
}

// poll reads every active service and its deployment once, prints what is
// new, and settles the services whose deployment ended. It reports whether
// anything changed.
func (p *Plan) poll(ctx context.Context, active []*serviceState) (bool, error) {
	// A staged deployment is followed in the ServiceDeployment API; while
	// it has not changed since the last look (a bake time, a paused hook),
	// the service itself is read only every third look, or as soon as the
	// deployment changes, which halves the calls of a long quiet stage.
	var read, later []*serviceState
	for _, s := range active {
		if s.watch.quietLooks < quietLooksPerServiceRead && s.watch.quiet && !s.watch.nearEnd {
			later = append(later, s)
			s.watch.quietLooks++
			continue
		}
		read = append(read, s)
		s.watch.quietLooks = 0
	}
	changed, err := p.describeWatched(ctx, read)
	if err != nil {
		return changed, err
	}
	if err := p.readServiceDeployments(ctx, active); err != nil {
		return changed, err
	}
	var changedSince []*serviceState
	for _, s := range active {
		sd := s.watch.sd
		quiet := staged(sd) && sd.Status == s.watch.lastStatus && aws.ToTime(sd.UpdatedAt).Equal(s.watch.lastUpdated)
		if sd != nil {
			s.watch.lastStatus, s.watch.lastUpdated = sd.Status, aws.ToTime(sd.UpdatedAt)
		}
		if !quiet && slices.Contains(later, s) {
			changedSince = append(changedSince, s)
			s.watch.quietLooks = 0
		}
		s.watch.quiet = quiet
	}
	if more, err := p.describeWatched(ctx, changedSince); err != nil {
		return changed || more, err
	} else if more {
		changed = true
	}
	return p.settleWatched(ctx, active, changed)
}

// quietLooksPerServiceRead is how many looks at a staged deployment that
// has not changed go by without reading its service.
const quietLooksPerServiceRead = 2

// describeWatched reads the services and prints their new events; it
// reports whether there were any.
func (p *Plan) describeWatched(ctx context.Context, services []*serviceState) (bool, error) {
	byName := map[string]*serviceState{}
	names := make([]string, 0, len(services))
	for _, s := range services {
		byName[s.name] = s
		names = append(names, s.name)
	}
	for batch := range slices.Chunk(names, describeServicesBatch) {
		out, err := p.client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(p.req.Cluster), Services: batch})
		if err != nil {
			return false, fmt.Errorf("describe services: %w", err)
		}
		for _, f := range out.Failures {
			if s, ok := byName[serviceNameOf(aws.ToString(f.Arn))]; ok {
				s.fail(OutcomeFailed, fmt.Errorf("service %q disappeared during the deployment: %s", s.name, aws.ToString(f.Reason)))
			}
		}
		for i := range out.Services {
			if s, ok := byName[nameOfService(&out.Services[i])]; ok {
				s.watch.svc = &out.Services[i]
			}
		}
	}
	changed := false
	for _, s := range services {
		if s.err != nil || s.watch.svc == nil {
			continue
		}
		if s.printNewEvents() {
			changed = true
		}
	}
	return changed, nil
}

// settleWatched prints what is new of each deployment and settles those
// that ended; it reports whether anything changed.
func (p *Plan) settleWatched(ctx context.Context, active []*serviceState, changed bool) (bool, error) {
	now := p.req.Clock.Now()
	for _, s := range active {
		if s.err != nil || s.watch.svc == nil {
			continue
		}
		if s.codeDeploy != nil {
			cdChanged, err := p.pollCodeDeploy(ctx, s)
			if err != nil {
				return changed, err
			}
			changed = changed || cdChanged
			continue
		}
		if s.reportStages(now) {
			changed = true
		}
		if s.report() {
			changed = true
		}
		s.evaluate()
		if s.err == nil && !s.watch.finished {
			p.actOnPause(ctx, s)
		}
	}
	return changed, nil
}

// readServiceDeployments finds and reads our deployments in the
// ServiceDeployment API. A caller not allowed to use it falls back to the
// service's deployments[].
func (p *Plan) readServiceDeployments(ctx context.Context, active []*serviceState) error {
	var arns []string
	byARN := map[string]*serviceState{}
	for _, s := range active {
		if s.err != nil || s.watch.useDeploymentsList || s.codeDeploy != nil {
			continue
		}
		if s.result.ServiceDeploymentARN == "" {
			s.adoptServiceDeployment()
		}
		if arn := s.result.ServiceDeploymentARN; arn != "" {
			arns = append(arns, arn)
			byARN[arn] = s
		}
	}
	for batch := range slices.Chunk(arns, describeServiceDeploymentsBatch) {
		out, err := p.client.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: batch})
		if err != nil {
			if accessDenied(err) {
				p.log.notice(policy.CallECSWatchDeployment, err, batch[0])
				for _, s := range active {
					s.watch.useDeploymentsList = true
				}
				return nil
			}
			return fmt.Errorf("describe service deployments: %w", err)
		}
		for i := range out.ServiceDeployments {
			if s, ok := byARN[aws.ToString(out.ServiceDeployments[i].ServiceDeploymentArn)]; ok {
				s.watch.sd = &out.ServiceDeployments[i]
			}
		}
		for _, f := range out.Failures {
			if s, ok := byARN[aws.ToString(f.Arn)]; ok {
				s.watch.useDeploymentsList = true
				s.watch.sd = nil
			}
		}
	}
	return nil
}

// adoptServiceDeployment takes our deployment's ARN in the ServiceDeployment
// API from the service, which names its current one once ours is primary,
// when UpdateService did not give it. A service that names none is watched
// in its deployments[], whose entry carrying our id is exact: no list of
// the service's deployments (ecs:ListServiceDeployments) is needed.
func (s *serviceState) adoptServiceDeployment() {
	svc := s.watch.svc
	if svc != nil && aws.ToString(svc.CurrentServiceDeployment) != "" {
		if d := primaryDeployment(svc); d != nil && aws.ToString(d.Id) == s.result.DeploymentID {
			s.result.ServiceDeploymentARN = aws.ToString(svc.CurrentServiceDeployment)
			return
		}
	}
	if svc != nil {
		s.watch.useDeploymentsList = true
	}
}

func primaryDeployment(svc *types.Service) *types.Deployment {
	for i := range svc.Deployments {
		if aws.ToString(svc.Deployments[i].Status) == "PRIMARY" {
			return &svc.Deployments[i]
		}
	}
	return nil
}

func (s *serviceState) ourDeployment() *types.Deployment {
	for i := range s.watch.svc.Deployments {
		if aws.ToString(s.watch.svc.Deployments[i].Id) == s.result.DeploymentID {
			return &s.watch.svc.Deployments[i]
		}
	}
	return nil
}

// printNewEvents prints the service's events that are newer than the last
// one seen, oldest first, each once.
func (s *serviceState) printNewEvents() bool {
	events := s.watch.svc.Events // newest first, as ECS returns them
	var fresh []types.ServiceEvent
	for _, e := range events {
		t := aws.ToTime(e.CreatedAt)
		if t.Before(s.lastEvent) || s.seen[aws.ToString(e.Id)] {
			continue
		}
		fresh = append(fresh, e)
	}
	slices.Reverse(fresh)
	for _, e := range fresh {
		s.seen[aws.ToString(e.Id)] = true
		if t := aws.ToTime(e.CreatedAt); t.After(s.lastEvent) {
			s.lastEvent = t
		}
		s.log.infof("%s %s", aws.ToTime(e.CreatedAt).Local().Format("15:04:05"), aws.ToString(e.Message))
	}
	return len(fresh) > 0
}

// rollout describes where our deployment stands, in one line.
func (s *serviceState) rollout() string {
	if s.codeDeploy != nil {
		return s.codeDeployLine()
	}
	return s.rolloutLine(true)
}

// rolloutLine is rollout, with the lifecycle stage or without it (when the
// stages are printed on lines of their own).
func (s *serviceState) rolloutLine(withStage bool) string {
	var parts []string
	sd := s.watch.sd
	d := s.ourDeployment()
	switch {
	case sd != nil:
		parts = append(parts, string(sd.Status))
	case d != nil && d.RolloutState != "":
		parts = append(parts, string(d.RolloutState))
	}
	if d != nil {
		parts = append(parts, fmt.Sprintf("%d/%d running, %d pending", d.RunningCount, d.DesiredCount, d.PendingCount))
		if d.FailedTasks > 0 {
			parts = append(parts, fmt.Sprintf("%d failed tasks", d.FailedTasks))
		}
	} else if sd != nil && sd.TargetServiceRevision != nil {
		r := sd.TargetServiceRevision
		parts = append(parts, fmt.Sprintf("%d/%d running, %d pending", r.RunningTaskCount, r.RequestedTaskCount, r.PendingTaskCount))
	}
	if sd != nil && sd.DeploymentCircuitBreaker != nil {
		cb := sd.DeploymentCircuitBreaker
		parts = append(parts, fmt.Sprintf("circuit breaker %s %d/%d failures", cb.Status, cb.FailureCount, cb.Threshold))
	}
	if sd != nil && sd.LifecycleStage != "" && sd.Status == types.ServiceDeploymentStatusInProgress && withStage {
		parts = append(parts, "stage "+string(sd.LifecycleStage))
	}
	if len(parts) == 0 {
		return "no longer among the service's deployments"
	}
	return strings.Join(parts, ", ")
}

// report prints the deployment line when it changed.
func (s *serviceState) report() bool {
	s.result.Rollout = s.rollout()
	line := s.rolloutLine(!staged(s.watch.sd))
	if line == s.watch.line {
		return false
	}
	s.watch.line = line
	s.log.infof("Deployment %s: %s", s.result.DeploymentID, line)
	return true
}

// evaluate settles the service when our deployment has ended: it succeeded
// only when it completed and the service runs our revision, under our
// deployment. A rollback, a stop, a failure, or another deployment taking
// over is a failure, whatever the service's stability.
func (s *serviceState) evaluate() {
	svc := s.watch.svc
	ours := s.ourDeployment()
	primary := primaryDeployment(svc)
	ourTD := s.result.TaskDefinitionARN
	runsOurs := aws.ToString(svc.TaskDefinition) == ourTD && (primary == nil || aws.ToString(primary.Id) == s.result.DeploymentID)
	s.watch.nearEnd = ours != nil && ours.DesiredCount > 0 && ours.RunningCount >= ours.DesiredCount
	if sd := s.watch.sd; staged(sd) {
		// Green runs in full long before the end, through the traffic
		// shifts and the bake time; the end is near in CLEAN_UP.
		s.watch.nearEnd = sd.LifecycleStage == types.ServiceDeploymentLifecycleStageCleanUp
	}

	replaced := func() {
		other := "none"
		if primary != nil {
			other = fmt.Sprintf("%s of %s", aws.ToString(primary.Id), aws.ToString(primary.TaskDefinition))
		}
		s.fail(OutcomeFailed, fmt.Errorf("service %q: deployment %s was replaced by another deployment (now primary: %s); the service is not running %s",
			s.name, s.result.DeploymentID, other, ourTD))
	}

	if sd := s.watch.sd; sd != nil && !s.watch.useDeploymentsList {
		reason := aws.ToString(sd.StatusReason)
		switch sd.Status {
		case types.ServiceDeploymentStatusSuccessful:
			if runsOurs {
				s.finishStages(s.clock.Now())
				s.succeed()
				return
			}
			replaced()
		case types.ServiceDeploymentStatusRollbackRequested, types.ServiceDeploymentStatusRollbackInProgress,
			types.ServiceDeploymentStatusRollbackSuccessful, types.ServiceDeploymentStatusRollbackFailed:
			if staged(sd) && stageIndex(sd.LifecycleStage) > stageIndex(s.watch.stage) {
				s.printStagesUpTo(sd.LifecycleStage, s.clock.Now())
			}
			msg := fmt.Sprintf("service %q: deployment %s failed%s and ECS is rolling back (%s)", s.name, s.result.DeploymentID, atStage(sd), sd.Status)
			if sd.Status == types.ServiceDeploymentStatusRollbackSuccessful {
				msg = fmt.Sprintf("service %q: deployment %s failed%s and ECS rolled the service back (%s)", s.name, s.result.DeploymentID, atStage(sd), sd.Status)
			}
			if s.watch.stopReason != "" {
				msg = fmt.Sprintf("service %q: deployment %s was stopped with a rollback%s because %s (%s)", s.name, s.result.DeploymentID, atStage(sd), s.watch.stopReason, sd.Status)
			}
			if sd.Rollback != nil && aws.ToString(sd.Rollback.Reason) != "" {
				msg += ": " + aws.ToString(sd.Rollback.Reason)
			} else if reason != "" {
				msg += ": " + reason
			}
			s.fail(OutcomeFailed, errors.New(msg))
		case types.ServiceDeploymentStatusStopped, types.ServiceDeploymentStatusStopRequested:
			msg := fmt.Sprintf("service %q: deployment %s was stopped%s (%s)", s.name, s.result.DeploymentID, atStage(sd), sd.Status)
			if reason != "" {
				msg += ": " + reason
			}
			s.fail(OutcomeFailed, errors.New(msg))
		default: // PENDING, IN_PROGRESS
			if ours != nil && ours.RolloutState == types.DeploymentRolloutStateFailed {
				s.failRollout(ours)
				return
			}
			if primary != nil && aws.ToString(primary.Id) != s.result.DeploymentID {
				s.watch.suspect++
				if s.watch.suspect > 1 {
					replaced()
				}
				return
			}
			s.watch.suspect = 0
		}
		return
	}

	// deployments[]: our entry, found by the id UpdateService returned.
	switch {
	case ours == nil || (primary != nil && aws.ToString(primary.Id) != s.result.DeploymentID):
		if ours != nil && ours.RolloutState == types.DeploymentRolloutStateFailed {
			s.failRollout(ours)
			return
		}
		// Our entry may be gone already: ECS drops a failed deployment once
		// its rollback is done. Its events still say what became of it.
		if msg := eventAbout(svc, s.result.DeploymentID, "failed"); msg != "" {
			s.fail(OutcomeFailed, fmt.Errorf("service %q: deployment %s failed (%s); the service is not running %s", s.name, s.result.DeploymentID, msg, ourTD))
			return
		}
		replaced()
	case ours.RolloutState == types.DeploymentRolloutStateFailed:
		s.failRollout(ours)
	case ours.RolloutState == types.DeploymentRolloutStateCompleted:
		if runsOurs {
			s.succeed()
			return
		}
		replaced()
	case ours.RolloutState == "" && len(svc.Deployments) == 1 && ours.RunningCount == ours.DesiredCount && runsOurs:
		// ECS without rollout states: steady on our deployment alone.
		s.succeed()
	}
}

// atStage names the lifecycle stage a staged deployment ended at.
func atStage(sd *types.ServiceDeployment) string {
	if sd.LifecycleStage == "" {
		return ""
	}
	return " at lifecycle stage " + string(sd.LifecycleStage)
}

// eventAbout returns the newest service event that names the deployment
// and contains word; empty when there is none.
func eventAbout(svc *types.Service, deploymentID, word string) string {
	for _, e := range svc.Events { // newest first
		if m := aws.ToString(e.Message); strings.Contains(m, deploymentID) && strings.Contains(m, word) {
			return m
		}
	}
	return ""
}

func (s *serviceState) failRollout(d *types.Deployment) {
	msg := fmt.Sprintf("service %q: deployment %s FAILED", s.name, s.result.DeploymentID)
	if r := aws.ToString(d.RolloutStateReason); r != "" {
		msg += ": " + r
	}
	s.fail(OutcomeFailed, errors.New(msg))
}

func (s *serviceState) succeed() {
	s.watch.finished = true
	s.result.Outcome = OutcomeSucceeded
	s.ended()
	s.result.LastEvents = lastEvents(s.watch.svc)
	s.log.infof("Deployment %s succeeded in %s: the service runs %s", s.result.DeploymentID, s.result.Duration.Round(100*time.Millisecond), s.result.TaskDefinitionARN)
}

// stopWatching ends the watch of the services still active: the wait timed
// out, or the run was interrupted.
func (p *Plan) stopWatching(parent context.Context, active []*serviceState, lastErr error) {
	if err := parent.Err(); err != nil {
		for _, s := range active {
			s.fail(OutcomeInterrupted, fmt.Errorf("service %q: watching deployment %s interrupted (ECS goes on with it): %w", s.name, s.result.DeploymentID, err))
		}
		return
	}
	for _, s := range active {
		where := s.result.Rollout
		if where == "" {
			where = "no state read yet"
		}
		if lastErr != nil {
			where += fmt.Sprintf(" (the last look failed: %v)", lastErr)
		}
		s.fail(OutcomeTimedOut, fmt.Errorf("service %q: deployment %s did not finish within %s (wait-for-minutes); it stood at: %s",
			s.name, s.result.DeploymentID, p.req.WaitTimeout, where))
	}
	p.explainFailures(parent, parent, active)
}

// explainFailures gathers, for each failed service, the stopped reasons of
// its deployment's tasks and the latest events, and reports them as an
// error annotation. It runs on a short context of its own when the watch's
// has expired, so a timeout is still explained.
func (p *Plan) explainFailures(ctx, parent context.Context, failed []*serviceState) {
	if len(failed) == 0 {
		return
	}
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(parent), 20*time.Second)
		defer cancel()
	}
	var wg sync.WaitGroup
	for _, s := range failed {
		wg.Go(func() {
			s.result.StoppedReasons = p.stoppedReasons(ctx, s)
			if s.watch != nil && s.watch.svc != nil {
				s.result.LastEvents = lastEvents(s.watch.svc)
			}
		})
	}
	wg.Wait()
	for _, s := range failed {
		// One annotation: the failure, then each reason and event on a
		// line of its own, as untrusted arguments of our format.
		format, args := "%v", []any{s.err}
		if len(s.result.StoppedReasons) > 0 {
			format += "\nStopped tasks:" + strings.Repeat("\n  %s", len(s.result.StoppedReasons))
			for _, r := range s.result.StoppedReasons {
				args = append(args, r)
			}
		}
		if len(s.result.LastEvents) > 0 {
			format += "\nLatest service events:" + strings.Repeat("\n  %s", len(s.result.LastEvents))
			for _, e := range s.result.LastEvents {
				args = append(args, e)
			}
		}
		s.log.errorf(format, args...)
		s.reported = true
	}
}

// stoppedReasons reads the tasks of our deployment that ECS stopped, and
// returns each distinct reason once with how many tasks gave it.
func (p *Plan) stoppedReasons(ctx context.Context, s *serviceState) []string {
	// ECS marks a service's tasks as started by their deployment: asking
	// for ours finds them however many other tasks the service stopped.
	list, err := p.client.ListTasks(ctx, &ecs.ListTasksInput{
		Cluster:       aws.String(p.req.Cluster),
		StartedBy:     aws.String(s.startedBy()),
		DesiredStatus: types.DesiredStatusStopped,
		MaxResults:    aws.Int32(100),
	})
	if err == nil && len(list.TaskArns) == 0 {
		list, err = p.client.ListTasks(ctx, &ecs.ListTasksInput{
			Cluster:       aws.String(p.req.Cluster),
			ServiceName:   aws.String(s.name),
			DesiredStatus: types.DesiredStatusStopped,
			MaxResults:    aws.Int32(100),
		})
	}
	if err != nil && accessDenied(err) {
		p.log.notice(policy.CallECSListStoppedTasks, err, "*")
		return nil
	}
	if err != nil {
		return []string{fmt.Sprintf("(could not list the stopped tasks: %v)", err)}
	}
	if len(list.TaskArns) == 0 {
		return nil
	}
	out, err := p.client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(p.req.Cluster), Tasks: list.TaskArns})
	if err != nil && accessDenied(err) {
		p.log.notice(policy.CallECSDescribeStoppedTasks, err, "the cluster's tasks")
		return nil
	}
	if err != nil {
		return []string{fmt.Sprintf("(could not describe the stopped tasks: %v)", err)}
	}
	tasks := out.Tasks
	slices.SortFunc(tasks, func(a, b types.Task) int { return aws.ToTime(a.StoppedAt).Compare(aws.ToTime(b.StoppedAt)) })
	// Tasks that failed say why; tasks the scheduler stopped (a rollback
	// scaling ours in) only say who stopped them, so they are reported only
	// when nothing else is.
	var ours, failedTasks []types.Task
	for _, t := range tasks {
		if !s.startedTask(t) {
			continue
		}
		ours = append(ours, t)
		if t.StopCode != types.TaskStopCodeServiceSchedulerInitiated && t.StopCode != types.TaskStopCodeUserInitiated {
			failedTasks = append(failedTasks, t)
		}
	}
	if len(failedTasks) > 0 {
		ours = failedTasks
	}
	counts := map[string]int{}
	var order []string
	for _, t := range ours {
		r := taskReason(t)
		if counts[r] == 0 {
			order = append(order, r)
		}
		counts[r]++
	}
	var reasons []string
	for _, r := range order {
		if len(reasons) == stoppedReasonsKept {
			reasons = append(reasons, fmt.Sprintf("(and %d more distinct reasons)", len(order)-stoppedReasonsKept))
			break
		}
		if n := counts[r]; n > 1 {
			r = fmt.Sprintf("%s (%d tasks)", r, n)
		}
		reasons = append(reasons, r)
	}
	return reasons
}

// startedTask reports whether a task belongs to our deployment: ECS marks a
// service's tasks with the deployment that started them; tasks stopped
// before our update belong to earlier ones.
func (s *serviceState) startedTask(t types.Task) bool {
	if s.codeDeploy != nil {
		// Only our CodeDeploy deployment runs the revision this run
		// registered, whichever task set it started.
		return aws.ToString(t.TaskDefinitionArn) == s.result.TaskDefinitionARN
	}
	if by := aws.ToString(t.StartedBy); by != "" {
		return by == s.startedBy()
	}
	if stopped := aws.ToTime(t.StoppedAt); !stopped.IsZero() && stopped.Before(s.updatedAt.Add(-5*time.Second)) {
		return false
	}
	return aws.ToString(t.TaskDefinitionArn) == s.result.TaskDefinitionARN
}

// startedBy is what ECS marks our deployment's tasks as started by: the
// deployment, or for a CodeDeploy deployment its replacement task set.
func (s *serviceState) startedBy() string {
	if s.codeDeploy != nil && s.codeDeploy.replacement != "" {
		return s.codeDeploy.replacement
	}
	return s.result.DeploymentID
}

// taskReason is one line on why a task stopped: its stopped reason and each
// container's reason or exit code.
func taskReason(t types.Task) string {
	r := aws.ToString(t.StoppedReason)
	if r == "" {
		r = string(t.StopCode)
	}
	var cs []string
	for _, c := range t.Containers {
		var bits []string
		if reason := aws.ToString(c.Reason); reason != "" {
			bits = append(bits, reason)
		}
		if c.ExitCode != nil {
			bits = append(bits, fmt.Sprintf("exit code %d", *c.ExitCode))
		}
		if len(bits) > 0 {
			cs = append(cs, fmt.Sprintf("container %s: %s", aws.ToString(c.Name), strings.Join(bits, ", ")))
		}
	}
	if len(cs) > 0 {
		r += " [" + strings.Join(cs, "; ") + "]"
	}
	// ECS's text, kept on one line wherever the result is shown.
	return ghaction.Line(r)
}

// lastEvents is the service's latest events, oldest first.
func lastEvents(svc *types.Service) []string {
	n := min(len(svc.Events), lastEventsKept)
	out := make([]string, 0, n)
	for i := n - 1; i >= 0; i-- {
		e := svc.Events[i]
		out = append(out, aws.ToTime(e.CreatedAt).UTC().Format(time.RFC3339)+" "+ghaction.Line(aws.ToString(e.Message)))
	}
	return out
}

func accessDenied(err error) bool {
	switch errorCode(err) {
	case "AccessDeniedException", "AccessDenied", "UnsupportedFeatureException":
		return true
	}
	return false
}

// errorCode is the AWS error code of err, or a short description.
func errorCode(err error) string {
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		return ae.ErrorCode()
	}
	if _, ok := errors.AsType[*awsretry.MaxAttemptsError](err); ok {
		return "repeated errors"
	}
	return "an error"
}

// errorMessage is AWS's message in err, or err's text.
func errorMessage(err error) string {
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		return ae.ErrorMessage()
	}
	if err == nil {
		return ""
	}
	return err.Error()
}
