// Package ecs stands in for Amazon ECS's API (awsJson1_1): task
// definitions, clusters, services, tasks and service deployments from the
// world, kept by ECS's rules and rolled out by the simulation in ecs/sim.
package ecs

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/sim"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/taskdef"
)

// target is the X-Amz-Target prefix of ECS's API.
const target = "AmazonEC2ContainerServiceV20141113"

// tickInterval is how often the background goroutine lets the simulation
// catch up with the clock when nobody asks.
const tickInterval = 50 * time.Millisecond

// Authorizer decides whether a session may make a call.
type Authorizer interface {
	Authorize(caller *awsproto.Session, action, resource string, keys map[string]string) *awsproto.Error
}

// Registry is the sandbox's ECR as ECS sees it: where tasks pull images
// from, and which images are in ECR (the rules on execution roles and
// the attributes ECS derives depend on it).
type Registry interface {
	sim.Registry
	// IsECRImage reports whether an image is in an ECR registry, the
	// sandbox's or any other.
	IsECRImage(ref string) bool
}

// Account is what the world puts in ECS for one account.
type Account struct {
	// Clusters maps a cluster name to the cluster.
	Clusters map[string]*Cluster
	// TaskDefinitions are RegisterTaskDefinition requests, registered in
	// order at start-up, each becoming the next revision of its family.
	TaskDefinitions []json.RawMessage
	// Commands say what the containers of tasks RunTask starts do, by the
	// command they run (the container override's, else the task
	// definition's). A command listed nowhere runs for TaskStartSeconds,
	// writes nothing and exits 0.
	Commands []Command
}

// Config is what ECS needs.
type Config struct {
	// Region is the region ECS serves, Partition its partition.
	Region    string
	Partition partition.Partition
	// Settings tune the stand-in; the zero value when nil.
	Settings *Settings
	// Accounts are the world's, by account ID.
	Accounts map[string]Account
	// Now is the clock the simulation follows.
	Now        func() time.Time
	Authorizer Authorizer
	// Registry is where tasks pull images from, and which images are in
	// ECR.
	Registry Registry
	// Faults decides which containers crash as they start, which events
	// deployments add, which Lambda lifecycle hooks fail and which
	// deployment alarms go off.
	Faults sim.Faults
	// Logs receives what the containers of tasks RunTask starts write
	// through the awslogs driver; nil drops it.
	Logs sim.LogSink
}

// Service is the ECS stand-in. One lock guards all of its state; the
// simulation catches up with the clock on every request and on a
// background tick until Close.
type Service struct {
	cfg       Config
	settings  *Settings
	scheduler *sim.Scheduler

	cancel  context.CancelFunc
	done    chan struct{}
	stopped chan struct{}

	mu       sync.Mutex
	accounts map[string]*account
	buckets  map[string]*tokenBucket
	// seen keeps, with a service deployment lag, what each service
	// deployment looked like at each call, oldest first, by ARN.
	seen map[string][]sdSnapshot
}

// sdSnapshot is a service deployment as the API showed it at a time.
type sdSnapshot struct {
	at   time.Time
	json serviceDeploymentJSON
}

var _ awsproto.Service = (*Service)(nil)

// account is what ECS holds for one account in the sandbox's region.
type account struct {
	id       string
	families map[string][]*taskdef.Revision // revision n at index n-1
	clusters map[string]*sim.Cluster
	// loadBalancers are each service's, which the simulation has no use for.
	loadBalancers map[*sim.Service][]LoadBalancer
	// runTokens are the tasks each RunTask clientToken started.
	runTokens map[string][]*sim.Task
	// commands are the world's, for RunTask's containers.
	commands []Command
}

// New starts ECS with the world's accounts loaded, every service running
// its task definition at steady state. The simulation runs until Close;
// ctx's values, not its end, go with its image pulls.
func New(ctx context.Context, cfg Config) (*Service, error) {
	settings := cfg.Settings
	if settings == nil {
		settings = &Settings{}
	}
	if err := settings.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e := &Service{
		cfg:      cfg,
		settings: settings,
		scheduler: sim.New(sim.Config{
			Region: cfg.Region, Partition: cfg.Partition, Registry: cfg.Registry, Faults: cfg.Faults,
			MissingImages: settings.MissingImages, InactiveLinger: settings.inactiveLinger(), Context: ctx, Logs: cfg.Logs,
		}),
		cancel:   cancel,
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
		accounts: map[string]*account{},
		buckets:  map[string]*tokenBucket{},
	}
	start := cfg.Now()
	ids := make([]string, 0, len(cfg.Accounts))
	for id := range cfg.Accounts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := e.load(id, cfg.Accounts[id], start); err != nil {
			cancel()
			return nil, fmt.Errorf("account %s: %w", id, err)
		}
	}
	go e.tick()
	return e, nil
}

// tick lets the simulation catch up with the clock until Close.
func (e *Service) tick() {
	defer close(e.stopped)
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-e.done:
			return
		case <-t.C:
			e.mu.Lock()
			e.advance(e.cfg.Now())
			e.mu.Unlock()
		}
	}
}

// Close stops the simulation.
func (e *Service) Close() {
	e.cancel()
	close(e.done)
	<-e.stopped
}

// API is ECS's: awsJson1_1.
func (e *Service) API() awsproto.API {
	return awsproto.API{Name: "ecs", Protocol: awsproto.JSON, Target: target}
}

// load registers an account's task definitions and builds its clusters and
// services, each running its task definition at steady state.
func (e *Service) load(id string, acct Account, start time.Time) error {
	a := e.account(id)
	for i, c := range acct.Commands {
		if c.Seconds < 0 || c.ExitCode < 0 || c.ExitCode > 255 {
			return fmt.Errorf("commands[%d]: seconds must not be negative and exitCode must be 0 to 255", i)
		}
	}
	a.commands = acct.Commands
	for i, raw := range acct.TaskDefinitions {
		body, in, apiErr := taskdef.Parse(raw, e.where())
		if apiErr != nil {
			return fmt.Errorf("task definition %d: %w", i, apiErr)
		}
		e.qualifyRoles(a, body, in)
		e.register(a, body, in, e.cfg.Partition.ARN("iam", "", id, "root"), start.Add(-sim.BootstrapAge))
	}
	clusterNames := make([]string, 0, len(acct.Clusters))
	for name := range acct.Clusters {
		clusterNames = append(clusterNames, name)
	}
	sort.Strings(clusterNames)
	for _, cname := range clusterNames {
		spec := acct.Clusters[cname]
		cl := sim.NewCluster(cname, e.arn(id, "cluster/"+cname))
		a.clusters[cname] = cl
		if spec == nil {
			continue
		}
		svcNames := make([]string, 0, len(spec.Services))
		for name := range spec.Services {
			svcNames = append(svcNames, name)
		}
		sort.Strings(svcNames)
		for _, sname := range svcNames {
			if err := e.loadService(a, cl, sname, spec.Services[sname], start); err != nil {
				return fmt.Errorf("cluster %s service %s: %w", cname, sname, err)
			}
		}
	}
	return nil
}

func (e *Service) loadService(a *account, cl *sim.Cluster, name string, spec *ServiceSpec, start time.Time) error {
	if spec == nil {
		return fmt.Errorf("empty")
	}
	td := e.lookupTaskDef(a, spec.TaskDefinition)
	if td == nil {
		return fmt.Errorf("task definition %q is not among the account's taskDefinitions", spec.TaskDefinition)
	}
	status := spec.Status
	if status == "" {
		status = "ACTIVE"
	}
	if status != "ACTIVE" && status != "DRAINING" && status != "INACTIVE" {
		return fmt.Errorf("status %q: want ACTIVE, DRAINING or INACTIVE", status)
	}
	if spec.DesiredCount < 0 {
		return fmt.Errorf("desiredCount %d is negative", spec.DesiredCount)
	}
	maxPct := spec.MaximumPercent
	if maxPct == 0 {
		maxPct = 200
	}
	minPct := 100
	if spec.MinimumHealthyPercent != nil {
		minPct = *spec.MinimumHealthyPercent
	}
	if maxPct < 100 || minPct < 0 || minPct > 100 {
		return fmt.Errorf("maximumPercent %d / minimumHealthyPercent %d: want at least 100 and 0-100", maxPct, minPct)
	}
	launchType := spec.LaunchType
	if launchType == "" {
		launchType = "FARGATE"
	}
	if launchType != "FARGATE" && launchType != "EC2" && launchType != "EXTERNAL" {
		return fmt.Errorf("launchType %q: want FARGATE, EC2 or EXTERNAL", launchType)
	}
	if !slices.Contains(td.Compatibilities, launchType) {
		return fmt.Errorf("task definition %s is not compatible with launch type %s (its compatibilities: %s): ECS would not run it", td.ARN, launchType, strings.Join(td.Compatibilities, ", "))
	}
	controller := spec.DeploymentController
	if controller == "" {
		controller = controllerECS
	}
	if controller != controllerECS && controller != controllerCodeDeploy {
		return fmt.Errorf("deploymentController %q: want ECS or CODE_DEPLOY", controller)
	}
	if controller == controllerCodeDeploy && len(spec.LoadBalancers) == 0 {
		return fmt.Errorf("a CODE_DEPLOY service needs a load balancer: CodeDeploy shifts its traffic")
	}
	strategy, apiErr := applyStrategy(sim.Strategy{}, &deploymentConfiguration{
		Strategy: spec.Strategy, BakeTimeInMinutes: spec.BakeTimeInMinutes, CanaryConfiguration: spec.CanaryConfiguration,
		LinearConfiguration: spec.LinearConfiguration, LifecycleHooks: spec.LifecycleHooks, Alarms: spec.Alarms,
	}, spec.LoadBalancers, controller)
	if apiErr != nil {
		return fmt.Errorf("deployment configuration: %s", apiErr.Message)
	}
	svc := &sim.Service{
		Account:        a.id,
		Cluster:        cl,
		Name:           name,
		ARN:            e.arn(a.id, "service/"+cl.Name+"/"+name),
		Status:         status,
		Desired:        spec.DesiredCount,
		CreatedBy:      e.cfg.Partition.ARN("iam", "", a.id, "root"),
		CircuitBreaker: sim.CircuitBreaker{Enable: spec.CircuitBreaker, Rollback: spec.CircuitBreaker && !spec.NoRollback},
		MaxPercent:     maxPct,
		MinPercent:     minPct,
		Timing:         e.settings.timing(spec),
		Strategy:       strategy,
		Controller:     controller,
		LaunchType:     launchType,
		Awsvpc:         td.Body["networkMode"] == "awsvpc",
	}
	cl.Services[name] = svc
	a.loadBalancers[svc] = spec.LoadBalancers
	if status == "INACTIVE" {
		svc.Desired = 0
	}
	e.scheduler.Bootstrap(svc, td, start)
	return nil
}

func (e *Service) account(id string) *account {
	a := e.accounts[id]
	if a == nil {
		a = &account{id: id, families: map[string][]*taskdef.Revision{}, clusters: map[string]*sim.Cluster{}, loadBalancers: map[*sim.Service][]LoadBalancer{}, runTokens: map[string][]*sim.Task{}}
		e.accounts[id] = a
	}
	return a
}

// arn is the ARN of an ECS resource of account.
func (e *Service) arn(account, resource string) string {
	return e.cfg.Partition.ARN("ecs", e.cfg.Region, account, resource)
}

// where is what registrations are checked against: the partition, and
// which images live in ECR.
func (e *Service) where() taskdef.Where {
	return taskdef.Where{Partition: e.cfg.Partition.ID, ECRImage: e.cfg.Registry.IsECRImage}
}

// qualifyRoles turns a task or execution role given by name into the
// role's ARN in the account, as ECS stores it ("ECS will fill in the account
// ID server-side when the task definition is registered",
// aws-actions/amazon-ecs-render-task-definition#19).
func (e *Service) qualifyRoles(a *account, body map[string]any, in *taskdef.Input) {
	for _, r := range []struct {
		member string
		role   *string
	}{{"taskRoleArn", &in.TaskRoleArn}, {"executionRoleArn", &in.ExecutionRoleArn}} {
		if *r.role != "" && !strings.HasPrefix(*r.role, "arn:") {
			*r.role = e.cfg.Partition.ARN("iam", "", a.id, "role/"+*r.role)
			body[r.member] = *r.role
		}
	}
}

// register stores the next revision of a family.
func (e *Service) register(a *account, body map[string]any, in *taskdef.Input, by string, now time.Time) *taskdef.Revision {
	revs := a.families[in.Family]
	td := &taskdef.Revision{
		Family:       in.Family,
		Revision:     len(revs) + 1,
		Body:         body,
		Containers:   taskdef.Containers(in),
		CPU:          in.CPU,
		Memory:       in.Memory,
		Status:       "ACTIVE",
		RegisteredAt: now,
		RegisteredBy: by,
		Tags:         in.Tags,
	}
	td.ARN = e.arn(a.id, fmt.Sprintf("task-definition/%s:%d", td.Family, td.Revision))
	td.RequiresAttributes, td.Compatibilities = taskdef.DerivedAttributes(in, e.cfg.Registry.IsECRImage)
	a.families[in.Family] = append(revs, td)
	return td
}

// lookupTaskDef resolves "family" or "family:revision"; a bare family
// means its latest ACTIVE revision. Nil when there is none.
func (e *Service) lookupTaskDef(a *account, name string) *taskdef.Revision {
	family, rev, hasRev := strings.Cut(name, ":")
	revs := a.families[family]
	if !hasRev {
		for i := len(revs) - 1; i >= 0; i-- {
			if revs[i].Status == "ACTIVE" {
				return revs[i]
			}
		}
		return nil
	}
	n, err := strconv.Atoi(rev)
	if err != nil || strconv.Itoa(n) != rev || n < 1 || n > len(revs) {
		return nil
	}
	return revs[n-1]
}

// Handle serves one ECS API call.
func (e *Service) Handle(c *awsproto.Call) (any, *awsproto.Error) {
	op, ok := operations[c.Operation]
	if !ok {
		return nil, awsproto.Errorf("UnknownOperationException", "Unknown operation %s", c.Operation)
	}
	if c.Caller == nil {
		return nil, awsproto.Errorf("AccessDeniedException", "Missing credentials")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.Now()
	if apiErr := e.throttle(c.Caller.Account, c.Operation, now); apiErr != nil {
		return nil, apiErr
	}
	e.advance(now)
	e.remember(now)
	return op(e, c, e.account(c.Caller.Account), now)
}

// remember keeps, when service deployments lag, what each looks like now,
// and forgets what no answer will show again.
func (e *Service) remember(now time.Time) {
	lag := e.settings.serviceDeploymentLag()
	if lag <= 0 {
		return
	}
	if e.seen == nil {
		e.seen = map[string][]sdSnapshot{}
	}
	for _, a := range e.accounts {
		for _, cl := range a.clusters {
			for _, svc := range cl.Services {
				for _, sd := range svc.ServiceDeployments {
					e.seen[sd.ARN] = append(e.seen[sd.ARN], sdSnapshot{at: now, json: e.serviceDeploymentJSON(svc, sd)})
					snaps := e.seen[sd.ARN]
					// Keep the newest snapshot old enough to be shown, and
					// those after it.
					for len(snaps) > 1 && !snaps[1].at.After(now.Add(-lag)) {
						snaps = snaps[1:]
					}
					e.seen[sd.ARN] = snaps
				}
			}
		}
	}
}

// lagging is what a service deployment looked like as long ago as the
// lag says; as it was first seen when it is younger than that.
func (e *Service) lagging(sd *sim.ServiceDeployment, current serviceDeploymentJSON, now time.Time) serviceDeploymentJSON {
	snaps := e.seen[sd.ARN]
	if len(snaps) == 0 {
		return current
	}
	shown := snaps[0].json
	for _, s := range snaps {
		if s.at.After(now.Add(-e.settings.serviceDeploymentLag())) {
			break
		}
		shown = s.json
	}
	return shown
}

// advance runs every service's simulation up to now.
func (e *Service) advance(now time.Time) {
	for _, a := range e.accounts {
		for _, cl := range a.clusters {
			for _, svc := range cl.Services {
				e.scheduler.Run(svc, now)
			}
			e.scheduler.RunStandalone(a.id, cl, now)
		}
	}
}

// authorize asks the authorizer whether the call's caller may perform
// action on resource, with the request's condition keys.
func (e *Service) authorize(c *awsproto.Call, action, resource string, keys map[string]string) *awsproto.Error {
	return e.cfg.Authorizer.Authorize(c.Caller, action, resource, keys)
}

// operation is one API action. Each runs under Service.mu with the
// simulation already caught up to now.
type operation func(e *Service, c *awsproto.Call, a *account, now time.Time) (any, *awsproto.Error)

var operations map[string]operation

func init() {
	operations = map[string]operation{
		"RegisterTaskDefinition":     (*Service).registerTaskDefinition,
		"DescribeTaskDefinition":     (*Service).describeTaskDefinition,
		"DeregisterTaskDefinition":   (*Service).deregisterTaskDefinition,
		"ListTaskDefinitions":        (*Service).listTaskDefinitions,
		"DescribeClusters":           (*Service).describeClusters,
		"DescribeServices":           (*Service).describeServices,
		"UpdateService":              (*Service).updateService,
		"ListServiceDeployments":     (*Service).listServiceDeployments,
		"DescribeServiceDeployments": (*Service).describeServiceDeployments,
		"ContinueServiceDeployment":  (*Service).continueServiceDeployment,
		"StopServiceDeployment":      (*Service).stopServiceDeployment,
		"ListTasks":                  (*Service).listTasks,
		"DescribeTasks":              (*Service).describeTasks,
		"RunTask":                    (*Service).runTask,
		"StopTask":                   (*Service).stopTask,
		"ListServices":               (*Service).listServices,
	}
}

// tokenBucket is one API action's throttle.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

// throttle takes a token from the caller's bucket for the action.
func (e *Service) throttle(account, action string, now time.Time) *awsproto.Error {
	limit, on := e.settings.throttleFor(action)
	if !on {
		return nil
	}
	key := account + "/" + action
	b := e.buckets[key]
	if b == nil {
		b = &tokenBucket{tokens: float64(limit.Burst), last: now}
		e.buckets[key] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(float64(limit.Burst), b.tokens+elapsed*limit.Rate)
		b.last = now
	}
	if b.tokens < 1 {
		return awsproto.Errorf("ThrottlingException", "Rate exceeded")
	}
	b.tokens--
	return nil
}
