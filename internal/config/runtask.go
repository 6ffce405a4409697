package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// RunTaskOptions say how the one-off task runs; each empty field means the
// first service's own setting.
type RunTaskOptions struct {
	// Container is the container that gets Command and whose exit code the
	// run reports; empty: the first essential container.
	Container string
	// Command replaces the container's command; nil keeps it.
	Command []string
	// LaunchType is FARGATE, EC2, EXTERNAL or MANAGED_INSTANCES.
	LaunchType string
	// CapacityProviders is a capacity provider strategy.
	CapacityProviders []CapacityProvider
	// Subnets, SecurityGroups and AssignPublicIP are the awsvpc settings.
	Subnets        []string
	SecurityGroups []string
	AssignPublicIP string
	// StartedBy is the task's startedBy.
	StartedBy string
}

// given names the run-task-* inputs set to other than their defaults.
func (o RunTaskOptions) given() []string {
	var names []string
	add := func(set bool, name string) {
		if set {
			names = append(names, name)
		}
	}
	add(o.Container != "", InputRunTaskContainer)
	add(o.Command != nil, InputRunTaskCommand)
	add(o.LaunchType != "", InputRunTaskLaunchType)
	add(len(o.CapacityProviders) > 0, InputRunTaskCapacityProvider)
	add(len(o.Subnets) > 0, InputRunTaskSubnets)
	add(len(o.SecurityGroups) > 0, InputRunTaskSecurityGroups)
	add(o.AssignPublicIP != "", InputRunTaskAssignPublicIP)
	add(o.StartedBy != DefaultRunTaskStartedBy, InputRunTaskStartedBy)
	return names
}

// CapacityProvider is one item of a capacity provider strategy.
type CapacityProvider struct {
	Name   string `json:"capacityProvider"`
	Weight int    `json:"weight"`
	Base   int    `json:"base"`
}

const (
	exampleCommand           = `["bin/migrate", "up"] (or: bin/migrate up)`
	exampleCapacityProviders = `FARGATE_SPOT:1 (or: [{"capacityProvider": "FARGATE_SPOT", "weight": 1}])`
	maxKeepRevisions         = 1000
)

var (
	subnetPattern        = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	securityGroupPattern = regexp.MustCompile(`^sg-[0-9a-f]{8,17}$`)
	startedByPattern     = regexp.MustCompile(`^[A-Za-z0-9_/-]{1,128}$`)
	providerPattern      = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	launchTypes          = []string{"FARGATE", "EC2", "EXTERNAL", "MANAGED_INSTANCES"}
)

// parseRunTaskOptions reads the run-task-* inputs through value (the
// input's text, or its default).
func parseRunTaskOptions(value func(string) string) (RunTaskOptions, []*InputError) {
	var problems []*InputError
	o := RunTaskOptions{
		Container:      value(InputRunTaskContainer),
		LaunchType:     strings.ToUpper(value(InputRunTaskLaunchType)),
		Subnets:        SplitList(value(InputRunTaskSubnets)),
		SecurityGroups: SplitList(value(InputRunTaskSecurityGroups)),
		AssignPublicIP: strings.ToUpper(value(InputRunTaskAssignPublicIP)),
		StartedBy:      value(InputRunTaskStartedBy),
	}
	if raw := value(InputRunTaskCommand); raw != "" {
		cmd, err := ParseCommand(raw)
		if err != nil {
			problems = append(problems, &InputError{Input: InputRunTaskCommand, Value: raw, Problem: err.Error(), Example: exampleCommand})
		}
		o.Command = cmd
	}
	if raw := value(InputRunTaskCapacityProvider); raw != "" {
		cps, err := ParseCapacityProviders(raw)
		if err != nil {
			problems = append(problems, &InputError{Input: InputRunTaskCapacityProvider, Value: raw, Problem: err.Error(), Example: exampleCapacityProviders})
		}
		o.CapacityProviders = cps
	}
	return o, problems
}

// ParseCommand reads a command: a JSON array of strings, or words
// separated by blanks (no quoting: an argument with a space needs the
// JSON form).
func ParseCommand(raw string) ([]string, error) {
	raw = strings.TrimSpace(raw)
	if strings.HasPrefix(raw, "[") {
		var cmd []string
		if err := json.Unmarshal([]byte(raw), &cmd); err != nil {
			return nil, fmt.Errorf("is not a JSON array of strings (%s)", jsonProblem(err))
		}
		if len(cmd) == 0 {
			return nil, fmt.Errorf("is an empty array: give the command, or leave the input out to keep the container's own")
		}
		return cmd, nil
	}
	if strings.ContainsAny(raw, `"'`) {
		return nil, fmt.Errorf("has quotes, which the words form does not read: write the command as a JSON array")
	}
	return strings.Fields(raw), nil
}

// ParseCapacityProviders reads a capacity provider strategy: the JSON
// array RunTask takes, or a list of PROVIDER[:WEIGHT[:BASE]].
func ParseCapacityProviders(raw string) ([]CapacityProvider, error) {
	raw = strings.TrimSpace(raw)
	var cps []CapacityProvider
	if strings.HasPrefix(raw, "[") {
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cps); err != nil {
			return nil, fmt.Errorf("is not a JSON array of {capacityProvider, weight, base} (%s)", jsonProblem(err))
		}
	} else {
		for _, item := range SplitList(raw) {
			fields := strings.Split(item, ":")
			if len(fields) > 3 {
				return nil, fmt.Errorf("has %q, which is not PROVIDER[:WEIGHT[:BASE]]", item)
			}
			cp := CapacityProvider{Name: fields[0], Weight: 1}
			for i, f := range fields[1:] {
				n, err := strconv.Atoi(f)
				if err != nil {
					return nil, fmt.Errorf("has %q, whose weight and base must be whole numbers", item)
				}
				if i == 0 {
					cp.Weight = n
				} else {
					cp.Base = n
				}
			}
			cps = append(cps, cp)
		}
	}
	weighted, based := false, 0
	for _, cp := range cps {
		switch {
		case !providerPattern.MatchString(cp.Name):
			return nil, fmt.Errorf("names %q, which is not a capacity provider name", cp.Name)
		case cp.Weight < 0 || cp.Weight > 1000:
			return nil, fmt.Errorf("gives %s the weight %d, outside 0 to 1000", cp.Name, cp.Weight)
		case cp.Base < 0 || cp.Base > 100000:
			return nil, fmt.Errorf("gives %s the base %d, outside 0 to 100000", cp.Name, cp.Base)
		}
		weighted = weighted || cp.Weight > 0
		if cp.Base > 0 {
			based++
		}
	}
	switch {
	case len(cps) == 0:
		return nil, fmt.Errorf("names no capacity provider")
	case len(cps) > 20:
		return nil, fmt.Errorf("names %d capacity providers; ECS takes at most 20", len(cps))
	case !weighted:
		return nil, fmt.Errorf("gives every capacity provider the weight 0; at least one needs a weight above 0")
	case based > 1:
		return nil, fmt.Errorf("gives a base to %d capacity providers; ECS allows a base on one only", based)
	}
	return cps, nil
}

// jsonProblem is a JSON decoding error in a few words, without the text.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("invalid JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("a %s where a %s belongs", typ.Value, typ.Type)
	}
	return err.Error()
}

// runTaskProblems checks the run-task inputs and keep-revisions.
func (c Config) runTaskProblems() []*InputError {
	var ps []*InputError
	add := func(input, value, problem, example string) {
		ps = append(ps, &InputError{Input: input, Value: value, Problem: problem, Example: example})
	}
	o := c.RunTaskOptions
	if c.KeepRevisions < 0 || c.KeepRevisions > maxKeepRevisions {
		add(InputKeepRevisions, strconv.Itoa(c.KeepRevisions), fmt.Sprintf("is outside 0 to %d", maxKeepRevisions), "5")
	} else if c.KeepRevisions > 0 {
		switch {
		case !c.DeployRequested():
			add(InputKeepRevisions, strconv.Itoa(c.KeepRevisions), "is set but no service is: revisions are kept per deployed family", exampleService)
		case !c.WaitForServiceStability:
			add(InputKeepRevisions, strconv.Itoa(c.KeepRevisions), "deregisters old revisions only after a deploy that succeeded, which wait-for-service-stability: false never learns; set it to true", "5")
		}
	}
	if !c.RunTask {
		for _, name := range o.given() {
			add(name, "", "is set but run-task is not true: set run-task: true to run the one-off task", "true")
		}
		return ps
	}
	if !c.DeployRequested() {
		add(InputRunTask, "true", "is set but no service is: the one-off task runs the service's new revision before the service is updated", exampleService)
	}
	if o.Container != "" && !ecsNamePattern.MatchString(o.Container) {
		add(InputRunTaskContainer, o.Container, "is not an ECS container name", "web")
	}
	if o.LaunchType != "" {
		valid := false
		for _, lt := range launchTypes {
			valid = valid || lt == o.LaunchType
		}
		if !valid {
			add(InputRunTaskLaunchType, o.LaunchType, "is not a launch type ("+strings.Join(launchTypes, ", ")+")", "FARGATE")
		}
		if len(o.CapacityProviders) > 0 {
			add(InputRunTaskLaunchType, o.LaunchType, "cannot be used with run-task-capacity-provider-strategy: ECS takes one or the other", "")
		}
	}
	for _, sn := range o.Subnets {
		if !subnetPattern.MatchString(sn) {
			add(InputRunTaskSubnets, sn, "is not a subnet ID (subnet- and 8 to 17 hex digits)", "subnet-0a1b2c3d4e5f60718")
		}
	}
	if len(o.Subnets) > 16 {
		add(InputRunTaskSubnets, strings.Join(o.Subnets, ","), fmt.Sprintf("lists %d subnets; ECS takes at most 16", len(o.Subnets)), "")
	}
	for _, sg := range o.SecurityGroups {
		if !securityGroupPattern.MatchString(sg) {
			add(InputRunTaskSecurityGroups, sg, "is not a security group ID (sg- and 8 to 17 hex digits)", "sg-0a1b2c3d4e5f60718")
		}
	}
	if len(o.SecurityGroups) > 5 {
		add(InputRunTaskSecurityGroups, strings.Join(o.SecurityGroups, ","), fmt.Sprintf("lists %d security groups; ECS takes at most 5", len(o.SecurityGroups)), "")
	}
	if p := o.AssignPublicIP; p != "" && p != "ENABLED" && p != "DISABLED" {
		add(InputRunTaskAssignPublicIP, p, "is neither ENABLED nor DISABLED", "DISABLED")
	}
	if !startedByPattern.MatchString(o.StartedBy) {
		add(InputRunTaskStartedBy, o.StartedBy, "is not 1 to 128 letters, digits, hyphens, underscores and slashes", DefaultRunTaskStartedBy)
	}
	return ps
}
