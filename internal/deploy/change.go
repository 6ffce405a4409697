package deploy

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/retry"
)

// clockSkew is how far ECS's clock may be from ours when a lost
// registration is recognised by its time.
const clockSkew = 5 * time.Minute

// noBlindRetries keeps the SDK from repeating a call that may have taken
// effect: the caller looks first.
func noBlindRetries(o *ecs.Options) { o.Retryer = retry.NoBlindRetries(o.Retryer) }

// registerOnce registers in, retrying after throttling as the SDK does and,
// after a server error or a lost answer, only once it has looked and found
// the revision not registered.
func (p *Plan) registerOnce(ctx context.Context, in *ecs.RegisterTaskDefinitionInput) (*types.TaskDefinition, error) {
	family := aws.ToString(in.Family)
	var registered *types.TaskDefinition
	err := p.req.Retry.Do(ctx, "register task definition "+family, func(ctx context.Context) error {
		started := p.req.Clock.Now()
		out, err := p.client.RegisterTaskDefinition(ctx, in, noBlindRetries)
		if err == nil {
			registered = out.TaskDefinition
			return nil
		}
		if !retry.Classify(err).MayHaveApplied() {
			return err
		}
		found, lookErr := p.findRegistration(ctx, in, started)
		switch {
		case found != nil:
			p.log.warningf("RegisterTaskDefinition answered %s, but %s, registered by this run's session with these containers, is the family's latest revision: going on with it", errorCode(err), aws.ToString(found.TaskDefinitionArn))
			registered = found
			return nil
		case lookErr != nil:
			return retry.Final(fmt.Errorf("%w\nThe revision may or may not have been registered, and looking failed too: %w", err, lookErr))
		}
		return err
	})
	return registered, err
}

// findRegistration returns the family's latest revision when it is the one
// in would register, by this run: registered by the run's session (when
// Request.Caller names it), no earlier than the call (give or take
// clockSkew), with the same containers and images. It returns nil when the
// registration did not happen. A registration by someone else in between
// hides ours, and the retry then registers an identical revision: harmless.
func (p *Plan) findRegistration(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, started time.Time) (*types.TaskDefinition, error) {
	family := aws.ToString(in.Family)
	out, err := p.client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(family)})
	if err != nil {
		return nil, fmt.Errorf("describe task definition %s: %w", family, err)
	}
	td := out.TaskDefinition
	switch {
	case td == nil:
		return nil, nil
	case p.req.Caller != "" && aws.ToString(td.RegisteredBy) != p.req.Caller:
		return nil, nil
	case aws.ToTime(td.RegisteredAt).Before(started.Add(-clockSkew)):
		return nil, nil
	case !sameContainers(td.ContainerDefinitions, in.ContainerDefinitions):
		return nil, nil
	}
	return td, nil
}

// sameContainers reports whether two lists name the same containers with
// the same images, in order.
func sameContainers(a, b []types.ContainerDefinition) bool {
	return slices.EqualFunc(a, b, func(x, y types.ContainerDefinition) bool {
		return aws.ToString(x.Name) == aws.ToString(y.Name) && aws.ToString(x.Image) == aws.ToString(y.Image)
	})
}

// updateOnce calls UpdateService, retrying after throttling as the SDK does
// and, after a server error or a lost answer, only once DescribeServices
// shows that the update did not happen.
func (p *Plan) updateOnce(ctx context.Context, s *serviceState, in *ecs.UpdateServiceInput) (*types.Service, error) {
	var svc *types.Service
	err := p.req.Retry.Do(ctx, "update service "+s.name, func(ctx context.Context) error {
		s.updateSent = true
		out, err := p.client.UpdateService(ctx, in, noBlindRetries)
		if err == nil {
			svc = out.Service
			return nil
		}
		if !retry.Classify(err).MayHaveApplied() {
			return err
		}
		found, lookErr := p.findUpdate(ctx, s, aws.ToString(in.TaskDefinition))
		switch {
		case found != nil:
			s.log.warningf("UpdateService answered %s, but the service shows the update: going on with deployment %s", errorCode(err), aws.ToString(primaryDeployment(found).Id))
			svc = found
			return nil
		case lookErr != nil:
			return retry.Final(fmt.Errorf("%w\nThe update may or may not have been applied, and looking failed too: %w", err, lookErr))
		}
		return err
	})
	return svc, err
}

// findUpdate returns the service when DescribeServices shows our update
// (updateShown), nil when the update did not happen.
func (p *Plan) findUpdate(ctx context.Context, s *serviceState, taskDefinition string) (*types.Service, error) {
	out, err := p.client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(p.req.Cluster), Services: []string{s.name}})
	if err != nil {
		return nil, fmt.Errorf("describe service %s: %w", s.name, err)
	}
	for i := range out.Services {
		if svc := &out.Services[i]; updateShown(svc, s, taskDefinition) {
			return svc, nil
		}
	}
	return nil, nil
}

// updateShown reports whether svc, as described, shows our update: a
// PRIMARY deployment of the new revision (default mode) or, when the
// revision stays (force-new-deployment, taskDefinition empty), a PRIMARY
// deployment other than the one before ours.
func updateShown(svc *types.Service, s *serviceState, taskDefinition string) bool {
	d := primaryDeployment(svc)
	switch {
	case d == nil:
		return false
	case taskDefinition != "":
		return aws.ToString(d.TaskDefinition) == taskDefinition
	default:
		return aws.ToString(d.Id) != s.primaryBefore
	}
}
