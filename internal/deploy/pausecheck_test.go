package deploy_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
)

// answering is a loopback test endpoint that answers with each status of
// a script in turn, then with the last one.
func answering(tb testing.TB, statuses ...int) string {
	tb.Helper()
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		status := statuses[0]
		if len(statuses) > 1 {
			statuses = statuses[1:]
		}
		mu.Unlock()
		w.WriteHeader(status)
		fmt.Fprint(w, strings.Repeat("x", 100))
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// TestPauseCheckRun: the check passes on the given number of 2xx answers
// in a row, any other answer starting the count again, and fails when its
// time runs out first, saying what the last try heard.
func TestPauseCheckRun(t *testing.T) {
	t.Parallel()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + closed.Addr().String() + "/health"
	_ = closed.Close()
	tests := []struct {
		name      string
		url       string
		successes int
		timeout   time.Duration
		client    *http.Client
		wantErr   string // empty for a pass
		wantTries int    // the tries printed
		wantLog   []string
	}{
		{name: "2xx of every kind count, others start again", url: answering(t, 200, 503, 204, 300, 299, 200), successes: 2, timeout: 10 * time.Second,
			wantTries: 6, wantLog: []string{"try 1: 200 OK (1 of 2 in a row)", "try 2: 503 Service Unavailable", "try 3: 204 No Content (1 of 2 in a row)", "try 4: 300 Multiple Choices", "try 5: 299 status code 299 (1 of 2 in a row)", "try 6: 200 OK (2 of 2 in a row)"}},
		{name: "one success when none is asked", url: answering(t, 200), successes: 0, timeout: 10 * time.Second, wantTries: 1, wantLog: []string{"try 1: 200 OK (1 of 1 in a row)"}},
		{name: "never healthy", url: answering(t, 503), successes: 1, timeout: 300 * time.Millisecond,
			wantErr: "no 1 answers 2xx in a row within 300ms (", wantLog: []string{"try 1: 503 Service Unavailable"}},
		{name: "nobody listening", url: deadURL, successes: 3, timeout: 300 * time.Millisecond,
			wantErr: "no 3 answers 2xx in a row within 300ms", wantLog: []string{"try 1: Get \"" + deadURL + "\""}},
		{name: "no client", url: deadURL, client: nil, wantErr: "no HTTP client for the check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := &http.Client{Timeout: 5 * time.Second}
			if tt.name == "no client" {
				client = nil
			}
			check := deploy.PauseCheck{URL: tt.url, Successes: tt.successes, Timeout: tt.timeout, Interval: 10 * time.Millisecond, Client: client}
			var lines []string
			err := check.Run(context.Background(), func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) })
			log := strings.Join(lines, "\n")
			if tt.wantErr == "" {
				if err != nil || len(lines) != tt.wantTries {
					t.Fatalf("Run = %v after %d tries, want a pass after %d:\n%s", err, len(lines), tt.wantTries, log)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Run = %v, want %q:\n%s", err, tt.wantErr, log)
			}
			for _, want := range tt.wantLog {
				if !strings.Contains(log, want) {
					t.Errorf("the tries printed lack %q:\n%s", want, log)
				}
			}
		})
	}
}

// TestPauseCheckIntervalDefault: without an interval, tries are a second
// apart.
func TestPauseCheckIntervalDefault(t *testing.T) {
	t.Parallel()
	check := deploy.PauseCheck{URL: answering(t, 200, 503, 200), Successes: 2, Timeout: 10 * time.Second, Client: &http.Client{Timeout: 5 * time.Second}}
	start := time.Now()
	tries := 0
	if err := check.Run(context.Background(), func(string, ...any) { tries++ }); err != nil {
		t.Fatal(err)
	}
	// Three tries, then a fourth for the second success in a row: three
	// pauses between them.
	if took := time.Since(start); tries != 4 || took < 3*time.Second {
		t.Errorf("%d tries in %v, want 4 a second apart", tries, took)
	}
}
