package deploy

import (
	"time"
)

// Clock is the time a deployment is watched by: when things happen, and
// the pause between two looks. Tests step it instead of waiting.
type Clock interface {
	Now() time.Time
	// After sends on the channel once d has passed.
	After(d time.Duration) <-chan time.Time
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// DefaultHeartbeat is how long a watch stays silent before it says where
// every deployment stands, so that a quiet log never looks hung.
const DefaultHeartbeat = time.Minute

// Span is when a step ran.
type Span struct {
	Start, End time.Time
}

// Stage is a lifecycle stage of a deployment (BLUE_GREEN, LINEAR, CANARY:
// PRE_SCALE_UP, ..., BAKE_TIME, CLEAN_UP), as ECS names it, and when the
// watch first saw the deployment in it.
type Stage struct {
	Name string
	At   time.Time
}

// stageEntered is where the watch reports that our deployment has entered
// a lifecycle stage: the result keeps every stage, in order, once. A
// stage that came and went between two looks is reported at the look
// that found it passed.
func (s *serviceState) stageEntered(stage string, at time.Time) {
	if stage == "" {
		return
	}
	for _, seen := range s.result.Stages {
		if seen.Name == stage {
			return
		}
	}
	s.result.Stages = append(s.result.Stages, Stage{Name: stage, At: at})
}

// heartbeat says where each watched deployment stands when nothing has
// changed for the heartbeat's period: how long the watch has run, the
// deployment's state and counts, and for how long nothing changed.
type heartbeat struct {
	every      time.Duration
	lastChange time.Time
	lastBeat   time.Time
}

// due reports whether a heartbeat is due at now, and records it as given.
func (h *heartbeat) due(changed bool, now time.Time) bool {
	if changed || h.lastChange.IsZero() {
		h.lastChange, h.lastBeat = now, now
		return false
	}
	if now.Sub(h.lastBeat) < h.every {
		return false
	}
	h.lastBeat = now
	return true
}

// heartbeat prints, for each deployment still watched, where it stands
// and for how long nothing has changed.
func (p *Plan) heartbeat(active []*serviceState, since time.Time) {
	now := p.req.Clock.Now()
	quiet := now.Sub(since).Round(time.Second)
	for _, s := range active {
		where := s.result.Rollout
		if where == "" {
			where = "no state read yet"
		}
		s.log.infof("Still watching deployment %s (%s so far): %s; no change for %s",
			s.result.DeploymentID, now.Sub(s.updatedAt).Round(time.Second), where, quiet)
	}
}
