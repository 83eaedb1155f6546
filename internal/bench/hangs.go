package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// hangCase is one toy sickness of the hangs group, with the bound its detector promises.
type hangCase struct {
	id, name, spec string
	args           []string // more demo flags
	role           string   // the faulty role (rank 0), as the root cause must name it
	bound          time.Duration
	boundText      string
	code           int // the run's exit code
}

// hangCases: the demo's router has a liveness check every 1 s with 3 failures (bound 3 s + 1 s); the
// stalls use their own bounds (+ 1 s).
var hangCases = []hangCase{
	{id: "8a", name: "Hang detection, local: DISAGG_SERVER hangs (keeps its port, answers nothing)", spec: "DISAGG_SERVER:0:hang:500ms",
		role: "DISAGG_SERVER", bound: 4 * time.Second, boundText: "liveness 1 s × 3 + 1 s", code: verdict.ExitHung},
	{id: "8b", name: "Hang detection, local: DISAGG_SERVER answers 503 forever", spec: "DISAGG_SERVER:0:unavailable:500ms",
		role: "DISAGG_SERVER", bound: 4 * time.Second, boundText: "liveness 1 s × 3 + 1 s", code: verdict.ExitHung},
	{id: "8c", name: "Hang detection, local: DISAGG_SERVER answers 200 with no workers", spec: "DISAGG_SERVER:0:noworkers:500ms",
		role: "DISAGG_SERVER", bound: 4 * time.Second, boundText: "liveness 1 s × 3 + 1 s", code: verdict.ExitHung},
	{id: "8d", name: "Hang detection, local: BENCHMARK stalls on a dead connection", spec: "BENCHMARK:0:stall", args: []string{"--stall-timeout", "3s"},
		role: "BENCHMARK", bound: 4 * time.Second, boundText: "--stall-timeout 3 s + 1 s", code: verdict.ExitHung},
	{id: "8e", name: "Hang detection, local: GEN_0 rank 0 stops writing, keeps running", spec: "GEN_0:0:silent:500ms",
		args: []string{"--heartbeat", "200ms", "--stall", "GEN_0=3s"},
		role: "GEN_0", bound: 4 * time.Second, boundText: "--stall GEN_0=3s + 1 s", code: verdict.ExitHung},
}

// hangCrash is the reference: the same router crashing, found by its step's end.
var hangCrash = hangCase{spec: "DISAGG_SERVER:0:3:500ms", role: "DISAGG_SERVER", code: 3}

func hangMethod(c hangCase) string {
	flags := strings.Join(append([]string{"--fail", c.spec}, c.args...), " ")
	return fmt.Sprintf("`disagg-supervisor demo %s --grace 1s --requests 100` (the toy stack on a fake 4-node allocation; "+
		"the demo's router has a liveness check: http /health matching a workers count, every 1 s, 3 failures). The sick rank writes the Unix "+
		"time in ns when its sickness strikes; the figure is the summary's decided_at minus that time, for a run that must end with the hang verdict, exit code 85 (6 before the verdict band), "+
		"and a root cause naming %s. Reference: the same demo with the router exiting 3 at the same moment (`--fail %s`), a crash found by its "+
		"step's end; the ratio says how much longer a hang takes to find than a crash.", flags, c.role, hangCrash.spec)
}

// measureHangs measures the hangs group: each toy sickness's detection latency against its bound.
func measureHangs(o Options, work string) []figure {
	l := &local{bin: o.Bin, work: filepath.Join(work, "hangs"), runs: o.Runs}
	var refs []float64
	var refErr error
	for i := 0; i < l.runs && refErr == nil; i++ {
		logf("hangs reference: crash %s, run %d/%d", hangCrash.spec, i+1, l.runs)
		var s float64
		if s, _, refErr = l.hangRun(hangCrash); refErr == nil {
			refs = append(refs, s)
		}
	}
	var out []figure
	for _, c := range hangCases {
		f := newFigure(c.id, c.name, "s", hangMethod(c), nil)
		if refErr != nil {
			out = append(out, failed(f, fmt.Errorf("reference: %w", refErr)))
			continue
		}
		var latency, exited []float64
		var err error
		for i := 0; i < l.runs && err == nil; i++ {
			logf("hang detection %s, run %d/%d", c.spec, i+1, l.runs)
			var s, e float64
			if s, e, err = l.hangRun(c); err == nil {
				latency, exited = append(latency, s), append(exited, e)
			}
		}
		if err != nil {
			out = append(out, failed(f, err))
			continue
		}
		f = newFigure(c.id, c.name, "s", hangMethod(c), latency)
		f.against("crash of the same router, found by its step's end (fault → decision)", "s", refs)
		worst := slicesMax(latency)
		f.target(fmt.Sprintf("every run < %.0f s (%s)", c.bound.Seconds(), c.boundText), worst < c.bound.Seconds())
		f.part("fault → supervisor exited, teardown included (s)", exited)
		f.note("Worst run %.3f s against the bound %.0f s (%s).", worst, c.bound.Seconds(), c.boundText)
		out = append(out, f)
	}
	return out
}

// hangRun runs the demo with the case's fault and returns the fault-to-decision and fault-to-exit
// latencies.
func (l *local) hangRun(c hangCase) (decision, exited float64, err error) {
	ws := l.dir("hang")
	if err := os.MkdirAll(ws, 0o755); err != nil {
		return 0, 0, err
	}
	args := append([]string{"demo", "--workspace", ws, "--fail", c.spec, "--grace", grace.String(), "--requests", "100"}, c.args...)
	state, err := l.runLogged(ws+".out", args...)
	if err != nil {
		return 0, 0, err
	}
	end := unixNow()
	if code := state.ExitCode(); code != c.code {
		return 0, 0, fmt.Errorf("demo --fail %s exited %d, want %d (log %s.out)", c.spec, code, c.code, ws)
	}
	s, err := record.ReadSummary(ws)
	if err != nil {
		return 0, 0, err
	}
	if s.Failure == nil || s.Failure.Role != c.role || s.DecidedAt == nil {
		return 0, 0, fmt.Errorf("demo --fail %s: root cause %+v, want %s (log %s.out)", c.spec, s.Failure, c.role, ws)
	}
	ns, err := readFloat(filepath.Join(ws, "fault-"+c.role+"-"+strconv.Itoa(0)+".time"))
	if err != nil {
		return 0, 0, fmt.Errorf("fault time: %w", err)
	}
	struck := ns / 1e9
	decided := float64(s.DecidedAt.UnixNano()) / 1e9
	return decided - struck, end - struck, nil
}
