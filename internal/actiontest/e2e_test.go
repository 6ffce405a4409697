package actiontest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/testenv"
)

const (
	testAccount = "111122223333"
	testRegion  = "us-east-1"
	// testRole is trusted by jobs of the production environment, as this
	// run's token says it is; testBranchRole is trusted by jobs on main
	// without an environment, so this run's token does not match it.
	testRole       = "arn:aws:iam::111122223333:role/gha-deploy-production"
	testBranchRole = "arn:aws:iam::111122223333:role/gha-deploy-main"
	testCluster    = "prod-cluster"
	testService    = "api-service"
)

// readmePolicy returns the JSON policy document that follows the marker
// <!-- policy:NAME --> in README.md. The end-to-end world uses the README's
// own trust and permissions policies, so a run that deploys proves they
// are enough, and one that is refused proves the trust conditions bite.
func readmePolicy(tb testing.TB, name string) string {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(root(tb), "README.md"))
	if err != nil {
		tb.Fatal(err)
	}
	marker := "<!-- policy:" + name + " -->"
	_, rest, ok := strings.Cut(string(data), marker)
	if !ok {
		tb.Fatalf("README.md has no %s", marker)
	}
	_, rest, ok = strings.Cut(rest, "```json\n")
	if !ok {
		tb.Fatalf("README.md: no ```json block after %s", marker)
	}
	doc, _, ok := strings.Cut(rest, "```")
	if !ok {
		tb.Fatalf("README.md: the json block after %s does not end", marker)
	}
	var v sandbox.PolicyDocument
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("README.md policy %s: %v", name, err)
	}
	return doc
}

// e2e is one standalone sandbox with a real registry behind it, and what
// a run of the action against it needs.
type e2e struct {
	region     string
	partition  partition.Partition
	binary     string
	sandbox    *Sandbox
	recorder   *secretRecorder
	awsURL     string // the recording proxy in front of the sandbox's AWS endpoint
	tokenURL   string // ACTIONS_ID_TOKEN_REQUEST_URL through the recording proxy
	dockerHost string
	registry   string // host:port of the real registry behind the ECR front
	repository string
	sha        string
	image      string // the image to push, in the Docker engine
}

// deployInputs are the action inputs of a deploy of the test image to the
// test service; cases change what they test.
func (e *e2e) deployInputs() map[string]string {
	return map[string]string{
		"role-to-assume":   e.role(testRole),
		"aws-region":       e.region,
		"image":            e.image,
		"repository":       e.repository,
		"cluster":          testCluster,
		"service":          testService,
		"wait-for-minutes": "3",
	}
}

// role is an ARN of the test world (arn:aws:...) in the e2e's partition.
func (e *e2e) role(arn string) string {
	return strings.Replace(arn, "arn:aws:", "arn:"+e.partition.ID+":", 1)
}

// registryHost is the ECR registry host of the test account in the
// e2e's region, as the sandbox serves it.
func (e *e2e) registryHost() string {
	return e.partition.ECRRegistryHost(testAccount, e.region, false)
}

// newE2E starts a standalone sandbox of the action's own binary whose
// world has a repository of the test's own, in the test region, and
// builds an image to push.
func newE2E(tb testing.TB) *e2e {
	tb.Helper()
	return newE2EIn(tb, testRegion)
}

// newE2EIn is newE2E with the world in region (every ARN in its
// partition), its ECR registry hosts served over TLS at registryAddress
// (a loopback IP:port; a free port of 127.0.0.1 when empty).
func newE2EIn(tb testing.TB, region string, registryAddress ...string) *e2e {
	tb.Helper()
	dockerHost := testenv.DockerHost(tb)
	registry := testenv.Registry(tb)
	p, ok := partition.ForRegion(region)
	if !ok {
		tb.Fatalf("region %s is in no partition", region)
	}
	e := &e2e{
		region:     region,
		partition:  p,
		binary:     actionBinary(tb),
		recorder:   newSecretRecorder(),
		dockerHost: dockerHost,
		registry:   registry,
		repository: "actiontest-" + randomSuffix(),
		sha:        randomHex(40),
	}

	tmpl, err := os.ReadFile(filepath.Join("testdata", "world.json"))
	if err != nil {
		tb.Fatal(err)
	}
	permissions := strings.ReplaceAll(readmePolicy(tb, "permissions"), ":repository/web-api", ":repository/"+e.repository)
	world := strings.NewReplacer(
		"{{permissionsCodeDeploy}}", withCodeDeploy(tb, permissions),
		"{{sha}}", e.sha,
		"{{repository}}", e.repository,
		"{{rolloutSeconds}}", "2",
		"{{permissions}}", permissions,
		"{{trustPolicyProduction}}", readmePolicy(tb, "trust-environment"),
		"{{trustPolicyMain}}", readmePolicy(tb, "trust-branch"),
	).Replace(string(tmpl))
	w, err := sandbox.ParseWorld([]byte(world))
	if err != nil {
		tb.Fatalf("the test world: %v", err)
	}
	if region != w.Region {
		sandboxtest.InRegion(tb, w, region)
		data, err := json.Marshal(w)
		if err != nil {
			tb.Fatal(err)
		}
		world = string(data)
	}
	dir := tb.TempDir()
	worldFile := filepath.Join(dir, "world.json")
	if err := os.WriteFile(worldFile, []byte(world), 0o644); err != nil {
		tb.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var args []string
	for _, a := range registryAddress {
		args = append(args, "--registry-address", a)
	}
	sb, err := StartSandbox(ctx, cliBinary(tb), worldFile, "http://"+registry, dir, args...)
	if err != nil {
		tb.Fatal(err)
	}
	e.sandbox = sb
	tb.Cleanup(func() {
		if err := sb.Stop(); err != nil {
			tb.Logf("stop the sandbox: %v", err)
		}
		if tb.Failed() {
			tb.Logf("sandbox log:\n%s", sb.Log())
		}
	})

	e.awsURL = e.recorder.proxy(tb, sb.Env["AWS_ENDPOINT_URL"], awsSecrets)
	tokenURL, err := url.Parse(sb.Env["ACTIONS_ID_TOKEN_REQUEST_URL"])
	if err != nil {
		tb.Fatal(err)
	}
	proxied, _ := url.Parse(e.recorder.proxy(tb, tokenURL.Scheme+"://"+tokenURL.Host, tokenServiceSecrets))
	tokenURL.Scheme, tokenURL.Host = proxied.Scheme, proxied.Host
	e.tokenURL = tokenURL.String()
	e.recorder.add("request token", sb.Env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"])

	e.image = buildAppImage(tb, e.dockerHost)
	return e
}

func randomHex(n int) string {
	s := ""
	for len(s) < n {
		s += randomSuffix()
	}
	return s[:n]
}

// buildAppImage builds a small COPY-only image, as a workflow's docker
// build would, and removes it when the test ends.
func buildAppImage(tb testing.TB, dockerHost string) string {
	tb.Helper()
	eng, err := NewEngine(dockerHost)
	if err != nil {
		tb.Fatal(err)
	}
	buildCtx, err := FinalStageContext("FROM scratch\nCOPY --from=app /srv/ /srv/\n", []StageFile{
		{Path: "/srv/app.txt", Data: []byte("build " + randomSuffix() + "\n"), Mode: 0o644},
		{Path: "/srv/config.json", Data: []byte(`{"listen": ":8080"}`), Mode: 0o644},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tag := "actiontest-app:" + randomSuffix()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	unlock := testenv.LockImageBuilds(tb)
	_, err = eng.Build(ctx, buildCtx, tag)
	unlock()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		defer testenv.LockImageBuilds(tb)()
		if err := eng.Remove(context.Background(), tag); err != nil {
			tb.Logf("remove the image %s: %v", tag, err)
		}
	})
	return tag
}

// actionRun is what one run of the action left.
type actionRun struct {
	exitCode int
	log      string // stdout and stderr, as the job log shows them
	outputs  map[string]string
	written  []string // output names in the order written
	rawOut   string   // the GITHUB_OUTPUT file
	summary  string   // the GITHUB_STEP_SUMMARY file
}

// job is one run's directory on this machine (home, workspace, temp and
// file_commands, with empty output and summary files) and the environment
// the runner gives the action, less where its files are (which the run
// adds as the action sees them): every declared input as INPUT_<NAME>
// with hyphens kept (the workflow's value or the default), the job's
// GITHUB_* variables, GITHUB_ACTIONS=true, the token request variables and
// the AWS endpoint (through the recording proxies).
func (e *e2e) job(tb testing.TB, with map[string]string) (dir string, env map[string]string) {
	tb.Helper()
	meta := loadAction(tb)
	env, err := meta.InputEnv(with)
	if err != nil {
		tb.Fatal(err)
	}
	dir = tb.TempDir()
	for _, d := range []string{"home", "workspace", "temp", "file_commands"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	for _, f := range []string{"output", "summary"} {
		if err := os.WriteFile(filepath.Join(dir, "file_commands", f), nil, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	for k, v := range e.sandbox.Env {
		if strings.HasPrefix(k, "GITHUB_") {
			env[k] = v
		}
	}
	for k, v := range map[string]string{
		"GITHUB_ACTIONS":                 "true",
		"CI":                             "true",
		"GITHUB_SHA":                     e.sha,
		"RUNNER_OS":                      "Linux",
		"ACTIONS_ID_TOKEN_REQUEST_URL":   e.tokenURL,
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": e.sandbox.Env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"],
		"AWS_ENDPOINT_URL":               e.awsURL,
	} {
		env[k] = v
	}
	return dir, env
}

// run starts the binary on this machine as the runner starts a container
// action: no arguments, the job's environment (job) and the Docker engine;
// edit may change the environment. The binary reaches the ECR registry
// hosts by name over TLS through the sandbox's proxy, trusting its CA, as
// a runner behind a proxy reaches ECR: it has no way of its own to map a
// name.
func (e *e2e) run(tb testing.TB, with map[string]string, edit func(env map[string]string)) actionRun {
	tb.Helper()
	dir, env := e.job(tb, with)
	for k, v := range map[string]string{
		"GITHUB_OUTPUT":       filepath.Join(dir, "file_commands", "output"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "file_commands", "summary"),
		"GITHUB_WORKSPACE":    filepath.Join(dir, "workspace"),
		"HOME":                filepath.Join(dir, "home"),
		"RUNNER_TEMP":         filepath.Join(dir, "temp"),
		"DOCKER_HOST":         e.dockerHost,
		"HTTPS_PROXY":         e.sandbox.Registry["HTTPS_PROXY"],
		"SSL_CERT_FILE":       e.sandbox.Registry["SSL_CERT_FILE"],
	} {
		env[k] = v
	}
	if edit != nil {
		edit(env)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.binary)
	cmd.Env = envList(env)
	cmd.Dir = filepath.Join(dir, "workspace")
	return e.finish(tb, cmd, dir)
}

// envList is env as KEY=VALUE, sorted.
func envList(env map[string]string) []string {
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	sort.Strings(list)
	return list
}

// finish runs cmd and reads what the run left in dir.
func (e *e2e) finish(tb testing.TB, cmd *exec.Cmd, dir string) actionRun {
	tb.Helper()
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	err := cmd.Run()
	r := actionRun{log: log.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.exitCode = exit.ExitCode()
	case err != nil:
		tb.Fatalf("run the action: %v\n%s", err, r.log)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "file_commands", "output"))
	if err != nil {
		tb.Fatal(err)
	}
	r.rawOut = string(raw)
	if r.outputs, err = ghaction.ParseOutputs(raw); err != nil {
		tb.Fatalf("GITHUB_OUTPUT as the runner reads it: %v\n%s", err, raw)
	}
	for _, m := range regexp.MustCompile(`(?m)^([A-Za-z_][A-Za-z0-9_-]*)(?:=|<<)`).FindAllStringSubmatch(r.rawOut, -1) {
		r.written = append(r.written, m[1])
	}
	summary, err := os.ReadFile(filepath.Join(dir, "file_commands", "summary"))
	if err != nil {
		tb.Fatal(err)
	}
	r.summary = string(summary)
	tb.Logf("action log:\n%s\njob summary:\n%s\noutputs:\n%s", r.log, r.summary, r.rawOut)
	return r
}

// checkOutputsDeclared: every output written is declared in action.yml.
func checkOutputsDeclared(tb testing.TB, r actionRun) {
	tb.Helper()
	meta := loadAction(tb)
	for _, name := range r.written {
		if _, ok := meta.Outputs[name]; !ok {
			tb.Errorf("the action wrote output %q, which action.yml does not declare", name)
		}
	}
}

var (
	jwtPattern       = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}`)
	sessionTokenLike = regexp.MustCompile(`IQoJb3JpZ2luX2Vj[A-Za-z0-9/+=_-]{16,}`)
	addMaskLine      = regexp.MustCompile(`(?m)^::add-mask::(.*)$`)
)

// checkNoSecrets looks for every secret the action was handed in
// everything the run left: the log (less the ::add-mask:: commands, which
// the runner swallows), the outputs and the summary. It also checks that
// each secret was registered with ::add-mask::, and, as a second net, that
// nothing shaped like an ID token or a session token appears at all.
func checkNoSecrets(tb testing.TB, rec *secretRecorder, r actionRun, wantKinds ...string) {
	tb.Helper()
	kinds := rec.kinds()
	for _, k := range wantKinds {
		if kinds[k] == 0 {
			tb.Errorf("the recording proxy saw no %s: the check below would prove nothing (saw %v)", k, kinds)
		}
	}
	masked := map[string]bool{}
	for _, m := range addMaskLine.FindAllStringSubmatch(r.log, -1) {
		masked[strings.NewReplacer("%0D", "\r", "%0A", "\n", "%25", "%").Replace(m[1])] = true
	}
	visibleLog := addMaskLine.ReplaceAllString(r.log, "")
	texts := map[string]string{"the log": visibleLog, "GITHUB_OUTPUT": r.rawOut, "the job summary": r.summary}
	for secret, kind := range rec.all() {
		for where, text := range texts {
			if strings.Contains(text, secret) {
				tb.Errorf("%s contains a %s", where, kind)
			}
		}
		switch kind {
		case "ID token", "secret access key", "session token", "ECR registry password":
			if !masked[secret] {
				tb.Errorf("a %s the action received was never registered with ::add-mask::", kind)
			}
		}
	}
	for where, text := range texts {
		if jwtPattern.MatchString(text) {
			tb.Errorf("%s contains something shaped like a JWT", where)
		}
		if sessionTokenLike.MatchString(text) {
			tb.Errorf("%s contains something shaped like an AWS session token", where)
		}
	}
}

// awsClients returns an ECS client acting as the deploy role, with
// credentials the test obtains itself (straight from the sandbox, not
// through the recorder, and added to the secrets to look for).
func (e *e2e) ecsClient(tb testing.TB) *ecs.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	token, err := sandboxtest.IDToken(ctx, e.sandbox.Env, sandboxtest.STSAudience)
	if err != nil {
		tb.Fatal(err)
	}
	e.recorder.add("ID token", token)

	endpoint := e.sandbox.Env["AWS_ENDPOINT_URL"]
	stsClient := sts.New(sts.Options{Region: e.region, BaseEndpoint: aws.String(endpoint)})
	out, err := stsClient.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String(e.role(testRole)),
		RoleSessionName:  aws.String("actiontest-check"),
		WebIdentityToken: aws.String(token),
	})
	if err != nil {
		tb.Fatalf("assume the deploy role to check the result: %v", err)
	}
	c := out.Credentials
	e.recorder.add("secret access key", aws.ToString(c.SecretAccessKey))
	e.recorder.add("session token", aws.ToString(c.SessionToken))
	return ecs.New(ecs.Options{
		Region:       e.region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)),
	})
}

// registryDigest asks the real registry behind the ECR front, with plain
// HTTP, which manifest digest a tag names. The front keeps each sandbox's
// repositories under a prefix of its own in the backend
// (.../ACCOUNT/NAME); the catalog finds it, as the repository's name is
// unique to the test.
func registryDigest(tb testing.TB, registry, account, repository, tag string) string {
	tb.Helper()
	var backendName string
	next := "/v2/_catalog?n=1000"
	for next != "" {
		resp, err := http.Get("http://" + registry + next)
		if err != nil {
			tb.Fatal(err)
		}
		var catalog struct {
			Repositories []string `json:"repositories"`
		}
		err = json.NewDecoder(resp.Body).Decode(&catalog)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			tb.Fatalf("read the registry's catalog: %s, %v", resp.Status, err)
		}
		for _, r := range catalog.Repositories {
			if r == repository || strings.HasSuffix(r, "/"+account+"/"+repository) {
				backendName = r
			}
		}
		// The next page, if any: Link: </v2/_catalog?last=...&n=1000>; rel="next"
		next = ""
		if link := resp.Header.Get("Link"); strings.Contains(link, `rel="next"`) {
			if i, j := strings.Index(link, "<"), strings.Index(link, ">"); i >= 0 && j > i {
				next = link[i+1 : j]
			}
		}
	}
	if backendName == "" {
		tb.Fatalf("the registry holds no repository for %s", repository)
	}
	req, err := http.NewRequest(http.MethodHead, "http://"+registry+"/v2/"+backendName+"/manifests/"+tag, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Accept", strings.Join([]string{
		"application/vnd.oci.image.index.v1+json",
		"application/vnd.oci.image.manifest.v1+json",
		"application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.docker.distribution.manifest.v2+json",
	}, ", "))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("the registry has no %s:%s: %s", backendName, tag, resp.Status)
	}
	return resp.Header.Get("Docker-Content-Digest")
}

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// TestActionDeploys runs the built binary as a GitHub container action
// against the standalone sandbox, in both modes, and checks what it left.
func TestActionDeploys(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		force bool
	}{
		{name: "new_revision"},
		{name: "force_new_deployment", force: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newE2E(t)
			with := e.deployInputs()
			if c.force {
				with["force-new-deployment"] = "true"
			}
			e.checkDeployed(t, e.run(t, with, nil), c.force)
		})
	}
}

// checkDeployed checks what a run that deployed left: its log, outputs and
// summary, the image in the registry, and the deployment as ECS reports
// it.
func (e *e2e) checkDeployed(t *testing.T, r actionRun, force bool) {
	t.Helper()
	if r.exitCode != 0 {
		t.Fatalf("exit code %d, want 0", r.exitCode)
	}
	checkOutputsDeclared(t, r)
	checkNoSecrets(t, e.recorder, r, "ID token", "secret access key", "session token", "ECR registry password")
	if !strings.Contains(r.log, "::group::") {
		t.Error("the log has no ::group::; phases should fold")
	}
	if strings.Contains(r.log, "::error") {
		t.Error("a successful run printed an ::error:: annotation")
	}

	// The pushed image: tagged by the commit SHA, as the real registry says.
	digest := r.outputs["image-digest"]
	if !digestPattern.MatchString(digest) {
		t.Fatalf("output image-digest = %q, want sha256:<64 hex>", digest)
	}
	if got := registryDigest(t, e.registry, testAccount, e.repository, e.sha); got != digest {
		t.Errorf("the registry says %s:%s is %s; output image-digest = %s", e.repository, e.sha, got, digest)
	}
	// On the account's ECR registry host of the region, as ECR names it.
	if got, want := r.outputs["image-uri"], e.registryHost()+"/"+e.repository+":"+e.sha; got != want {
		t.Errorf("output image-uri = %q, want %q", got, want)
	}
	if got, want := r.outputs["image"], e.registryHost()+"/"+e.repository+"@"+digest; got != want {
		t.Errorf("output image = %q, want %q", got, want)
	}

	// The deployment, as ECS itself reports it.
	client := e.ecsClient(t)
	ctx := context.Background()
	svcs, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(testCluster), Services: []string{testService}})
	if err != nil || len(svcs.Services) != 1 {
		t.Fatalf("DescribeServices: %v (%d services)", err, len(svcs.Services))
	}
	svc := svcs.Services[0]
	depID := r.outputs["deployment-id"]
	if depID == "" {
		t.Error("output deployment-id is empty")
	}
	var primary string
	for _, d := range svc.Deployments {
		if aws.ToString(d.Status) == "PRIMARY" {
			primary = aws.ToString(d.Id)
		}
	}
	if depID != primary {
		t.Errorf("output deployment-id = %q, the service's primary deployment is %q", depID, primary)
	}

	td, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: svc.TaskDefinition})
	if err != nil {
		t.Fatal(err)
	}
	image := aws.ToString(td.TaskDefinition.ContainerDefinitions[0].Image)
	if force {
		if got, want := aws.ToString(td.TaskDefinition.Family)+":"+fmt.Sprint(td.TaskDefinition.Revision), "web-api:1"; got != want {
			t.Errorf("after force-new-deployment the service runs %s, want the same %s", got, want)
		}
		if !strings.HasSuffix(image, ":"+e.sha) {
			t.Errorf("task definition image = %q, want the pushed tag", image)
		}
	} else {
		if got, want := r.outputs["task-definition-arn"], aws.ToString(svc.TaskDefinition); got != want || !strings.HasSuffix(got, ":task-definition/web-api:2") {
			t.Errorf("output task-definition-arn = %q; the service runs %q; want revision 2 of web-api", got, want)
		}
		if got, want := image, r.outputs["image"]; got != want {
			t.Errorf("the new revision's image = %q, want it pinned by digest: %q", got, want)
		}
		// In the default mode every declared output has a value,
		// but the one-off task's, which only run-task writes.
		meta := loadAction(t)
		for name := range meta.Outputs {
			if r.outputs[name] == "" && !strings.HasPrefix(name, "run-task-") {
				t.Errorf("declared output %s was not written", name)
			}
		}
	}

	var results []map[string]any
	if err := json.Unmarshal([]byte(r.outputs["results"]), &results); err != nil || len(results) != 1 {
		t.Errorf("output results = %q: want a JSON array with one object (%v)", r.outputs["results"], err)
	} else if !strings.Contains(r.outputs["results"], testService) {
		t.Errorf("output results = %s: it does not name %s", r.outputs["results"], testService)
	}

	for _, want := range []string{testService, digest, "|"} {
		if !strings.Contains(r.summary, want) {
			t.Errorf("the job summary lacks %q:\n%s", want, r.summary)
		}
	}
}

// TestActionFails: a failing run exits non-zero, says why in an ::error::
// annotation and in the job summary, and leaks nothing.
func TestActionFails(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		// service and role replace the good ones when set.
		service, role string
		edit          func(env map[string]string)
		// every phrase must appear in the annotation and the summary.
		want      []string
		wantKinds []string
	}{
		{
			name:      "service_does_not_exist",
			service:   "worker-service",
			want:      []string{"worker-service"},
			wantKinds: []string{"ID token", "secret access key", "session token"},
		},
		{
			name:      "trust_policy_does_not_match",
			role:      testBranchRole,
			want:      []string{"gha-deploy-main", "repo:acme/web-api:environment:production"},
			wantKinds: []string{"ID token"},
		},
		{
			name: "no_id_token_permission",
			edit: func(env map[string]string) {
				delete(env, "ACTIONS_ID_TOKEN_REQUEST_URL")
				delete(env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
			},
			want: []string{"id-token: write"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newE2E(t)
			with := e.deployInputs()
			if c.service != "" {
				with["service"] = c.service
			}
			if c.role != "" {
				with["role-to-assume"] = c.role
			}
			r := e.run(t, with, c.edit)
			if r.exitCode == 0 {
				t.Fatal("exit code 0, want a failure")
			}
			checkOutputsDeclared(t, r)
			checkNoSecrets(t, e.recorder, r, c.wantKinds...)

			var annotations []string
			for _, line := range strings.Split(r.log, "\n") {
				if strings.HasPrefix(line, "::error") {
					annotations = append(annotations, line)
				}
			}
			if len(annotations) == 0 {
				t.Fatal("no ::error:: annotation in the log")
			}
			all := strings.Join(annotations, "\n")
			for _, want := range c.want {
				if !strings.Contains(all, want) {
					t.Errorf("the ::error:: annotations do not name %q:\n%s", want, all)
				}
				if !strings.Contains(r.summary, want) {
					t.Errorf("the job summary does not name %q:\n%s", want, r.summary)
				}
			}
		})
	}
}

// TestEveryOutputDeclaredIsUsed: an output declared in action.yml but
// never written anywhere in the program would always be empty.
func TestEveryOutputDeclaredIsUsed(t *testing.T) {
	t.Parallel()
	meta := loadAction(t)
	var src strings.Builder
	err := filepath.WalkDir(filepath.Join(root(t), "internal"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "actiontest" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			src.Write(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range meta.Outputs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !strings.Contains(src.String(), `"`+name+`"`) {
			t.Errorf("output %s is declared in action.yml, but no program code names it", name)
		}
	}
}

// withCodeDeploy is a permissions policy with what deploying the
// CODE_DEPLOY checkout-service through CodeDeploy needs besides it: reading
// that service, and CodeDeploy's deployments of its deployment group.
func withCodeDeploy(tb testing.TB, permissions string) string {
	tb.Helper()
	var doc sandbox.PolicyDocument
	if err := json.Unmarshal([]byte(permissions), &doc); err != nil {
		tb.Fatal(err)
	}
	doc.Statement = append(doc.Statement,
		sandbox.Statement{Effect: "Allow", Resource: sandbox.StringList{"arn:aws:ecs:us-east-1:111122223333:service/prod-cluster/checkout-service"},
			Action: sandbox.StringList{"ecs:DescribeServices"}},
		sandbox.Statement{Effect: "Allow", Resource: sandbox.StringList{"arn:aws:codedeploy:us-east-1:111122223333:deploymentgroup:AppECS-prod-cluster-checkout-service/*"},
			Action: sandbox.StringList{"codedeploy:CreateDeployment", "codedeploy:GetDeployment", "codedeploy:ListDeploymentTargets", "codedeploy:BatchGetDeploymentTargets"}},
		sandbox.Statement{Effect: "Allow", Resource: sandbox.StringList{"arn:aws:codedeploy:us-east-1:111122223333:deploymentconfig:*", "arn:aws:codedeploy:us-east-1:111122223333:application:AppECS-prod-cluster-checkout-service"},
			Action: sandbox.StringList{"codedeploy:GetDeploymentConfig", "codedeploy:RegisterApplicationRevision"}},
	)
	data, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return string(data)
}
