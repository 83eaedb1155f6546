package bench

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// The barrier group measures what the task runner's default barrier costs when the ranks are in
// step: on the dev cluster, two GEN steps of 2 nodes x 2 tasks, launched by the supervisor with the
// barrier on (the default) and off (--no-task-barrier), in the same job, in alternating order.

// barrierJob runs the supervisor three times: a warm-up run with the barrier on, not counted, then
// barrier on and off in the order given by @ORDER@. Every GEN
// rank writes `date +%s.%N` when its command starts; the benchmark ends the run as soon as all 8 have.
const barrierJob = `#!/bin/bash
#SBATCH --job-name=disagg-bench-barrier
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=2
#SBATCH --gpus-per-node=2
#SBATCH --time=5
#SBATCH --output=@DIR@/job.out
set -u
dir=@DIR@
bin=@BIN@
now() { date +%s.%N; }
# warm: a first run that is not counted, so that neither mode pays for the job's cold start.
for mode in warm @ORDER@; do
  flag=; [ "$mode" = off ] && flag=--no-task-barrier
  mkdir -p "$dir/$mode"
  now > "$dir/$mode.start"
  "$bin" run --num-gen 2 --num-ctx 0 --nodes-per-gen 2 --gpus-per-node-per-gen 2 $flag \
    --workspace "$dir/$mode/ws" --grace 2s \
    --gen-command "date +%s.%N > $dir/$mode/\$DISAGG_SERVING_TYPE.\$SLURM_PROCID; exec sleep 60" \
    --server-command 'sleep 60' \
    --benchmark-command "for i in \$(seq 1200); do [ \$(ls $dir/$mode | grep -c GEN_) -ge 8 ] && exit 0; sleep 0.05; done; exit 1" \
    > "$dir/$mode.out" 2>&1
  echo $? > "$dir/$mode.rc"
  sleep 1
done
`

// barrierSample is one supervisor run's figures: from its start to the last GEN rank in its command,
// and the largest spread of command starts within one GEN step.
type barrierSample struct {
	allIn, skew float64
}

func measureBarrier(o Options, work string) []figure {
	on := newFigure("9a", "Barrier on (default): supervisor start → all 8 GEN ranks in their command", "s", barrierMethod, nil)
	skew := newFigure("9b", "Barrier on: spread of command starts within a 4-task step", "ms", barrierSkewMethod, nil)
	if reason := clusterReason(o); reason != "" {
		on.NotMeasured, skew.NotMeasured = reason, reason
		return []figure{on, skew}
	}
	dir := filepath.Join(work, "barrier")
	var onAll, offAll, onSkew, offSkew []float64
	var jobs slurmJobs
	defer jobs.cancelLeftovers()
	for i := 0; i < o.Runs; i++ {
		logf("barrier on vs off, run %d/%d", i+1, o.Runs)
		// Alternate the order, so that a warm node cache or a queue behind another job favours neither.
		order := "on off"
		if i%2 == 1 {
			order = "off on"
		}
		run := filepath.Join(dir, fmt.Sprintf("%02d", i))
		if err := runBarrierJob(&jobs, run, o.Bin, order); err != nil {
			return []figure{failed(on, err), failed(skew, err)}
		}
		for _, m := range []struct {
			mode      string
			all, skew *[]float64
		}{{"on", &onAll, &onSkew}, {"off", &offAll, &offSkew}} {
			s, err := readBarrierRun(run, m.mode)
			if err != nil {
				return []figure{failed(on, jobError(run, err)), failed(skew, err)}
			}
			*m.all, *m.skew = append(*m.all, s.allIn), append(*m.skew, 1000*s.skew)
		}
	}
	on = newFigure("9a", on.Name, "s", barrierMethod, onAll)
	on.against("barrier off (--no-task-barrier), same jobs", "s", offAll)
	// What counts as measurable: a difference of medians larger than the spread (max - min) of the
	// runs without the barrier, that is, larger than what this machine varies by anyway.
	spreadOff := slicesMax(offAll) - slicesMin(offAll)
	diff := on.Median - on.Reference.Median
	on.target("no measurable cost: on − off ≤ spread of the off runs", diff <= spreadOff)
	on.note("Barrier on minus off: %+.3f s; the off runs spread over %.3f s (max − min of %d runs), which is what \"measurable\" is measured against. A waiting rank polls the barrier directory every 10 ms during its first 2 s there, then every 100 ms, and leaves up to one poll after the last rank arrived.",
		diff, spreadOff, len(offAll))
	skew = newFigure("9b", skew.Name, "ms", barrierSkewMethod, onSkew)
	skew.against("barrier off, same jobs", "ms", offSkew)
	skew.note("Ranks in step arrive within milliseconds anyway; the barrier's worth is when they are not (ranks skewed by 3 s start within 0.2 s: task/fakesrun_test.go and integration/task_test.go check it).")
	return []figure{on, skew}
}

const barrierMethod = "An sbatch job of 4 nodes (2 tasks and 2 GPUs each) runs `disagg-supervisor run` of 2 GEN servers of 2 nodes × 2 tasks " +
	"(two 4-task PMIx steps), DISAGG_SERVER and BENCHMARK, twice: with the task runner's barrier on (the default) and off (`--no-task-barrier`), " +
	"in alternating order from job to job, after a first run that is not counted (the job's cold start). The batch script writes `date +%s.%N` right before each run; every GEN rank writes it when its command starts " +
	"(after the barrier); the benchmark ends the run once all 8 have. The figure is the last rank's instant minus the run's start. " +
	"Reference: the same with the barrier off, in the same jobs."

const barrierSkewMethod = "The runs of 9a: for each GEN step, the latest minus the earliest command start of its 4 ranks; the larger of the two steps per run. " +
	"Reference: the same with the barrier off."

// runBarrierJob writes the job into dir, submits it and waits for it to end.
func runBarrierJob(jobs *slurmJobs, dir, bin, order string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	script := strings.NewReplacer("@DIR@", dir, "@BIN@", bin, "@ORDER@", order).Replace(barrierJob)
	path := filepath.Join(dir, "job.sh")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return err
	}
	_, err := jobs.submitAndWait(path)
	return err
}

// readBarrierRun reads one supervisor run of a barrier job.
func readBarrierRun(dir, mode string) (barrierSample, error) {
	if rc, err := os.ReadFile(filepath.Join(dir, mode+".rc")); err != nil || strings.TrimSpace(string(rc)) != "0" {
		return barrierSample{}, fmt.Errorf("barrier %s: the supervisor run did not succeed (exit %q, %v)", mode, strings.TrimSpace(string(rc)), err)
	}
	start, err := readFloat(filepath.Join(dir, mode+".start"))
	if err != nil {
		return barrierSample{}, err
	}
	var s barrierSample
	last := math.Inf(-1)
	for _, role := range []string{"GEN_0", "GEN_1"} {
		lo, hi := math.Inf(1), math.Inf(-1)
		for rank := range 4 {
			t, err := readFloat(filepath.Join(dir, mode, fmt.Sprintf("%s.%d", role, rank)))
			if err != nil {
				return barrierSample{}, fmt.Errorf("barrier %s: %s rank %d: %w", mode, role, rank, err)
			}
			lo, hi = math.Min(lo, t), math.Max(hi, t)
		}
		s.skew = math.Max(s.skew, hi-lo)
		last = math.Max(last, hi)
	}
	s.allIn = last - start
	return s, nil
}

func slicesMin(xs []float64) float64 {
	m := math.Inf(1)
	for _, x := range xs {
		m = math.Min(m, x)
	}
	return m
}
