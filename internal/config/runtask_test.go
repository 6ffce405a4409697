package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRunTaskInputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		inputs map[string]string
		input  string   // the input the one problem names; empty for none
		want   []string // fragments of the problem
	}{
		{"command_as_json", map[string]string{"INPUT_RUN-TASK": "true", "INPUT_RUN-TASK-COMMAND": `["sh", "-c", "bin/migrate up && echo done"]`}, "", nil},
		{"command_as_words", map[string]string{"INPUT_RUN-TASK": "true", "INPUT_RUN-TASK-COMMAND": "bin/migrate  up"}, "", nil},
		{"command_not_json", map[string]string{"INPUT_RUN-TASK": "true", "INPUT_RUN-TASK-COMMAND": `["bin/migrate", 3]`}, InputRunTaskCommand, []string{"not a JSON array of strings", `for example: ["bin/migrate", "up"]`}},
		{"command_quoted_words", map[string]string{"INPUT_RUN-TASK": "true", "INPUT_RUN-TASK-COMMAND": `sh -c "bin/migrate up"`}, InputRunTaskCommand, []string{"write the command as a JSON array"}},
		{"command_without_run_task", map[string]string{"INPUT_RUN-TASK-COMMAND": "bin/migrate up"}, InputRunTaskCommand, []string{"run-task is not true"}},
		{"run_task_without_service", map[string]string{"INPUT_RUN-TASK": "true", "INPUT_SERVICE": "", "INPUT_FORCE-NEW-DEPLOYMENT": ""}, InputRunTask, []string{"no service is"}},
		{"launch_type", map[string]string{"INPUT_RUN-TASK": "true", "INPUT_RUN-TASK-LAUNCH-TYPE": "LAMBDA"}, InputRunTaskLaunchType, []string{`"LAMBDA"`, "not a launch type"}},
		{"launch_type_and_providers", map[string]string{"INPUT_RUN-TASK": "true", "INPUT_RUN-TASK-LAUNCH-TYPE": "fargate", "INPUT_RUN-TASK-CAPACITY-PROVIDER-STRATEGY": "FARGATE_SPOT"}, InputRunTaskLaunchType, []string{"one or the other"}},
		{"providers_json", map[string]string{"INPUT_RUN-TASK": "true", "INPUT_RUN-TASK-CAPACITY-PROVIDER-STRATEGY": `[{"capacityProvider": "FARGATE_SPOT", "weight": 0}]`}, InputRunTaskCapacityProvider, []string{"weight 0"}},
		{"providers_two_bases", map[string]string{"INPUT_RUN-TASK": "true", "INPUT_RUN-TASK-CAPACITY-PROVIDER-STRATEGY": "FARGATE:1:1,FARGATE_SPOT:3:2"}, InputRunTaskCapacityProvider, []string{"a base on one only"}},
		{"providers_bad_weight", map[string]string{"INPUT_RUN-TASK": "true", "INPUT_RUN-TASK-CAPACITY-PROVIDER-STRATEGY": "FARGATE_SPOT:heavy"}, InputRunTaskCapacityProvider, []string{"whole numbers"}},
		{"subnet", map[string]string{"INPUT_RUN-TASK": "true", "INPUT_RUN-TASK-SUBNETS": "subnet-0a1b2c3d, vpc-0a1b2c3d"}, InputRunTaskSubnets, []string{`"vpc-0a1b2c3d"`, "not a subnet ID"}},
		{"security_group", map[string]string{"INPUT_RUN-TASK": "true", "INPUT_RUN-TASK-SECURITY-GROUPS": "sg-XYZ"}, InputRunTaskSecurityGroups, []string{"not a security group ID"}},
		{"public_ip", map[string]string{"INPUT_RUN-TASK": "true", "INPUT_RUN-TASK-ASSIGN-PUBLIC-IP": "yes"}, InputRunTaskAssignPublicIP, []string{"neither ENABLED nor DISABLED"}},
		{"started_by", map[string]string{"INPUT_RUN-TASK": "true", "INPUT_RUN-TASK-STARTED-BY": "deploy job #42"}, InputRunTaskStartedBy, []string{"128 letters"}},
		{"container", map[string]string{"INPUT_RUN-TASK": "true", "INPUT_RUN-TASK-CONTAINER": "web app"}, InputRunTaskContainer, []string{"not an ECS container name"}},
		{"keep_revisions_negative", map[string]string{"INPUT_KEEP-REVISIONS": "-1"}, InputKeepRevisions, []string{"outside 0 to 1000"}},
		{"keep_revisions_without_wait", map[string]string{"INPUT_KEEP-REVISIONS": "3", "INPUT_WAIT-FOR-SERVICE-STABILITY": "false"}, InputKeepRevisions, []string{"wait-for-service-stability"}},
		{"keep_revisions_without_service", map[string]string{"INPUT_KEEP-REVISIONS": "3", "INPUT_SERVICE": "", "INPUT_FORCE-NEW-DEPLOYMENT": ""}, InputKeepRevisions, []string{"no service is"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := FromInputs(inputsOf(tt.inputs, deployingInputs), run)
			if tt.input == "" {
				if err != nil {
					t.Fatalf("FromInputs: %v", err)
				}
				return
			}
			checkOneProblem(t, err, tt.input, tt.want)
		})
	}
}

func TestRunTaskOptionsParsed(t *testing.T) {
	t.Parallel()
	got, err := FromInputs(inputsOf(map[string]string{
		"INPUT_ROLE-TO-ASSUME":                      "arn:aws:iam::111122223333:role/gha-deploy",
		"INPUT_AWS-REGION":                          "us-east-1",
		"INPUT_SERVICE":                             "api-service",
		"INPUT_FORCE-NEW-DEPLOYMENT":                "true",
		"INPUT_RUN-TASK":                            "true",
		"INPUT_RUN-TASK-CONTAINER":                  "migrate",
		"INPUT_RUN-TASK-COMMAND":                    `["bin/migrate", "up"]`,
		"INPUT_RUN-TASK-CAPACITY-PROVIDER-STRATEGY": "FARGATE:1:2, FARGATE_SPOT:4",
		"INPUT_RUN-TASK-SUBNETS":                    "subnet-0a1b2c3d,subnet-0a1b2c3d4e5f60718",
		"INPUT_RUN-TASK-SECURITY-GROUPS":            "sg-0a1b2c3d",
		"INPUT_RUN-TASK-ASSIGN-PUBLIC-IP":           "disabled",
		"INPUT_KEEP-REVISIONS":                      "5",
	}), run)
	if err != nil {
		t.Fatal(err)
	}
	want := RunTaskOptions{
		Container: "migrate", Command: []string{"bin/migrate", "up"},
		CapacityProviders: []CapacityProvider{{Name: "FARGATE", Weight: 1, Base: 2}, {Name: "FARGATE_SPOT", Weight: 4}},
		Subnets:           []string{"subnet-0a1b2c3d", "subnet-0a1b2c3d4e5f60718"}, SecurityGroups: []string{"sg-0a1b2c3d"},
		AssignPublicIP: "DISABLED", StartedBy: DefaultRunTaskStartedBy,
	}
	if diff := cmp.Diff(want, got.RunTaskOptions); diff != "" || !got.RunTask || got.KeepRevisions != 5 {
		t.Errorf("run-task %v, keep-revisions %d, options (-want +got):\n%s", got.RunTask, got.KeepRevisions, diff)
	}
}
