// Package policy knows which AWS API actions the deploy flow calls in each
// mode, on which resources, and which of them a run can do without: the one
// source of the policy command, setup, doctor, the README's policies and the
// flow's notices about missing permissions.
package policy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
)

// DefaultIssuer is GitHub's OIDC issuer, the identity provider's URL.
const DefaultIssuer = "https://token.actions.githubusercontent.com"

// DefaultAudience is the audience the action requests, the provider's client ID.
const DefaultAudience = "sts.amazonaws.com"

// InlinePolicyName names the permissions policy setup puts on a role.
const InlinePolicyName = "oidc-ecs-deploy"

// MaxSessionSeconds is the longest session the generated roles allow: the
// action refreshes its credentials with a new token, so a longer session
// only widens what a leaked one can do.
const MaxSessionSeconds = 3600

// Mode is how a run deploys, which decides the ECS calls it makes.
type Mode string

// The modes.
const (
	// ModeDefault copies the service's current task definition into a new
	// revision pinned by digest.
	ModeDefault Mode = "default"
	// ModeForceNewDeployment redeploys the current task definition.
	ModeForceNewDeployment Mode = "force-new-deployment"
	// ModeTaskDefinitionFile registers a revision based on a file.
	ModeTaskDefinitionFile Mode = "task-definition"
)

// TagState says whether the base of the new revision has tags, which the
// new revision keeps only with ecs:TagResource.
type TagState int

// The tag states.
const (
	// TagsUnknown (the service's current task definition, not read): the
	// policy allows keeping them.
	TagsUnknown TagState = iota
	// TagsNone: the base has no tags.
	TagsNone
	// TagsPresent: the base has tags.
	TagsPresent
)

// Hop is one role of the role chain.
type Hop struct {
	// RoleARN is the role assumed with sts:AssumeRole.
	RoleARN string
	// ExternalID, when set, is what its trust policy requires as sts:ExternalId.
	ExternalID string
}

// Scope is where the GitHub jobs the role trusts run: one repository and
// one environment, branch or tag.
type Scope struct {
	// Repository is OWNER/REPO.
	Repository string
	// Environment, Branch and Tag: exactly one is set.
	Environment string
	Branch      string
	Tag         string
}

var repositoryPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

// Validate says what is wrong with the scope, if anything.
func (s Scope) Validate() error {
	var errs []error
	if !repositoryPattern.MatchString(s.Repository) {
		errs = append(errs, fmt.Errorf("github-repository %q is not OWNER/REPO, e.g. acme/web-api", s.Repository))
	}
	n := 0
	for _, v := range []string{s.Environment, s.Branch, s.Tag} {
		if v != "" {
			n++
		}
		if strings.ContainsAny(v, "*?\n\r") {
			errs = append(errs, fmt.Errorf("%q: a trust policy generated here names one exact environment, branch or tag, without wildcards", v))
		}
	}
	if n != 1 {
		errs = append(errs, errors.New("give exactly one of environment, branch or tag: the jobs the role trusts (a job with `environment:` presents the environment, any other the branch or tag it runs for)"))
	}
	return errors.Join(errs...)
}

// Subject is the sub claim of the jobs in scope, as GitHub's default
// subject template writes it.
func (s Scope) Subject() string {
	switch {
	case s.Environment != "":
		return "repo:" + s.Repository + ":environment:" + s.Environment
	case s.Branch != "":
		return "repo:" + s.Repository + ":ref:refs/heads/" + strings.TrimPrefix(s.Branch, "refs/heads/")
	default:
		return "repo:" + s.Repository + ":ref:refs/tags/" + strings.TrimPrefix(s.Tag, "refs/tags/")
	}
}

// sid names the trust statement after the scope.
func (s Scope) sid() string {
	switch {
	case s.Environment != "":
		return "TrustDeployJobsOfOneGitHubEnvironment"
	case s.Branch != "":
		return "TrustDeployJobsOfOneGitHubBranch"
	default:
		return "TrustDeployJobsOfOneGitHubTag"
	}
}

// Request is what a run does, as far as permissions go: the inputs that
// decide which calls it makes and on which resources.
type Request struct {
	// RoleARN is role-to-assume, assumed with the job's OIDC token.
	RoleARN string
	// RoleChain are the roles assumed after it, in order.
	RoleChain []Hop
	// Region is aws-region.
	Region string
	// Audience is the token's aud; DefaultAudience when empty.
	Audience string
	// Issuer is the OIDC issuer URL; DefaultIssuer when empty.
	Issuer string
	// Scope is where the trusted jobs run.
	Scope Scope

	// Repository is the ECR repository pushed to, a name or a URI; empty
	// when the run pushes nothing.
	Repository string
	// Image is the image input: a docker://REFERENCE in an ECR registry
	// is read (and its blobs mounted or copied) with the role's
	// permissions on that repository.
	Image string
	// Cluster is the ECS cluster, a name or an ARN; "default" when empty.
	Cluster string
	// Services are the services deployed; none when the run only pushes.
	Services []string
	// ForceNewDeployment redeploys the current task definition.
	ForceNewDeployment bool
	// TaskDefinitionFile is set when a file is the base of the new revision.
	TaskDefinitionFile bool
	// BaseTags says whether that base has tags.
	BaseTags TagState
	// PassRoles are the task role and execution role the new revision names.
	PassRoles []string
	// Wait is wait-for-service-stability: the deployment is watched.
	Wait bool
	// RunTask is run-task: a one-off task of the new revision runs in the
	// cluster before the services are updated.
	RunTask bool
	// RunTaskLogGroups are the CloudWatch Logs groups its containers log
	// to (awslogs), when known; every log group of the account when not.
	RunTaskLogGroups []string
	// KeepRevisions is keep-revisions above 0: old revisions of the
	// deployed families are deregistered after a successful deploy.
	KeepRevisions bool
}

// Mode is how the request deploys.
func (r Request) Mode() Mode {
	switch {
	case r.ForceNewDeployment:
		return ModeForceNewDeployment
	case r.TaskDefinitionFile:
		return ModeTaskDefinitionFile
	}
	return ModeDefault
}

// Grant is one action granted to a role: a call, on which resources, under
// which condition.
type Grant struct {
	Call
	// Resources are the ARNs (or "*") the grant names.
	Resources []string
	// Condition narrows the grant further, when IAM offers a key for it.
	Condition Condition
}

// Role is one role of a run and what it needs.
type Role struct {
	// ARN is the role's ARN; Account, Path and Name are its parts.
	ARN     string
	Account string
	Path    string
	Name    string
	// Trust is the trust policy: the GitHub jobs in scope for the first
	// role, the previous role of the chain for the others.
	Trust Document
	// Grants are what the role's permissions policy allows.
	Grants []Grant
}

// Permissions is the role's permissions policy: one statement per Sid,
// in the order of the calls. ok is false when the role needs none.
func (r Role) Permissions() (doc Document, ok bool) {
	doc.Version = PolicyVersion
	index := map[string]int{}
	for _, g := range r.Grants {
		if i, seen := index[g.Sid]; seen {
			st := &doc.Statement[i]
			if !slices.Contains(st.Action, g.Action) {
				st.Action = append(st.Action, g.Action)
			}
			continue
		}
		index[g.Sid] = len(doc.Statement)
		doc.Statement = append(doc.Statement, Statement{
			Sid:       g.Sid,
			Effect:    "Allow",
			Action:    StringList{g.Action},
			Resource:  StringList(slices.Clone(g.Resources)),
			Condition: g.Condition,
		})
	}
	return doc, len(doc.Statement) > 0
}

// Plan is every role a run uses, in the order it assumes them, and what
// each needs.
type Plan struct {
	Request Request
	// Partition is the ARN partition of the roles: aws, aws-cn, aws-us-gov.
	Partition string
	// ProviderARN is the IAM OIDC provider the first role trusts.
	ProviderARN string
	// ProviderURL is the provider's URL, the issuer.
	ProviderURL string
	Roles       []Role
	// Notes say what the plan could not know and what that means.
	Notes []string
}

// Deployer is the role whose session pushes and deploys: the last of the chain.
func (p *Plan) Deployer() *Role { return &p.Roles[len(p.Roles)-1] }

// Grants lists every grant of every role, in order.
func (p *Plan) Grants() []Grant {
	var out []Grant
	for _, r := range p.Roles {
		out = append(out, r.Grants...)
	}
	return out
}

var (
	roleARNPattern = regexp.MustCompile(`^arn:([a-z-]+):iam::(\d{12}):role/((?:[\w+=,.@-]+/)*)([\w+=,.@-]{1,64})$`)
	ecsARNPattern  = regexp.MustCompile(`^arn:([a-z-]+):ecs:([a-z0-9-]+):(\d{12}):(cluster|service)/(.+)$`)
)

// roleARN splits a role ARN into its partition, account, path and name.
func roleARN(arn string) (p partition.Partition, account, path, name string, err error) {
	m := roleARNPattern.FindStringSubmatch(arn)
	if m == nil {
		return p, "", "", "", fmt.Errorf("%q is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)", arn)
	}
	p, ok := partition.Lookup(m[1])
	if !ok {
		return p, "", "", "", fmt.Errorf("%q names the partition %q; the partitions are %s", arn, m[1], strings.Join(partition.IDs(), ", "))
	}
	return p, m[2], "/" + m[3], m[4], nil
}

// New plans the roles and policies of a request.
func New(req Request) (*Plan, error) {
	if req.Audience == "" {
		req.Audience = DefaultAudience
	}
	if req.Issuer == "" {
		req.Issuer = DefaultIssuer
	}
	if req.Cluster == "" {
		req.Cluster = "default"
	}
	var errs []error
	if req.Region == "" {
		errs = append(errs, errors.New("no region: give the aws-region the action deploys to"))
	}
	if err := req.Scope.Validate(); err != nil {
		errs = append(errs, err)
	}
	if req.Repository == "" && len(req.Services) == 0 {
		errs = append(errs, errors.New("nothing to allow: give the repository pushed to, the services deployed, or both"))
	}
	if req.ForceNewDeployment && req.TaskDefinitionFile {
		errs = append(errs, errors.New("a task definition file cannot be used with force-new-deployment"))
	}
	hops := append([]Hop{{RoleARN: req.RoleARN}}, req.RoleChain...)
	p := &Plan{Request: req}
	var part partition.Partition
	for i, h := range hops {
		hopPartition, account, path, name, err := roleARN(h.RoleARN)
		if err != nil {
			what := "role-to-assume"
			if i > 0 {
				what = fmt.Sprintf("role-chain entry %d", i)
			}
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
			continue
		}
		if p.Partition == "" {
			part, p.Partition = hopPartition, hopPartition.ID
		} else if hopPartition.ID != p.Partition {
			errs = append(errs, fmt.Errorf("%s is in partition %s, the other roles in %s: a role chain stays in one partition", h.RoleARN, hopPartition.ID, p.Partition))
		}
		p.Roles = append(p.Roles, Role{ARN: h.RoleARN, Account: account, Path: path, Name: name})
	}
	for _, r := range req.PassRoles {
		if _, _, _, _, err := roleARN(r); err != nil {
			errs = append(errs, fmt.Errorf("task or execution role: %w", err))
		}
	}
	if rp, ok := partition.ForRegion(req.Region); req.Region != "" && p.Partition != "" && (!ok || rp.ID != p.Partition) {
		errs = append(errs, fmt.Errorf("region %q is not in the roles' partition %s (%s, ...)", req.Region, p.Partition, strings.Join(part.ExampleRegions(3), ", ")))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	host := strings.TrimSuffix(strings.TrimPrefix(req.Issuer, "https://"), "/")
	p.ProviderURL = "https://" + host
	p.ProviderARN = part.OIDCProviderARN(p.Roles[0].Account, host)
	p.Roles[0].Trust = Document{Version: PolicyVersion, Statement: []Statement{{
		Sid:       req.Scope.sid(),
		Effect:    "Allow",
		Principal: Principal{"Federated": {p.ProviderARN}},
		Action:    StringList{"sts:AssumeRoleWithWebIdentity"},
		Condition: Condition{"StringEquals": {
			host + ":aud": {req.Audience},
			host + ":sub": {req.Scope.Subject()},
		}},
	}}}
	for i := 1; i < len(p.Roles); i++ {
		prev, next := &p.Roles[i-1], &p.Roles[i]
		st := Statement{
			Sid:       "TrustThePreviousRoleOfTheChain",
			Effect:    "Allow",
			Principal: Principal{"AWS": {prev.ARN}},
			Action:    StringList{"sts:AssumeRole"},
		}
		if id := hops[i].ExternalID; id != "" {
			st.Condition = Condition{"StringEquals": {"sts:ExternalId": {id}}}
		}
		next.Trust = Document{Version: PolicyVersion, Statement: []Statement{st}}
		if prev.Account == next.Account {
			// Within one account a trust policy that names the caller's
			// role is enough; the caller needs no permission of its own.
			p.Notes = append(p.Notes, fmt.Sprintf("%s needs no permission to assume %s: within one account, the trust policy naming it is enough", prev.ARN, next.ARN))
			continue
		}
		prev.Grants = append(prev.Grants, Grant{Call: CallAssumeNextRole, Resources: []string{next.ARN}})
	}
	deployer := p.Deployer()
	grants, notes := deployGrants(req, part, deployer.Account)
	deployer.Grants = append(deployer.Grants, grants...)
	p.Notes = append(p.Notes, notes...)
	return p, nil
}

// deployGrants is what the role that pushes and deploys needs.
func deployGrants(req Request, part partition.Partition, account string) ([]Grant, []string) {
	var grants []Grant
	var notes []string
	add := func(c Call, cond Condition, resources ...string) {
		grants = append(grants, Grant{Call: c, Resources: resources, Condition: cond})
	}
	if req.Repository != "" {
		repo, byName := repositoryARN(req.Repository, part, account, req.Region)
		add(CallECRLogin, nil, "*")
		if byName {
			add(CallECRFindRepository, nil, repo)
		}
		add(CallECRReadTags, nil, repo)
		if source, sourceAccount, ok := sourceRepositoryARN(req.Image, part, account, req.Region, req.Repository); ok {
			add(CallECRReadSourceImage, nil, source)
			add(CallECRReadSourceLayers, nil, source)
			if sourceAccount != account {
				notes = append(notes, fmt.Sprintf("the image is read from %s, in account %s: that repository's policy must also allow the role ecr:BatchGetImage and ecr:GetDownloadUrlForLayer", source, sourceAccount))
			}
		}
		for _, c := range []Call{CallECRCheckLayers, CallECRStartUpload, CallECRUploadPart, CallECRCompleteUpload, CallECRPutImage} {
			add(c, nil, repo)
		}
	}
	if len(req.Services) == 0 {
		return grants, notes
	}
	cluster := clusterOf(req.Cluster, part, account, req.Region)
	var services, deployments []string
	for _, s := range req.Services {
		arn := cluster.serviceARN(s)
		services = append(services, arn)
		deployments = append(deployments, strings.Replace(arn, ":service/", ":service-deployment/", 1)+"/*")
	}
	if req.KeepRevisions {
		add(CallECSReadClusterServices, nil, cluster.arn("service/"+cluster.name+"/*"))
	} else {
		add(CallECSReadServices, nil, services...)
	}
	add(CallECSUpdateService, nil, services...)
	switch req.Mode() {
	case ModeForceNewDeployment:
		if req.Repository != "" {
			add(CallECSCheckDeployedTag, nil, "*")
		}
	default:
		if req.Mode() == ModeDefault {
			add(CallECSCopyTaskDefinition, nil, "*")
		}
		add(CallECSRegister, nil, "*")
		if req.BaseTags != TagsNone {
			add(CallECSTagRevision, Condition{"StringEquals": {"ecs:CreateAction": {"RegisterTaskDefinition"}}}, "*")
		}
		if len(req.PassRoles) > 0 {
			add(CallPassRoles, Condition{"StringEquals": {"iam:PassedToService": {"ecs-tasks.amazonaws.com"}}}, req.PassRoles...)
		} else if req.Mode() == ModeDefault {
			notes = append(notes, "the task role and execution role of the services' current task definition are not known here: "+
				"give them (--task-role-arn, --execution-role-arn) so that the policy lets the new revision name them (iam:PassRole); "+
				"without that, registering a revision that names a role is denied")
		}
	}
	if req.RunTask {
		notes = append(notes, oneOffGrants(req, part, account, cluster, add)...)
	}
	if req.KeepRevisions {
		add(CallECSListServicesInUse, Condition{"ArnEquals": {"ecs:cluster": {cluster.arn("cluster/" + cluster.name)}}}, "*")
		add(CallECSListRevisions, nil, "*")
		add(CallECSDeregisterRevisions, nil, "*")
	}
	if req.Wait {
		add(CallECSWatchDeployment, nil, deployments...)
		add(CallECSListStoppedTasks, Condition{"ArnEquals": {"ecs:cluster": {cluster.arn("cluster/" + cluster.name)}}}, "*")
		if !req.RunTask {
			// With a one-off task, its own grant on the cluster's tasks
			// covers these reads already.
			add(CallECSDescribeStoppedTasks, nil, cluster.arn("task/"+cluster.name+"/*"))
		}
	}
	return grants, notes
}

// oneOffGrants is what the one-off task (run-task) needs: running the
// revision in the cluster, passing its roles, following it, reading its log
// groups, stopping it at the deadline; and, in force-new-deployment mode,
// reading the task definition it runs.
func oneOffGrants(req Request, part partition.Partition, account string, cl cluster, add func(Call, Condition, ...string)) []string {
	var notes []string
	inCluster := Condition{"ArnEquals": {"ecs:cluster": {cl.arn("cluster/" + cl.name)}}}
	if req.Mode() == ModeForceNewDeployment {
		add(CallECSReadOneOffTaskDefinition, nil, "*")
	}
	add(CallECSRunTask, inCluster, cl.arn("task-definition/*"))
	if len(req.PassRoles) > 0 {
		add(CallPassRoles, Condition{"StringEquals": {"iam:PassedToService": {"ecs-tasks.amazonaws.com"}}}, req.PassRoles...)
	} else if req.Mode() == ModeForceNewDeployment {
		notes = append(notes, "the task role and execution role of the task definition the one-off task runs are not known here: "+
			"give them (--task-role-arn, --execution-role-arn) so that the policy lets RunTask pass them (iam:PassRole)")
	}
	add(CallECSFollowOneOffTask, nil, cl.arn("task/"+cl.name+"/*"))
	add(CallECSStopOneOffTask, inCluster, cl.arn("task/"+cl.name+"/*"))
	groups := make([]string, 0, len(req.RunTaskLogGroups))
	for _, g := range req.RunTaskLogGroups {
		groups = append(groups, part.ARN("logs", req.Region, account, "log-group:"+g+":*"))
	}
	if len(groups) == 0 {
		groups = []string{part.ARN("logs", req.Region, account, "log-group:*")}
		notes = append(notes, "the log groups of the one-off task are not known here: give --task-definition (whose awslogs-group options name them) "+
			"so that logs:GetLogEvents is granted on those groups alone")
	}
	add(CallLogsReadOneOffTask, nil, groups...)
	return notes
}

// repositoryARN is the ARN of the repository input, and whether it was
// given by name alone (so the flow looks its registry up).
func repositoryARN(repository string, part partition.Partition, account, region string) (string, bool) {
	name := repository
	host, rest, isURI := strings.Cut(repository, "/")
	byName := true
	if isURI && (strings.ContainsAny(host, ".:") || host == "localhost") {
		name, byName = rest, false
		if h, ok := partition.ParseECRRegistryHost(host); ok {
			part, account, region = h.Partition, h.Account, h.Region
		}
	}
	return part.ARN("ecr", region, account, "repository/"+name), byName
}

// sourceRepositoryARN is the repository a docker:// image input reads in
// ECR, and its account: one in an ECR registry (by its host), or in the
// target's registry when the target is named alone and the host is the
// one the target's URI names. ok is false for any other image.
func sourceRepositoryARN(image string, part partition.Partition, account, region, target string) (arn, sourceAccount string, ok bool) {
	given, isRegistry := strings.CutPrefix(image, "docker://")
	if !isRegistry {
		return "", "", false
	}
	// Read as the push reads it: a first component without a dot or a
	// colon (library/nginx) is a path on Docker Hub, not a host.
	ref, err := name.ParseReference(given)
	if err != nil {
		return "", "", false
	}
	host, repo := ref.Context().RegistryStr(), ref.Context().RepositoryStr()
	h, isECR := partition.ParseECRRegistryHost(strings.ToLower(host))
	if !isECR {
		if targetHost, _, isURI := strings.Cut(target, "/"); !isURI || !strings.EqualFold(targetHost, host) {
			return "", "", false
		}
		return part.ARN("ecr", region, account, "repository/"+repo), account, true
	}
	return h.Partition.ARN("ecr", h.Region, h.Account, "repository/"+repo), h.Account, true
}

// cluster is where the services run.
type cluster struct {
	part                  partition.Partition
	region, account, name string
}

// clusterOf reads the cluster input: a name in the deploying account and
// region, or a cluster ARN.
func clusterOf(input string, part partition.Partition, account, region string) cluster {
	if m := ecsARNPattern.FindStringSubmatch(input); m != nil && m[4] == "cluster" {
		if p, ok := partition.Lookup(m[1]); ok {
			return cluster{part: p, region: m[2], account: m[3], name: m[5]}
		}
	}
	return cluster{part: part, region: region, account: account, name: input}
}

func (c cluster) arn(resource string) string { return c.part.ARN("ecs", c.region, c.account, resource) }

// serviceARN is the ARN of a service input: a name in the cluster, or an
// ARN (old-style service/NAME ones are named in the cluster).
func (c cluster) serviceARN(service string) string {
	if m := ecsARNPattern.FindStringSubmatch(service); m != nil && m[4] == "service" {
		name := m[5]
		if i := strings.LastIndex(name, "/"); i >= 0 {
			name = name[i+1:]
		}
		if p, ok := partition.Lookup(m[1]); ok {
			return p.ARN("ecs", m[2], m[3], "service/"+c.name+"/"+name)
		}
	}
	return c.arn("service/" + c.name + "/" + service)
}
