package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// lifecycleStages are the stages of a BLUE_GREEN, LINEAR or CANARY
// deployment, in the order ECS goes through them. RECONCILE_SERVICE comes
// only when more than one revision was active as the deployment started.
var lifecycleStages = []types.ServiceDeploymentLifecycleStage{
	types.ServiceDeploymentLifecycleStageReconcileService,
	types.ServiceDeploymentLifecycleStagePreScaleUp,
	types.ServiceDeploymentLifecycleStageScaleUp,
	types.ServiceDeploymentLifecycleStagePostScaleUp,
	types.ServiceDeploymentLifecycleStageTestTrafficShift,
	types.ServiceDeploymentLifecycleStagePostTestTrafficShift,
	types.ServiceDeploymentLifecycleStageProductionTrafficShift,
	types.ServiceDeploymentLifecycleStagePostProductionTrafficShift,
	types.ServiceDeploymentLifecycleStageBakeTime,
	types.ServiceDeploymentLifecycleStageCleanUp,
}

// PauseCheck verifies the new revision while a PAUSE lifecycle hook holds
// the deployment: URL must answer 2xx Successes times in a row within
// Timeout. It passes, and the deployment is continued, or it fails, and the
// deployment is stopped with a rollback.
type PauseCheck struct {
	// URL is the new revision's test endpoint, e.g. the test listener.
	URL string
	// Successes is how many 2xx answers in a row pass; 1 when zero.
	Successes int
	// Timeout bounds the whole check.
	Timeout time.Duration
	// Interval is the pause between tries; a second when zero.
	Interval time.Duration
	// Client makes the requests; it must bound them in time (the run's
	// client from internal/httpclient does). Each try is also bounded by
	// what is left of Timeout.
	Client *http.Client
}

// staged reports whether a service deployment goes through lifecycle
// stages.
func staged(sd *types.ServiceDeployment) bool {
	if sd == nil {
		return false
	}
	if sd.LifecycleStage != "" {
		return true
	}
	if dc := sd.DeploymentConfiguration; dc != nil {
		switch dc.Strategy {
		case types.DeploymentStrategyBlueGreen, types.DeploymentStrategyLinear, types.DeploymentStrategyCanary:
			return true
		}
	}
	return false
}

// stageIndex is a stage's place in lifecycleStages; -1 when unknown.
func stageIndex(stage types.ServiceDeploymentLifecycleStage) int {
	return slices.Index(lifecycleStages, stage)
}

// reportStages prints each lifecycle stage our deployment has reached
// since the last look, once and in order: a stage that came and went
// between two looks is printed as passed. It prints the traffic split
// whenever ECS reports a new one. It reports whether it printed anything.
func (s *serviceState) reportStages(now time.Time) bool {
	sd := s.watch.sd
	if !staged(sd) {
		return false
	}
	changed := false
	if stage := sd.LifecycleStage; stageIndex(stage) > stageIndex(s.watch.stage) {
		s.printStagesUpTo(stage, now)
		changed = true
	}
	if split := trafficSplit(sd); split != "" && split != s.watch.traffic {
		if !changed {
			s.log.infof("  traffic: %s", split)
		}
		s.watch.traffic = split
		changed = true
	}
	return changed
}

// printStagesUpTo prints the stages after the last one printed up to
// stage, which is where the deployment is now.
func (s *serviceState) printStagesUpTo(stage types.ServiceDeploymentLifecycleStage, now time.Time) {
	from := stageIndex(s.watch.stage) + 1
	if from == 0 && stage != types.ServiceDeploymentLifecycleStageReconcileService {
		from = 1 // RECONCILE_SERVICE is shown only when ECS reports it
	}
	to := stageIndex(stage)
	for _, passed := range lifecycleStages[from:to] {
		s.log.infof("Lifecycle stage %s (passed between two looks)", passed)
		s.stageEntered(string(passed), now)
	}
	s.watch.stage = stage
	s.stageEntered(string(stage), now)
	sd := s.watch.sd
	var detail []string
	if split := trafficSplit(sd); split != "" && split != s.watch.traffic {
		detail = append(detail, split)
		s.watch.traffic = split
	}
	if stage == types.ServiceDeploymentLifecycleStageBakeTime {
		if bake, left, ok := bakeTimeLeft(sd, now); ok {
			detail = append(detail, fmt.Sprintf("bake time %s, %s left", bake, left.Round(time.Second)))
			s.watch.nextChange = now.Add(left)
		}
	}
	if len(detail) == 0 {
		s.log.infof("Lifecycle stage %s", stage)
		return
	}
	s.log.infof("Lifecycle stage %s: %s", stage, strings.Join(detail, "; "))
}

// finishStages prints, for a deployment that succeeded, the stages it
// passed after the last look.
func (s *serviceState) finishStages(now time.Time) {
	if staged(s.watch.sd) && s.watch.stage != types.ServiceDeploymentLifecycleStageCleanUp {
		s.printStagesUpTo(types.ServiceDeploymentLifecycleStageCleanUp, now)
	}
}

// trafficSplit says how ECS splits the traffic between the new revision
// and the old ones; empty when it reports no weights.
func trafficSplit(sd *types.ServiceDeployment) string {
	r := sd.TargetServiceRevision
	if r == nil || r.RequestedProductionTrafficWeight == nil {
		return ""
	}
	prod := *r.RequestedProductionTrafficWeight
	split := fmt.Sprintf("production traffic %s new, %s old", percent(prod), percent(100-prod))
	if t := r.RequestedTestTrafficWeight; t != nil {
		split += fmt.Sprintf(", test traffic %s new", percent(*t))
	}
	return split
}

// percent prints a weight as ECS's console does: 10%, 12.5%.
func percent(w float64) string {
	return strconv.FormatFloat(w, 'f', -1, 64) + "%"
}

// bakeTimeLeft is the deployment's bake time and what is left of it. ECS
// reports when the deployment last changed, which is when it entered
// BAKE_TIME; a later time, or none, counts from now.
func bakeTimeLeft(sd *types.ServiceDeployment, now time.Time) (bake, left time.Duration, ok bool) {
	dc := sd.DeploymentConfiguration
	if dc == nil || dc.BakeTimeInMinutes == nil {
		return 0, 0, false
	}
	bake = time.Duration(*dc.BakeTimeInMinutes) * time.Minute
	began := aws.ToTime(sd.UpdatedAt)
	if began.IsZero() || began.After(now) || now.Sub(began) > bake {
		began = now
	}
	return bake, bake - now.Sub(began), true
}

// awaitingPause is the PAUSE hook our deployment waits at; nil when none.
func awaitingPause(sd *types.ServiceDeployment) *types.DeploymentLifecycleHookDetail {
	if sd == nil || sd.Status != types.ServiceDeploymentStatusInProgress {
		return nil
	}
	for i, h := range sd.LifecycleHookDetails {
		if h.TargetType == types.DeploymentLifecycleHookTargetTypePause && h.Status == types.DeploymentLifecycleHookStatusAwaitingAction {
			return &sd.LifecycleHookDetails[i]
		}
	}
	return nil
}

// actOnPause handles a PAUSE hook our deployment waits at, once per hook:
// with a PauseCheck it checks the new revision and continues the
// deployment, or stops it with a rollback when the check fails; without
// one it says that it waits for someone else.
func (p *Plan) actOnPause(ctx context.Context, s *serviceState) {
	sd := s.watch.sd
	hook := awaitingPause(sd)
	if hook == nil || s.watch.pausedHook == aws.ToString(hook.HookId) {
		return
	}
	id, arn := aws.ToString(hook.HookId), aws.ToString(sd.ServiceDeploymentArn)
	s.watch.pausedHook = id
	expiry := "It waits without a limit."
	if at := aws.ToTime(hook.ExpiresAt); !at.IsZero() {
		action := string(hook.TimeoutAction)
		if action == "" {
			action = "ROLLBACK"
		}
		expiry = fmt.Sprintf("If nobody acts, ECS takes the hook's timeout action, %s, at %s (in %s).", action, at.UTC().Format(time.RFC3339), at.Sub(s.clock.Now()).Round(time.Second))
		s.watch.nextChange = at
	}
	check := p.req.PauseCheck
	if check == nil {
		s.log.infof("Deployment %s is paused at %s by a PAUSE lifecycle hook, waiting for someone to continue it (no test-url to check it with). %s", s.result.DeploymentID, sd.LifecycleStage, expiry)
		s.log.infof("  to continue: aws ecs continue-service-deployment --service-deployment-arn %s --hook-id %s", shellWord(arn), shellWord(id))
		s.log.infof("  to roll back: aws ecs continue-service-deployment --service-deployment-arn %s --hook-id %s --action ROLLBACK", shellWord(arn), shellWord(id))
		return
	}
	s.log.infof("Deployment %s is paused at %s by a PAUSE lifecycle hook: checking the new revision at %s (%d answers 2xx in a row within %s)",
		s.result.DeploymentID, sd.LifecycleStage, check.URL, max(1, check.Successes), check.Timeout)
	err := check.Run(ctx, s.log.infof)
	if ctx.Err() != nil {
		return // the watch ended; the interrupt or timeout says the rest
	}
	if err == nil {
		_, err := p.client.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{
			ServiceDeploymentArn: aws.String(arn), HookId: aws.String(id), Action: types.DeploymentLifecycleHookActionContinue,
		})
		switch {
		case err == nil:
			s.log.infof("Check passed: continued deployment %s past %s", s.result.DeploymentID, sd.LifecycleStage)
		case errorCode(err) == "ConflictException":
			s.log.infof("Check passed, but the hook is no longer waiting (someone acted on it first): %v", err)
		default:
			s.fail(OutcomeFailed, fmt.Errorf("service %q: the check of %s passed, but continuing deployment %s failed: %w; it stays paused at %s until someone continues it. %s%s",
				s.name, check.URL, s.result.DeploymentID, err, sd.LifecycleStage, expiry, allowHint(err, "ecs:ContinueServiceDeployment")))
		}
		return
	}
	s.watch.stopReason = fmt.Sprintf("the check of %s failed: %v", check.URL, err)
	s.log.infof("Check failed: %v; stopping deployment %s with a rollback", err, s.result.DeploymentID)
	_, serr := p.client.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{
		ServiceDeploymentArn: aws.String(arn), StopType: types.StopServiceDeploymentStopTypeRollback,
	})
	if serr != nil && errorCode(serr) != "ConflictException" {
		// The check's error is told, not wrapped: what failed is the stop.
		s.fail(OutcomeFailed, fmt.Errorf("service %q: the check of %s failed (%v), and stopping deployment %s failed too: %w; it stays paused at %s until someone acts. %s%s",
			s.name, check.URL, err, s.result.DeploymentID, serr, sd.LifecycleStage, expiry, allowHint(serr, "ecs:StopServiceDeployment"))) //nolint:errorlint // one cause wrapped: the stop's
	}
}

// allowHint says which permission a denied call needs.
func allowHint(err error, action string) string {
	if accessDenied(err) {
		return " Allow " + action + " on the service deployment for the run's role."
	}
	return ""
}

// Run checks the URL until it has answered 2xx Successes times in a row,
// or fails when Timeout passes first, saying what the last try met. Each
// try is printed through logf.
func (c PauseCheck) Run(ctx context.Context, logf func(format string, args ...any)) error {
	if c.Client == nil {
		return errors.New("no HTTP client for the check")
	}
	need := max(1, c.Successes)
	interval := c.Interval
	if interval <= 0 {
		interval = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	inARow, tries := 0, 0
	var last string // what the last try heard
	for {
		tries++
		code, status, err := c.try(ctx)
		switch {
		case err != nil:
			inARow = 0
			last = err.Error()
			logf("  try %d: %v", tries, err)
		case code >= 200 && code < 300:
			inARow++
			last = status
			logf("  try %d: %s (%d of %d in a row)", tries, status, inARow, need)
			if inARow == need {
				return nil
			}
		default:
			inARow = 0
			last = status
			logf("  try %d: %s", tries, status)
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("no %d answers 2xx in a row within %s (%d tries; the last: %s)", need, c.Timeout, tries, last)
		case <-t.C:
		}
	}
}

// try makes one request and reads its answer away.
func (c PauseCheck) try(ctx context.Context) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, "", fmt.Errorf("no answer before the check's time ran out")
		}
		return 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, resp.Status, nil
}
