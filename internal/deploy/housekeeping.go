package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
)

// Housekeeping is what keep-revisions did after a successful deploy.
type Housekeeping struct {
	// Deregistered are the revisions made INACTIVE.
	Deregistered []string
	// KeptInUse are older revisions kept because a service runs them or a
	// rollback would return to them, each with why.
	KeptInUse map[string]string
	// Err is why housekeeping stopped short; the deploy still succeeded.
	Err error
}

// Housekeeping is what keep-revisions did; nil when it did not run.
func (p *Plan) Housekeeping() *Housekeeping {
	if p == nil {
		return nil
	}
	return p.housekeeping
}

// housekeep keeps the newest KeepRevisions ACTIVE revisions of each family
// the run deployed and deregisters the older ones, except any that a
// service of the cluster runs (in any of its deployments) or that a
// rollback of a deployed service would return to (the revision it ran
// before). When the cluster's services cannot all be read, nothing is
// deregistered. Problems are warnings: the deploy itself succeeded.
func (p *Plan) housekeep(ctx context.Context) {
	h := &Housekeeping{KeptInUse: map[string]string{}}
	p.housekeeping = h
	keep := p.req.KeepRevisions
	inUse, err := p.revisionsInUse(ctx)
	if err != nil {
		h.Err = err
		if denied, ok := errors.AsType[*deniedCall](err); ok {
			p.log.notice(denied.call, denied.err, "the services of cluster "+p.req.Cluster)
			return
		}
		p.log.warningf("keep-revisions: nothing was deregistered, because the services of cluster %s that might run an old revision could not all be read: %v", p.req.Cluster, err)
		return
	}
	var families []string
	for _, s := range p.services {
		if f := familyOf(s.result.TaskDefinitionARN); f != "" && !slices.Contains(families, f) {
			families = append(families, f)
		}
	}
	for _, family := range families {
		active, err := p.activeRevisions(ctx, family)
		if err != nil {
			h.Err = err
			if accessDenied(err) {
				p.log.notice(policy.CallECSListRevisions, err, "*")
				return
			}
			p.log.warningf("keep-revisions: list the revisions of %s: %v; none of them was deregistered", family, err)
			continue
		}
		if len(active) <= keep {
			p.log.infof("keep-revisions: %s has %d ACTIVE revisions, no more than %d: none deregistered", family, len(active), keep)
			continue
		}
		var gone []string
		for _, arn := range active[keep:] {
			if why, used := inUse[arn]; used {
				h.KeptInUse[arn] = why
				p.log.infof("keep-revisions: kept %s: %s", arn, why)
				continue
			}
			_, err := p.client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(arn)})
			if err != nil {
				h.Err = err
				if accessDenied(err) {
					p.log.notice(policy.CallECSDeregisterRevisions, err, arn)
					return
				}
				p.log.warningf("keep-revisions: deregister %s: %v; the older revisions were left as they are", arn, err)
				break
			}
			h.Deregistered = append(h.Deregistered, arn)
			gone = append(gone, revisionOf(arn))
		}
		if len(gone) > 0 {
			p.log.infof("keep-revisions: deregistered %d revision(s) of %s: %s; kept the newest %d", len(gone), family, strings.Join(gone, ", "), keep)
		}
	}
}

// revisionsInUse maps every revision that must stay ACTIVE to why: each
// revision any deployment of any service of the cluster runs, and the one
// each deployed service ran before this run (where a rollback returns).
func (p *Plan) revisionsInUse(ctx context.Context) (map[string]string, error) {
	inUse := map[string]string{}
	for _, s := range p.services {
		if s.taskDefinition != "" && s.taskDefinition != s.result.TaskDefinitionARN {
			inUse[s.taskDefinition] = fmt.Sprintf("service %s ran it before this deploy, and a rollback returns to it", s.name)
		}
	}
	var arns []string
	pages := ecs.NewListServicesPaginator(p.client, &ecs.ListServicesInput{Cluster: aws.String(p.req.Cluster), MaxResults: aws.Int32(100)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, denial(policy.CallECSListServicesInUse, fmt.Errorf("list services: %w", err))
		}
		arns = append(arns, page.ServiceArns...)
	}
	for batch := range slices.Chunk(arns, describeServicesBatch) {
		out, err := p.client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(p.req.Cluster), Services: batch})
		if err != nil {
			return nil, denial(policy.CallECSReadServicesInUse, fmt.Errorf("describe services: %w", err))
		}
		if len(out.Failures) > 0 {
			return nil, fmt.Errorf("describe services: %s", failureReasons(out.Failures))
		}
		for _, svc := range out.Services {
			name := nameOfService(&svc)
			use := func(arn, how string) {
				if _, known := inUse[arn]; arn != "" && !known {
					inUse[arn] = fmt.Sprintf("service %s runs it (%s)", name, how)
				}
			}
			use(aws.ToString(svc.TaskDefinition), "its task definition")
			for _, d := range svc.Deployments {
				use(aws.ToString(d.TaskDefinition), strings.ToLower(aws.ToString(d.Status))+" deployment "+aws.ToString(d.Id))
			}
			for _, ts := range svc.TaskSets {
				use(aws.ToString(ts.TaskDefinition), "task set "+aws.ToString(ts.Id))
			}
		}
	}
	return inUse, nil
}

// deniedCall is an optional call that was denied.
type deniedCall struct {
	call policy.Call
	err  error
}

func (d *deniedCall) Error() string { return d.err.Error() }
func (d *deniedCall) Unwrap() error { return d.err }

// denial marks err as the denial of call when it is one.
func denial(call policy.Call, err error) error {
	if accessDenied(err) {
		return &deniedCall{call: call, err: err}
	}
	return err
}

// activeRevisions lists a family's ACTIVE revisions, newest first: ECS
// sorts them by family and then revision, descending as asked.
func (p *Plan) activeRevisions(ctx context.Context, family string) ([]string, error) {
	var arns []string
	pages := ecs.NewListTaskDefinitionsPaginator(p.client, &ecs.ListTaskDefinitionsInput{
		FamilyPrefix: aws.String(family), Status: types.TaskDefinitionStatusActive, Sort: types.SortOrderDesc, MaxResults: aws.Int32(100),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, arn := range page.TaskDefinitionArns {
			// familyPrefix names the whole family, but what comes back is
			// checked, not trusted.
			if familyOf(arn) == family {
				arns = append(arns, arn)
			}
		}
	}
	return arns, nil
}

// familyOf is the family of a task definition ARN
// (arn:...:task-definition/FAMILY:REVISION); "" when it is none.
func familyOf(arn string) string {
	_, rest, ok := strings.Cut(arn, ":task-definition/")
	if !ok {
		return ""
	}
	family, _, _ := strings.Cut(rest, ":")
	return family
}

// revisionOf is FAMILY:REVISION of a task definition ARN.
func revisionOf(arn string) string {
	_, rest, _ := strings.Cut(arn, ":task-definition/")
	return rest
}
