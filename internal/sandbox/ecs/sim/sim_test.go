package sim

import (
	"testing"
	"time"
)

func TestEventTimesAreDistinct(t *testing.T) {
	t.Parallel()
	svc := &Service{}
	now := time.Now()
	for i := range 150 {
		svc.AddEvent(now, "event %d", i)
	}
	if len(svc.Events) != maxServiceEvents {
		t.Errorf("%d events kept, want %d", len(svc.Events), maxServiceEvents)
	}
	if got := svc.Events[0].Message; got != "event 149" {
		t.Errorf("newest event %q, want event 149", got)
	}
	for i := 1; i < len(svc.Events); i++ {
		if !svc.Events[i-1].CreatedAt.After(svc.Events[i].CreatedAt) {
			t.Fatalf("event %d at %v is not after event %d at %v", i-1, svc.Events[i-1].CreatedAt, i, svc.Events[i].CreatedAt)
		}
	}
}
