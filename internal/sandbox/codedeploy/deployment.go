package codedeploy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/faults"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/randid"
)

// ecsEvents are the lifecycle events of an ECS deployment, in order.
var ecsEvents = []string{
	"BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic",
	"BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic",
}

// hookEvents are the events an ECS AppSpec may run a Lambda hook at.
var hookEvents = []string{"BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"}

// The statuses of a deployment.
const (
	statusCreated    = "Created"
	statusInProgress = "InProgress"
	statusSucceeded  = "Succeeded"
	statusFailed     = "Failed"
	statusStopped    = "Stopped"
)

// The statuses of a lifecycle event.
const (
	eventPending    = "Pending"
	eventInProgress = "InProgress"
	eventSucceeded  = "Succeeded"
	eventFailed     = "Failed"
	eventSkipped    = "Skipped"
)

// maxReplacementFailures is how many of the replacement task set's tasks
// may fail before Install gives up on it.
const maxReplacementFailures = 3

// appSpec is what an ECS AppSpec says: the task definition, the load
// balancer's container and port, and the Lambda hooks by event.
type appSpec struct {
	TaskDefinition string
	Container      string
	Port           int
	Hooks          map[string]string
}

// parseAppSpec reads an ECS AppSpec, YAML or JSON, as CodeDeploy does.
func parseAppSpec(content string) (appSpec, string) {
	var raw struct {
		Version   any `yaml:"version"`
		Resources []map[string]struct {
			Type       string `yaml:"Type"`
			Properties struct {
				TaskDefinition   string `yaml:"TaskDefinition"`
				LoadBalancerInfo struct {
					ContainerName string `yaml:"ContainerName"`
					ContainerPort int    `yaml:"ContainerPort"`
				} `yaml:"LoadBalancerInfo"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
		Hooks []map[string]string `yaml:"Hooks"`
	}
	if err := yaml.Unmarshal([]byte(content), &raw); err != nil {
		return appSpec{}, "The AppSpec file cannot be parsed: " + err.Error()
	}
	if fmt.Sprint(raw.Version) != "0" && fmt.Sprint(raw.Version) != "0.0" {
		return appSpec{}, "The AppSpec file's version must be 0.0."
	}
	if len(raw.Resources) != 1 || len(raw.Resources[0]) != 1 {
		return appSpec{}, "The AppSpec file must have exactly one resource, the ECS service."
	}
	var spec appSpec
	for _, r := range raw.Resources[0] {
		if r.Type != "AWS::ECS::Service" {
			return appSpec{}, fmt.Sprintf("The AppSpec file's resource has type %q; an ECS deployment's is AWS::ECS::Service.", r.Type)
		}
		p := r.Properties
		if p.TaskDefinition == "" {
			return appSpec{}, "The AppSpec file's resource has no TaskDefinition."
		}
		if p.LoadBalancerInfo.ContainerName == "" || p.LoadBalancerInfo.ContainerPort == 0 {
			return appSpec{}, "The AppSpec file's resource has no LoadBalancerInfo with ContainerName and ContainerPort."
		}
		spec = appSpec{TaskDefinition: p.TaskDefinition, Container: p.LoadBalancerInfo.ContainerName, Port: p.LoadBalancerInfo.ContainerPort, Hooks: map[string]string{}}
	}
	for _, h := range raw.Hooks {
		for event, fn := range h {
			if !slices.Contains(hookEvents, event) {
				return appSpec{}, fmt.Sprintf("The AppSpec file names a hook for %s; an ECS deployment's hooks are %s.", event, strings.Join(hookEvents, ", "))
			}
			spec.Hooks[event] = fn
		}
	}
	return spec, ""
}

// checkSHA256 reports whether content has the SHA-256 the caller gave.
func checkSHA256(content, sum string) bool {
	if sum == "" {
		return true
	}
	h := sha256.Sum256([]byte(content))
	return strings.EqualFold(hex.EncodeToString(h[:]), sum)
}

// lifecycleEvent is one lifecycle event of a deployment.
type lifecycleEvent struct {
	name, status string
	start, end   time.Time
	diag         *diagnostics
	// doneAt is when a timed event (a hook, a test traffic shift) ends;
	// fails says that the hook answers Failed.
	doneAt time.Time
	fails  bool
}

// shift is one production traffic step.
type shift struct {
	at     time.Time
	weight float64
}

// deployment is one CodeDeploy deployment of an ECS service.
type deployment struct {
	id, app, groupName string
	group              *DeploymentGroup
	config             string
	status, creator    string
	description        string
	revision           *revisionLocation
	spec               appSpec
	autoRollback       *AutoRollbackConfiguration

	createTime, startTime, completeTime, updatedAt time.Time
	errInfo                                        *errorInformation
	rollback                                       *rollbackInfo
	// rollbackOf is the deployment a rollback deployment rolls back.
	rollbackOf *deployment

	events  []*lifecycleEvent
	current int

	cluster, service, serviceARN string
	// blue and green are the original and replacement task sets, and
	// blueTaskDef the revision blue runs; weight and testWeight green's
	// share of production and test traffic.
	blue, green, blueTaskDef string
	weight, testWeight       float64
	shifts                   []shift
	shiftedAt                time.Time
	// terminateAt is when the original task set goes, once the traffic
	// has moved; draining the task set being drained before the end.
	terminationStarted bool
	terminateAt        time.Time
	draining           string
}

// newDeploymentID is a CodeDeploy deployment ID: d- and 9 characters.
func newDeploymentID() string {
	return "d-" + strings.ToUpper(randid.Base62(9))
}

// active reports whether a deployment has not ended.
func (d *deployment) active() bool {
	return d.status == statusCreated || d.status == statusInProgress
}

// step moves a deployment on to now, as far as it goes.
func (s *Service) step(a *account, d *deployment, now time.Time) {
	for range 4 * len(ecsEvents) {
		if !s.stepOnce(a, d, now) {
			return
		}
		d.updatedAt = now
	}
}

// stepOnce makes the deployment's next change, if it is due; it reports
// whether it made one.
func (s *Service) stepOnce(a *account, d *deployment, now time.Time) bool {
	switch {
	case d.status == statusCreated:
		if now.Before(d.createTime.Add(s.cfg.Stage)) {
			return false
		}
		d.status, d.startTime = statusInProgress, now
		return true
	case d.status != statusInProgress:
		return false
	case d.rollbackOf != nil:
		return s.stepRollback(a, d, now)
	case d.current < len(d.events):
		e := d.events[d.current]
		if e.status == eventPending {
			s.startEvent(a, d, e, now)
			return true
		}
		return s.finishEvent(a, d, e, now)
	}
	// Every event is done: the original task set goes after the wait.
	if !d.terminationStarted {
		d.terminationStarted = true
		d.terminateAt = now.Add(time.Duration(d.group.terminationWait()) * s.cfg.Minute)
		return true
	}
	if d.draining == "" {
		if now.Before(d.terminateAt) {
			return false
		}
		if apiErr := s.cfg.ECS.DeleteTaskSet(a.id, d.cluster, d.service, d.blue); apiErr != nil {
			s.fail(a, d, nil, "ECS_UPDATE_ERROR", "The original task set could not be deleted: "+apiErr.Message, now)
			return true
		}
		d.draining = d.blue
		return true
	}
	if ts, apiErr := s.cfg.ECS.TaskSet(a.id, d.cluster, d.service, d.draining); apiErr == nil && !ts.Gone {
		return false
	}
	d.status, d.completeTime = statusSucceeded, now
	return true
}

// startEvent starts a lifecycle event.
func (s *Service) startEvent(a *account, d *deployment, e *lifecycleEvent, now time.Time) {
	e.status, e.start = eventInProgress, now
	switch e.name {
	case "Install":
		ts, apiErr := s.cfg.ECS.CreateTaskSet(a.id, d.cluster, d.service, d.spec.TaskDefinition, d.spec.Container, d.spec.Port, d.id)
		if apiErr != nil {
			e.diag = &diagnostics{ErrorCode: "UnknownError", Message: apiErr.Message}
			s.fail(a, d, e, "ECS_UPDATE_ERROR", "The ECS service could not create the replacement task set: "+apiErr.Message, now)
			return
		}
		d.green = ts.ID
	case "AllowTestTraffic":
		if !d.group.hasTestListener() {
			e.status, e.end = eventSkipped, now
			return
		}
		e.doneAt = now.Add(s.cfg.Stage)
	case "AllowTraffic":
		at := now.Add(s.cfg.Stage)
		for _, w := range deploymentConfigs[d.config].steps() {
			d.shifts = append(d.shifts, shift{at: at, weight: w})
			at = at.Add(time.Duration(deploymentConfigs[d.config].Minutes) * s.cfg.Minute)
		}
		d.shiftedAt = d.shifts[len(d.shifts)-1].at.Add(s.cfg.Stage)
	default: // a hook event
		fn := d.spec.Hooks[e.name]
		if fn == "" {
			e.status, e.end = eventSucceeded, now
			d.current++
			return
		}
		e.doneAt = now.Add(s.cfg.Stage)
		_, e.fails = s.cfg.Faults.TakeMatching("codedeploy", "lifecycle-hook", func(f faults.Fault) bool { return f.Stage == "" || f.Stage == e.name })
	}
}

// finishEvent ends an event in progress when its work is done.
func (s *Service) finishEvent(a *account, d *deployment, e *lifecycleEvent, now time.Time) bool {
	switch e.name {
	case "Install":
		ts, apiErr := s.cfg.ECS.TaskSet(a.id, d.cluster, d.service, d.green)
		switch {
		case apiErr != nil:
			return false
		case ts.FailedTasks >= maxReplacementFailures:
			e.diag = &diagnostics{ErrorCode: "UnknownError", Message: fmt.Sprintf("%d tasks of the replacement task set failed to start.", ts.FailedTasks)}
			s.fail(a, d, e, "ECS_UPDATE_ERROR", fmt.Sprintf("The ECS service cannot reach a steady state: %d tasks of the replacement task set %s failed to start.", ts.FailedTasks, d.green), now)
			return true
		case !ts.Steady:
			return false
		}
	case "AllowTraffic":
		for len(d.shifts) > 0 && !now.Before(d.shifts[0].at) {
			d.weight = d.shifts[0].weight
			d.shifts = d.shifts[1:]
		}
		if len(d.shifts) > 0 || now.Before(d.shiftedAt) {
			return false
		}
		if apiErr := s.cfg.ECS.SetPrimaryTaskSet(a.id, d.cluster, d.service, d.green); apiErr != nil {
			s.fail(a, d, e, "ECS_UPDATE_ERROR", "The replacement task set could not become the primary one: "+apiErr.Message, now)
			return true
		}
	case "AllowTestTraffic":
		if now.Before(e.doneAt) {
			return false
		}
		d.testWeight = 100
	default: // a hook
		if now.Before(e.doneAt) {
			return false
		}
		if e.fails {
			fn := d.spec.Hooks[e.name]
			e.diag = &diagnostics{ErrorCode: "ScriptFailed", ScriptName: fn, Message: "The Lambda function " + fn + " reported Failed to PutLifecycleEventHookExecutionStatus."}
			s.fail(a, d, e, "HOOK_EXECUTION_FAILURE", fmt.Sprintf("The deployment failed because the %s lifecycle event hook %s failed.", e.name, fn), now)
			return true
		}
	}
	e.status, e.end = eventSucceeded, now
	d.current++
	return true
}

// steps are the production traffic weights of a configuration, ending at
// 100.
func (t trafficShift) steps() []float64 {
	switch {
	case t.Canary:
		return []float64{t.Percent, 100}
	case t.Linear:
		var out []float64
		for w := t.Percent; w < 100; w += t.Percent {
			out = append(out, w)
		}
		return append(out, 100)
	}
	return []float64{100}
}

// fail ends a deployment that failed at event e (nil when it failed
// between events), and rolls it back when its group says so.
func (s *Service) fail(a *account, d *deployment, e *lifecycleEvent, code, msg string, now time.Time) {
	if e != nil {
		e.status, e.end = eventFailed, now
	}
	for _, later := range d.events {
		if later.status == eventPending {
			later.status = eventSkipped
		}
	}
	d.status, d.completeTime = statusFailed, now
	d.errInfo = &errorInformation{Code: code, Message: msg}
	if d.rollsBackOn("DEPLOYMENT_FAILURE") {
		r := s.startRollback(a, d, now)
		d.rollback = &rollbackInfo{RollbackDeploymentID: r.id, RollbackMessage: fmt.Sprintf("Deployment %s failed; CodeDeploy rolls it back with deployment %s.", d.id, r.id)}
	}
}

// stop ends a deployment at StopDeployment's request and rolls it back
// when asked to.
func (s *Service) stop(a *account, d *deployment, rollBack bool, now time.Time) {
	for _, e := range d.events {
		switch e.status {
		case eventInProgress:
			e.status, e.end = eventFailed, now
		case eventPending:
			e.status = eventSkipped
		}
	}
	d.status, d.completeTime = statusStopped, now
	d.errInfo = &errorInformation{Code: "MANUAL_STOP", Message: "The deployment was stopped by a StopDeployment request."}
	if rollBack {
		r := s.startRollback(a, d, now)
		d.rollback = &rollbackInfo{RollbackDeploymentID: r.id, RollbackMessage: fmt.Sprintf("Deployment %s was stopped; CodeDeploy rolls it back with deployment %s.", d.id, r.id)}
	}
}

// rollsBackOn reports whether a rollback follows event: the deployment's
// own autoRollbackConfiguration, or else its group's.
func (d *deployment) rollsBackOn(event string) bool {
	if r := d.autoRollback; r != nil {
		return r.Enabled && slices.Contains(r.Events, event)
	}
	return d.group.rollsBackOn(event)
}

// startRollback starts the deployment that rolls d back: production and
// test traffic return to the original task set, and the replacement goes.
func (s *Service) startRollback(a *account, d *deployment, now time.Time) *deployment {
	r := &deployment{
		id: newDeploymentID(), app: d.app, groupName: d.groupName, group: d.group, config: d.config,
		status: statusInProgress, creator: "codeDeployRollback", createTime: now, startTime: now, updatedAt: now,
		rollbackOf: d, cluster: d.cluster, service: d.service, serviceARN: d.serviceARN, blue: d.blue, green: d.green,
		weight: d.weight, testWeight: d.testWeight,
		blueTaskDef: d.blueTaskDef,
		revision:    appSpecRevision(d.spec.Hooks, d.blueTaskDef, d.spec.Container, d.spec.Port),
		rollback:    &rollbackInfo{RollbackTriggeringDeploymentID: d.id, RollbackMessage: fmt.Sprintf("Rollback of deployment %s.", d.id)},
	}
	for _, name := range ecsEvents {
		r.events = append(r.events, &lifecycleEvent{name: name, status: eventPending})
	}
	a.add(r)
	return r
}

// stepRollback moves a rollback deployment on: the traffic goes back to
// the original task set, which becomes the primary again, and the
// replacement drains away.
func (s *Service) stepRollback(a *account, r *deployment, now time.Time) bool {
	traffic := r.events[slices.Index(ecsEvents, "AllowTraffic")]
	if traffic.status == eventPending {
		for _, e := range r.events {
			e.status, e.start, e.end = eventSkipped, now, now
		}
		traffic.status = eventInProgress
		r.rollbackOf.weight, r.rollbackOf.testWeight, r.weight, r.testWeight = 0, 0, 0, 0
		_ = s.cfg.ECS.SetPrimaryTaskSet(a.id, r.cluster, r.service, r.blue)
		if r.green != "" {
			_ = s.cfg.ECS.DeleteTaskSet(a.id, r.cluster, r.service, r.green)
		}
		return true
	}
	if traffic.status != eventInProgress {
		return false
	}
	if r.green != "" {
		if ts, apiErr := s.cfg.ECS.TaskSet(a.id, r.cluster, r.service, r.green); apiErr == nil && !ts.Gone {
			return false
		}
	}
	traffic.status, traffic.end = eventSucceeded, now
	r.status, r.completeTime = statusSucceeded, now
	return true
}

// appSpecRevision is the AppSpecContent revision of an ECS deployment of
// taskDefinition.
func appSpecRevision(hooks map[string]string, taskDefinition, container string, port int) *revisionLocation {
	type loadBalancerInfo struct {
		ContainerName string `json:"ContainerName"`
		ContainerPort int    `json:"ContainerPort"`
	}
	spec := map[string]any{
		"version": 0.0,
		"Resources": []map[string]any{{"TargetService": map[string]any{
			"Type": "AWS::ECS::Service",
			"Properties": map[string]any{
				"TaskDefinition":   taskDefinition,
				"LoadBalancerInfo": loadBalancerInfo{ContainerName: container, ContainerPort: port},
			},
		}}},
	}
	var hookList []map[string]string
	for _, event := range hookEvents {
		if fn := hooks[event]; fn != "" {
			hookList = append(hookList, map[string]string{event: fn})
		}
	}
	if hookList != nil {
		spec["Hooks"] = hookList
	}
	data, _ := json.Marshal(spec)
	h := sha256.Sum256(data)
	return &revisionLocation{RevisionType: "AppSpecContent", AppSpecContent: &appSpecContent{Content: string(data), Sha256: hex.EncodeToString(h[:])}}
}
