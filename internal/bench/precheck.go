package bench

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/disagg-supervisor/disagg-supervisor/record"
)

// precheckVariant gives the three instances of item 7 different run times, so that the phase has one
// slowest instance for the others to wait for.
const precheckVariant = "GEN_PRECHECK_0=pass:1s,GEN_PRECHECK_1=pass:1500ms,CTX_PRECHECK_0=pass:2s"

// measurePrecheck is item 7: how long the pre-flight phase takes against its slowest instance, in
// local mode (7a) and on the dev cluster (7b). The instances start together and the next phase starts
// once the last has ended, so the phase should last its slowest instance plus the supervisor's own
// reaction; today's gate adds `sleep 5` per instance launched.
func measurePrecheck(o Options, work string) []figure {
	l := &local{bin: o.Bin, work: filepath.Join(work, "precheck"), runs: o.Runs}
	out := []figure{precheckFigure("7a", o.Runs, "local", l.precheckRun)}
	if reason := clusterReason(o); reason != "" {
		f := fig("7b", nil)
		f.NotMeasured = reason
		return append(out, f)
	}
	c := &cluster{bin: o.Bin, work: filepath.Join(work, "precheck-cluster"), runs: o.Runs}
	defer c.cancelLeftovers()
	return append(out, precheckFigure("7b", o.Runs, "cluster", func() (float64, float64, float64, error) {
		dir, err := c.submit("precheck", precheckJob, "@VARIANT@", precheckVariant)
		if err != nil {
			return 0, 0, 0, err
		}
		p, s, r, err := precheckPhase(filepath.Join(dir, "ws"))
		if err != nil {
			err = jobError(dir, err)
		}
		return p, s, r, err
	}))
}

// precheckJob is item 7b's batch job: the supervisor exec'd as the sbatch prefix does, with the toy
// precheck before idle servers and a benchmark that ends at once.
const precheckJob = `
check="$bin toy precheck --variant @VARIANT@"
exec "$bin" run "${layout[@]}" --gen-command 'sleep 60' --ctx-command 'sleep 60' --server-command 'sleep 60' \
  --benchmark-command true --workspace "$dir/ws" --grace 2s \
  --precheck --precheck-gen-command "$check" --precheck-ctx-command "$check" > "$dir/supervisor.out" 2>&1
`

// precheckFigure runs one item-7 measurement runs times and makes its figure.
func precheckFigure(id string, runs int, where string, run func() (phase, slowest, reaction float64, err error)) figure {
	f := fig(id, nil)
	var phase, slowest, reaction []float64
	for i := 0; i < runs; i++ {
		logf("precheck phase, %s, run %d/%d", where, i+1, runs)
		p, s, r, err := run()
		if err != nil {
			return failed(f, err)
		}
		phase, slowest, reaction = append(phase, p), append(slowest, s), append(reaction, r)
	}
	f = fig(id, phase)
	f.against("the slowest instance's step, srun start to end", "s", slowest)
	f.part("from the last instance's end to GEN_0's launch (s)", reaction)
	f.target("≤ 1.10 × the slowest instance", f.Ratio <= 1.10)
	if !*f.Met {
		f.note("The phase waits for its slowest instance and launches the servers when it has ended; what is left over is the supervisor's reaction (see its part) and the instances' launches.")
	}
	return f
}

// precheckRun runs one local job with the toy precheck and measures its phase (see precheckPhase).
func (l *local) precheckRun() (phase, slowest, reaction float64, err error) {
	ws := l.dir("precheck")
	check := l.bin + " toy precheck --variant " + precheckVariant
	state, err := l.runLogged(ws+".out", "run", "--local", "--nodes", "4", "--gpus-per-node", "2", "--workspace", ws,
		"--num-gen", "2", "--num-ctx", "1", "--nodes-per-gen", "1", "--nodes-per-ctx", "1",
		"--command", "sleep 600", "--benchmark-command", "true", "--grace", grace.String(),
		"--precheck", "--precheck-gen-command", check, "--precheck-ctx-command", check)
	if err == nil && !state.Success() {
		// As exec.ExitError says it: "exit status N" or "signal: ...".
		err = errors.New(state.String())
	}
	if err != nil {
		return 0, 0, 0, fmt.Errorf("run with the toy precheck: %v (log %s.out)", err, ws)
	}
	return precheckPhase(ws)
}

// precheckPhase reads a successful run's event log: the phase's wall time (the first instance's
// launch to GEN_0's launch), the slowest instance's step time (its launch to its end) and the time
// from the last instance's end to GEN_0's launch.
func precheckPhase(ws string) (phase, slowest, reaction float64, err error) {
	events, err := readEvents(ws)
	if err != nil {
		return 0, 0, 0, err
	}
	var first, lastEnd, gen float64
	instances := 0
	for _, ev := range events {
		isCheck := strings.Contains(ev.Role, "_PRECHECK_")
		switch {
		case ev.Event == record.EventLaunch && isCheck && first == 0:
			first = ev.at
		case ev.Event == record.EventExit && isCheck:
			instances++
			lastEnd = max(lastEnd, ev.at)
			slowest = max(slowest, ev.DurationS)
		case ev.Event == record.EventLaunch && ev.Role == "GEN_0":
			gen = ev.at
		}
	}
	if instances != 3 || first == 0 || gen == 0 {
		return 0, 0, 0, fmt.Errorf("%s: %d precheck instances ended, GEN_0 launched at %v", ws, instances, gen)
	}
	if s, err := record.ReadSummary(ws); err != nil || s.State != record.RunSucceeded || len(s.Checks) != 3 {
		return 0, 0, 0, fmt.Errorf("%s: state %q, %d checks (%v)", ws, s.State, len(s.Checks), err)
	}
	return gen - first, slowest, gen - lastEnd, nil
}
