package engine

import (
	"context"
	"errors"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// defaultCheckTimeout bounds a check that names no timeout: evidence that does not come is
// unknown, and unknown blocks.
const defaultCheckTimeout = 30 * time.Second

type timeoutChecker struct {
	provider.Checker
	d time.Duration
}

// withTimeout bounds a check's every call by its timeout. A check that can also report
// residual use (provider.UsageReporter) keeps that power through the decorator: the engine
// discovers it with a type assertion, as it does on the undecorated check.
func withTimeout(c provider.Checker, d time.Duration) provider.Checker {
	if d <= 0 {
		d = defaultCheckTimeout
	}
	if u, ok := c.(provider.UsageReporter); ok {
		return timeoutUsageChecker{timeoutChecker{c, d}, u}
	}
	return timeoutChecker{c, d}
}

type timeoutUsageChecker struct {
	timeoutChecker
	u provider.UsageReporter
}

func (t timeoutUsageChecker) Usage(ctx context.Context, req provider.UsageRequest) (provider.UsageResponse, error) {
	return bounded(ctx, t.d, func(ctx context.Context) (provider.UsageResponse, error) { return t.u.Usage(ctx, req) },
		provider.UsageResponse{Verdict: provider.Unknown, Detail: "no answer within " + t.d.String()})
}

func (t timeoutChecker) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResult, error) {
	return bounded(ctx, t.d, func(ctx context.Context) (provider.CheckResult, error) { return t.Checker.Check(ctx, req) },
		provider.CheckResult{Verdict: provider.Unknown, Reason: "no answer within " + t.d.String()})
}

// bounded calls f with d as its deadline; evidence that did not come in time is unknown (the
// timedOut answer), never an error that could read as a failure of the thing checked.
func bounded[T any](ctx context.Context, d time.Duration, f func(context.Context) (T, error), timedOut T) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	res, err := f(ctx)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return timedOut, nil
	}
	return res, err
}

// defaultReloadTimeout bounds a reload that names no timeout (the inventory's default).
const defaultReloadTimeout = 2 * time.Minute

type timeoutReloader struct {
	provider.Reloader
	d time.Duration
}

// withReloadTimeout gives a reload the context deadline of its block's `timeout`. A reload
// that times out is retryable: the consumer may have reloaded, and reloading again is safe.
func withReloadTimeout(r provider.Reloader, d time.Duration) provider.Reloader {
	if d <= 0 {
		d = defaultReloadTimeout
	}
	return timeoutReloader{r, d}
}

func (t timeoutReloader) Reload(ctx context.Context, req provider.ReloadRequest) (provider.ReloadResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	resp, err := t.Reloader.Reload(ctx, req)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return resp, provider.Errorf(provider.Retryable, "reload", "no answer within %s: %v", t.d, err)
	}
	return resp, err
}
