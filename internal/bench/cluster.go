package bench

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
)

// cluster runs the items that need the Slurm dev cluster, one sbatch job per run. Each job times
// itself with `date +%s.%N`, so the time it waited in the queue (behind other users' jobs) never
// counts.
type cluster struct {
	bin, work string
	runs      int
	jobs      slurmJobs // submitted, for cancelling leftovers
	seq       int
}

func clusterAvailable() error {
	if _, err := exec.LookPath("sbatch"); err != nil {
		return errors.New("no Slurm client (sbatch) on PATH")
	}
	if out, err := exec.Command("sinfo", "-h", "-o", "%D").CombinedOutput(); err != nil {
		return fmt.Errorf("sinfo: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func slurmVersion() string {
	out, err := exec.Command("sinfo", "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func clusterFigures() []figure {
	return []figure{fig("1", nil), fig("2", nil), fig("3d", nil), fig("3e", nil), fig("3f", nil)}
}

// header starts every job script: the allocation, and the reference step timed by the batch script.
const header = `#!/bin/bash
#SBATCH --job-name=disagg-bench-@NAME@
#SBATCH --nodes=3
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-node=4
#SBATCH --time=5
#SBATCH --output=@DIR@/job.out
set -u
dir=@DIR@
bin=@BIN@
now() { date +%s.%N; }

# ref FILE SRUN-ARGS...: three bare steps running true, each timed from the batch script.
ref() {
  local file=$1 t0 i
  shift
  for i in 1 2 3; do t0=$(now); srun "$@" true; echo "$t0 $(now)" >> "$dir/$file"; done
}
ref ref.srun -N1 -n1

# today PREFIX PAUSE: today's launch sequence, each role's srun in the background followed by a fixed
# pause; every task writes the instant it started to $dir/PREFIX.ROLE.RANK. Then it stops the steps.
today() {
  local p=$1 pause=$2 n i
  mapfile -t n < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
  local worker=(--mpi=pmix --kill-on-bad-exit=1 -N1 --ntasks=4 --ntasks-per-node=4)
  local single=(--kill-on-bad-exit=1 --overlap -N1 --ntasks=1 --ntasks-per-node=1 -w "${n[0]}")
  now > "$dir/$p.start"
  launch "$p" GEN_0 "${worker[@]}" -w "${n[0]}"; [ "$pause" = 0 ] || sleep "$pause"
  launch "$p" GEN_1 "${worker[@]}" -w "${n[1]}"; [ "$pause" = 0 ] || sleep "$pause"
  launch "$p" CTX_0 "${worker[@]}" -w "${n[2]}"; [ "$pause" = 0 ] || sleep "$pause"
  launch "$p" DISAGG_SERVER "${single[@]}"; [ "$pause" = 0 ] || sleep "$pause"
  launch "$p" BENCHMARK "${single[@]}"; [ "$pause" = 0 ] || sleep "$pause"
  now > "$dir/$p.sequence_end"
  for ((i = 0; i < 3000; i++)); do
    [ "$(compgen -G "$dir/$p.*.[0-9]*" | wc -l)" -ge 14 ] && break
    sleep 0.02
  done
  kill $(jobs -p) 2>/dev/null
  wait
  # The next steps must not queue behind these.
  for ((i = 0; i < 500; i++)); do
    [ -z "$(squeue -h -s -j "$SLURM_JOB_ID" -o %i | grep -v -E '\.(batch|extern)$')" ] && break
    sleep 0.02
  done
}
launch() {
  local p=$1 role=$2
  shift 2
  srun "$@" bash -c 'date +%s.%N > "$0.$SLURM_PROCID"; exec sleep 60' "$dir/$p.$role" &
}

layout=(--num-gen 2 --num-ctx 1 --nodes-per-gen 1 --nodes-per-ctx 1 --gpus-per-node-per-gen 4
  --gpus-per-node-per-ctx 4)
idle=(--gen-command 'sleep 60' --ctx-command 'sleep 60' --server-command 'sleep 60' --benchmark-command 'sleep 2')
`

// launchJob: the references, the same five steps started at once by bash (the floor), a supervisor
// run without the task's python3 probe (to show its cost), then the measured supervisor, exec'd as the
// sbatch prefix does. The pauses let the nodes settle after the steps before.
const launchJob = `
ref ref.pmix -N1 -n1 --mpi=pmix
ref ref.pmix4 -N1 -n4 --mpi=pmix
today floor 0
sleep 1
now > "$dir/noprobe.start"
"$bin" run "${layout[@]}" "${idle[@]}" --workspace "$dir/noprobe" --grace 2s --no-task-ld-library-path > "$dir/noprobe.out" 2>&1
sleep 1
now > "$dir/start"
exec "$bin" run "${layout[@]}" "${idle[@]}" --workspace "$dir/ws" --grace 2s > "$dir/supervisor.out" 2>&1
`

// baselineJob is today's sequence with its 5 s pauses.
const baselineJob = `
today base 5
`

// failJob runs the toy stack with one injected fault, then waits until every process and step of the
// run is gone (see failJobVars).
const failJob = `
toy="@TASKBIN@ toy --requests 100000 --concurrency 4 --fail @FAIL@"
"$bin" run "${layout[@]}" --workspace "$dir/ws" --command "$toy" --grace @GRACE@ \
  --probe 'GEN_*=file:{out}/hostnames-{token}/{role}.txt' --probe 'CTX_*=file:{out}/hostnames-{token}/{role}.txt' \
  --probe 'DISAGG_SERVER=file:{out}/hostnames-{token}/DISAGG_SERVER.txt' > "$dir/supervisor.out" 2>&1
echo $? > "$dir/rc"
now > "$dir/exit"
# Gone: no process carries the run token (the four nodes are this host) and Slurm lists no step.
for ((i = 0; i < 750; i++)); do
  procs=$(grep -lz "^TRTLLM_PERF_RUN_TOKEN=$SLURM_JOB_ID\." /proc/[0-9]*/environ 2>/dev/null | wc -l)
  steps=$(squeue -h -s -j "$SLURM_JOB_ID" -o %i | grep -cv -E '\.(batch|extern)$')
  [ -e "$dir/left" ] || echo "$procs $steps" > "$dir/left"
  [ "$procs" = 0 ] && [ "$steps" = 0 ] && break
  sleep 0.02
done
now > "$dir/gone"
`

// failJobVars fill in failJob for fault f. The toy runs from the supervisor's copy of its binary in
// the run's workspace, "$dir/ws", which the batch script's shell expands.
func failJobVars(f fault) []string {
	return []string{"@FAIL@", f.spec, "@GRACE@", grace.String(), "@TASKBIN@", coord.TaskBinary("$dir/ws")}
}

// submit writes the job script and submits it, and waits until the job has ended. It returns the
// job's directory.
func (c *cluster) submit(name, body string, vars ...string) (string, error) {
	c.seq++
	dir := filepath.Join(c.work, fmt.Sprintf("%02d-%s", c.seq, name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	script := strings.NewReplacer(append([]string{"@NAME@", name, "@DIR@", dir, "@BIN@", c.bin}, vars...)...).
		Replace(header + body)
	path := filepath.Join(dir, "job.sh")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return "", err
	}
	if _, err := c.jobs.submitAndWait(path); err != nil {
		return "", err
	}
	return dir, nil
}

// cancelLeftovers cancels any of our jobs still known to Slurm (only after an error cut a wait short).
func (c *cluster) cancelLeftovers() { c.jobs.cancelLeftovers() }

// launch measures items 1 and 2.
func (c *cluster) launch() []figure {
	var launch, floor, noProbe, ref, pmix, pmix4 []float64
	one, two := fig("1", nil), fig("2", nil)
	for i := 0; i < c.runs; i++ {
		logf("cluster launch latency, run %d/%d", i+1, c.runs)
		dir, err := c.submit("launch", launchJob)
		if err != nil {
			return []figure{failed(one, err), failed(two, err)}
		}
		start, err := readFloat(filepath.Join(dir, "start"))
		if err != nil {
			return []figure{failed(one, jobError(dir, err)), failed(two, err)}
		}
		running, err := lastRunning(filepath.Join(dir, "ws"), 5)
		if err != nil {
			return []figure{failed(one, jobError(dir, err)), failed(two, err)}
		}
		fl, err := todayAllRunning(dir, "floor")
		if err != nil {
			return []figure{failed(one, jobError(dir, err)), failed(two, err)}
		}
		npStart, err := readFloat(filepath.Join(dir, "noprobe.start"))
		if err != nil {
			return []figure{failed(one, jobError(dir, err)), failed(two, err)}
		}
		np, err := lastRunning(filepath.Join(dir, "noprobe"), 5)
		if err != nil {
			return []figure{failed(one, jobError(dir, err)), failed(two, err)}
		}
		launch, floor, noProbe = append(launch, running-start), append(floor, fl), append(noProbe, np-npStart)
		ref, pmix, pmix4 = append(ref, readSteps(dir, "ref.srun")...), append(pmix, readSteps(dir, "ref.pmix")...), append(pmix4, readSteps(dir, "ref.pmix4")...)
	}
	one = fig("1", launch)
	one.against("srun -N1 -n1 true", "s", ref)
	one.target("≤ 2× reference", one.Ratio <= 2)
	one.part("floor: the same 5 steps started at once by bash, no supervisor (s)", floor)
	one.part("the supervisor with the task's python3 probe off, --no-task-ld-library-path (s)", noProbe)
	one.part("srun -N1 -n1 --mpi=pmix true (s)", pmix)
	one.part("srun -N1 -n4 --mpi=pmix true (s)", pmix4)
	floorRatio, verdict := median(floor)/median(ref), ""
	if floorRatio > 2 {
		verdict = ", so no launcher of these five steps can meet the 2× target here"
	}
	one.note("The same five srun steps started at once by a bash script, with no supervisor and no sleeps, were all running %.3f s after it started (%.1f× the reference): that is what Slurm itself needs on this machine%s. The supervisor adds %.3f s to it: its start, the plan and the copy of its binary, the task runner's start in every task and the 25 ms start-marker polling, on %d cores. The task runner's python3 probe for tensorrt_llm's libs runs only in TensorRT-LLM jobs (llmSrcNode set), so not here; the run with it switched off explicitly took %.3f s (%.1f× the reference), the same within noise.",
		median(floor), floorRatio, verdict, one.Median-median(floor), describeMachine().NProc, median(noProbe), median(noProbe)/median(ref))
	one.note("The reference is a 1-task step without PMIx. The workers are 4-task PMIx steps: one alone takes %.3f s (%.1f× the reference; with 1 task %.3f s), and five steps launched together share this machine's %d cores with 5 srun clients and 3 slurmstepd.",
		median(pmix4), median(pmix4)/median(ref), median(pmix), describeMachine().NProc)

	var baseline, seqEnd []float64
	for i := 0; i < c.runs; i++ {
		logf("cluster bash baseline (today's sequence), run %d/%d", i+1, c.runs)
		dir, err := c.submit("baseline", baselineJob)
		if err != nil {
			return []figure{one, failed(two, err)}
		}
		all, err := todayAllRunning(dir, "base")
		if err != nil {
			return []figure{one, failed(two, jobError(dir, err))}
		}
		start, _ := readFloat(filepath.Join(dir, "base.start"))
		end, _ := readFloat(filepath.Join(dir, "base.sequence_end"))
		baseline, seqEnd = append(baseline, all), append(seqEnd, end-start)
		ref = append(ref, readSteps(dir, "ref.srun")...)
	}
	two = fig("2", baseline)
	two.against("disagg-supervisor launch, item 1", "s", launch)
	two.RatioName = "speed-up"
	two.part("end of the script's launch sequence, after its last sleep (s)", seqEnd)
	two.note("Ratio to the bare srun reference: %.0f× (the supervisor: %.1f×). Today's script only moves on after its last sleep, %.2f s after it started.",
		two.Median/median(ref), one.Ratio, median(seqEnd))
	return []figure{one, two}
}

// failures measures item 3 on the cluster.
func (c *cluster) failures() []figure {
	var out []figure
	for _, f := range faults {
		fg := fig(f.clusterID, nil)
		var latency, refs []float64
		parts := map[string][]float64{}
		var err error
		for i := 0; i < c.runs && err == nil; i++ {
			logf("cluster failure detection %s, run %d/%d", f.spec, i+1, c.runs)
			var dir string
			if dir, err = c.submit("fail", failJob, failJobVars(f)...); err != nil {
				break
			}
			var s failureSample
			if s, err = clusterFailure(dir, f); err != nil {
				err = jobError(dir, err)
				break
			}
			latency = append(latency, s.latency)
			s.addParts(parts)
			refs = append(refs, readSteps(dir, "ref.srun")...)
		}
		if err != nil {
			out = append(out, failed(fg, err))
			continue
		}
		fg = failureFigure(f.clusterID, latency, parts, "srun -N1 -n1 true", refs, 2*time.Second)
		if n := median(parts["steps the teardown asked to stop (#)"]); n > 0 {
			fg.note("On a cluster the other steps are stopped through Slurm, their signals asked for together at the teardown event and sent by one `scancel --ctld --signal=TERM JOB.S1 JOB.S2 ...` (two when one joins late): %.0f steps were all reaped %.3f s after it (median of c).",
				n, median(parts["c. → every step reaped (s)"]))
		}
		if calls := parts["Slurm commands the supervisor ran (#)"]; len(calls) > 0 {
			fg.note("The supervisor ran %.0f Slurm commands in the median run, at most %.0f (summary.json slurm_calls: scontrol, sinfo, squeue and scancel, retries included).",
				median(calls), slicesMax(calls))
		}
		out = append(out, fg)
	}
	return out
}

func clusterFailure(dir string, f fault) (failureSample, error) {
	rc, err := readFloat(filepath.Join(dir, "rc"))
	if err != nil {
		return failureSample{}, err
	}
	if int(rc) != f.code {
		return failureSample{}, fmt.Errorf("supervisor exited %v, want %d", rc, f.code)
	}
	exit, err := readFloat(filepath.Join(dir, "exit"))
	if err != nil {
		return failureSample{}, err
	}
	gone, err := readFloat(filepath.Join(dir, "gone"))
	if err != nil {
		return failureSample{}, err
	}
	left, _ := os.ReadFile(filepath.Join(dir, "left"))
	var procs, steps int
	fmt.Sscan(string(left), &procs, &steps)
	if procs == 0 && steps == 0 {
		// Nothing was left when the supervisor exited; the check itself took the rest.
		gone = exit
	}
	return analyseFailure(filepath.Join(dir, "ws"), f, exit, gone, float64(procs+steps))
}

// todayAllRunning is the latest task start instant of a bash launch minus its start.
func todayAllRunning(dir, prefix string) (float64, error) {
	start, err := readFloat(filepath.Join(dir, prefix+".start"))
	if err != nil {
		return 0, err
	}
	files, _ := filepath.Glob(filepath.Join(dir, prefix+".*.[0-9]*"))
	if len(files) != 14 {
		return 0, fmt.Errorf("%d of 14 tasks of the bash launch wrote their start time", len(files))
	}
	latest := math.Inf(-1)
	for _, f := range files {
		t, err := readFloat(f)
		if err != nil {
			return 0, err
		}
		latest = math.Max(latest, t)
	}
	return latest - start, nil
}

// readSteps reads "start end" lines of timed steps and returns their durations.
func readSteps(dir, name string) []float64 {
	data, _ := os.ReadFile(filepath.Join(dir, name))
	var out []float64
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var t0, t1 float64
		if _, err := fmt.Sscan(line, &t0, &t1); err == nil {
			out = append(out, t1-t0)
		}
	}
	return out
}

func readFloat(path string) (float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(strings.TrimSpace(string(data)), 64)
}

// jobError adds the end of the job's output to an error.
func jobError(dir string, err error) error {
	var tail []string
	for _, name := range []string{"job.out", "supervisor.out"} {
		if data, rerr := os.ReadFile(filepath.Join(dir, name)); rerr == nil {
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			tail = append(tail, lines[max(0, len(lines)-3):]...)
		}
	}
	return fmt.Errorf("%w (job dir %s; last lines: %s)", err, dir, strings.Join(tail, " | "))
}
