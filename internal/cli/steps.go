package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/awsauth"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/registry"
)

// The step outputs, as action.yml declares them.
const (
	OutputImageURI          = "image-uri"
	OutputImageDigest       = "image-digest"
	OutputImage             = "image"
	OutputTaskDefinitionARN = "task-definition-arn"
	OutputDeploymentID      = "deployment-id"
	OutputResults           = "results"
	OutputDeploymentURL     = "deployment-url"
	OutputCloudTrailURL     = "cloudtrail-url"
	OutputRunTaskARN        = "run-task-arn"
	OutputRunTaskExitCode   = "run-task-exit-code"
)

// OutputNames lists every output the action can write.
func OutputNames() []string {
	return []string{OutputImageURI, OutputImageDigest, OutputImage, OutputTaskDefinitionARN, OutputDeploymentID, OutputResults,
		OutputDeploymentURL, OutputCloudTrailURL, OutputRunTaskARN, OutputRunTaskExitCode}
}

// preparation is the deploy's first half (reading the services and their
// task definitions), which runs while the image is pushed.
type preparation struct {
	done   chan struct{}
	cancel context.CancelFunc
	plan   *deploy.Plan
	err    error
	log    *deferredLogger
}

// startPrepare starts reading the services for the deploy, with the
// repository the push goes to (empty when nothing is pushed). Its log is
// held back until the Deploy group prints it.
func (r *run) startPrepare(ctx context.Context, repositoryURI string) {
	r.prepMu.Lock()
	defer r.prepMu.Unlock()
	if r.prep != nil {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &preparation{done: make(chan struct{}), cancel: cancel, log: &deferredLogger{out: r.out}}
	r.prep = p
	req := r.deployRequest(repositoryURI)
	client := ecs.NewFromConfig(r.awsCfg)
	go func() {
		defer close(p.done)
		p.plan, p.err = deploy.Prepare(ctx, client, req, p.log)
	}()
}

// stopBackground cancels a preparation that a failed push left behind and
// waits for it, so no goroutine outlives Run.
func (r *run) stopBackground() {
	r.prepMu.Lock()
	p := r.prep
	r.prepMu.Unlock()
	if p != nil {
		p.cancel()
		<-p.done
	}
}

func (r *run) deployRequest(repositoryURI string) deploy.Request {
	var check *deploy.PauseCheck
	if r.cfg.TestURL != "" {
		// The run's client bounds every request; the check bounds the whole.
		check = &deploy.PauseCheck{
			URL:       r.cfg.TestURL,
			Successes: r.cfg.TestURLSuccesses,
			Timeout:   time.Duration(r.cfg.TestURLTimeoutSeconds) * time.Second,
			Client:    r.deps.HTTPClient,
		}
	}
	var oneOff *deploy.OneOff
	if r.cfg.RunTask {
		o := r.cfg.RunTaskOptions
		oneOff = &deploy.OneOff{
			Container: o.Container, Command: o.Command, LaunchType: ecstypes.LaunchType(o.LaunchType),
			Subnets: o.Subnets, SecurityGroups: o.SecurityGroups, AssignPublicIP: ecstypes.AssignPublicIp(o.AssignPublicIP),
			StartedBy: o.StartedBy,
		}
		for _, cp := range o.CapacityProviders {
			oneOff.CapacityProviders = append(oneOff.CapacityProviders, ecstypes.CapacityProviderStrategyItem{
				// The config holds them to 0-1000 and 0-100000, as ECS does.
				CapacityProvider: aws.String(cp.Name), Weight: int32(cp.Weight), Base: int32(cp.Base), //nolint:gosec // G115: bounded by config
			})
		}
	}
	var logs deploy.LogsAPI
	if r.cfg.RunTask {
		logs = cloudwatchlogs.NewFromConfig(r.awsCfg)
	}
	return deploy.Request{
		PauseCheck:                check,
		RollbackOnCancel:          r.cfg.RollbackOnCancel,
		CodeDeploy:                codedeploy.NewFromConfig(r.awsCfg),
		CodeDeployApplication:     r.cfg.CodeDeployApplication,
		CodeDeployDeploymentGroup: r.cfg.CodeDeployDeploymentGroup,
		OneOff:                    oneOff,
		Logs:                      logs,
		KeepRevisions:             r.cfg.KeepRevisions,
		Cluster:                   r.cfg.Cluster,
		Services:                  r.cfg.Services,
		TaskDefinitionFile:        r.cfg.TaskDefinition,
		ContainerNames:            r.cfg.ContainerNames,
		Image:                     deploy.Image{RepositoryURI: repositoryURI, Tags: r.cfg.Tags},
		ForceNewDeployment:        r.cfg.ForceNewDeployment,
		Wait:                      r.cfg.WaitForServiceStability,
		WaitTimeout:               time.Duration(r.cfg.WaitForMinutes) * time.Minute,
		Caller:                    r.result.AssumedRoleARN,
		Region:                    r.cfg.AWSRegion,
		Retry:                     r.retry,
	}
}

// pushTimed pushes and records the push's phases on the timeline.
func (r *run) pushTimed(ctx context.Context, req registry.PushRequest, progress *ghaction.LineWriter) (*registry.PushResult, error) {
	start := r.deps.Now()
	res, err := registry.Push(ctx, r.awsCfg, req, progress)
	for _, s := range pushSpans(start, r.deps.Now(), res) {
		r.timeline.add(s)
	}
	return res, err
}

// push logs into ECR and pushes the image under every tag. When a deploy
// follows, the services are read as soon as the repository is known, while
// the layers upload.
func (r *run) push(ctx context.Context) error {
	req := registry.PushRequest{
		Image:      r.cfg.Image,
		Source:     r.deps.ImageSource,
		Repository: r.cfg.Repository,
		Tags:       r.cfg.Tags,
		Getenv:     r.deps.Getenv,
		Mask:       r.out.Mask,
		HTTPClient: r.deps.HTTPClient,
		Retry:      r.retry,
		Noticef:    r.out.Noticef,
		Now:        r.deps.Now,

		ProgressInterval: r.deps.ProgressInterval,
	}
	if r.cfg.DeployRequested() {
		req.OnRepository = func(uri string) { r.startPrepare(ctx, uri) }
		req.BeforeTags = r.awaitPlan
	}
	r.out.Infof("Pushing %s to %s, tags %v", describeImageInput(r.cfg.Image, r.deps.ImageSource != nil), r.cfg.Repository, r.cfg.Tags)
	progress := r.out.Writer()
	res, err := r.pushTimed(ctx, req, progress)
	_ = progress.Flush() // a write failure is kept by the Runner (Err)
	if err != nil {
		return awsauth.Explained(err)
	}
	r.result.Repository = res.Repository
	r.result.ImageURI = res.ImageURI
	r.result.ImageDigest = res.Digest
	r.result.Image = res.Image
	r.result.Platforms = res.Platforms
	r.result.Source = res.Source
	what := "image"
	if res.Index {
		what = "index"
	}
	if res.Source != "" {
		r.out.Infof("Source: %s", res.Source)
	}
	r.out.Infof("Pushed %s %s for %s: %d layers uploaded (%s), %d mounted, %d already there",
		what, res.Image, strings.Join(res.Platforms, ", "), res.LayersPushed, registry.HumanSize(res.BytesPushed), res.LayersMounted, res.LayersSkipped)
	return r.setOutputs(map[string]string{
		OutputImageURI:    res.ImageURI,
		OutputImageDigest: res.Digest,
		OutputImage:       res.Image,
		// What the run's session did, wherever the push or deploy got.
		OutputCloudTrailURL: r.result.CloudTrailURL,
	})
}

func describeImageInput(image string, inMemory bool) string {
	if inMemory {
		return "the generated image " + image
	}
	return image
}

// deploy rolls the pushed image out to every service and watches it.
func (r *run) deploy(ctx context.Context) error {
	// Without a push (force-new-deployment alone) nothing started reading
	// the services yet.
	r.startPrepare(ctx, "")
	p := r.prep
	<-p.done
	p.log.flush()

	// A plan whose preparation failed deploys nothing; its results say
	// which services were not started.
	results, err := p.plan.Deploy(ctx, deploy.Image{RepositoryURI: r.result.Repository, Digest: r.result.ImageDigest, Tags: r.cfg.Tags})
	if oneOff := p.plan.OneOff(); oneOff != nil {
		r.result.OneOff = oneOff
		if outErr := r.setOneOffOutputs(oneOff); outErr != nil && err == nil {
			err = outErr
		}
	}
	if err := r.recordDeploy(results, err); err != nil {
		// The deploy package has already printed each failure as an
		// error annotation, with the stopped reasons and last events.
		return reportedError{awsauth.Explained(err)}
	}
	return nil
}

// awaitPlan holds the push's tags until the deploy's plan is known, and
// fails the push when the plan failed, or when the image does not run on
// the platform of a service's task definition: a deploy that cannot happen
// moves no tag (the layers may be in the repository already; they change
// nothing).
func (r *run) awaitPlan(ctx context.Context, img registry.PushedImage) error {
	r.prepMu.Lock()
	p := r.prep
	r.prepMu.Unlock()
	if p == nil {
		return errors.New("the deploy was not planned before the tags: no tag is moved without a plan")
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if p.err == nil {
		p.err = p.plan.CheckPlatforms(img.Repository+"@"+img.Digest, img.Platforms)
	}
	if p.err == nil {
		return nil
	}
	// The plan's lines, its error annotations among them, are due now.
	p.log.flush()
	r.out.Infof("No tag was moved: the deploy cannot happen (see above). The image's layers are in the repository; untagged, they change nothing.")
	results, err := p.plan.Deploy(ctx, deploy.Image{RepositoryURI: r.result.Repository, Tags: r.cfg.Tags})
	err = r.recordDeploy(results, err)
	return reportedError{fmt.Errorf("the deploy cannot happen, so no tag was moved: %w", err)}
}

// recordDeploy keeps the deploy's results for the summary and the outputs,
// and returns the deploy's error, or the outputs' when it has none.
func (r *run) recordDeploy(results []deploy.ServiceResult, err error) error {
	console := newConsole(r.cfg.AWSRegion)
	for _, res := range results {
		r.result.Services = append(r.result.Services, ServiceResult{
			ServiceResult:     res,
			DeploymentURL:     console.serviceDeployments(res.Cluster, res.Service),
			TaskDefinitionURL: console.taskDefinition(res.TaskDefinitionARN),
		})
	}
	if outErr := r.setDeployOutputs(results); outErr != nil && err == nil {
		err = outErr
	}
	return err
}

// resultJSON is one element of the results output.
type resultJSON struct {
	Service           string  `json:"service"`
	Cluster           string  `json:"cluster"`
	TaskDefinitionARN string  `json:"taskDefinitionArn,omitempty"`
	DeploymentID      string  `json:"deploymentId,omitempty"`
	Status            string  `json:"status"`
	Reason            string  `json:"reason,omitempty"`
	DurationSeconds   float64 `json:"durationSeconds"`
	// ServiceDeploymentARN is what aws ecs describe-service-deployments takes.
	ServiceDeploymentARN string `json:"serviceDeploymentArn,omitempty"`
	// DeploymentURL and TaskDefinitionURL are the console's pages.
	DeploymentURL     string `json:"deploymentUrl,omitempty"`
	TaskDefinitionURL string `json:"taskDefinitionUrl,omitempty"`
	// Stages are the lifecycle stages the deployment went through.
	Stages []string `json:"stages,omitempty"`
}

func (r *run) setDeployOutputs(results []deploy.ServiceResult) error {
	all := make([]resultJSON, 0, len(results))
	for i, res := range results {
		all = append(all, resultJSON{
			Service:              res.Service,
			Cluster:              res.Cluster,
			TaskDefinitionARN:    res.TaskDefinitionARN,
			DeploymentID:         res.DeploymentID,
			Status:               string(res.Outcome),
			Reason:               res.Failure,
			DurationSeconds:      res.Duration.Round(time.Millisecond).Seconds(),
			ServiceDeploymentARN: res.ServiceDeploymentARN,
			DeploymentURL:        r.result.Services[i].DeploymentURL,
			TaskDefinitionURL:    r.result.Services[i].TaskDefinitionURL,
			Stages:               stageNames(res.Stages),
		})
	}
	data, err := json.Marshal(all)
	if err != nil {
		return fmt.Errorf("encode the results output: %w", err)
	}
	outputs := map[string]string{OutputResults: string(data), OutputCloudTrailURL: r.result.CloudTrailURL}
	// The single-value outputs describe the first service, which is the
	// only one in the common case.
	if len(results) > 0 {
		outputs[OutputTaskDefinitionARN] = results[0].TaskDefinitionARN
		outputs[OutputDeploymentID] = results[0].DeploymentID
		outputs[OutputDeploymentURL] = r.result.Services[0].DeploymentURL
	}
	return r.setOutputs(outputs)
}

// setOneOffOutputs writes the one-off task's outputs: its ARN and the exit
// code of its container.
func (r *run) setOneOffOutputs(o *deploy.OneOffResult) error {
	outputs := map[string]string{OutputRunTaskARN: o.TaskARN}
	if o.ExitCode != nil {
		outputs[OutputRunTaskExitCode] = strconv.Itoa(int(*o.ExitCode))
	}
	return r.setOutputs(outputs)
}

// setOutputs writes step outputs in a stable order.
func (r *run) setOutputs(outputs map[string]string) error {
	for _, name := range OutputNames() {
		v, ok := outputs[name]
		if !ok || v == "" {
			continue
		}
		if err := r.out.SetOutput(name, v); err != nil {
			return fmt.Errorf("set output %s: %w", name, err)
		}
	}
	return nil
}

// reportedError is a failure whose explanation is already in the log as an
// error annotation; the run's end repeats only a one-line pointer to it.
type reportedError struct{ err error }

func (e reportedError) Error() string { return e.err.Error() }
func (e reportedError) Unwrap() error { return e.err }

// deferredLogger holds a background step's lines until flush, then passes
// them through, so that lines from the deploy's preparation, which runs
// during the push, appear in the Deploy group rather than amid the push's.
// Groups are printed as headings: the runner cannot nest groups, and the
// deploy already runs inside one.
type deferredLogger struct {
	out     *ghaction.Runner
	mu      sync.Mutex
	flushed bool
	held    []func()
}

var _ deploy.Logger = (*deferredLogger)(nil)

func (l *deferredLogger) do(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.flushed {
		f()
		return
	}
	l.held = append(l.held, f)
}

func (l *deferredLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.held {
		f()
	}
	l.held, l.flushed = nil, true
}

// Infof prints a line.
func (l *deferredLogger) Infof(format string, args ...any) {
	l.do(func() { l.out.Infof(format, args...) })
}

// Warningf prints a warning annotation.
func (l *deferredLogger) Warningf(format string, args ...any) {
	l.do(func() { l.out.Warningf(format, args...) })
}

// Errorf prints an error annotation.
func (l *deferredLogger) Errorf(format string, args ...any) {
	l.do(func() { l.out.Errorf(format, args...) })
}

// Annotate prints an annotation at a place.
func (l *deferredLogger) Annotate(level ghaction.Level, at ghaction.Annotation, format string, args ...any) {
	l.do(func() { l.out.Annotate(level, at, format, args...) })
}

// Group prints title as a heading.
func (l *deferredLogger) Group(title string) func() {
	l.do(func() { l.out.Infof("── %s", title) })
	return func() {}
}
