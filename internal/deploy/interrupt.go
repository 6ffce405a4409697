package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// interruptedLookTimeout bounds the one look at ECS an interrupted run
// makes before it reports: a cancelled job's step has seconds to finish.
const interruptedLookTimeout = time.Second

// reportInterrupted says, once the run was interrupted, where each service
// stands: what the run did, the state ECS is in, that ECS goes on by
// itself, and the AWS CLI commands to follow it. The services the run may
// have changed are looked at with one DescribeServices (per ten services),
// on a short context of its own, so that an update whose answer was lost
// is settled and a started rollout's state is current.
func (p *Plan) reportInterrupted(ctx context.Context) {
	look, cancel := context.WithTimeout(context.WithoutCancel(ctx), interruptedLookTimeout)
	defer cancel()
	var stops sync.WaitGroup
	if p.req.RollbackOnCancel {
		stops.Go(func() { p.stopOnCancel(look) })
	}
	described, lookErr := p.describeChanged(look)
	stops.Wait()
	var lines []string
	for _, s := range p.services {
		lines = append(lines, p.standing(s, described[s.name], lookErr)...)
		s.reported = true
	}
	p.log.group("Interrupted: where each service stands (ECS goes on without this run)", lines)
}

// stopOnCancel stops, with a rollback, every deployment of ours still in
// progress when the run was interrupted (rollback-on-cancel), and records
// on each service what became of the request.
func (p *Plan) stopOnCancel(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range p.services {
		if !s.updateSent || s.result.Outcome == OutcomeSucceeded || s.result.Outcome == OutcomeFailed {
			continue
		}
		if s.codeDeploy != nil {
			wg.Go(func() { s.cancelStop = p.stopCodeDeploy(ctx, s) })
			continue
		}
		arn := s.result.ServiceDeploymentARN
		if arn == "" {
			s.cancelStop = "rollback-on-cancel could not stop it: ECS did not name its service deployment. ECS goes on with it."
			continue
		}
		wg.Go(func() {
			_, err := p.client.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{
				ServiceDeploymentArn: aws.String(arn), StopType: types.StopServiceDeploymentStopTypeRollback,
			})
			switch {
			case err == nil:
				s.cancelStop = "As rollback-on-cancel asks, the run stopped it with a rollback (StopServiceDeployment): ECS returns the service to its previous revision."
			case errorCode(err) == "ConflictException":
				s.cancelStop = fmt.Sprintf("rollback-on-cancel found it no longer stoppable (%v).", err)
			default:
				s.cancelStop = fmt.Sprintf("rollback-on-cancel could not stop it (%v)%s; ECS goes on with it.", err, allowHint(err, "ecs:StopServiceDeployment"))
			}
		})
	}
	wg.Wait()
}

// describeChanged reads the services that UpdateService was sent for.
func (p *Plan) describeChanged(ctx context.Context) (map[string]*types.Service, error) {
	var names []string
	for _, s := range p.services {
		if s.updateSent && s.result.Outcome != OutcomeSucceeded && s.result.Outcome != OutcomeFailed {
			names = append(names, s.name)
		}
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	described := map[string]*types.Service{}
	for batch := range slices.Chunk(names, describeServicesBatch) {
		wg.Go(func() {
			out, err := p.client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(p.req.Cluster), Services: batch})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			for i := range out.Services {
				described[nameOfService(&out.Services[i])] = &out.Services[i]
			}
		})
	}
	wg.Wait()
	return described, firstErr
}

// standing is the report's lines on one service.
func (p *Plan) standing(s *serviceState, svc *types.Service, lookErr error) []string {
	name := s.name
	switch {
	case s.result.Outcome == OutcomeSucceeded:
		return []string{fmt.Sprintf("%s: deployment %s succeeded before the interrupt; the service runs %s.", name, s.result.DeploymentID, s.result.TaskDefinitionARN)}
	case s.result.Outcome == OutcomeFailed && s.updateSent:
		return []string{fmt.Sprintf("%s: deployment %s had failed before the interrupt: %s", name, s.result.DeploymentID, s.result.Failure)}
	case !s.updateSent:
		s.result.Outcome = OutcomeNotStarted
		if s.result.TaskDefinitionARN != "" && s.result.TaskDefinitionARN != s.taskDefinition {
			return []string{fmt.Sprintf("%s: not updated: nothing was changed on the service, which runs %s as before (revision %s was registered and is unused).", name, s.taskDefinition, s.result.TaskDefinitionARN)}
		}
		return []string{fmt.Sprintf("%s: not started: nothing was changed on the service.", name)}
	case s.result.Outcome == OutcomeUnknown:
		return p.settleUnknown(s, svc, lookErr)
	}
	s.result.Outcome = OutcomeInterrupted
	return p.rolloutGoesOn(s, svc, name+": deployment "+s.result.DeploymentID+" of "+s.result.TaskDefinitionARN+" was started")
}

// settleUnknown reports an update whose answer was lost, settled by the
// look when it could be made.
func (p *Plan) settleUnknown(s *serviceState, svc *types.Service, lookErr error) []string {
	lost := fmt.Sprintf("%s: UpdateService was sent, but the run was interrupted before ECS answered", s.name)
	if s.usesCodeDeploy() {
		// CodeDeploy's deployments are not ECS's to look at.
		app, group := p.codeDeployNames(s)
		return []string{fmt.Sprintf("%s: CreateDeployment was sent, but the run was interrupted before CodeDeploy answered; whether it started a deployment is unknown. Look: aws deploy list-deployments --application-name %s --deployment-group-name %s",
			s.name, shellWord(app), shellWord(group))}
	}
	if svc == nil {
		why := "the service could not be read in time"
		if lookErr != nil {
			why = fmt.Sprintf("looking failed: %v", lookErr)
		}
		return append([]string{fmt.Sprintf("%s; whether ECS applied it is unknown (%s). Look:", lost, why)}, p.followCommands(s)...)
	}
	td := s.result.TaskDefinitionARN
	if p.req.ForceNewDeployment {
		td = ""
	}
	if !updateShown(svc, s, td) {
		s.result.Outcome = OutcomeNotStarted
		s.result.Failure = "interrupted: ECS had not applied UpdateService when the run looked"
		return append([]string{fmt.Sprintf("%s; ECS had not applied it when the run looked (%s): the service runs %s. A request still in flight could yet be applied; check with:",
			lost, time.Now().UTC().Format(time.RFC3339), aws.ToString(svc.TaskDefinition))}, p.followCommands(s)...)
	}
	if err := p.adopt(s, svc); err != nil {
		return []string{fmt.Sprintf("%s; ECS shows: %v", lost, err)}
	}
	s.result.Outcome = OutcomeInterrupted
	s.result.Failure = "interrupted while deployment " + s.result.DeploymentID + " goes on"
	return p.rolloutGoesOn(s, svc, lost+"; ECS applied it: deployment "+s.result.DeploymentID+" of "+s.result.TaskDefinitionARN+" was started")
}

// rolloutGoesOn reports a deployment the run leaves behind: where it
// stands, that ECS carries on with it, and how to follow it.
func (p *Plan) rolloutGoesOn(s *serviceState, svc *types.Service, done string) []string {
	if s.watch == nil {
		s.watch = &watchState{}
	}
	if svc != nil {
		s.watch.svc = svc
	}
	state := "its state could not be read in time"
	if s.watch.svc != nil {
		state = "ECS reports " + s.rollout()
		s.result.Rollout = s.rollout()
	}
	next := onItsOwn(s.watch.svc)
	if s.codeDeploy != nil {
		next = "CodeDeploy goes on with the deployment by itself and, should it fail, rolls it back as its deployment group says; cancelling the job stopped neither."
	}
	if h := awaitingPause(s.watch.sd); h != nil {
		next = fmt.Sprintf("It waits at a PAUSE lifecycle hook at %s until someone continues it, or until the hook times out (then %s).", s.watch.sd.LifecycleStage, h.TimeoutAction)
	}
	if s.cancelStop != "" {
		next = s.cancelStop
	}
	lines := []string{fmt.Sprintf("%s; %s. %s Follow it:", done, state, next)}
	return append(lines, p.followCommands(s)...)
}

// onItsOwn says what ECS does with a deployment nobody watches, by the
// service's circuit breaker.
func onItsOwn(svc *types.Service) string {
	var cb *types.DeploymentCircuitBreaker
	if svc != nil && svc.DeploymentConfiguration != nil {
		cb = svc.DeploymentConfiguration.DeploymentCircuitBreaker
	}
	switch {
	case cb != nil && cb.Enable && cb.Rollback:
		return "ECS goes on with the rollout by itself and, should its circuit breaker trip, rolls the service back by itself; cancelling the job stopped neither."
	case cb != nil && cb.Enable:
		return "ECS goes on with the rollout by itself; should its circuit breaker trip, it fails the deployment without rolling back."
	}
	return "ECS goes on with the rollout by itself; the service has no circuit breaker, so nothing rolls it back if its tasks fail."
}

// followCommands are the AWS CLI commands that show a service's
// deployment.
func (p *Plan) followCommands(s *serviceState) []string {
	region := ""
	if p.req.Region != "" {
		region = " --region " + p.req.Region
	}
	var cmds []string
	if s.codeDeploy != nil {
		cmds = append(cmds, "  aws deploy get-deployment --deployment-id "+shellWord(s.result.DeploymentID)+region)
	}
	if arn := s.result.ServiceDeploymentARN; arn != "" {
		cmds = append(cmds, "  aws ecs describe-service-deployments --service-deployment-arns "+shellWord(arn)+region)
	}
	cmds = append(cmds, fmt.Sprintf("  aws ecs describe-services --cluster %s --services %s%s --query 'services[0].deployments'", shellWord(p.req.Cluster), shellWord(s.name), region))
	return cmds
}

// shellWord quotes s for a shell when it holds anything but the characters
// of names and ARNs.
func shellWord(s string) string {
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:/.") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
