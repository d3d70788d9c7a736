package rotation

import (
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/provider"
)

// Residual use is asked of every source that can answer it: the authority where it can, and
// any check of the credential or of a consumer that can (a tls check: the endpoints still
// serving the previous certificate). A certificate's authority cannot say, so without its
// checks as sources revoke went ahead while an endpoint still served the old certificate.

// TestResidualUseGateAsksEverySource: the gate is there when anyone can answer it — the
// authority, a check, or both — and only then, and only with a previous version.
func TestResidualUseGateAsksEverySource(t *testing.T) {
	for _, tc := range []struct {
		name  string
		usage []string
		first bool
		want  []string
	}{
		{"nobody can say", nil, false, []string{"do revoke @revoking"}},
		{"the authority", []string{UsageAuthority}, false, []string{"do residual-use @verifying", "do revoke @revoking"}},
		{"a tls check, no authority", []string{UsageCheck("tls-edge")}, false, []string{"do residual-use @verifying", "do revoke @revoking"}},
		{"authority and checks", []string{UsageAuthority, UsageCheck("tls-a"), UsageCheck("tls-edge")}, false, []string{"do residual-use @verifying", "do revoke @revoking"}},
		{"a check, first rotation", []string{UsageCheck("tls-edge")}, true, []string{"do record @revoking"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newSpec().consumer("vhost-a", reload, checks("tls-a"))
			b.s.Usage = tc.usage
			h := newHarness(t, b.build(), t0)
			h.first = tc.first
			got := h.drive()
			var after []string
			for _, d := range got {
				if strings.Contains(d, "@verifying") || strings.Contains(d, "@revoking") {
					after = append(after, d)
				}
			}
			if len(after) < len(tc.want) || strings.Join(after[:len(tc.want)], " | ") != strings.Join(tc.want, " | ") {
				t.Fatalf("after cutover: %v, want it to begin with %v", after, tc.want)
			}
		})
	}
}

// TestResidualUseOfACheckBlocksRevoke: an endpoint still serving the previous certificate is a
// fail that blocks revoke, named in the gate's reason; unknown (an endpoint that did not
// answer) blocks as well; the gate clears only with a pass from every source.
func TestResidualUseOfACheckBlocksRevoke(t *testing.T) {
	spec := func() Spec {
		b := newSpec().consumer("vhost-a", reload, checks("tls-a"))
		b.s.Usage = []string{UsageCheck("tls-a"), UsageCheck("served-everywhere")}
		return b.build()
	}
	for _, v := range []provider.Verdict{provider.Fail, provider.Unknown} {
		t.Run(string(v), func(t *testing.T) {
			h := newHarness(t, spec(), t0)
			h.driveUntil("do residual-use @verifying")
			reason := "still in use: served-everywhere: 127.0.0.1:8443 (SNI a.test)"
			h.doWith("do residual-use @verifying", Outcome{Verdict: v, Detail: "check tls-a pass; check served-everywhere " + string(v),
				Data: map[string]string{UsageCheck("tls-a"): "pass", UsageCheck("served-everywhere"): string(v)},
				Gate: &GateResult{Gate: "residual-use", Verdict: v, Reason: reason, Message: "127.0.0.1:8443 (SNI a.test) still serves the certificate"}})
			for range 2 { // the rest of this invocation, a day later too
				a := h.next()
				wantWait(t, a, "residual-use", v, Verifying)
				if a.Gate.Reason != reason {
					t.Errorf("reason %q, want the endpoint named", a.Gate.Reason)
				}
				h.advance(24 * time.Hour)
			}
			if h.r.started(StepRevoke) {
				t.Fatal("revoke began while an endpoint served the previous certificate")
			}
			h.invoke()
			wantSeq(t, h.drive(), "do residual-use @verifying", "do revoke @revoking", "do record @revoking", "finished")
		})
	}
}

// TestEndingSessionsCuresOnlyTheAuthority: an approval to end the previous version's sessions
// answers what the authority found; a check that still sees the previous version in use, or
// cannot tell, keeps revoke blocked.
func TestEndingSessionsCuresOnlyTheAuthority(t *testing.T) {
	for _, tc := range []struct {
		name string
		data map[string]string
		want bool
	}{
		{"only the authority found use", map[string]string{UsageAuthority: "fail", UsageCheck("tls-a"): "pass"}, true},
		{"no per-source record (a run from before)", nil, true},
		{"an endpoint serves the previous version too", map[string]string{UsageAuthority: "fail", UsageCheck("tls-edge"): "fail"}, false},
		{"a check could not tell", map[string]string{UsageAuthority: "fail", UsageCheck("tls-edge"): "unknown"}, false},
		{"only a check found use", map[string]string{UsageAuthority: "pass", UsageCheck("tls-edge"): "fail"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newSpec().consumer("api", reload, checks("api-health"))
			b.s.Usage, b.s.EndSessions = []string{UsageAuthority, UsageCheck("tls-a"), UsageCheck("tls-edge")}, true
			h := newHarness(t, b.build(), t0)
			h.driveUntil("do residual-use @verifying")
			h.doWith("do residual-use @verifying", Outcome{Verdict: provider.Fail, Detail: "in use", Data: tc.data,
				Gate: &GateResult{Gate: "residual-use", Verdict: provider.Fail, Reason: "residual use", Message: "in use"}})
			h.advance(time.Second)
			if err := Decide(h.r, decide("bob", true, h.now), approvers); err != nil {
				t.Fatal(err)
			}
			if got := h.r.EndSessionsApproved(); got != tc.want {
				t.Fatalf("EndSessionsApproved = %v, want %v", got, tc.want)
			}
			want := "wait residual-use/fail"
			if tc.want {
				want = "do revoke @revoking"
			}
			if got := describe(h.next()); got != want {
				t.Fatalf("Next = %s, want %s", got, want)
			}
		})
	}
}
