//go:build !action

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/config"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/doctor"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/policy"
)

const doctorSynopsis = "oidc-ecs-deploy doctor [--workflow FILE] [--job NAME] [--github-repository OWNER/REPO] [--format text|json] [action inputs]"

// doctorCommand checks the setup item by item, each with its fix: the
// workflow file, and with AWS credentials the account. It exits non-zero
// when any item fails.
func doctorCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	f := newPlanFlags("doctor", io.Discard)
	workflowPath := f.fs.String("workflow", "", "the workflow file whose deploy job to check, e.g. .github/workflows/deploy.yml; the step's inputs fill the flags not given")
	job := f.fs.String("job", "", "the deploy job; default: the jobs that run oidc-ecs-deploy")
	format := f.fs.String("format", "text", "text (one ✓ or ✗ line per item, with the fix) or json")
	own := []string{"workflow", "job", "format"}
	if err := f.parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.printUsage(stdout, doctorSynopsis, own...)
			return ExitOK
		}
		fmt.Fprintf(stderr, "%v\n\n", err)
		f.printUsage(stderr, doctorSynopsis, own...)
		return ExitUsage
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "--format %q: want text or json\n", *format)
		return ExitUsage
	}
	if *workflowPath == "" && !f.inputs.Given(config.InputRoleToAssume) {
		fmt.Fprintf(stderr, "give the workflow file to check (--workflow .github/workflows/deploy.yml), the role to check (--role-to-assume), or both\n")
		return ExitUsage
	}
	report := &doctor.Report{}
	var subjects []doctor.Subject
	if *workflowPath != "" {
		data, err := os.ReadFile(*workflowPath)
		if err != nil {
			fmt.Fprintf(stderr, "read the workflow: %v\n", err)
			return ExitUsage
		}
		w, err := doctor.ParseWorkflow(*workflowPath, data)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			return ExitUsage
		}
		if f.githubRepository == "" {
			f.githubRepository = doctor.RepositoryOf(*workflowPath, os.ReadFile)
		}
		jobs := doctor.CheckWorkflow(report, w, doctor.WorkflowOptions{Job: *job, Repository: f.githubRepository})
		subjects = report.Subjects
		if len(jobs) == 1 {
			f.fromWorkflowJob(jobs[0])
		}
	}
	ctx, cancel := context.WithTimeout(ctx, callerTimeout)
	defer cancel()
	if err := f.checkAccount(ctx, report, subjects, getenv); err != nil {
		fmt.Fprintf(stderr, "doctor: %v\n", err)
		return ExitFailure
	}
	if *format == "json" {
		if err := report.WriteJSON(stdout); err != nil {
			fmt.Fprintf(stderr, "write the report: %v\n", err)
			return ExitFailure
		}
	} else {
		out := ghaction.New(stdout, getenv)
		for _, line := range report.Lines() {
			out.Infof("%s", line)
		}
	}
	if !report.OK() {
		return ExitFailure
	}
	return ExitOK
}

// fromWorkflowJob fills what the command line left out from the deploy
// job: the step's inputs whose values are plain text, and the GitHub scope
// its environment (or single branch or tag) gives.
func (f *planFlags) fromWorkflowJob(j *doctor.Job) {
	if step := j.DeployStep(); step != nil {
		for name, v := range step.With {
			f.inputs.Default(name, v)
		}
	}
	if f.environment != "" || f.branch != "" || f.tag != "" {
		return
	}
	if env, expr := j.Environment(); env != "" && !expr {
		f.environment = env
	}
}

// checkAccount runs the account checks when the inputs name a role and AWS
// credentials are at hand, and says why not otherwise.
func (f *planFlags) checkAccount(ctx context.Context, report *doctor.Report, subjects []doctor.Subject, getenv func(string) string) error {
	if !f.inputs.Given(config.InputRoleToAssume) {
		report.Skipped = append(report.Skipped, "the account: no role-to-assume, neither as a flag nor as a plain input of the deploy step")
		return nil
	}
	if f.environment == "" && f.branch == "" && f.tag == "" {
		// A job without an environment that runs for one branch or tag
		// (and perhaps by hand) is trusted for that one.
		var exact []doctor.Subject
		for _, s := range subjects {
			if s.Exact() {
				exact = append(exact, s)
			}
		}
		if len(exact) == 1 {
			if ref, ok := strings.CutPrefix(exact[0].Value, "repo:"+f.githubRepository+":ref:refs/heads/"); ok {
				f.branch = ref
			} else if ref, ok := strings.CutPrefix(exact[0].Value, "repo:"+f.githubRepository+":ref:refs/tags/"); ok {
				f.tag = ref
			}
		}
	}
	req, err := f.request(getenv)
	if err == nil {
		var plan *policy.Plan
		if plan, err = policy.New(req); err == nil {
			who, noCredentials, err := loadCaller(ctx, getenv, req.Region)
			if noCredentials {
				report.Skipped = append(report.Skipped, "the account: "+err.Error())
				return nil
			}
			if err != nil {
				return err
			}
			return doctor.CheckAccount(ctx, report, iam.NewFromConfig(who.cfg), doctor.AccountOptions{Plan: plan, Account: who.account, Subjects: subjects})
		}
	}
	report.Skipped = append(report.Skipped, "the account, until the inputs are complete: "+strings.ReplaceAll(err.Error(), "\n", "; "))
	return nil
}
