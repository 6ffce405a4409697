package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
)

// describeServicesBatch is how many services one DescribeServices call accepts.
const describeServicesBatch = 10

// describeServices reads every service, recording a problem for each that is
// missing or not ACTIVE. A missing cluster fails the whole run.
func (p *Plan) describeServices(ctx context.Context) error {
	byName := map[string]*serviceState{}
	for _, s := range p.services {
		byName[s.name] = s
	}
	for batch := range slices.Chunk(p.req.Services, describeServicesBatch) {
		out, err := p.client.DescribeServices(ctx, &ecs.DescribeServicesInput{
			Cluster:  aws.String(p.req.Cluster),
			Services: batch,
		})
		if err != nil {
			if _, ok := errors.AsType[*types.ClusterNotFoundException](err); ok {
				return fmt.Errorf("cluster %q not found in this account and region; check the cluster input and aws-region: %w", p.req.Cluster, err)
			}
			return fmt.Errorf("describe services %s in cluster %s: %w", strings.Join(batch, ", "), p.req.Cluster, err)
		}
		for _, f := range out.Failures {
			name := serviceNameOf(aws.ToString(f.Arn))
			msg := fmt.Sprintf("service %q in cluster %q: %s", name, p.req.Cluster, aws.ToString(f.Reason))
			if aws.ToString(f.Reason) == "MISSING" {
				msg = fmt.Sprintf("service %q not found in cluster %q (DescribeServices: MISSING); check the service and cluster inputs", name, p.req.Cluster)
			}
			if d := aws.ToString(f.Detail); d != "" {
				msg += ": " + d
			}
			if _, ok := byName[name]; !ok {
				return errors.New(msg)
			}
			p.problems[name] = msg
		}
		for _, svc := range out.Services {
			s, ok := byName[nameOfService(&svc)]
			if !ok {
				continue
			}
			if st := aws.ToString(svc.Status); st != "ACTIVE" {
				p.problems[s.name] = fmt.Sprintf("service %q in cluster %q is %s, not ACTIVE: it is being deleted or was deleted, so it cannot be deployed to", s.name, p.req.Cluster, st)
				continue
			}
			s.arn = aws.ToString(svc.ServiceArn)
			s.taskDefinition = aws.ToString(svc.TaskDefinition)
			if d := primaryDeployment(&svc); d != nil {
				s.primaryBefore = aws.ToString(d.Id)
			}
			s.desiredCount = svc.DesiredCount
			s.placement = placementOf(&svc)
			if dc := svc.DeploymentController; dc != nil {
				s.controller = dc.Type
			}
			s.loadBalancers = svc.LoadBalancers
			switch s.controller {
			case types.DeploymentControllerTypeCodeDeploy:
				if msg := p.codeDeployProblem(s); msg != "" {
					p.problems[s.name] = msg
				}
			case types.DeploymentControllerTypeExternal:
				p.problems[s.name] = fmt.Sprintf("service %q uses the EXTERNAL deployment controller: its task sets are deployed by whatever controls them, not by UpdateService or CodeDeploy", s.name)
			}
			for _, e := range svc.Events {
				s.seen[aws.ToString(e.Id)] = true
				if t := aws.ToTime(e.CreatedAt); t.After(s.lastEvent) {
					s.lastEvent = t
				}
			}
		}
	}
	for _, s := range p.services {
		if _, bad := p.problems[s.name]; !bad && s.arn == "" {
			p.problems[s.name] = fmt.Sprintf("service %q in cluster %q: DescribeServices returned neither the service nor a failure", s.name, p.req.Cluster)
		}
	}
	return nil
}

// nameOfService is a described service's name.
func nameOfService(svc *types.Service) string {
	if n := aws.ToString(svc.ServiceName); n != "" {
		return n
	}
	return serviceNameOf(aws.ToString(svc.ServiceArn))
}

// serviceNameOf takes the service name from a service ARN
// (arn:aws:ecs:region:account:service/cluster/name, or the older
// service/name); a bare name is returned as is.
func serviceNameOf(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// readTaskDefinitions reads each service's current task definition, once per
// distinct one, as the base of the new revision (default mode without a
// file) or to check its images (force-new-deployment mode).
func (p *Plan) readTaskDefinitions(ctx context.Context) error {
	if p.req.ForceNewDeployment && p.req.Image.RepositoryURI == "" && p.req.OneOff == nil {
		// Nothing was pushed: there is no tag to check the images against,
		// so the run needs no task definition (nor ecs:DescribeTaskDefinition),
		// unless a one-off task needs its containers and log configuration.
		return nil
	}
	needed := map[string][]*serviceState{}
	for _, s := range p.services {
		if _, bad := p.problems[s.name]; bad {
			continue
		}
		if p.fileBase != nil {
			s.base = p.fileBase
			continue
		}
		needed[s.taskDefinition] = append(needed[s.taskDefinition], s)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		denied error
	)
	for arn, users := range needed {
		wg.Go(func() {
			out, err := p.client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
				TaskDefinition: aws.String(arn),
				Include:        []types.TaskDefinitionField{types.TaskDefinitionFieldTags},
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil && p.req.ForceNewDeployment && accessDenied(err) {
				// Forcing a deployment needs the task definition only to
				// check its images: without it the run goes on unchecked.
				denied = err
				return
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("describe task definition %s: %w", arn, err))
				return
			}
			base := &taskDef{input: fromDescribed(out.TaskDefinition, out.Tags), source: arn}
			for _, s := range users {
				s.base = base
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if denied != nil {
		p.log.notice(policy.CallECSCheckDeployedTag, denied, "the services' task definitions")
	}
	// Check the containers now, before anything changes, so that a service
	// whose containers do not match fails the run with nothing registered
	// (default mode), or whose new tasks would not run the pushed image
	// fails with nothing restarted (force-new-deployment).
	if p.req.ForceNewDeployment {
		for _, s := range p.services {
			if msg := p.pushedTagProblem(s); msg != "" {
				p.problems[s.name] = msg
			}
		}
	} else {
		probe := p.req.Image
		probe.Digest = "sha256:" + strings.Repeat("0", 64)
		for _, s := range p.services {
			if s.base == nil {
				continue
			}
			if _, _, err := render(s.base.input, probe, p.req.ContainerNames); err != nil {
				p.problems[s.name] = fmt.Sprintf("service %q: %v", s.name, err)
			}
		}
	}
	return nil
}

// revisionSet registers one new revision per distinct base, however many
// services share it.
type revisionSet struct {
	p    *Plan
	mu   sync.Mutex
	byID map[*taskDef]*revision
}

type revision struct {
	done chan struct{}
	arn  string
	err  error
	// span is when the registration ran, set before done is closed.
	span Span
}

func newRevisionSet(p *Plan) *revisionSet {
	return &revisionSet{p: p, byID: map[*taskDef]*revision{}}
}

// register registers the revision of base, or waits for the registration
// another service started.
func (rs *revisionSet) register(ctx context.Context, base *taskDef) (string, error) {
	rs.mu.Lock()
	r, ok := rs.byID[base]
	if !ok {
		r = &revision{done: make(chan struct{})}
		rs.byID[base] = r
	}
	rs.mu.Unlock()
	if ok {
		select {
		case <-r.done:
			return r.arn, r.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	defer close(r.done)
	r.span.Start = rs.p.req.Clock.Now()
	defer func() { r.span.End = rs.p.req.Clock.Now() }()
	in, changed, err := render(base.input, rs.p.req.Image, rs.p.req.ContainerNames)
	if err != nil {
		r.err = err
		return "", err
	}
	registered, err := rs.p.registerOnce(ctx, in)
	if action, _, _ := policy.ParseDenied(errorMessage(err)); action == policy.CallECSTagRevision.Action && len(in.Tags) > 0 {
		// Tagging on create is its own permission: without it the revision
		// is registered untagged rather than not at all.
		rs.p.log.notice(policy.CallECSTagRevision, err, "the new revision")
		in.Tags = nil
		registered, err = rs.p.registerOnce(ctx, in)
	}
	if err != nil {
		r.err = fmt.Errorf("register task definition %s: %w", aws.ToString(in.Family), err)
		return "", r.err
	}
	r.arn = aws.ToString(registered.TaskDefinitionArn)
	lines := []string{"Based on " + base.source}
	for _, c := range registered.ContainerDefinitions {
		mark := "unchanged"
		if slices.Contains(changed, aws.ToString(c.Name)) {
			mark = "new image"
		}
		lines = append(lines, fmt.Sprintf("container %s: %s (%s)", aws.ToString(c.Name), aws.ToString(c.Image), mark))
	}
	rs.p.log.group("Registered task definition "+r.arn, lines)
	return r.arn, nil
}

// span is when base's registration ran; zero while it runs or when none did.
func (rs *revisionSet) span(base *taskDef) Span {
	rs.mu.Lock()
	r := rs.byID[base]
	rs.mu.Unlock()
	if r == nil {
		return Span{}
	}
	select {
	case <-r.done:
		return r.span
	default:
		return Span{}
	}
}

// start registers the service's new revision (default mode) and updates the
// service, recording the deployment that UpdateService started.
func (p *Plan) start(ctx context.Context, s *serviceState, revisions *revisionSet) {
	s.result = ServiceResult{Service: s.name, Cluster: p.req.Cluster}
	in := &ecs.UpdateServiceInput{Cluster: aws.String(p.req.Cluster), Service: aws.String(s.name)}
	if p.req.ForceNewDeployment {
		in.ForceNewDeployment = true
		s.result.TaskDefinitionARN = s.taskDefinition
	} else {
		arn, err := revisions.register(ctx, s.base)
		s.result.Registration = revisions.span(s.base)
		if err != nil {
			s.fail(OutcomeFailed, fmt.Errorf("service %q: %w", s.name, err))
			s.result.Outcome = OutcomeNotStarted
			return
		}
		in.TaskDefinition = aws.String(arn)
		s.result.TaskDefinitionARN = arn
	}
	if s.usesCodeDeploy() {
		p.startCodeDeploy(ctx, s)
		return
	}
	s.updatedAt = p.req.Clock.Now()
	s.result.Deployment.Start = s.updatedAt
	svc, err := p.updateOnce(ctx, s, in)
	if err != nil {
		if s.updateSent && ctx.Err() != nil {
			// The request may have reached ECS: whether it applied it is
			// unknown until someone looks.
			s.fail(OutcomeUnknown, fmt.Errorf("update service %q in cluster %q: the run was interrupted before ECS answered; whether the update was applied is unknown", s.name, p.req.Cluster))
			return
		}
		s.fail(OutcomeFailed, fmt.Errorf("update service %q in cluster %q: %w", s.name, p.req.Cluster, err))
		s.result.Outcome = OutcomeNotStarted
		return
	}
	if err := p.adopt(s, svc); err != nil {
		s.fail(OutcomeFailed, err)
		return
	}
	s.result.Outcome = OutcomeNotWaited
	s.log.infof("Started deployment %s of %s", s.result.DeploymentID, s.result.TaskDefinitionARN)
	if s.desiredCount == 0 {
		s.log.warningf("service %q has desiredCount 0: the deployment completes with no task started, so no task ran the new image and nothing proved it starts. Scale the service up (aws ecs update-service --cluster %s --service %s --desired-count N) to run it.", s.name, p.req.Cluster, s.name)
	}
}

// adopt takes the deployment our update started from the service as
// UpdateService (or DescribeServices, after a lost answer) returned it.
func (p *Plan) adopt(s *serviceState, svc *types.Service) error {
	d := primaryDeployment(svc)
	if d == nil {
		return fmt.Errorf("service %q: UpdateService returned no PRIMARY deployment to watch", s.name)
	}
	s.result.DeploymentID = aws.ToString(d.Id)
	if p.req.ForceNewDeployment {
		s.result.TaskDefinitionARN = aws.ToString(d.TaskDefinition)
	} else if aws.ToString(d.TaskDefinition) != s.result.TaskDefinitionARN {
		return fmt.Errorf("service %q: UpdateService's primary deployment %s runs %s, not %s", s.name, s.result.DeploymentID, aws.ToString(d.TaskDefinition), s.result.TaskDefinitionARN)
	}
	s.result.ServiceDeploymentARN = aws.ToString(svc.CurrentServiceDeployment)
	return nil
}

// pushedTagProblem says why forcing a new deployment of s would not run
// the image just pushed: none of its containers names a pushed tag of the
// repository. It is empty when one does, or when nothing was pushed or the
// task definition could not be read.
func (p *Plan) pushedTagProblem(s *serviceState) string {
	repo := p.req.Image.RepositoryURI
	if s.base == nil || repo == "" || len(p.req.Image.Tags) == 0 {
		return ""
	}
	var images, named []string
	for _, c := range s.base.input.ContainerDefinitions {
		img := aws.ToString(c.Image)
		images = append(images, fmt.Sprintf("%s: %s", aws.ToString(c.Name), img))
		r, tag, digest := splitImage(img)
		if r != repo || digest != "" {
			continue
		}
		if slices.Contains(p.req.Image.Tags, tag) {
			return ""
		}
		named = append(named, tag)
	}
	pushed := make([]string, 0, len(p.req.Image.Tags))
	for _, t := range p.req.Image.Tags {
		pushed = append(pushed, repo+":"+t)
	}
	fix := "drop force-new-deployment, so that a new revision is registered with the pushed image pinned by digest"
	if len(named) > 0 {
		fix += fmt.Sprintf(", or push the tag the task definition names (tags: %s)", strings.Join(named, ", "))
	} else {
		fix += fmt.Sprintf(", or point the task definition at %s", pushed[0])
	}
	return fmt.Sprintf("service %q: force-new-deployment would restart %s, and none of its containers uses a tag just pushed (%s); its images: %s. The new tasks would run those images, not the one just pushed. To deploy the pushed image, %s.",
		s.name, s.taskDefinition, strings.Join(pushed, ", "), strings.Join(images, "; "), fix)
}
