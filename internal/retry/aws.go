package retry

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// AWSRetryer returns the retryer for every AWS client of the run (for
// aws.Config.Retryer): the SDK's standard retryer with this policy's
// classification, attempts and backoff, paying each retry from the run's
// one budget, which it shares with every other client and loop of the run.
func (p *Policy) AWSRetryer() aws.Retryer {
	standard := awsretry.NewStandard(func(o *awsretry.StandardOptions) {
		o.MaxAttempts = max(p.opts.Attempts, p.opts.ThrottledAttempts)
		o.Retryables = []awsretry.IsErrorRetryable{awsretry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			return aws.BoolTernary(Transient(err))
		})}
		o.Throttles = []awsretry.IsErrorThrottle{awsretry.IsErrorThrottleFunc(func(err error) aws.Ternary {
			return aws.BoolTernary(Classify(err) == Throttled)
		})}
		o.Backoff = awsretry.BackoffDelayerFunc(p.awsDelay)
		o.RateLimiter = p
		o.RetryCost = RetryCost
		o.ThrottlingRetryCost = ThrottledRetryCost
		o.NoRetryIncrement = 1
	})
	return &awsRetryer{RetryerV2: standard, p: p}
}

// awsDelay is the SDK's backoff: the policy's, and the end of the tries
// for a call whose failure allows fewer attempts than throttling does.
func (p *Policy) awsDelay(attempt int, err error) (time.Duration, error) {
	class := Classify(err)
	if attempt >= p.attemptsFor(class) {
		return 0, &awsretry.MaxAttemptsError{Attempt: attempt, Err: err}
	}
	return p.Delay(attempt, class), nil
}

// awsRetryer says why it waits before each retry.
type awsRetryer struct {
	aws.RetryerV2
	p *Policy
}

func (r *awsRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	d, derr := r.RetryerV2.RetryDelay(attempt, err)
	if derr == nil {
		what := err.Error()
		if ae, ok := errors.AsType[smithy.APIError](err); ok {
			what = ae.ErrorCode() + ": " + ae.ErrorMessage()
		}
		r.p.logf("AWS answered %s; retrying in %s (attempt %d of %d)", what, d.Round(time.Millisecond), attempt+1, r.p.attemptsFor(Classify(err)))
	}
	return d, derr
}

// NoBlindRetries wraps an SDK retryer for a call that must not be repeated
// blindly (RegisterTaskDefinition, UpdateService): it retries only the
// failures that prove nothing happened — throttling, a connection never
// made. A server error or a lost answer comes back to the caller, which
// looks whether the call took effect before it tries again. Use it as a
// per-call option: o.Retryer = retry.NoBlindRetries(o.Retryer).
func NoBlindRetries(r aws.Retryer) aws.Retryer {
	return &noBlindRetryer{RetryerV2: asV2(r)}
}

type noBlindRetryer struct{ aws.RetryerV2 }

func (r *noBlindRetryer) IsErrorRetryable(err error) bool {
	if Classify(err).MayHaveApplied() {
		return false
	}
	return r.RetryerV2.IsErrorRetryable(err)
}

// asV2 gives any retryer the context-aware attempt token call.
func asV2(r aws.Retryer) aws.RetryerV2 {
	if v2, ok := r.(aws.RetryerV2); ok {
		return v2
	}
	return v1Retryer{r}
}

type v1Retryer struct{ aws.Retryer }

func (r v1Retryer) GetAttemptToken(context.Context) (func(error) error, error) {
	return r.GetInitialToken(), nil
}
