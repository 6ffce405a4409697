package cli

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/registry"
)

// How much of a run the timeline shows one bar for; beyond, bars are
// folded so that the chart of a 20-service run stays readable.
const (
	// timelineDetailedServices: up to this many services, each has a
	// section of its own with its rollout and every lifecycle stage.
	timelineDetailedServices = 4
	// timelineServiceBars: beyond timelineDetailedServices, each service
	// is one bar in one section, failed ones first, up to this many; the
	// rest are one bar, "N more services".
	timelineServiceBars = 10
	// timelineLayerBars: a push of up to this many layers shows each;
	// more are shown in this many groups, in the order they started.
	timelineLayerBars = 5
	// timelineRevisionBars: registrations shown one by one.
	timelineRevisionBars = 3
)

// span is one phase of the run, for the timeline.
type span struct {
	section, name string
	start, end    time.Time
	failed        bool
}

// timeline collects the run's phases as they end.
type timeline struct {
	mu    sync.Mutex
	spans []span
}

func (t *timeline) add(s span) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.spans = append(t.spans, s)
}

func (t *timeline) all() []span {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.spans)
}

// pushSpans are the push's phases: what came before the first upload
// (finding the image, the login, reading the tags), the layers, alone or
// in groups, and the tags after the last upload.
func pushSpans(start, end time.Time, res *registry.PushResult) []span {
	const section = "Push"
	if res == nil {
		return []span{{section: section, name: "push", start: start, end: end, failed: true}}
	}
	var uploaded []registry.LayerTiming
	for _, l := range res.Layers {
		if l.Uploaded {
			uploaded = append(uploaded, l)
		}
	}
	if len(uploaded) == 0 {
		return []span{{section: section, name: "push (the registry had every layer)", start: start, end: end}}
	}
	slices.SortStableFunc(uploaded, func(a, b registry.LayerTiming) int { return a.Start.Compare(b.Start) })
	first, last := uploaded[0].Start, uploaded[0].End
	for _, l := range uploaded {
		last = later(last, l.End)
	}
	out := []span{{section: section, name: "image, login, tags read", start: start, end: first}}
	groups := len(uploaded)
	if groups > timelineLayerBars {
		groups = timelineLayerBars
	}
	per := (len(uploaded) + groups - 1) / groups
	for i := 0; i < len(uploaded); i += per {
		group := uploaded[i:min(i+per, len(uploaded))]
		s := span{section: section, start: group[0].Start, end: group[0].End}
		var size int64
		for _, l := range group {
			s.end = later(s.end, l.End)
			size += l.Size
		}
		if len(group) == 1 {
			s.name = fmt.Sprintf("layer %s %s", registry.ShortDigest(group[0].Digest), registry.HumanSize(size))
		} else {
			s.name = fmt.Sprintf("layers %d-%d of %d, %s", i+1, i+len(group), len(uploaded), registry.HumanSize(size))
		}
		out = append(out, s)
	}
	return append(out, span{section: section, name: "manifest and tags", start: last, end: end})
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// deploySpans are the registrations, once each however many services
// share them, and every service's rollout: with its lifecycle stages when
// few services are deployed, one bar each beyond, folded past a limit.
func deploySpans(services []ServiceResult, now time.Time) []span {
	var out []span
	seen := map[string]bool{}
	var regs []span
	for _, s := range services {
		reg := s.Registration
		if reg.Start.IsZero() || seen[s.TaskDefinitionARN] {
			continue
		}
		seen[s.TaskDefinitionARN] = true
		name := "register " + revisionName(s.TaskDefinitionARN)
		if s.TaskDefinitionARN == "" {
			name = "register (failed)"
		}
		regs = append(regs, span{section: "Register", name: name, start: reg.Start, end: orNow(reg.End, now), failed: s.TaskDefinitionARN == ""})
	}
	if len(regs) > timelineRevisionBars {
		rest := regs[timelineRevisionBars-1:]
		fold := span{section: "Register", name: fmt.Sprintf("%d more revisions", len(rest)), start: rest[0].start, end: rest[0].end}
		for _, r := range rest {
			fold.start, fold.end = earlier(fold.start, r.start), later(fold.end, r.end)
			fold.failed = fold.failed || r.failed
		}
		regs = append(regs[:timelineRevisionBars-1], fold)
	}
	out = append(out, regs...)

	var rollouts []ServiceResult
	for _, s := range services {
		if !s.Deployment.Start.IsZero() {
			rollouts = append(rollouts, s)
		}
	}
	if len(rollouts) <= timelineDetailedServices {
		for _, s := range rollouts {
			end := orNow(s.Deployment.End, now)
			out = append(out, span{section: s.Service, name: "rollout " + string(s.Outcome), start: s.Deployment.Start, end: end, failed: s.Failure != ""})
			for i, st := range s.Stages {
				stageEnd := end
				if i+1 < len(s.Stages) {
					stageEnd = s.Stages[i+1].At
				}
				failed := s.Failure != "" && i == len(s.Stages)-1
				out = append(out, span{section: s.Service, name: st.Name, start: st.At, end: stageEnd, failed: failed})
			}
		}
		return out
	}
	// Many services: one bar each, the failed ones first, the rest folded.
	slices.SortStableFunc(rollouts, func(a, b ServiceResult) int {
		switch {
		case (a.Failure != "") == (b.Failure != ""):
			return 0
		case a.Failure != "":
			return -1
		}
		return 1
	})
	shown := rollouts
	var folded []ServiceResult
	if len(rollouts) > timelineServiceBars {
		shown, folded = rollouts[:timelineServiceBars-1], rollouts[timelineServiceBars-1:]
	}
	for _, s := range shown {
		out = append(out, span{section: "Rollouts", name: s.Service + " " + string(s.Outcome), start: s.Deployment.Start, end: orNow(s.Deployment.End, now), failed: s.Failure != ""})
	}
	if len(folded) > 0 {
		fold := span{section: "Rollouts", start: folded[0].Deployment.Start, end: orNow(folded[0].Deployment.End, now)}
		failed := 0
		for _, s := range folded {
			fold.start, fold.end = earlier(fold.start, s.Deployment.Start), later(fold.end, orNow(s.Deployment.End, now))
			if s.Failure != "" {
				failed++
			}
		}
		fold.failed = failed > 0
		fold.name = fmt.Sprintf("%d more services, %d failed", len(folded), failed)
		out = append(out, fold)
	}
	return out
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// revisionName is family:revision from a task definition ARN.
func revisionName(arn string) string {
	if _, fr, ok := strings.Cut(arn, ":task-definition/"); ok {
		return fr
	}
	return arn
}

// ganttTasks turns the run's spans into the chart's bars, in order.
func ganttTasks(spans []span) []ghaction.GanttTask {
	tasks := make([]ghaction.GanttTask, 0, len(spans))
	for _, s := range spans {
		tasks = append(tasks, ghaction.GanttTask{Section: s.section, Name: s.name, Start: s.start, End: s.end, Failed: s.failed})
	}
	return tasks
}

// stageNames lists the lifecycle stages a service went through, for the
// results output.
func stageNames(stages []deploy.Stage) []string {
	out := make([]string, len(stages))
	for i, s := range stages {
		out[i] = s.Name
	}
	return out
}
