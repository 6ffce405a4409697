// Package codedeploy stands in for AWS CodeDeploy's API (awsJson1_1) as
// it deploys ECS services blue/green: the world's applications and
// deployment groups, CreateDeployment with an AppSpec, each deployment's
// lifecycle events in simulated time driving the service's replacement
// task set and its traffic, automatic rollbacks, StopDeployment, and the
// deployment's ECS target.
package codedeploy

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/faults"
)

// target is the X-Amz-Target prefix of CodeDeploy's API.
const target = "CodeDeploy_20141006"

// tickInterval is how often deployments catch up with the clock when
// nobody asks.
const tickInterval = 50 * time.Millisecond

// Authorizer decides whether a session may make a call.
type Authorizer interface {
	Authorize(caller *awsproto.Session, action, resource string, keys map[string]string) *awsproto.Error
}

// ECS is what CodeDeploy does to the ECS services it deploys, with the
// service role of their deployment group.
type ECS interface {
	// Service reads a service of an account.
	Service(account, cluster, service string) (ECSService, *awsproto.Error)
	// CreateTaskSet starts a task set of taskDefinition beside the
	// service's, registered with its load balancer on container:port and
	// marked with the deployment's ID.
	CreateTaskSet(account, cluster, service, taskDefinition, container string, port int, deploymentID string) (TaskSet, *awsproto.Error)
	// TaskSet reads a task set; Gone is set once it has drained away.
	TaskSet(account, cluster, service, id string) (TaskSet, *awsproto.Error)
	// SetPrimaryTaskSet makes a task set the service's primary one.
	SetPrimaryTaskSet(account, cluster, service, id string) *awsproto.Error
	// DeleteTaskSet drains a task set away.
	DeleteTaskSet(account, cluster, service, id string) *awsproto.Error
}

// ECSService is an ECS service as CodeDeploy reads it.
type ECSService struct {
	ARN string
	// CodeDeploy is set when its deployment controller is CODE_DEPLOY.
	CodeDeploy bool
	// TaskDefinition and PrimaryTaskSet are what it runs now.
	TaskDefinition, PrimaryTaskSet string
	// Container and Port are its load balancer's target; empty without one.
	Container string
	Port      int
}

// TaskSet is an ECS task set as CodeDeploy reads it.
type TaskSet struct {
	ID, Status                string
	Desired, Running, Pending int
	FailedTasks               int
	Steady, Gone              bool
}

// Faults hands out the injected "lifecycle-hook" faults: the Lambda hook
// of a lifecycle event (the fault's Stage) answers Failed.
type Faults interface {
	TakeMatching(service, operation string, match func(faults.Fault) bool) (faults.Fault, bool)
}

// Account is what the world puts in CodeDeploy for one account.
type Account struct {
	// Applications maps an application name to the application.
	Applications map[string]*Application
}

// Config is what CodeDeploy needs.
type Config struct {
	// Region is the region CodeDeploy serves, Partition its partition.
	Region    string
	Partition partition.Partition
	// Accounts are the world's, by account ID.
	Accounts   map[string]Account
	Now        func() time.Time
	Authorizer Authorizer
	ECS        ECS
	Faults     Faults
	// Stage is how long a lifecycle event with nothing to wait for takes
	// (a hook's run, a traffic shift); Minute is a simulated minute, the
	// unit of deployment configurations and wait times.
	Stage, Minute time.Duration
}

// Service is the CodeDeploy stand-in. One lock guards its state; the
// deployments catch up with the clock on every request and on a
// background tick until Close.
type Service struct {
	cfg     Config
	done    chan struct{}
	stopped chan struct{}

	mu       sync.Mutex
	accounts map[string]*account
}

var _ awsproto.Service = (*Service)(nil)

// account is what CodeDeploy holds for one account.
type account struct {
	id           string
	applications map[string]*Application
	// deployments are by ID, and in order of creation.
	deployments map[string]*deployment
	order       []*deployment
}

// New starts CodeDeploy with the world's applications, checking each
// deployment group against the ECS service it names. Its deployments run
// until Close.
func New(cfg Config) (*Service, error) {
	s := &Service{cfg: cfg, done: make(chan struct{}), stopped: make(chan struct{}), accounts: map[string]*account{}}
	ids := make([]string, 0, len(cfg.Accounts))
	for id := range cfg.Accounts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := &account{id: id, applications: map[string]*Application{}, deployments: map[string]*deployment{}}
		s.accounts[id] = a
		for name, app := range cfg.Accounts[id].Applications {
			if err := s.checkApplication(id, name, app); err != nil {
				return nil, fmt.Errorf("account %s application %s: %w", id, name, err)
			}
			a.applications[name] = app
		}
	}
	go s.tick()
	return s, nil
}

// checkApplication checks an application of the world and fills in its
// defaults.
func (s *Service) checkApplication(account, name string, app *Application) error {
	if app == nil {
		return fmt.Errorf("empty")
	}
	if !namePattern.MatchString(name) {
		return fmt.Errorf("the name is not 1 to 100 letters, digits and _+=,.@-")
	}
	if app.ComputePlatform == "" {
		app.ComputePlatform = "ECS"
	}
	if app.ComputePlatform != "ECS" {
		return fmt.Errorf("computePlatform %q: the sandbox deploys ECS applications only", app.ComputePlatform)
	}
	for gname, g := range app.DeploymentGroups {
		if g == nil {
			return fmt.Errorf("deployment group %s: empty", gname)
		}
		if err := g.normalize(); err != nil {
			return fmt.Errorf("deployment group %s: %w", gname, err)
		}
		svc, apiErr := s.cfg.ECS.Service(account, g.ECSServices[0].ClusterName, g.ECSServices[0].ServiceName)
		if apiErr != nil {
			return fmt.Errorf("deployment group %s: ECS service %s in cluster %s: %s", gname, g.ECSServices[0].ServiceName, g.ECSServices[0].ClusterName, apiErr.Message)
		}
		if !svc.CodeDeploy {
			return fmt.Errorf("deployment group %s: ECS service %s does not use the CODE_DEPLOY deployment controller", gname, g.ECSServices[0].ServiceName)
		}
	}
	return nil
}

// tick lets the deployments catch up with the clock until Close.
func (s *Service) tick() {
	defer close(s.stopped)
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.mu.Lock()
			s.advance()
			s.mu.Unlock()
		}
	}
}

// Close stops the deployments.
func (s *Service) Close() {
	close(s.done)
	<-s.stopped
}

// API is CodeDeploy's: awsJson1_1, signed as codedeploy.
func (s *Service) API() awsproto.API {
	return awsproto.API{Name: "codedeploy", Protocol: awsproto.JSON, Target: target}
}

// advance moves every deployment on to now.
func (s *Service) advance() {
	now := s.cfg.Now()
	for _, a := range s.accounts {
		for _, d := range slices.Clone(a.order) {
			s.step(a, d, now)
		}
	}
}

// operation is one API action. Each runs under Service.mu with the
// deployments caught up to now.
type operation func(s *Service, c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error)

var operations map[string]operation

func init() {
	operations = map[string]operation{
		"CreateDeployment":          (*Service).createDeployment,
		"GetDeployment":             (*Service).getDeployment,
		"StopDeployment":            (*Service).stopDeployment,
		"ListDeploymentTargets":     (*Service).listDeploymentTargets,
		"BatchGetDeploymentTargets": (*Service).batchGetDeploymentTargets,
	}
}

// Handle serves one CodeDeploy API call.
func (s *Service) Handle(c *awsproto.Call) (any, *awsproto.Error) {
	op, ok := operations[c.Operation]
	if !ok {
		return nil, awsproto.Errorf("UnknownOperationException", "Unknown operation %s", c.Operation)
	}
	if c.Caller == nil {
		return nil, awsproto.Errorf("AccessDeniedException", "Missing credentials")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	a := s.accounts[c.Caller.Account]
	if a == nil {
		a = &account{id: c.Caller.Account, applications: map[string]*Application{}, deployments: map[string]*deployment{}}
		s.accounts[c.Caller.Account] = a
	}
	return op(s, c, a, s.cfg.Now())
}

// arn is the ARN of a CodeDeploy resource of account.
func (s *Service) arn(account, resource string) string {
	return s.cfg.Partition.ARN("codedeploy", s.cfg.Region, account, resource)
}

// groupARN is a deployment group's ARN, the resource of IAM's codedeploy
// actions on deployments.
func (s *Service) groupARN(account, app, group string) string {
	return s.arn(account, "deploymentgroup:"+app+"/"+group)
}
