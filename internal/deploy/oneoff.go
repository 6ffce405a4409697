package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/retry"
)

// LogsAPI is the part of the CloudWatch Logs client that following a task's
// output uses; *cloudwatchlogs.Client implements it.
type LogsAPI interface {
	GetLogEvents(ctx context.Context, in *cloudwatchlogs.GetLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetLogEventsOutput, error)
}

var _ LogsAPI = (*cloudwatchlogs.Client)(nil)

// OneOff is a one-off task run before the services are updated. Empty
// fields take the first service's own settings.
type OneOff struct {
	// Container gets Command, and its exit code is the task's; empty: the
	// task definition's first essential container.
	Container string
	// Command replaces the container's command; nil keeps it.
	Command []string
	// LaunchType, or else CapacityProviders, says where the task runs.
	LaunchType        types.LaunchType
	CapacityProviders []types.CapacityProviderStrategyItem
	// Subnets, SecurityGroups and AssignPublicIP replace the service's
	// awsvpc settings, each on its own.
	Subnets        []string
	SecurityGroups []string
	AssignPublicIP types.AssignPublicIp
	// StartedBy is the task's startedBy.
	StartedBy string
}

// OneOffResult is what became of the one-off task.
type OneOffResult struct {
	// TaskARN is the task's ARN; empty when RunTask started none.
	TaskARN string
	// TaskDefinitionARN is the revision it ran.
	TaskDefinitionARN string
	// Container is the container whose exit code ExitCode is.
	Container string
	// ExitCode is that container's exit code; nil when it never ran.
	ExitCode *int32
	// StopCode and StoppedReason are ECS's.
	StopCode      string
	StoppedReason string
	// Succeeded is set when every essential container exited 0.
	Succeeded bool
}

// placement is where a service runs its tasks.
type placement struct {
	launchType        types.LaunchType
	capacityProviders []types.CapacityProviderStrategyItem
	platformVersion   string
	network           *types.NetworkConfiguration
}

// placementOf reads a described service's placement.
func placementOf(svc *types.Service) placement {
	p := placement{launchType: svc.LaunchType, capacityProviders: svc.CapacityProviderStrategy, network: svc.NetworkConfiguration}
	if p.launchType == types.LaunchTypeFargate || len(p.capacityProviders) > 0 {
		p.platformVersion = aws.ToString(svc.PlatformVersion)
	}
	return p
}

// Task polling: the first look comes soon after RunTask, later ones no
// more than taskPollMax apart, so that the log lines stream as they come.
const (
	taskPollMin = time.Second
	taskPollMax = 3 * time.Second
	// keptLogLines is how many of a container's last lines a failure quotes.
	keptLogLines = 20
	// logPagesPerPoll bounds the pages of one stream read in one poll.
	logPagesPerPoll = 10
)

// runOneOff runs the one-off task of the first service's new revision (or,
// in force-new-deployment mode, its current one), follows it until it
// stops, streaming its log lines, and returns an error, with nothing
// updated, unless every essential container exited 0.
func (p *Plan) runOneOff(ctx context.Context, revisions *revisionSet) error {
	s := p.services[0]
	res := &OneOffResult{}
	p.oneOff = res
	tdARN := s.taskDefinition
	if !p.req.ForceNewDeployment {
		arn, err := revisions.register(ctx, s.base)
		if err != nil {
			return fmt.Errorf("one-off task: %w", err)
		}
		tdARN = arn
	}
	res.TaskDefinitionARN = tdARN
	in, target, err := p.runTaskInput(s, tdARN)
	if err != nil {
		return err
	}
	res.Container = target
	command := "its own command"
	if in.Overrides != nil {
		command = fmt.Sprintf("%q", in.Overrides.ContainerOverrides[0].Command)
	}
	p.log.infof("Running one-off task of %s in cluster %s (container %s, %s) before any service is updated", tdARN, p.req.Cluster, target, command)
	out, err := p.client.RunTask(ctx, in)
	if err != nil {
		if accessDenied(err) {
			return fmt.Errorf("one-off task: not allowed to run %s (%w); allow ecs:RunTask on the task definition and iam:PassRole on its task and execution roles. Nothing was deployed", tdARN, err)
		}
		return fmt.Errorf("one-off task: run task %s: %w. Nothing was deployed", tdARN, err)
	}
	if len(out.Tasks) == 0 {
		var reasons []string
		for _, f := range out.Failures {
			reasons = append(reasons, strings.TrimSpace(aws.ToString(f.Reason)+" "+aws.ToString(f.Detail)))
		}
		return fmt.Errorf("one-off task: ECS could not start a task of %s: %s. Nothing was deployed", tdARN, strings.Join(reasons, "; "))
	}
	task := out.Tasks[0]
	res.TaskARN = aws.ToString(task.TaskArn)
	p.log.infof("Started task %s", res.TaskARN)
	followers := p.logFollowers(s, task)
	stopped, err := p.followTask(ctx, res.TaskARN, followers)
	if err != nil {
		return err
	}
	return p.judgeOneOff(res, stopped, followers)
}

// runTaskInput builds the RunTask request: the revision, the first
// service's placement, and the OneOff's overrides. It returns the name of
// the container whose exit code counts.
func (p *Plan) runTaskInput(s *serviceState, tdARN string) (*ecs.RunTaskInput, string, error) {
	o := p.req.OneOff
	in := &ecs.RunTaskInput{
		Cluster:        aws.String(p.req.Cluster),
		TaskDefinition: aws.String(tdARN),
		Count:          aws.Int32(1),
		StartedBy:      aws.String(o.StartedBy),
	}
	target := o.Container
	if s.base != nil {
		names := make([]string, 0, len(s.base.input.ContainerDefinitions))
		for _, c := range s.base.input.ContainerDefinitions {
			name := aws.ToString(c.Name)
			names = append(names, name)
			if target == "" && (c.Essential == nil || *c.Essential) {
				target = name
			}
		}
		if o.Container != "" && !slices.Contains(names, o.Container) {
			return nil, "", fmt.Errorf("one-off task: run-task-container %q is not a container of %s (its containers: %s). Nothing was deployed", o.Container, tdARN, strings.Join(names, ", "))
		}
	}
	if o.Command != nil {
		if target == "" {
			return nil, "", fmt.Errorf("one-off task: the task definition %s could not be read to find its first essential container: name the container in run-task-container. Nothing was deployed", tdARN)
		}
		in.Overrides = &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String(target), Command: o.Command}}}
	}
	pl := s.placement
	switch {
	case o.LaunchType != "":
		in.LaunchType = o.LaunchType
	case len(o.CapacityProviders) > 0:
		in.CapacityProviderStrategy = o.CapacityProviders
	case len(pl.capacityProviders) > 0:
		in.CapacityProviderStrategy = pl.capacityProviders
	default:
		in.LaunchType = pl.launchType
	}
	if (in.LaunchType == types.LaunchTypeFargate || len(in.CapacityProviderStrategy) > 0) && pl.platformVersion != "" {
		in.PlatformVersion = aws.String(pl.platformVersion)
	}
	var vpc types.AwsVpcConfiguration
	if pl.network != nil && pl.network.AwsvpcConfiguration != nil {
		vpc = *pl.network.AwsvpcConfiguration
	}
	if len(o.Subnets) > 0 {
		vpc.Subnets = o.Subnets
	}
	if len(o.SecurityGroups) > 0 {
		vpc.SecurityGroups = o.SecurityGroups
	}
	if o.AssignPublicIP != "" {
		vpc.AssignPublicIp = o.AssignPublicIP
	}
	if len(vpc.Subnets) > 0 {
		in.NetworkConfiguration = &types.NetworkConfiguration{AwsvpcConfiguration: &vpc}
	}
	return in, target, nil
}

// logFollower reads one container's awslogs stream as it grows.
type logFollower struct {
	container, group, stream string
	// prefix marks the lines when several containers are followed.
	prefix string
	token  *string
	// last are the latest lines, for a failure to quote.
	last []string
	// done is set once following failed for good (not allowed, say).
	done bool
}

// logFollowers finds the task's containers whose logs go to CloudWatch
// Logs (the awslogs driver, in the run's region, with a stream prefix:
// their stream is PREFIX/CONTAINER/TASK-ID).
func (p *Plan) logFollowers(s *serviceState, task types.Task) []*logFollower {
	if p.req.Logs == nil || s.base == nil {
		return nil
	}
	arn := aws.ToString(task.TaskArn)
	taskID := arn[strings.LastIndex(arn, "/")+1:]
	var out []*logFollower
	for _, c := range s.base.input.ContainerDefinitions {
		lc := c.LogConfiguration
		if lc == nil || lc.LogDriver != types.LogDriverAwslogs {
			continue
		}
		group, prefix := lc.Options["awslogs-group"], lc.Options["awslogs-stream-prefix"]
		region := lc.Options["awslogs-region"]
		name := aws.ToString(c.Name)
		switch {
		case group == "":
			continue
		case prefix == "":
			p.log.warningf("container %s logs to %s without awslogs-stream-prefix, so its stream has no name this run can know: its log lines are not shown. Set awslogs-stream-prefix to follow them.", name, group)
			continue
		case region != "" && p.req.Region != "" && region != p.req.Region:
			p.log.warningf("container %s logs to %s in %s, not in aws-region %s: its log lines are not shown.", name, group, region, p.req.Region)
			continue
		}
		out = append(out, &logFollower{container: name, group: group, stream: prefix + "/" + name + "/" + taskID})
	}
	if len(out) > 1 {
		for _, f := range out {
			f.prefix = "[" + f.container + "] "
		}
	}
	return out
}

// followTask polls the task until it stops, printing its status changes
// and its containers' new log lines; it returns the stopped task. It
// stops the task when wait-for-minutes runs out, and leaves it running
// when the run is interrupted.
func (p *Plan) followTask(parent context.Context, taskARN string, followers []*logFollower) (types.Task, error) {
	ctx, cancel := context.WithTimeout(parent, p.req.WaitTimeout)
	defer cancel()
	interval, lastStatus := taskPollMin, ""
	var refund func() error
	for {
		out, err := p.client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(p.req.Cluster), Tasks: []string{taskARN}})
		if err == nil && len(out.Tasks) == 0 {
			err = fmt.Errorf("DescribeTasks does not find it: %s", failureReasons(out.Failures))
		}
		switch {
		case ctx.Err() != nil:
			return types.Task{}, p.taskCutShort(parent, taskARN, lastStatus)
		case err != nil && retry.Classify(err).Transient():
			if refund, err = p.req.Retry.GetToken(ctx, retry.RetryCost); err != nil {
				return types.Task{}, fmt.Errorf("one-off task %s: describe task: %w. Nothing was deployed; the task may still run", taskARN, err)
			}
		case err != nil:
			return types.Task{}, fmt.Errorf("one-off task %s: describe task: %w. Nothing was deployed; the task may still run", taskARN, err)
		default:
			if refund != nil {
				_ = refund()
				refund = nil
			}
			task := out.Tasks[0]
			status := aws.ToString(task.LastStatus)
			changed := p.readLogs(ctx, followers)
			if status != lastStatus {
				p.log.infof("Task %s", status)
				lastStatus, changed = status, true
			}
			if status == "STOPPED" {
				p.readLogs(ctx, followers)
				return task, nil
			}
			if changed {
				interval = taskPollMin
			} else {
				interval = min(interval*3/2, taskPollMax)
			}
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return types.Task{}, p.taskCutShort(parent, taskARN, lastStatus)
		case <-timer.C:
		}
	}
}

func failureReasons(fs []types.Failure) string {
	var rs []string
	for _, f := range fs {
		rs = append(rs, aws.ToString(f.Reason))
	}
	if len(rs) == 0 {
		return "no task and no failure"
	}
	return strings.Join(rs, ", ")
}

// taskCutShort reports a one-off task the run stopped following: after
// wait-for-minutes it is stopped (the run fails, so its result would
// count for nothing); after an interruption it goes on.
func (p *Plan) taskCutShort(parent context.Context, taskARN, lastStatus string) error {
	follow := fmt.Sprintf("aws ecs describe-tasks --cluster %s --tasks %s", p.req.Cluster, taskARN)
	if p.req.Region != "" {
		follow += " --region " + p.req.Region
	}
	if parent.Err() != nil {
		return fmt.Errorf("one-off task %s: the run was interrupted while it was %s; it goes on in ECS, and no service was updated. Follow it: %s", taskARN, lastStatus, follow)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 10*time.Second)
	defer cancel()
	reason := fmt.Sprintf("oidc-ecs-deploy: not stopped within wait-for-minutes (%s)", p.req.WaitTimeout)
	_, err := p.client.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(p.req.Cluster), Task: aws.String(taskARN), Reason: aws.String(reason)})
	stopped := "it was stopped"
	if accessDenied(err) {
		p.log.notice(policy.CallECSStopOneOffTask, err, taskARN)
	}
	if err != nil {
		stopped = fmt.Sprintf("stopping it failed too (%v), so it may still run: %s", err, follow)
	}
	return fmt.Errorf("one-off task %s had not stopped after %s (it was %s): %s, and no service was updated. Raise wait-for-minutes if it needs longer", taskARN, p.req.WaitTimeout, lastStatus, stopped)
}

// readLogs prints the new lines of every followed stream; it reports
// whether there were any.
func (p *Plan) readLogs(ctx context.Context, followers []*logFollower) bool {
	printed := false
	for _, f := range followers {
		for range logPagesPerPoll {
			if f.done {
				break
			}
			out, err := p.req.Logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
				LogGroupName: aws.String(f.group), LogStreamName: aws.String(f.stream), StartFromHead: aws.Bool(true), NextToken: f.token,
			})
			if err != nil {
				p.logReadFailed(f, err)
				break
			}
			for _, ev := range out.Events {
				msg := strings.TrimRight(aws.ToString(ev.Message), "\r\n")
				p.log.infof("%s%s", f.prefix, msg)
				f.last = append(f.last, msg)
				if len(f.last) > keptLogLines {
					f.last = f.last[1:]
				}
			}
			moved := aws.ToString(out.NextForwardToken) != aws.ToString(f.token)
			f.token = out.NextForwardToken
			printed = printed || len(out.Events) > 0
			if len(out.Events) == 0 || !moved {
				break
			}
		}
	}
	return printed
}

// logReadFailed decides what a failed GetLogEvents means: a stream not
// there yet is read again later; a denial or another error ends following
// it, said once.
func (p *Plan) logReadFailed(f *logFollower, err error) {
	if _, ok := errors.AsType[*logtypes.ResourceNotFoundException](err); ok {
		return
	}
	if retry.Classify(err).Transient() {
		return
	}
	f.done = true
	if accessDenied(err) {
		p.log.notice(policy.CallLogsReadOneOffTask, err, "log group "+f.group)
		return
	}
	p.log.warningf("Reading the log stream %s of %s failed: %v; the task's log lines are not shown.", f.stream, f.group, err)
}

// judgeOneOff reads the stopped task: every essential container must have
// exited 0. The error quotes the exit code, ECS's reason and the last
// log lines.
func (p *Plan) judgeOneOff(res *OneOffResult, task types.Task, followers []*logFollower) error {
	res.StopCode, res.StoppedReason = string(task.StopCode), aws.ToString(task.StoppedReason)
	essential := map[string]bool{}
	for _, s := range p.services[:1] {
		if s.base != nil {
			for _, c := range s.base.input.ContainerDefinitions {
				essential[aws.ToString(c.Name)] = c.Essential == nil || *c.Essential
			}
		}
	}
	var problems []string
	for _, c := range task.Containers {
		name := aws.ToString(c.Name)
		if name == res.Container || res.Container == "" {
			res.Container, res.ExitCode = name, c.ExitCode
		}
		isEssential, known := essential[name]
		if known && !isEssential {
			continue
		}
		problem := ""
		switch {
		case c.ExitCode == nil:
			problem = fmt.Sprintf("container %s never ran", name)
		case *c.ExitCode != 0:
			problem = fmt.Sprintf("container %s exited with code %d", name, *c.ExitCode)
		default:
			continue
		}
		if r := aws.ToString(c.Reason); r != "" {
			problem += " (" + r + ")"
		}
		problems = append(problems, problem)
	}
	code := "no exit code"
	if res.ExitCode != nil {
		code = "exit code " + strconv.Itoa(int(*res.ExitCode))
	}
	if len(problems) == 0 {
		res.Succeeded = true
		p.log.infof("One-off task %s succeeded: container %s, %s", res.TaskARN, res.Container, code)
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "one-off task %s failed: %s; ECS stopped it: %s: %s. Nothing was deployed: no service was updated.",
		res.TaskARN, strings.Join(problems, "; "), res.StopCode, res.StoppedReason)
	for _, f := range followers {
		if len(f.last) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\nThe last lines of %s (%s %s):", f.container, f.group, f.stream)
		for _, line := range f.last {
			b.WriteString("\n  " + line)
		}
	}
	return errors.New(b.String())
}
