package ecs

import (
	"cmp"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/sim"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/taskdef"
)

// Command is what a container running one command does in a task that
// RunTask started: it writes Logs (to its awslogs stream, when it has
// one), evenly spread over Seconds, then exits with ExitCode.
type Command struct {
	// Command is the container's command, argument by argument; empty
	// matches a container that runs its image's default command.
	Command []string `json:"command"`
	// Image, when set, limits the entry to containers of that image: a
	// full reference or its repository:tag tail.
	Image string `json:"image,omitempty"`
	// ExitCode is the code the container exits with.
	ExitCode int `json:"exitCode"`
	// Seconds is how long it runs, scaled by TimeScale; TaskStartSeconds
	// (2) when 0.
	Seconds float64 `json:"seconds,omitempty"`
	// Logs are the lines it writes.
	Logs []string `json:"logs,omitempty"`
}

// runTaskInput is RunTask's request, as far as the sandbox reads it.
type runTaskInput struct {
	Cluster                  string                 `json:"cluster"`
	TaskDefinition           string                 `json:"taskDefinition"`
	Count                    *int                   `json:"count"`
	StartedBy                string                 `json:"startedBy"`
	Group                    string                 `json:"group"`
	LaunchType               string                 `json:"launchType"`
	CapacityProviderStrategy []capacityProviderItem `json:"capacityProviderStrategy"`
	NetworkConfiguration     *networkConfiguration  `json:"networkConfiguration"`
	Overrides                *taskOverride          `json:"overrides"`
	PlatformVersion          string                 `json:"platformVersion"`
	ClientToken              string                 `json:"clientToken"`
	Tags                     []taskdef.Tag          `json:"tags"`
}

type capacityProviderItem struct {
	CapacityProvider string `json:"capacityProvider"`
	Weight           int    `json:"weight"`
	Base             int    `json:"base"`
}

// taskOverride is RunTask's overrides: the container overrides the sandbox
// acts on (command), and the rest echoed back as given.
type taskOverride struct {
	ContainerOverrides []containerOverride `json:"containerOverrides,omitempty"`
	TaskRoleArn        string              `json:"taskRoleArn,omitempty"`
	ExecutionRoleArn   string              `json:"executionRoleArn,omitempty"`
	CPU                string              `json:"cpu,omitempty"`
	Memory             string              `json:"memory,omitempty"`
}

type containerOverride struct {
	Name        string           `json:"name"`
	Command     []string         `json:"command,omitempty"`
	Environment []map[string]any `json:"environment,omitempty"`
}

// startedByPattern is what ECS accepts as startedBy.
var startedByPattern = regexp.MustCompile(`^[A-Za-z0-9_/-]{1,128}$`)

// maxRunTaskCount is how many tasks one RunTask call may start.
const maxRunTaskCount = 10

// runTask starts standalone tasks of a task definition revision, each
// running its containers' programs (Settings.Commands). A clientToken seen
// before answers with the tasks it started, as ECS's idempotency does.
func (e *Service) runTask(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in runTaskInput
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	if in.TaskDefinition == "" {
		return nil, taskdef.InvalidParameter("TaskDefinition cannot be empty.")
	}
	cref, apiErr := e.clusterRef(a, in.Cluster)
	if apiErr != nil {
		return nil, apiErr
	}
	ref, td, apiErr := e.taskDefRef(a, in.TaskDefinition)
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := e.authorize(c, "ecs:RunTask", ref.arn, map[string]string{"ecs:cluster": cref.arn}); apiErr != nil {
		return nil, apiErr
	}
	cl, apiErr := e.clusterOf(a, cref)
	if apiErr != nil {
		return nil, apiErr
	}
	if td == nil {
		return nil, taskdef.ClientError("TaskDefinition not found.")
	}
	if td.Status != "ACTIVE" {
		return nil, taskdef.ClientError("TaskDefinition is inactive")
	}
	if in.ClientToken != "" {
		if len(in.ClientToken) > 64 {
			return nil, taskdef.InvalidParameter("clientToken must be at most 64 characters.")
		}
		if started, seen := a.runTokens[in.ClientToken]; seen {
			tasks := []taskJSON{}
			for _, t := range started {
				tasks = append(tasks, e.taskJSON(t))
			}
			return map[string]any{"tasks": tasks, "failures": []failure{}}, nil
		}
	}
	count := 1
	if in.Count != nil {
		count = *in.Count
	}
	if count < 1 || count > maxRunTaskCount {
		return nil, taskdef.InvalidParameter("Count must be between 1 and %d.", maxRunTaskCount)
	}
	if in.StartedBy != "" && !startedByPattern.MatchString(in.StartedBy) {
		return nil, taskdef.InvalidParameter("startedBy may hold up to 128 letters, numbers, hyphens, forward slashes and underscores.")
	}
	launchType, provider, apiErr := placement(in)
	if apiErr != nil {
		return nil, apiErr
	}
	if launchType == "FARGATE" && !slices.Contains(td.Compatibilities, "FARGATE") {
		return nil, taskdef.ClientError("Task definition does not support launch_type FARGATE.")
	}
	if apiErr := checkNetwork(td, in.NetworkConfiguration); apiErr != nil {
		return nil, apiErr
	}
	commands := map[string][]string{}
	if o := in.Overrides; o != nil {
		for _, co := range o.ContainerOverrides {
			if !slices.ContainsFunc(td.Containers, func(tc taskdef.Container) bool { return tc.Name == co.Name }) {
				return nil, taskdef.InvalidParameter("Override for container named %s is not a container in the TaskDefinition.", co.Name)
			}
			if co.Command != nil {
				commands[co.Name] = co.Command
			}
		}
	}
	// Starting the task passes its roles to ECS tasks, as naming them in a
	// task definition does.
	taskRole, executionRole := stringMember(td.Body, "taskRoleArn"), stringMember(td.Body, "executionRoleArn")
	if o := in.Overrides; o != nil {
		taskRole, executionRole = cmp.Or(o.TaskRoleArn, taskRole), cmp.Or(o.ExecutionRoleArn, executionRole)
	}
	if apiErr := e.passRoles(c, taskRole, executionRole); apiErr != nil {
		return nil, apiErr
	}
	if len(in.Tags) > 0 {
		if apiErr := e.authorize(c, "ecs:TagResource", cref.prefix+"task/"+cl.Name+"/*", map[string]string{"ecs:CreateAction": "RunTask"}); apiErr != nil {
			return nil, apiErr
		}
	}

	group := in.Group
	if group == "" {
		group = "family:" + td.Family
	}
	var overrides any
	if in.Overrides != nil {
		overrides = in.Overrides
	} else {
		overrides = map[string]any{"containerOverrides": []any{}, "inferenceAcceleratorOverrides": []any{}}
	}
	spec := sim.StandaloneSpec{
		Account: a.id, Cluster: cl, TaskDef: td, Group: group, StartedBy: in.StartedBy,
		LaunchType: launchType, CapacityProvider: provider, Overrides: overrides,
		Timing: e.settings.timing(nil),
	}
	for i, tc := range td.Containers {
		command, overridden := commands[tc.Name]
		if !overridden {
			command = containerStrings(td.Body, i, "command")
		}
		spec.Containers = append(spec.Containers, sim.StandaloneContainer{
			Spec: tc, Program: e.program(a, tc.Image, command), Logs: e.awsLogs(td.Body, i),
		})
	}
	tasks := []taskJSON{}
	var started []*sim.Task
	for range count {
		t := e.scheduler.RunTask(spec, now)
		tasks = append(tasks, e.taskJSON(t))
		started = append(started, t)
	}
	if in.ClientToken != "" {
		a.runTokens[in.ClientToken] = started
	}
	return map[string]any{"tasks": tasks, "failures": []failure{}}, nil
}

// placement reads where the task runs: the launch type, or a capacity
// provider strategy (FARGATE or FARGATE_SPOT, the providers the sandbox's
// clusters have); FARGATE when neither is given.
func placement(in runTaskInput) (launchType, provider string, apiErr *awsproto.Error) {
	if in.LaunchType != "" && len(in.CapacityProviderStrategy) > 0 {
		return "", "", taskdef.InvalidParameter("Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
	}
	if len(in.CapacityProviderStrategy) > 0 {
		weighted := ""
		for _, item := range in.CapacityProviderStrategy {
			if item.CapacityProvider != "FARGATE" && item.CapacityProvider != "FARGATE_SPOT" {
				return "", "", taskdef.InvalidParameter("The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.")
			}
			if item.Weight < 0 || item.Weight > 1000 || item.Base < 0 || item.Base > 100000 {
				return "", "", taskdef.InvalidParameter("Capacity provider weight must be between 0 and 1000, and base between 0 and 100000.")
			}
			if weighted == "" && (item.Weight > 0 || item.Base > 0) {
				weighted = item.CapacityProvider
			}
		}
		if weighted == "" {
			return "", "", taskdef.InvalidParameter("The capacity provider strategy must contain at least one capacity provider with a weight greater than zero.")
		}
		return "FARGATE", weighted, nil
	}
	switch in.LaunchType {
	case "", "FARGATE":
		return "FARGATE", "", nil
	case "EC2", "EXTERNAL", "MANAGED_INSTANCES":
		return "", "", taskdef.InvalidParameter("No Container Instances were found in your cluster.")
	}
	return "", "", taskdef.InvalidParameter("launchType must be one of EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES.")
}

// checkNetwork checks a task's network configuration against its task
// definition's network mode.
func checkNetwork(td *taskdef.Revision, nc *networkConfiguration) *awsproto.Error {
	if td.Body["networkMode"] != "awsvpc" {
		if nc != nil && nc.AwsvpcConfiguration != nil {
			return taskdef.InvalidParameter("Network Configuration is not valid for the given networkMode of this task definition.")
		}
		return nil
	}
	if nc == nil || nc.AwsvpcConfiguration == nil {
		return taskdef.InvalidParameter("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
	}
	vpc := nc.AwsvpcConfiguration
	if len(vpc.Subnets) == 0 {
		return taskdef.InvalidParameter("subnets can not be empty.")
	}
	if len(vpc.Subnets) > 16 || len(vpc.SecurityGroups) > 5 {
		return taskdef.InvalidParameter("At most 16 subnets and 5 security groups are allowed.")
	}
	for _, sn := range vpc.Subnets {
		if !strings.HasPrefix(sn, "subnet-") {
			return taskdef.InvalidParameter("Error retrieving subnet information for [%s]: The subnet ID '%s' is malformed (Service: AmazonEC2; Status Code: 400; Error Code: InvalidSubnetID.Malformed)", sn, sn)
		}
	}
	for _, sg := range vpc.SecurityGroups {
		if !strings.HasPrefix(sg, "sg-") {
			return taskdef.InvalidParameter("Error retrieving security group information for [%s]: The security group '%s' does not exist (Service: AmazonEC2; Status Code: 400; Error Code: InvalidGroup.NotFound)", sg, sg)
		}
	}
	if p := vpc.AssignPublicIP; p != "" && p != "ENABLED" && p != "DISABLED" {
		return taskdef.InvalidParameter("assignPublicIp must be ENABLED or DISABLED.")
	}
	return nil
}

// program is what a container of image running command does, as the
// account's Commands say; a command listed nowhere runs briefly and exits 0.
func (e *Service) program(a *account, image string, command []string) sim.Program {
	timing := e.settings.timing(nil)
	for _, c := range a.commands {
		if !slices.Equal(c.Command, command) && (len(c.Command) > 0 || len(command) > 0) {
			continue
		}
		if c.Image != "" && c.Image != image && !strings.HasSuffix(image, "/"+c.Image) {
			continue
		}
		runFor := timing.Start
		if c.Seconds > 0 {
			runFor = max(time.Millisecond, seconds(c.Seconds*e.settings.scale()))
		}
		return sim.Program{ExitCode: c.ExitCode, RunFor: runFor, Logs: slices.Clone(c.Logs)}
	}
	return sim.Program{RunFor: timing.Start}
}

// awsLogs reads the i-th container's awslogs configuration from a task
// definition; nil for another driver, or awslogs to another region.
func (e *Service) awsLogs(body map[string]any, i int) *sim.AWSLogs {
	c := containerMember(body, i)
	lc, _ := c["logConfiguration"].(map[string]any)
	if lc == nil || lc["logDriver"] != "awslogs" {
		return nil
	}
	opts, _ := lc["options"].(map[string]any)
	str := func(k string) string { s, _ := opts[k].(string); return s }
	if r := str("awslogs-region"); r != "" && r != e.cfg.Region {
		return nil
	}
	return &sim.AWSLogs{Group: str("awslogs-group"), StreamPrefix: str("awslogs-stream-prefix"), CreateGroup: str("awslogs-create-group") == "true"}
}

// containerMember is the i-th container definition of a task definition's body.
func containerMember(body map[string]any, i int) map[string]any {
	defs, _ := body["containerDefinitions"].([]any)
	if i >= len(defs) {
		return nil
	}
	c, _ := defs[i].(map[string]any)
	return c
}

// containerStrings reads a list-of-strings member (command, entryPoint)
// of the i-th container definition.
func containerStrings(body map[string]any, i int, member string) []string {
	raw, _ := containerMember(body, i)[member].([]any)
	var out []string
	for _, v := range raw {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func stringMember(body map[string]any, member string) string {
	s, _ := body[member].(string)
	return s
}

// stopTask stops a task: a standalone one ends, a service's is replaced.
func (e *Service) stopTask(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		Cluster string `json:"cluster"`
		Task    string `json:"task"`
		Reason  string `json:"reason"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	if in.Task == "" {
		return nil, taskdef.InvalidParameter("Task cannot be empty.")
	}
	cref, apiErr := e.clusterRef(a, in.Cluster)
	if apiErr != nil {
		return nil, apiErr
	}
	ref, apiErr := e.inCluster(a, cref, in.Task, "task")
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := e.authorize(c, "ecs:StopTask", ref.arn, map[string]string{"ecs:cluster": cref.arn}); apiErr != nil {
		return nil, apiErr
	}
	cl, apiErr := e.clusterOf(a, cref)
	if apiErr != nil {
		return nil, apiErr
	}
	if len(in.Reason) > 255 {
		return nil, taskdef.InvalidParameter("Reason must be at most 255 characters.")
	}
	t := cl.Tasks[ref.name]
	if t == nil || !ref.ours {
		return nil, taskdef.InvalidParameter("The referenced task was not found.")
	}
	e.scheduler.StopTask(t, now, in.Reason)
	return map[string]any{"task": e.taskJSON(t)}, nil
}

// listServices lists a cluster's services (not the INACTIVE ones), ten a
// page unless maxResults says otherwise.
func (e *Service) listServices(c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error) {
	var in struct {
		Cluster            string `json:"cluster"`
		LaunchType         string `json:"launchType"`
		SchedulingStrategy string `json:"schedulingStrategy"`
		NextToken          string `json:"nextToken"`
		MaxResults         *int   `json:"maxResults"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	cref, apiErr := e.clusterRef(a, in.Cluster)
	if apiErr != nil {
		return nil, apiErr
	}
	// ListServices names no resource in IAM; ecs:cluster narrows it.
	if apiErr := e.authorize(c, "ecs:ListServices", "*", map[string]string{"ecs:cluster": cref.arn}); apiErr != nil {
		return nil, apiErr
	}
	cl, apiErr := e.clusterOf(a, cref)
	if apiErr != nil {
		return nil, apiErr
	}
	var arns []string
	for _, svc := range cl.Services {
		if svc.Status == "INACTIVE" || (in.LaunchType != "" && in.LaunchType != svc.LaunchType) ||
			(in.SchedulingStrategy != "" && in.SchedulingStrategy != "REPLICA") {
			continue
		}
		arns = append(arns, svc.ARN)
	}
	sort.Strings(arns)
	if in.MaxResults == nil {
		ten := 10
		in.MaxResults = &ten
	}
	page, next, apiErr := paginate(arns, in.NextToken, in.MaxResults, 100)
	if apiErr != nil {
		return nil, apiErr
	}
	return map[string]any{"serviceArns": page, "nextToken": next}, nil
}
