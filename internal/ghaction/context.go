package ghaction

import "fmt"

// GitHubContext is the run as the runner describes it (the GITHUB_*
// variables), read through go-githubactions. Outside Actions the fields
// are whatever the environment sets, usually nothing.
type GitHubContext struct {
	// Repository is owner/name, e.g. acme/web-api.
	Repository string
	// Ref is the ref that triggered the run, e.g. refs/heads/main.
	Ref string
	// SHA is the commit the run is for.
	SHA string
	// RunID identifies the workflow run; 0 when unknown.
	RunID int64
	// RunAttempt counts the run's re-runs, from 1; 0 when unknown.
	RunAttempt int64
	// EventName is the event that triggered the run, e.g. push.
	EventName string
	// Workflow is the workflow's name.
	Workflow string
	// Actor is the user that triggered the run.
	Actor string
	// ServerURL is the GitHub server, e.g. https://github.com.
	ServerURL string
}

// Context reads the run's GitHub context. A variable the runner would
// never set so (a run ID that is not a number) is an error that names it;
// the fields that could be read are returned with it.
func (r *Runner) Context() (GitHubContext, error) {
	c, err := r.action.Context()
	if c == nil {
		return GitHubContext{}, fmt.Errorf("read the run's GitHub context: %w", err)
	}
	gc := GitHubContext{
		Repository: c.Repository,
		Ref:        c.Ref,
		SHA:        c.SHA,
		RunID:      c.RunID,
		RunAttempt: c.RunAttempt,
		EventName:  c.EventName,
		Workflow:   c.Workflow,
		Actor:      c.Actor,
		ServerURL:  c.ServerURL,
	}
	if err != nil {
		return gc, fmt.Errorf("read the run's GitHub context (GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT, GITHUB_RUN_NUMBER, GITHUB_RETENTION_DAYS must be whole numbers; GITHUB_ACTIONS, GITHUB_REF_PROTECTED booleans): %w", err)
	}
	return gc, nil
}
