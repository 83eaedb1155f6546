package record

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestComputeLedgerEdges: steps that never got ready, a run still going, and the saving against the
// job's end, from timestamps alone.
func TestComputeLedgerEdges(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(s float64) *time.Time {
		v := t0.Add(time.Duration(s * float64(time.Second)))
		return &v
	}
	end := at(3600)
	s := Summary{
		State: RunFailed, StartedAt: t0, DecidedAt: at(30),
		Roles: []RoleSummary{
			// Crashed while loading, before the decision (its crash is the decision).
			{Name: "GEN_0", Kind: "gen", NTasks: 4, LaunchedAt: at(10), EndedAt: at(30)},
			// Still loading at the decision, stopped 5 s later.
			{Name: "CTX_0", Kind: "ctx", NTasks: 2, LaunchedAt: at(10), EndedAt: at(35)},
			// Never launched: not in the ledger.
			{Name: "BENCHMARK", Kind: "benchmark", NTasks: 1},
		},
		Ledger: &Ledger{AllocationGPUs: 8, FirstRoleLaunchAt: at(10), JobEndAt: end},
	}
	l := ComputeLedger(s, t0.Add(time.Hour)) // while running: only up to now; the run has not ended
	want := []StepGPUTime{
		{Name: "GEN_0", GPUs: 4, GPUSecondsByPhase: GPUSecondsByPhase{Loading: 80, Total: 80}},
		{Name: "CTX_0", GPUs: 2, GPUSecondsByPhase: GPUSecondsByPhase{Loading: 40, Teardown: 10, Total: 50}},
	}
	if diff := cmp.Diff(want, l.Steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if l.BeforeFirstLaunch != 80 || l.Held != 8*3600 || l.Saved == nil || *l.Saved != 0 {
		t.Errorf("before %v held %v saved %v; want 80, %d, 0 (the figures run to the job's end)", l.BeforeFirstLaunch, l.Held, l.Saved, 8*3600)
	}

	s.EndedAt = at(36)
	l = ComputeLedger(s, t0.Add(time.Hour))
	if !l.AsOf.Equal(*at(36)) || l.Held != 8*36 || l.AfterDecision != 8*6 || l.Saved == nil || *l.Saved != 8*(3600-36) {
		t.Errorf("as of %v held %v after %v saved %v; want the run's end, %d, %d, %d", l.AsOf, l.Held, l.AfterDecision, l.Saved, 8*36, 8*6, 8*(3600-36))
	}
	s.State = RunSucceeded
	if l = ComputeLedger(s, t0); l.Saved != nil {
		t.Errorf("a successful run saved %v, want nothing said", *l.Saved)
	}
}

// TestComputeLedgerAggregated: an aggregated test's SERVER has no benchmark to wait for: it loads until
// it is ready and serves from then on until its end decides the run.
func TestComputeLedgerAggregated(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(s float64) *time.Time {
		v := t0.Add(time.Duration(s * float64(time.Second)))
		return &v
	}
	s := Summary{
		State: RunSucceeded, StartedAt: t0, DecidedAt: at(100), EndedAt: at(100),
		Roles: []RoleSummary{
			{Name: "INSTALL", Kind: "install", NTasks: 2, LaunchedAt: at(0), ReadyAt: at(5), EndedAt: at(5)},
			{Name: "SERVER", Kind: "aggregated", NTasks: 8, LaunchedAt: at(5), ReadyAt: at(25), EndedAt: at(100)},
		},
		Ledger: &Ledger{AllocationGPUs: 8, FirstRoleLaunchAt: at(5)},
	}
	l := ComputeLedger(s, t0)
	want := []StepGPUTime{
		{Name: "INSTALL", GPUs: 2, GPUSecondsByPhase: GPUSecondsByPhase{Loading: 10, Total: 10}},
		{Name: "SERVER", GPUs: 8, GPUSecondsByPhase: GPUSecondsByPhase{Loading: 160, Serving: 600, Total: 760}},
	}
	if diff := cmp.Diff(want, l.Steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}
