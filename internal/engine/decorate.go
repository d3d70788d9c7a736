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

func withTimeout(c provider.Checker, d time.Duration) provider.Checker {
	if d <= 0 {
		d = defaultCheckTimeout
	}
	return timeoutChecker{c, d}
}

func (t timeoutChecker) Check(ctx context.Context, req provider.CheckRequest) (provider.CheckResult, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	res, err := t.Checker.Check(ctx, req)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return provider.CheckResult{Verdict: provider.Unknown, Reason: "no answer within " + t.d.String()}, nil
	}
	return res, err
}
