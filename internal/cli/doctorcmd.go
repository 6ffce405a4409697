//go:build !action

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/doctor"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
)

const doctorSynopsis = "oidc-ecs-deploy doctor --workflow FILE [--job NAME] [--github-repository OWNER/REPO] [--format text|json]"

// doctorCommand checks the setup item by item, each with its fix, and exits
// non-zero when any item fails.
func doctorCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	f := newPlanFlags("doctor", io.Discard)
	workflowPath := f.fs.String("workflow", "", "the workflow file whose deploy job to check, e.g. .github/workflows/deploy.yml")
	job := f.fs.String("job", "", "the deploy job; default: the jobs that run oidc-ecs-deploy")
	format := f.fs.String("format", "text", "text (one ✓ or ✗ line per item, with the fix) or json")
	if err := f.parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.printUsage(stdout, doctorSynopsis, "workflow", "job", "format")
			return ExitOK
		}
		fmt.Fprintf(stderr, "%v\n\n", err)
		f.printUsage(stderr, doctorSynopsis, "workflow", "job", "format")
		return ExitUsage
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "--format %q: want text or json\n", *format)
		return ExitUsage
	}
	if *workflowPath == "" {
		fmt.Fprintf(stderr, "give the workflow file to check with --workflow, e.g. --workflow .github/workflows/deploy.yml\n")
		return ExitUsage
	}
	report := &doctor.Report{}
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
	repo := f.githubRepository
	if repo == "" {
		repo = doctor.RepositoryOf(*workflowPath, os.ReadFile)
	}
	doctor.CheckWorkflow(report, w, doctor.WorkflowOptions{Job: *job, Repository: repo})
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
