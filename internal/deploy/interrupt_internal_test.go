package deploy

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// TestStanding: the report of an interrupted run says of each service
// what the run knows of it, and settles an update whose answer was lost
// by what the service shows.
func TestStanding(t *testing.T) {
	t.Parallel()
	const (
		before = "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:1"
		ours   = "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:2"
		sdARN  = "arn:aws:ecs:us-east-1:111122223333:service-deployment/prod-cluster/api-service/abc"
	)
	service := func(primary, td string, cb *types.DeploymentCircuitBreaker) *types.Service {
		return &types.Service{
			ServiceName: aws.String("api-service"), TaskDefinition: aws.String(td), CurrentServiceDeployment: aws.String(sdARN),
			Deployments: []types.Deployment{{
				Id: aws.String(primary), Status: aws.String("PRIMARY"), TaskDefinition: aws.String(td), RolloutState: types.DeploymentRolloutStateInProgress,
				DesiredCount: 3, RunningCount: 1, PendingCount: 2,
			}},
			DeploymentConfiguration: &types.DeploymentConfiguration{DeploymentCircuitBreaker: cb},
		}
	}
	breaker := &types.DeploymentCircuitBreaker{Enable: true, Rollback: true}
	follow := []string{
		"  aws ecs describe-services --cluster prod-cluster --services api-service --region us-east-1 --query 'services[0].deployments'",
	}
	tests := []struct {
		name    string
		state   func(s *serviceState)
		svc     *types.Service
		lookErr error
		force   bool
		want    []string
		outcome Outcome
	}{
		{name: "succeeded", state: func(s *serviceState) {
			s.updateSent, s.result.Outcome, s.result.DeploymentID = true, OutcomeSucceeded, "ecs-svc/1"
		}, want: []string{"api-service: deployment ecs-svc/1 succeeded before the interrupt; the service runs " + ours + "."}, outcome: OutcomeSucceeded},
		{name: "failed", state: func(s *serviceState) {
			s.updateSent, s.result.Outcome, s.result.DeploymentID, s.result.Failure = true, OutcomeFailed, "ecs-svc/1", "tasks failed to start"
		}, want: []string{"api-service: deployment ecs-svc/1 had failed before the interrupt: tasks failed to start"}, outcome: OutcomeFailed},
		{name: "failed before the update was sent", state: func(s *serviceState) { s.result.Outcome = OutcomeFailed },
			want: []string{"api-service: not updated: nothing was changed on the service, which runs " + before + " as before (revision " + ours + " was registered and is unused)."}, outcome: OutcomeNotStarted},
		{name: "not started, nothing registered", state: func(s *serviceState) { s.result.TaskDefinitionARN = "" },
			want: []string{"api-service: not started: nothing was changed on the service."}, outcome: OutcomeNotStarted},
		{name: "not started, the same revision", state: func(s *serviceState) { s.result.TaskDefinitionARN = before },
			want: []string{"api-service: not started: nothing was changed on the service."}, outcome: OutcomeNotStarted},
		{name: "lost answer, the service not read", state: func(s *serviceState) { s.updateSent, s.result.Outcome = true, OutcomeUnknown },
			want:    append([]string{"api-service: UpdateService was sent, but the run was interrupted before ECS answered; whether ECS applied it is unknown (the service could not be read in time). Look:"}, follow...),
			outcome: OutcomeUnknown},
		{name: "lost answer, looking failed", state: func(s *serviceState) { s.updateSent, s.result.Outcome = true, OutcomeUnknown },
			lookErr: errors.New("throttled"),
			want:    append([]string{"api-service: UpdateService was sent, but the run was interrupted before ECS answered; whether ECS applied it is unknown (looking failed: throttled). Look:"}, follow...),
			outcome: OutcomeUnknown},
		{name: "lost answer, not applied", state: func(s *serviceState) { s.updateSent, s.result.Outcome = true, OutcomeUnknown },
			svc: service("ecs-svc/0", before, nil), want: []string{"ECS had not applied it when the run looked"}, outcome: OutcomeNotStarted},
		{name: "lost answer, applied", state: func(s *serviceState) { s.updateSent, s.result.Outcome = true, OutcomeUnknown },
			svc: service("ecs-svc/2", ours, breaker),
			want: []string{"api-service: UpdateService was sent, but the run was interrupted before ECS answered; ECS applied it: deployment ecs-svc/2 of " + ours + " was started; ECS reports IN_PROGRESS, 1/3 running, 2 pending. " +
				"ECS goes on with the rollout by itself and, should its circuit breaker trip, rolls the service back by itself; cancelling the job stopped neither. Follow it:",
				"  aws ecs describe-service-deployments --service-deployment-arns " + sdARN + " --region us-east-1", follow[0]},
			outcome: OutcomeInterrupted},
		{name: "lost answer forcing a new deployment, applied", force: true, state: func(s *serviceState) {
			s.updateSent, s.result.Outcome, s.result.TaskDefinitionARN = true, OutcomeUnknown, ""
		}, svc: service("ecs-svc/2", before, nil), want: []string{"ECS applied it: deployment ecs-svc/2 of " + before + " was started"}, outcome: OutcomeInterrupted},
		{name: "lost answer, someone else's deployment primary", state: func(s *serviceState) { s.updateSent, s.result.Outcome = true, OutcomeUnknown },
			svc: service("ecs-svc/3", "arn:aws:ecs:us-east-1:111122223333:task-definition/web-api:9", nil), want: []string{"ECS had not applied it"}, outcome: OutcomeNotStarted},
		{name: "lost answer, applied but not as asked", state: func(s *serviceState) { s.updateSent, s.result.Outcome = true, OutcomeUnknown },
			svc:  &types.Service{Deployments: []types.Deployment{{Id: aws.String("ecs-svc/2"), Status: aws.String("ACTIVE"), TaskDefinition: aws.String(ours)}}},
			want: []string{"ECS had not applied it"}, outcome: OutcomeNotStarted},
		{name: "lost CodeDeploy answer", state: func(s *serviceState) {
			s.updateSent, s.result.Outcome, s.controller = true, OutcomeUnknown, types.DeploymentControllerTypeCodeDeploy
		}, want: []string{"api-service: CreateDeployment was sent, but the run was interrupted before CodeDeploy answered; whether it started a deployment is unknown. Look: aws deploy list-deployments --application-name AppECS-prod-cluster-api-service --deployment-group-name 'DgpECS prod'"},
			outcome: OutcomeUnknown},
		{name: "in progress, the state unread", state: func(s *serviceState) {
			s.updateSent, s.result.Outcome, s.result.DeploymentID = true, OutcomeNotWaited, "ecs-svc/2"
		}, want: append([]string{"api-service: deployment ecs-svc/2 of " + ours + " was started; its state could not be read in time. ECS goes on with the rollout by itself; the service has no circuit breaker, so nothing rolls it back if its tasks fail. Follow it:"}, follow...),
			outcome: OutcomeInterrupted},
		{name: "in progress, stopped on cancel", state: func(s *serviceState) {
			s.updateSent, s.result.Outcome, s.result.DeploymentID, s.cancelStop = true, OutcomeNotWaited, "ecs-svc/2", "The run stopped it."
		}, svc: service("ecs-svc/2", ours, &types.DeploymentCircuitBreaker{Enable: true}),
			want:    []string{"api-service: deployment ecs-svc/2 of " + ours + " was started; ECS reports IN_PROGRESS, 1/3 running, 2 pending. The run stopped it. Follow it:", follow[0]},
			outcome: OutcomeInterrupted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var log sandboxtest.SyncBuffer
			p := oneOffPlan(&log, OneOff{}, placement{})
			p.req.ForceNewDeployment = tt.force
			p.req.CodeDeployDeploymentGroup = "DgpECS prod"
			s := p.services[0]
			s.taskDefinition, s.primaryBefore, s.result.TaskDefinitionARN = before, "ecs-svc/0", ours
			tt.state(s)
			got := p.standing(s, tt.svc, tt.lookErr)
			if len(tt.want) == 1 && !strings.HasPrefix(tt.want[0], "api-service") {
				if len(got) == 0 || !strings.Contains(got[0], tt.want[0]) {
					t.Errorf("standing = %q, want it to say %q", got, tt.want[0])
				}
			} else if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("standing (-want +got):\n%s", diff)
			}
			if s.result.Outcome != tt.outcome {
				t.Errorf("outcome %q, want %q", s.result.Outcome, tt.outcome)
			}
		})
	}
}

// TestOnItsOwn: what ECS does with a deployment nobody watches depends on
// the service's circuit breaker.
func TestOnItsOwn(t *testing.T) {
	t.Parallel()
	with := func(cb *types.DeploymentCircuitBreaker) *types.Service {
		return &types.Service{DeploymentConfiguration: &types.DeploymentConfiguration{DeploymentCircuitBreaker: cb}}
	}
	for _, tt := range []struct {
		svc  *types.Service
		want string
	}{
		{nil, "the service has no circuit breaker"},
		{&types.Service{}, "the service has no circuit breaker"},
		{with(nil), "the service has no circuit breaker"},
		{with(&types.DeploymentCircuitBreaker{Rollback: true}), "the service has no circuit breaker"},
		{with(&types.DeploymentCircuitBreaker{Enable: true}), "it fails the deployment without rolling back"},
		{with(&types.DeploymentCircuitBreaker{Enable: true, Rollback: true}), "rolls the service back by itself"},
	} {
		if got := onItsOwn(tt.svc); !strings.Contains(got, tt.want) {
			t.Errorf("onItsOwn(%+v) = %q, want %q", tt.svc, got, tt.want)
		}
	}
}

// TestShellWord quotes what a shell would split or expand, and nothing
// else.
func TestShellWord(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"arn:aws:ecs:us-east-1:111122223333:service/prod_cluster/web.api": "arn:aws:ecs:us-east-1:111122223333:service/prod_cluster/web.api",
		"two words":  "'two words'",
		"it's":       `'it'\''s'`,
		"$(reboot)":  "'$(reboot)'",
		"":           "",
		"ZZ-09_a:/.": "ZZ-09_a:/.",
	} {
		if got := shellWord(in); got != want {
			t.Errorf("shellWord(%q) = %q, want %q", in, got, want)
		}
	}
}
