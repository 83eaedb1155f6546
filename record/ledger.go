package record

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/roles"
)

// decidesRun reports whether a step's own end decides the run: the BENCHMARK's in a disaggregated
// test, and the SERVER's in an aggregated one, whose test command serves and measures by itself. Its
// status 0 is success without any end marker; a non-zero status is the run's root cause.
func DecidesRun(k roles.Kind) bool {
	return k == roles.KindBenchmark || k == roles.KindAggregated
}

// Ledger is where a run's GPU time went: for each step and in total, GPU-seconds loading (launch to
// ready), ready and waiting (until the benchmark's launch), serving the benchmark (until the decision;
// an aggregated SERVER serves from its readiness)
// and in teardown (from the decision to the step's end); and the allocation's GPU-seconds before the
// first role's launch and after the decision. A step's GPU-seconds are its tasks times its wall time
// (one GPU per task), whatever kind of step it is. It is summary.json's gpu_ledger.
type Ledger struct {
	// AllocationGPUs is nodes x GPUs per node of the allocation.
	AllocationGPUs int `json:"allocation_gpus"`
	// FirstRoleLaunchAt is the launch of the first role of the plan (after the install and any
	// pre-flight step); JobEndAt is Slurm's end of the job (time limit), when known.
	FirstRoleLaunchAt *time.Time `json:"first_role_launch_at,omitempty"`
	JobEndAt          *time.Time `json:"job_end_at,omitempty"`
	// AsOf is the time the figures run to: the run's end, or the moment of writing while it runs.
	AsOf  time.Time         `json:"as_of"`
	Steps []StepGPUTime     `json:"steps"`
	Total GPUSecondsByPhase `json:"total"`
	// Held is the allocation's GPU-seconds from the supervisor's start to AsOf; BeforeFirstLaunch
	// and AfterDecision are its parts before the first role's launch and after the decision.
	Held              float64 `json:"held"`
	BeforeFirstLaunch float64 `json:"before_first_launch"`
	AfterDecision     float64 `json:"after_decision"`
	// Saved is what stopping a failed or interrupted run early saved against the job's time limit:
	// the allocation's GPU-seconds from AsOf to JobEndAt. Absent on success or when the end is unknown.
	Saved *float64 `json:"saved,omitempty"`
	// ServingByConfig splits the steps' serving GPU-seconds (Total.Serving) by server configuration;
	// what is left of the total was served after the last configuration's end marker.
	ServingByConfig []ConfigServing `json:"serving_by_config,omitempty"`
}

// ConfigServing is one server configuration's share of the serving GPU-seconds.
type ConfigServing struct {
	Index   int     `json:"index"`
	Serving float64 `json:"serving"`
}

// GPUSecondsByPhase splits GPU-seconds by phase; Total is their sum.
type GPUSecondsByPhase struct {
	Loading  float64 `json:"loading"`
	Waiting  float64 `json:"waiting"`
	Serving  float64 `json:"serving"`
	Teardown float64 `json:"teardown"`
	Total    float64 `json:"total"`
}

func (g *GPUSecondsByPhase) add(o GPUSecondsByPhase) {
	g.Loading += o.Loading
	g.Waiting += o.Waiting
	g.Serving += o.Serving
	g.Teardown += o.Teardown
	g.Total += o.Total
}

// StepGPUTime is one step's line of the ledger.
type StepGPUTime struct {
	Name string `json:"name"`
	GPUs int    `json:"gpus"`
	GPUSecondsByPhase
}

// ComputeLedger works the ledger out from a summary's timestamps, up to asOf when the run has not
// ended (its end otherwise). The inputs it keeps (allocation, first role launch, job end) come from
// s.Ledger, so `status` can bring a running run's ledger up to the moment it is shown.
func ComputeLedger(s Summary, asOf time.Time) Ledger {
	var l Ledger
	if s.Ledger != nil {
		l.AllocationGPUs, l.FirstRoleLaunchAt, l.JobEndAt = s.Ledger.AllocationGPUs, s.Ledger.FirstRoleLaunchAt, s.Ledger.JobEndAt
	}
	if s.EndedAt != nil {
		asOf = *s.EndedAt
	}
	l.AsOf = asOf.UTC()
	decided := asOf
	if s.DecidedAt != nil && s.DecidedAt.Before(asOf) {
		decided = *s.DecidedAt
	}
	// Serving starts with the step whose end decides the run: the benchmark, or an aggregated test's
	// SERVER, which serves and measures itself from its launch.
	benchmark := asOf
	for _, r := range s.Roles {
		if DecidesRun(roles.Kind(r.Kind)) && r.LaunchedAt != nil {
			benchmark = *r.LaunchedAt
		}
	}
	l.Steps = []StepGPUTime{}
	// servings are the steps' serving spans, for the split by configuration.
	type servingSpan struct {
		from, to time.Time
		gpus     float64
	}
	var servings []servingSpan
	for _, r := range s.Roles {
		if r.LaunchedAt == nil {
			continue
		}
		launched := *r.LaunchedAt
		end := asOf
		if r.EndedAt != nil && r.EndedAt.Before(asOf) {
			end = *r.EndedAt
		}
		ready := end
		if r.ReadyAt != nil && r.ReadyAt.Before(end) {
			ready = *r.ReadyAt
		}
		gpus := float64(r.NTasks)
		// The phases cut [launched, end) at ready, the benchmark's launch and the decision, so they
		// add up to the step's wall time.
		span := func(from, to time.Time) float64 {
			from, to = clampTime(from, launched, end), clampTime(to, launched, end)
			if !to.After(from) {
				return 0
			}
			return gpus * to.Sub(from).Seconds()
		}
		g := GPUSecondsByPhase{
			Loading:  span(launched, minTime(ready, decided)),
			Waiting:  span(ready, minTime(benchmark, decided)),
			Serving:  span(maxTime(ready, benchmark), decided),
			Teardown: span(maxTime(ready, decided), end),
		}
		// A step that never got ready before the decision spent its teardown loading no more.
		if !ready.Before(decided) {
			g.Teardown = span(decided, end)
		}
		g.Total = g.Loading + g.Waiting + g.Serving + g.Teardown
		servings = append(servings, servingSpan{from: clampTime(maxTime(ready, benchmark), launched, end),
			to: clampTime(decided, launched, end), gpus: gpus})
		l.Steps = append(l.Steps, StepGPUTime{Name: r.Name, GPUs: r.NTasks, GPUSecondsByPhase: g})
		l.Total.add(g)
	}
	for _, c := range s.ServerConfigs {
		if c.StartedAt == nil {
			continue
		}
		cend := asOf
		if c.EndedAt != nil && c.EndedAt.Before(asOf) {
			cend = *c.EndedAt
		}
		cs := ConfigServing{Index: c.Index}
		for _, sp := range servings {
			from, to := maxTime(sp.from, *c.StartedAt), minTime(sp.to, cend)
			if to.After(from) {
				cs.Serving += sp.gpus * to.Sub(from).Seconds()
			}
		}
		l.ServingByConfig = append(l.ServingByConfig, cs)
	}
	alloc := float64(l.AllocationGPUs)
	l.Held = alloc * asOf.Sub(s.StartedAt).Seconds()
	first := asOf
	if l.FirstRoleLaunchAt != nil && l.FirstRoleLaunchAt.Before(asOf) {
		first = *l.FirstRoleLaunchAt
	}
	l.BeforeFirstLaunch = alloc * max(first.Sub(s.StartedAt).Seconds(), 0)
	if s.DecidedAt != nil {
		l.AfterDecision = alloc * max(asOf.Sub(*s.DecidedAt).Seconds(), 0)
	}
	if l.JobEndAt != nil && (s.State == RunFailed || s.State == RunInterrupted) {
		saved := alloc * max(l.JobEndAt.Sub(asOf).Seconds(), 0)
		l.Saved = &saved
	}
	return l
}

func clampTime(t, lo, hi time.Time) time.Time { return minTime(maxTime(t, lo), hi) }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// WriteLedger prints the ledger as a table of GPU-seconds by step and phase, and the allocation's line.
func WriteLedger(w io.Writer, l Ledger) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GPU-SECONDS\tGPUS\tLOADING\tWAITING\tSERVING\tTEARDOWN\tTOTAL\t")
	row := func(name, gpus string, g GPUSecondsByPhase) {
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", name, gpus, g.Loading, g.Waiting, g.Serving, g.Teardown, g.Total)
	}
	for _, st := range l.Steps {
		row(st.Name, fmt.Sprint(st.GPUs), st.GPUSecondsByPhase)
	}
	row("steps", "", l.Total)
	tw.Flush()
	fmt.Fprintf(w, "allocation: %d GPUs held %.1f GPU-s: %.1f before the first role's launch, %.1f after the decision",
		l.AllocationGPUs, l.Held, l.BeforeFirstLaunch, l.AfterDecision)
	if l.Saved != nil {
		fmt.Fprintf(w, "; stopping early saved %.1f GPU-s against the job's time limit (%s)", *l.Saved, l.JobEndAt.Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	if len(l.ServingByConfig) > 1 {
		var parts []string
		rest := l.Total.Serving
		for _, c := range l.ServingByConfig {
			parts = append(parts, fmt.Sprintf("config %d %.1f", c.Index, c.Serving))
			rest -= c.Serving
		}
		fmt.Fprintf(w, "serving by server configuration (GPU-s): %s; after the last %.1f\n", strings.Join(parts, ", "), max(rest, 0))
	}
}

// fillConfigGPUSeconds copies each configuration's serving GPU-seconds from the ledger into
// server_configs.
func FillConfigGPUSeconds(s *Summary) {
	if s.Ledger == nil {
		return
	}
	for i := range s.ServerConfigs {
		for _, c := range s.Ledger.ServingByConfig {
			if c.Index == s.ServerConfigs[i].Index {
				s.ServerConfigs[i].GPUSeconds = c.Serving
			}
		}
	}
}
