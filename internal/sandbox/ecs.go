package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// ecsService stands in for Amazon ECS: task definitions, clusters and
// services from the world, and deployments that roll out in simulated time.
// One lock guards all of it; the simulation catches up with the clock on
// every request and on a background tick.
type ecsService struct {
	s        *Sandbox
	settings *ECSSettings

	ctx    context.Context // cancelled on Close; bounds image lookups
	cancel context.CancelFunc

	mu       sync.Mutex
	accounts map[string]*ecsAccount
	buckets  map[string]*ecsTokenBucket
	// bootImages are the images the world's services run when the sandbox
	// starts. Their tasks are running, so the images were pulled once: they
	// are taken to exist even when the registry backend does not hold them,
	// so that a rollback to the world's revision can start tasks again.
	bootImages map[string]bool
}

// ecsAccount is what ECS holds for one account in the sandbox's region.
type ecsAccount struct {
	id       string
	families map[string][]*ecsTaskDef // revision n at index n-1
	clusters map[string]*ecsCluster
}

// ecsCluster is a cluster, its services and every task it has run.
type ecsCluster struct {
	name     string
	arn      string
	services map[string]*ecsSvc
	tasks    map[string]*ecsTask // by task ID
	stopped  []*ecsTask          // oldest first, trimmed to ecsMaxStoppedTasks
}

const (
	ecsMaxServiceEvents = 100
	ecsMaxStoppedTasks  = 1000
	// ecsBootstrapAge is how long before the sandbox started its world's
	// services and their deployments are said to have been created.
	ecsBootstrapAge = 24 * time.Hour
	// ecsTickInterval is how often the background goroutine lets the
	// simulation catch up with the clock when nobody asks.
	ecsTickInterval = 50 * time.Millisecond
)

func newECSService(ctx context.Context, s *Sandbox) (*ecsService, error) {
	settings := s.world.ECS
	if settings == nil {
		settings = &ECSSettings{}
	}
	if err := settings.validate(); err != nil {
		return nil, err
	}
	e := &ecsService{
		s:        s,
		settings: settings,
		accounts: map[string]*ecsAccount{},
		buckets:  map[string]*ecsTokenBucket{},

		bootImages: map[string]bool{},
	}
	e.ctx, e.cancel = context.WithCancel(context.WithoutCancel(ctx))
	start := s.now()
	ids := make([]string, 0, len(s.world.Accounts))
	for id := range s.world.Accounts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := e.loadAccount(id, s.world.Accounts[id], start); err != nil {
			return nil, fmt.Errorf("account %s: %w", id, err)
		}
	}

	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(ecsTickInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				e.mu.Lock()
				e.advance(e.s.now())
				e.mu.Unlock()
			}
		}
	}()
	s.closers = append(s.closers, func() {
		e.cancel()
		close(done)
		<-stopped
	})
	return e, nil
}

// loadAccount registers an account's task definitions and builds its
// clusters and services, each running its task definition at steady state.
func (e *ecsService) loadAccount(id string, acct *Account, start time.Time) error {
	a := e.account(id)
	for i, raw := range acct.TaskDefinitions {
		raw = ecsImageTemplate.ReplaceAllFunc(raw, func(m []byte) []byte {
			return []byte(e.s.ecr.registryHost(string(ecsImageTemplate.FindSubmatch(m)[1])))
		})
		body, in, apiErr := ecsParseTaskDefinition(raw)
		if apiErr != nil {
			return fmt.Errorf("task definition %d: %w", i, apiErr)
		}
		e.register(a, body, in, fmt.Sprintf("arn:aws:iam::%s:root", id), start.Add(-ecsBootstrapAge))
	}
	clusterNames := make([]string, 0, len(acct.Clusters))
	for name := range acct.Clusters {
		clusterNames = append(clusterNames, name)
	}
	sort.Strings(clusterNames)
	for _, cname := range clusterNames {
		spec := acct.Clusters[cname]
		cl := &ecsCluster{
			name:     cname,
			arn:      e.arn(id, "cluster/"+cname),
			services: map[string]*ecsSvc{},
			tasks:    map[string]*ecsTask{},
		}
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

func (e *ecsService) loadService(a *ecsAccount, cl *ecsCluster, name string, spec *ServiceSpec, start time.Time) error {
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
	created := start.Add(-ecsBootstrapAge)
	svc := &ecsSvc{
		account:    a.id,
		cluster:    cl,
		name:       name,
		arn:        e.arn(a.id, "service/"+cl.name+"/"+name),
		status:     status,
		desired:    spec.DesiredCount,
		createdAt:  created,
		createdBy:  fmt.Sprintf("arn:aws:iam::%s:root", a.id),
		cbEnable:   spec.CircuitBreaker,
		cbRollback: spec.CircuitBreaker && !spec.NoRollback,
		maxPct:     maxPct,
		minPct:     minPct,
		timing:     e.settings.timing(spec),
		clock:      start,
	}
	cl.services[name] = svc
	if status == "INACTIVE" {
		svc.desired = 0
	}
	d := e.newDeployment(svc, td, created)
	d.rolloutState, d.rolloutReason = "COMPLETED", "ECS deployment "+d.id+" completed."
	sd := d.sd
	sd.status = "SUCCESSFUL"
	sd.finishedAt, sd.updatedAt = created.Add(time.Minute), created.Add(time.Minute)
	sd.cbStatus = "MONITORING_COMPLETE"
	if status == "ACTIVE" || status == "DRAINING" {
		for _, c := range td.containers {
			e.bootImages[c.Image] = true
		}
		for range svc.desired {
			t := e.newTask(svc, d, created)
			t.lastStatus = "RUNNING"
			t.pullStartedAt, t.pullStoppedAt, t.startedAt = created, created, created
			t.next = time.Time{}
			for _, c := range t.containers {
				c.lastStatus = "RUNNING"
			}
		}
	}
	svc.addEvent(created.Add(time.Minute), "(service %s) has reached a steady state.", name)
	return nil
}

func (e *ecsService) account(id string) *ecsAccount {
	a := e.accounts[id]
	if a == nil {
		a = &ecsAccount{id: id, families: map[string][]*ecsTaskDef{}, clusters: map[string]*ecsCluster{}}
		e.accounts[id] = a
	}
	return a
}

func (e *ecsService) arn(account, resource string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:%s", e.s.world.Region, account, resource)
}

// register stores the next revision of a family.
func (e *ecsService) register(a *ecsAccount, body map[string]any, in *ecsRegisterInput, by string, now time.Time) *ecsTaskDef {
	revs := a.families[in.Family]
	td := &ecsTaskDef{
		family:       in.Family,
		revision:     len(revs) + 1,
		body:         body,
		containers:   ecsContainerSpecs(in),
		cpu:          in.CPU,
		memory:       in.Memory,
		status:       "ACTIVE",
		registeredAt: now,
		registeredBy: by,
		tags:         slices.Clone(in.Tags),
	}
	td.arn = e.arn(a.id, fmt.Sprintf("task-definition/%s:%d", td.family, td.revision))
	td.requiresAttributes, td.compatibilities = ecsDerivedAttributes(in, e.onECRFront)
	a.families[in.Family] = append(revs, td)
	return td
}

// lookupTaskDef resolves "family", "family:revision" or an ARN; a bare
// family means its latest ACTIVE revision. Nil when there is none.
func (e *ecsService) lookupTaskDef(a *ecsAccount, ref string) *ecsTaskDef {
	if i := strings.Index(ref, ":task-definition/"); strings.HasPrefix(ref, "arn:") && i >= 0 {
		ref = ref[i+len(":task-definition/"):]
	}
	family, rev, hasRev := strings.Cut(ref, ":")
	revs := a.families[family]
	if !hasRev {
		for i := len(revs) - 1; i >= 0; i-- {
			if revs[i].status == "ACTIVE" {
				return revs[i]
			}
		}
		return nil
	}
	var n int
	if _, err := fmt.Sscanf(rev, "%d", &n); err != nil || fmt.Sprint(n) != rev || n < 1 || n > len(revs) {
		return nil
	}
	return revs[n-1]
}

// onECRFront reports whether an image lives on one of the sandbox's ECR
// fronts (or names an ECR registry at all), so that a task must pull it
// from there; other registries, public.ecr.aws among them, are assumed
// pullable.
func (e *ecsService) onECRFront(ref string) bool {
	host, _, ok := strings.Cut(ref, "/")
	if !ok {
		return false
	}
	if strings.Contains(host, ".dkr.ecr.") {
		return true
	}
	for id := range e.s.world.Accounts {
		if h := e.s.ecr.registryHost(id); h != "" && strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// handle serves one ECS API call.
func (e *ecsService) handle(c *Call) (any, *APIError) {
	op, ok := ecsOperations[c.Operation]
	if !ok {
		return nil, &APIError{Status: 400, Code: "UnknownOperationException", Message: "Unknown operation " + c.Operation}
	}
	if c.Caller == nil {
		return nil, &APIError{Status: 400, Code: "AccessDeniedException", Message: "Missing credentials"}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.s.now()
	if apiErr := e.throttle(c.Caller.Account, c.Operation, now); apiErr != nil {
		return nil, apiErr
	}
	e.advance(now)
	return op(e, c, e.account(c.Caller.Account), now)
}

type ecsOperation func(e *ecsService, c *Call, a *ecsAccount, now time.Time) (any, *APIError)

var ecsOperations map[string]ecsOperation

func init() {
	ecsOperations = map[string]ecsOperation{
		"RegisterTaskDefinition":     (*ecsService).registerTaskDefinition,
		"DescribeTaskDefinition":     (*ecsService).describeTaskDefinition,
		"DeregisterTaskDefinition":   (*ecsService).deregisterTaskDefinition,
		"ListTaskDefinitions":        (*ecsService).listTaskDefinitions,
		"DescribeClusters":           (*ecsService).describeClusters,
		"DescribeServices":           (*ecsService).describeServices,
		"UpdateService":              (*ecsService).updateService,
		"ListServiceDeployments":     (*ecsService).listServiceDeployments,
		"DescribeServiceDeployments": (*ecsService).describeServiceDeployments,
		"ListTasks":                  (*ecsService).listTasks,
		"DescribeTasks":              (*ecsService).describeTasks,
	}
}

// ecsTokenBucket is one API action's throttle.
type ecsTokenBucket struct {
	tokens float64
	last   time.Time
}

// throttle takes a token from the caller's bucket for the action.
func (e *ecsService) throttle(account, action string, now time.Time) *APIError {
	limit, on := e.settings.throttleFor(action)
	if !on {
		return nil
	}
	key := account + "/" + action
	b := e.buckets[key]
	if b == nil {
		b = &ecsTokenBucket{tokens: float64(limit.Burst), last: now}
		e.buckets[key] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(float64(limit.Burst), b.tokens+elapsed*limit.Rate)
		b.last = now
	}
	if b.tokens < 1 {
		return &APIError{Status: 400, Code: "ThrottlingException", Message: "Rate exceeded"}
	}
	b.tokens--
	return nil
}

// ecsClusterName reads a cluster parameter: a name or an ARN, "default" when empty.
func ecsClusterName(ref string) string {
	if ref == "" {
		return "default"
	}
	if i := strings.Index(ref, ":cluster/"); strings.HasPrefix(ref, "arn:") && i >= 0 {
		return ref[i+len(":cluster/"):]
	}
	return ref
}

// ecsServiceName reads a service parameter: a name or an ARN, in its long
// (service/CLUSTER/NAME) or short (service/NAME) form.
func ecsServiceName(ref string) string {
	if i := strings.Index(ref, ":service/"); strings.HasPrefix(ref, "arn:") && i >= 0 {
		rest := ref[i+len(":service/"):]
		return rest[strings.LastIndex(rest, "/")+1:]
	}
	return ref
}

func ecsClusterNotFound() *APIError {
	return &APIError{Status: 400, Code: "ClusterNotFoundException", Message: "Cluster not found."}
}

func (e *ecsService) cluster(a *ecsAccount, ref string) (*ecsCluster, *APIError) {
	cl := a.clusters[ecsClusterName(ref)]
	if cl == nil {
		return nil, ecsClusterNotFound()
	}
	return cl, nil
}

// ecsRandomDigits returns n decimal digits, the first not zero.
func ecsRandomDigits(n int) string {
	var b strings.Builder
	for i := range n {
		lo := int64(0)
		if i == 0 {
			lo = 1
		}
		d, err := rand.Int(rand.Reader, big.NewInt(10-lo))
		if err != nil {
			panic(err)
		}
		b.WriteByte(byte('0' + lo + d.Int64()))
	}
	return b.String()
}

func ecsRandomHex(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)[:n]
}

const ecsBase62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func ecsRandomBase62(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = ecsBase62[int(b[i])%len(ecsBase62)]
	}
	return string(b)
}
