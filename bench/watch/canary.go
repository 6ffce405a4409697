package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/bench/internal/stats"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/deploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/httpclient"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
)

// canaryWorld is the demo world whose api-service deploys as a CANARY:
// stages of 2 s, 10% of production traffic for a minute, then the rest,
// then a minute's bake time. Its minutes are real ones, so that a watcher
// that reads the bake time from ECS looks when it ends, as it would on AWS.
func canaryWorld() *sandbox.World {
	w := sandbox.DemoWorld()
	w.ECS = &sandbox.ECSSettings{TaskStartSeconds: 2, StageSeconds: 2, InactiveDeploymentSeconds: 0.001}
	svc := w.Accounts[account].Clusters[cluster].Services["api-service"]
	svc.RolloutSeconds = 0
	one, pct := 1, 10.0
	svc.Strategy = "CANARY"
	svc.BakeTimeInMinutes = &one
	svc.CanaryConfiguration = &sandbox.CanaryConfiguration{CanaryPercent: &pct, CanaryBakeTimeInMinutes: &one}
	return w
}

// apiCall is one request a client sent.
type apiCall struct {
	at time.Time
	op string
}

// callLog counts the AWS API calls that pass through it, as the
// transport of our client or of a proxy in front of the AWS CLI.
type callLog struct {
	base  http.RoundTripper
	mu    sync.Mutex
	calls []apiCall
}

func (c *callLog) RoundTrip(r *http.Request) (*http.Response, error) {
	_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	c.mu.Lock()
	c.calls = append(c.calls, apiCall{at: time.Now(), op: op})
	c.mu.Unlock()
	return c.base.RoundTrip(r)
}

// reset forgets the calls so far.
func (c *callLog) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
}

// after is when op was first called, and how many calls were made from
// then on; zero and 0 when op was not called.
func (c *callLog) after(op string) (time.Time, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, call := range c.calls {
		if call.op == op {
			return call.at, len(c.calls) - i - 1
		}
	}
	return time.Time{}, 0
}

// count is how many calls were made.
func (c *callLog) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls)
}

// countingProxy serves target's AWS endpoint on a loopback port through
// calls, keeping the Host header the client signed.
func countingProxy(ctx context.Context, target string, calls *callLog) (string, func(), error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", nil, err
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		},
		Transport: calls,
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }() // ends with ErrServerClosed when stopped
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}

// perMinute is a count over a duration, per minute.
func perMinute(n int, d time.Duration) float64 { return float64(n) / d.Minutes() }

// canary deploys a CANARY service runs times, each deployment watched by
// our watcher and, at the same time, by `aws ecs wait services-stable`,
// and measures the time from the sandbox completing the last stage to our
// watcher returning, and each watcher's API calls per minute of watching.
func canary(ctx context.Context, runs int, awsPath string, skipCLI bool) error {
	e, err := start(ctx, canaryWorld())
	if err != nil {
		return err
	}
	defer func() { _ = e.sb.Close() }() // the bench's figures are printed by then
	ours := &callLog{base: httpclient.NewTransport(httpclient.Timeouts{})}
	cfg := e.cfg.Copy()
	cfg.HTTPClient = &http.Client{Transport: ours}
	client := ecs.NewFromConfig(cfg)
	theirs := &callLog{base: httpclient.NewTransport(httpclient.Timeouts{})}
	proxyURL, stop, err := countingProxy(ctx, e.sb.AWSEndpoint(), theirs)
	if err != nil {
		return err
	}
	defer stop()

	var latencies []time.Duration
	var ourRates, cliRates []float64
	for i := range runs {
		digest, err := e.push(ctx, fmt.Sprintf("canary-%d", i))
		if err != nil {
			return fmt.Errorf("push: %w", err)
		}
		ours.reset()
		theirs.reset()
		type outcome struct {
			results  []deploy.ServiceResult
			err      error
			returned time.Time
		}
		done := make(chan outcome, 1)
		go func() {
			results, err := deploy.Run(ctx, client, request(e, digest, true), &counter{})
			done <- outcome{results, err, time.Now()}
		}()
		// The AWS CLI starts watching once our deployment has started.
		var updated time.Time
		for updated.IsZero() {
			select {
			case o := <-done:
				return fmt.Errorf("deploy run %d ended before it updated the service: %w", i, o.err)
			case <-time.After(20 * time.Millisecond):
			}
			updated, _ = ours.after("UpdateService")
		}
		cliDone := make(chan error, 1)
		var cliStart, cliEnd time.Time
		if !skipCLI {
			go func() {
				cliStart = time.Now()
				err := awsWait(ctx, e, proxyURL, awsPath)
				cliEnd = time.Now()
				cliDone <- err
			}()
		}
		o := <-done
		if o.err != nil {
			return fmt.Errorf("deploy run %d: %w", i, o.err)
		}
		fin, status, err := e.finishedAt(ctx, o.results[0].ServiceDeploymentARN)
		if err != nil {
			return err
		}
		watched := o.returned.Sub(updated)
		_, calls := ours.after("UpdateService")
		latencies = append(latencies, o.returned.Sub(fin))
		ourRates = append(ourRates, perMinute(calls, watched))
		fmt.Printf("  run %d: %s; ours returned %s after the last stage ended, %d calls in %s of watching (%.1f/min)",
			i+1, status, o.returned.Sub(fin).Round(time.Millisecond), calls, watched.Round(time.Second), perMinute(calls, watched))
		if !skipCLI {
			if err := <-cliDone; err != nil {
				return err
			}
			cliWatched := cliEnd.Sub(cliStart)
			cliRates = append(cliRates, perMinute(theirs.count(), cliWatched))
			fmt.Printf("; aws ecs wait services-stable returned %s after it, %d calls in %s (%.1f/min)",
				cliEnd.Sub(fin).Round(time.Millisecond), theirs.count(), cliWatched.Round(time.Second), perMinute(theirs.count(), cliWatched))
		}
		fmt.Println()
	}
	med := stats.Median(latencies)
	fmt.Printf("canary deployment (10%% of production traffic for a minute, then all of it, then a minute's bake), median of %d:\n", runs)
	fmt.Printf("  time from the last stage's end to our watcher returning: %s (target <= 1s) %s\n", med.Round(time.Millisecond), verdict(med <= time.Second))
	fmt.Printf("  API calls per minute of watching, ours:                         %.1f\n", stats.Median(ourRates))
	if !skipCLI {
		fmt.Printf("  API calls per minute of watching, aws ecs wait services-stable: %.1f (ratio %.1f)\n",
			stats.Median(cliRates), stats.Median(ourRates)/stats.Median(cliRates))
	}
	return nil
}
