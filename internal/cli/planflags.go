//go:build !action

package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
)

// planFlags are the flags that policy, setup and doctor share: every action
// input under its own name (so a workflow step's inputs can be pasted as
// they are), the GitHub scope the role trusts, and the roles a new revision
// names.
type planFlags struct {
	fs     *flag.FlagSet
	inputs *config.FlagValues

	githubRepository string
	environment      string
	branch           string
	tag              string
	taskRoleARN      string
	executionRoleARN string
	issuer           string
}

// inputsPolicyIgnores are the action inputs the policy command may do
// without: it accepts them so that a step's inputs paste as they are. Only
// an image in an ECR registry (docker://) changes a permission.
var inputsPolicyIgnores = []string{
	config.InputImage, config.InputTags, config.InputRoleSessionName,
	config.InputContainerName, config.InputWaitForMinutes,
}

func newPlanFlags(name string, stderr io.Writer) *planFlags {
	f := &planFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.inputs = config.AddFlags(f.fs)
	f.fs.StringVar(&f.githubRepository, "github-repository", "", "the GitHub repository whose jobs the role trusts, OWNER/REPO")
	f.fs.StringVar(&f.environment, "environment", "", "trust the jobs that run in this GitHub environment (the job's `environment:`)")
	f.fs.StringVar(&f.branch, "branch", "", "trust the jobs without an environment that run on this branch")
	f.fs.StringVar(&f.tag, "tag", "", "trust the jobs without an environment that run for this tag")
	f.fs.StringVar(&f.taskRoleARN, "task-role-arn", "", "the task role the new revision names (read from --task-definition when it is given)")
	f.fs.StringVar(&f.executionRoleARN, "execution-role-arn", "", "the execution role the new revision names (read from --task-definition when it is given)")
	f.fs.StringVar(&f.issuer, "issuer", policy.DefaultIssuer, "the OIDC issuer, GitHub's unless GitHub Enterprise Server issues the tokens")
	return f
}

// parse reads args; it returns flag.ErrHelp for -h, and a *config.UsageError
// for a command line that does not parse.
func (f *planFlags) parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &config.UsageError{Err: err}
	}
	if f.fs.NArg() > 0 {
		return &config.UsageError{Err: fmt.Errorf("unexpected argument %q: every setting is a --name value flag", f.fs.Arg(0))}
	}
	return nil
}

// config reads the action inputs as the action does, keeping the problems
// of the inputs that change permissions: the image is not needed to know
// what pushing it needs.
func (f *planFlags) config(getenv func(string) string) (config.Config, error) {
	run, err := ghaction.New(io.Discard, getenv).Context()
	if err != nil {
		return config.Config{}, err
	}
	cfg, err := f.inputs.Config(run)
	if err == nil {
		return cfg, nil
	}
	var kept []error
	for _, e := range splitJoined(err) {
		var ie *config.InputError
		if errors.As(e, &ie) && slices.Contains(inputsPolicyIgnores, ie.Input) {
			continue
		}
		kept = append(kept, e)
	}
	return cfg, errors.Join(kept...)
}

// scope is the GitHub scope the flags name.
func (f *planFlags) scope() policy.Scope {
	return policy.Scope{Repository: f.githubRepository, Environment: f.environment, Branch: f.branch, Tag: f.tag}
}

// request builds the policy request from the action inputs, the scope and
// the task definition file, reporting every problem at once.
func (f *planFlags) request(getenv func(string) string) (policy.Request, error) {
	cfg, err := f.config(getenv)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.RoleDurationSeconds > policy.MaxSessionSeconds {
		errs = append(errs, &config.InputError{Input: config.InputRoleDurationSeconds, Value: fmt.Sprint(cfg.RoleDurationSeconds),
			Problem: fmt.Sprintf("is above the %d-second maximum session the generated roles allow; the action refreshes its credentials with a new token, so a short session costs nothing", policy.MaxSessionSeconds),
			Example: "900"})
	}
	req := policy.Request{
		RoleARN:            cfg.RoleToAssume,
		Region:             cfg.AWSRegion,
		Audience:           cfg.Audience,
		Issuer:             f.issuer,
		Scope:              f.scope(),
		Repository:         cfg.Repository,
		Image:              cfg.Image,
		Cluster:            cfg.Cluster,
		Services:           cfg.Services,
		ForceNewDeployment: cfg.ForceNewDeployment,
		TaskDefinitionFile: cfg.TaskDefinition != "",
		Wait:               cfg.WaitForServiceStability,
		RunTask:            cfg.RunTask,
		KeepRevisions:      cfg.KeepRevisions > 0,
	}
	for _, hop := range cfg.RoleChain {
		req.RoleChain = append(req.RoleChain, policy.Hop{RoleARN: hop.RoleARN, ExternalID: hop.ExternalID})
	}
	taskRole, executionRole := f.taskRoleARN, f.executionRoleARN
	if cfg.TaskDefinition != "" && err == nil {
		td, tdErr := deploy.ReadTaskDefinitionFile(cfg.TaskDefinition)
		if tdErr != nil {
			errs = append(errs, tdErr)
		} else {
			taskRole = cmpOr(taskRole, aws.ToString(td.TaskRoleArn))
			executionRole = cmpOr(executionRole, aws.ToString(td.ExecutionRoleArn))
			req.BaseTags = policy.TagsNone
			if len(td.Tags) > 0 {
				req.BaseTags = policy.TagsPresent
			}
			for _, c := range td.ContainerDefinitions {
				if lc := c.LogConfiguration; lc != nil && lc.LogDriver == "awslogs" && lc.Options["awslogs-group"] != "" &&
					!slices.Contains(req.RunTaskLogGroups, lc.Options["awslogs-group"]) {
					req.RunTaskLogGroups = append(req.RunTaskLogGroups, lc.Options["awslogs-group"])
				}
			}
		}
	}
	for _, r := range []string{taskRole, executionRole} {
		if r != "" && !slices.Contains(req.PassRoles, r) {
			req.PassRoles = append(req.PassRoles, r)
		}
	}
	if len(errs) > 0 {
		return req, errors.Join(errs...)
	}
	return req, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// printPlanFlags writes the shared flags' usage.
func (f *planFlags) printUsage(w io.Writer, synopsis string, own ...string) {
	fmt.Fprintf(w, "Usage: %s\n\nThe GitHub jobs the role trusts:\n", synopsis)
	for _, name := range []string{"github-repository", "environment", "branch", "tag", "issuer"} {
		printFlag(w, f.fs.Lookup(name))
	}
	if len(own) > 0 {
		fmt.Fprintln(w, "\nThis command:")
		for _, name := range own {
			printFlag(w, f.fs.Lookup(name))
		}
	}
	fmt.Fprintln(w, "\nThe roles a new revision names:")
	for _, name := range []string{"task-role-arn", "execution-role-arn"} {
		printFlag(w, f.fs.Lookup(name))
	}
	fmt.Fprintf(w, "\nThe action's inputs (%s may be left out; of them, only an image in ECR, docker://..., changes a permission: its repository is read):\n", strings.Join(inputsPolicyIgnores, ", "))
	config.PrintFlags(w)
}

func printFlag(w io.Writer, fl *flag.Flag) {
	def := ""
	if fl.DefValue != "" && fl.DefValue != "false" {
		def = "  (default " + fl.DefValue + ")"
	}
	fmt.Fprintf(w, "  --%s%s\n      %s\n", fl.Name, def, fl.Usage)
}
