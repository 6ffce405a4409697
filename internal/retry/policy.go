package retry

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	goretry "github.com/sethvargo/go-retry"
)

// Defaults of Options.
const (
	// DefaultBudget is the run's retry budget in tokens: a retry costs
	// RetryCost (ThrottledRetryCost when throttled), a successful retry
	// gives its cost back and every call that succeeds at once adds one, as
	// the SDK's own retry quota works, but one bucket for the whole run.
	DefaultBudget = 500
	// RetryCost is what a retry after a server or connection error costs.
	RetryCost = 10
	// ThrottledRetryCost is what a retry after throttling costs: waiting
	// for a rate to allow a call is expected when many services deploy at
	// once, and cheaper to allow.
	ThrottledRetryCost = 5

	defaultAttempts          = 5
	defaultThrottledAttempts = 10
	defaultBaseDelay         = 200 * time.Millisecond
	defaultThrottleDelay     = time.Second
	defaultMaxDelay          = 8 * time.Second
)

// Options tune a Policy; the zero value is the production policy.
type Options struct {
	// Budget is the run's retry budget in tokens; DefaultBudget when zero.
	Budget uint
	// Attempts bounds the tries of one call that fails with a server or
	// connection error; 5 when zero.
	Attempts int
	// ThrottledAttempts bounds the tries of one call that keeps being
	// throttled; 10 when zero. ECS refills its UpdateService and
	// RegisterTaskDefinition tokens at about one a second, so twenty
	// services deployed at once need some ten seconds of patience.
	ThrottledAttempts int
	// BaseDelay is the first wait after a server or connection error,
	// doubled on each retry; 200 ms when zero.
	BaseDelay time.Duration
	// ThrottleDelay is the first wait after throttling, doubled on each
	// retry; 1 s when zero.
	ThrottleDelay time.Duration
	// MaxDelay caps a wait before jitter; 8 s when zero. Jitter spreads
	// each wait by ±50%.
	MaxDelay time.Duration
	// Logf, when set, gets one line per retry, so that a pause in the log
	// has a reason next to it.
	Logf func(format string, args ...any)
}

// Policy is the retry policy of one run. One Policy is shared by every
// client and loop of the run; it is safe for concurrent use.
type Policy struct {
	opts   Options
	bucket *ratelimit.TokenRateLimit

	retries atomic.Int64
	refused atomic.Int64
}

// New returns a policy with a full budget.
func New(opts Options) *Policy {
	if opts.Budget == 0 {
		opts.Budget = DefaultBudget
	}
	if opts.Attempts <= 0 {
		opts.Attempts = defaultAttempts
	}
	if opts.ThrottledAttempts <= 0 {
		opts.ThrottledAttempts = defaultThrottledAttempts
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = defaultBaseDelay
	}
	if opts.ThrottleDelay <= 0 {
		opts.ThrottleDelay = defaultThrottleDelay
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = defaultMaxDelay
	}
	return &Policy{opts: opts, bucket: ratelimit.NewTokenRateLimit(opts.Budget)}
}

// Stats is what a policy has spent.
type Stats struct {
	// Retries counts the retries the budget allowed.
	Retries int
	// Refused counts the retries the budget refused.
	Refused int
	// Remaining is what is left of the budget, in tokens.
	Remaining uint
}

// Stats reports what the run's retries have spent so far.
func (p *Policy) Stats() Stats {
	return Stats{Retries: int(p.retries.Load()), Refused: int(p.refused.Load()), Remaining: p.bucket.Remaining()}
}

// BudgetError is the failure of a retry the run's budget did not allow.
type BudgetError struct {
	// Retries is how many retries the run had made.
	Retries int
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("the run's retry budget is spent (%d retries made): the services keep failing; nothing more is retried", e.Retries)
}

// GetToken takes the cost of one retry from the budget (the SDK's
// retry.RateLimiter): it fails with *BudgetError when the budget cannot pay.
// The returned release gives the cost back, when the retry succeeded.
func (p *Policy) GetToken(ctx context.Context, cost uint) (func() error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	release, err := p.bucket.GetToken(ctx, cost)
	if err != nil {
		p.refused.Add(1)
		return nil, &BudgetError{Retries: int(p.retries.Load())}
	}
	p.retries.Add(1)
	return release, nil
}

// AddTokens adds to the budget (the SDK's retry.RateLimiter): a call that
// succeeds at once earns the budget one token.
func (p *Policy) AddTokens(n uint) error { return p.bucket.AddTokens(n) }

// costOf is what a retry after a failure of class costs.
func costOf(c Class) uint {
	if c == Throttled {
		return ThrottledRetryCost
	}
	return RetryCost
}

// attemptsFor bounds the tries of one call failing with class.
func (p *Policy) attemptsFor(c Class) int {
	if c == Throttled {
		return p.opts.ThrottledAttempts
	}
	return p.opts.Attempts
}

// backoff is the sequence of waits after failures of class: exponential
// from its base, capped, with ±50% jitter so that parallel callers spread out.
func (p *Policy) backoff(c Class) goretry.Backoff {
	base := p.opts.BaseDelay
	if c == Throttled {
		base = p.opts.ThrottleDelay
	}
	return goretry.WithJitterPercent(50, goretry.WithCappedDuration(p.opts.MaxDelay, goretry.NewExponential(base)))
}

// Delay is the wait before retry number n (1 for the first retry) after a
// failure of class.
func (p *Policy) Delay(n int, c Class) time.Duration {
	b := p.backoff(c)
	var d time.Duration
	for range max(n, 1) {
		d, _ = b.Next()
	}
	return d
}

// Do calls f until it succeeds or fails for good: a failure that is not
// transient, the attempts of one call, the run's budget, or ctx. Each
// retry waits with backoff and jitter and is paid from the budget. what
// names the call in the log. A non-idempotent call must itself look, before
// it returns a failure that MayHaveApplied, whether it took effect after all.
func (p *Policy) Do(ctx context.Context, what string, f func(ctx context.Context) error) error {
	var (
		tries   int
		next    time.Duration
		lastErr error
		release func() error
		// waiting is set while a retry waits its turn: an error then is
		// the context's, which ended the wait.
		waiting bool
	)
	// go-retry drives the loop and the waits; each wait is chosen by the
	// failure before it, since throttling backs off from a longer base.
	delays := goretry.BackoffFunc(func() (time.Duration, bool) { return next, false })
	err := goretry.Do(ctx, delays, func(ctx context.Context) error {
		waiting = false
		tries++
		err := f(ctx)
		if err == nil {
			if release != nil {
				_ = release()
			}
			return nil
		}
		lastErr = err
		class := Classify(err)
		if ctx.Err() != nil && class.Transient() {
			// The time ran out during this try, not during a wait: the
			// context ended the call all the same, and says so first.
			return outOfTime(ctx.Err(), tries, err)
		}
		if !class.Transient() || tries >= p.attemptsFor(class) {
			return err
		}
		r, budgetErr := p.GetToken(ctx, costOf(class))
		if budgetErr != nil {
			return fmt.Errorf("%w; last error: %w", budgetErr, err)
		}
		release = r
		next = p.Delay(tries, class)
		p.logf("%s: %v; retrying in %s (attempt %d of %d)", what, err, next.Round(time.Millisecond), tries+1, p.attemptsFor(class))
		waiting = true
		return goretry.RetryableError(err)
	})
	if err != nil && waiting {
		// Interrupted or out of time while waiting to try again: say what
		// the last try met.
		return outOfTime(err, tries, lastErr)
	}
	return err
}

// outOfTime is the failure of a call whose context ended (ctxErr) after
// tries attempts, the last of which met last.
func outOfTime(ctxErr error, tries int, last error) error {
	return fmt.Errorf("%w after %d attempts; the last one: %w", ctxErr, tries, last)
}

func (p *Policy) logf(format string, args ...any) {
	if p.opts.Logf != nil {
		p.opts.Logf(format, args...)
	}
}
