package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Scenarios of the per-rank runner (`task`) on the cluster:
//
//	TestTaskSkewedRanksStartTogether  GEN_0 over 2 nodes x 2 ranks, rank N's setup sleeps N s: the
//	                                  default barrier starts all four within 0.2 s; the setup's
//	                                  variable reaches the command and the environment dump
//	TestTaskRankNeverArrives          rank 3's setup never ends: the step fails after the barrier
//	                                  timeout: FAILED 83:0 (never ready), class hang, the task's line first
//	TestTaskRank0GatesOthers          with the barrier off, rank 0's preparation still gates the others
//	TestTaskAfterCommandsOnFailure    a GEN rank exits 3: FAILED 3:0 all the same; after commands ran on
//	                                  the failing rank (code 3) and on the ranks the teardown stopped
//	                                  (143); the benchmark's deciding rank-0 after command is not reached
//	TestTaskAfterDecides              the benchmark passes but its deciding rank-0 after command
//	                                  fails: FAILED 9:0
//	TestTaskStepKillLeavesNothing     SIGKILL of a GEN step whose command started background processes:
//	                                  FAILED 137:0 and no process of the job left

// startTimes reads the command start times that the scenario's command wrote for role's ranks.
func startTimes(t *testing.T, ws, role string, ranks int) []time.Time {
	t.Helper()
	var out []time.Time
	for rank := range ranks {
		data, err := os.ReadFile(filepath.Join(ws, fmt.Sprintf("start.%s.%d", role, rank)))
		if err != nil {
			t.Fatalf("rank %d of %s: %v", rank, role, err)
		}
		out = append(out, parseStamp(t, string(data)))
	}
	return out
}

// parseStamp reads `date +%s.%N`.
func parseStamp(t *testing.T, s string) time.Time {
	t.Helper()
	sec, frac, ok := strings.Cut(strings.TrimSpace(s), ".")
	a, err1 := strconv.ParseInt(sec, 10, 64)
	b, err2 := strconv.ParseInt(frac, 10, 64)
	if !ok || len(frac) != 9 || err1 != nil || err2 != nil {
		t.Fatalf("not a date +%%s.%%N stamp: %q", s)
	}
	return time.Unix(a, b)
}

// spread is the time between the first and the last of times.
func spread(times []time.Time) time.Duration {
	first, last := times[0], times[0]
	for _, at := range times {
		if at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	return last.Sub(first)
}

// stampedToy is the toy command that first writes when it starts, per role and rank.
func stampedToy(extra string) string {
	return `date +%s.%N > $jobWorkspace/start.\$DISAGG_SERVING_TYPE.\$SLURM_PROCID; ` + extra + `exec ` + binary + ` toy --requests 100 --concurrency 4`
}

func TestTaskSkewedRanksStartTogether(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "task-skew", NumGen: 1, NodesPerGen: 2,
		Command: stampedToy(`echo setup says \$SKEW_SETUP; `),
		BeforeExec: []string{
			`printf '%s\n' 'case $DISAGG_SERVING_TYPE in GEN_*) sleep "$SLURM_PROCID";; esac' 'export SKEW_SETUP=done' > "$jobWorkspace/skew.sh"`,
		},
		RunFlags: `--task-setup "$jobWorkspace/skew.sh"`})
	rec, s := finish(t, j, start)
	checkJob(t, rec, "COMPLETED", "0:0")
	checkRun(t, j, s, 0)
	if d := spread(startTimes(t, j.ws, "GEN_0", 4)); d > 200*time.Millisecond {
		t.Errorf("GEN_0's ranks started their command %s apart, want within 200ms", d)
	} else {
		t.Logf("GEN_0's ranks, skewed by 3 s in setup, started their command %s apart", d)
	}
	gen := attemptLog(t, filepath.Join(j.ws, "gen_server_0.log"), "GEN_0", s.RunToken)
	for _, want := range []string{"task: barrier of GEN_0: all 4 ranks arrived; waited ", "\nSKEW_SETUP=done\n", "setup says done\n"} {
		if !strings.Contains(gen, want) {
			t.Errorf("gen_server_0.log lacks %q", want)
		}
	}
}

func TestTaskRankNeverArrives(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "task-never", NumGen: 1, NodesPerGen: 2,
		BeforeExec: []string{
			`printf '%s\n' 'if [ "$DISAGG_SERVING_TYPE" = GEN_0 ] && [ "$SLURM_PROCID" = 3 ]; then sleep 600; fi' > "$jobWorkspace/stuck.sh"`,
		},
		RunFlags: `--task-setup "$jobWorkspace/stuck.sh" --task-barrier-timeout 5s`})
	rec, s := finish(t, j, start)
	// The barrier's timeout is the per-rank runner's own verdict: 83 (never ready), class hang, its
	// line the first error.
	checkJob(t, rec, "FAILED", "83:0")
	checkRun(t, j, s, 83)
	if f := s.Failure; f == nil || f.Role != "GEN_0" || f.Code != 83 || f.Class != "hang" || f.Origin != "supervisor" ||
		len(f.FirstErrors) == 0 || !strings.HasPrefix(f.FirstErrors[0].Text, "task: error: ") {
		t.Errorf("failure %+v, want GEN_0 with 83, class hang from the supervisor, the task's line first", f)
	}
	gen := attemptLog(t, filepath.Join(j.ws, "gen_server_0.log"), "GEN_0", s.RunToken)
	want := "rank 3 of GEN_0 did not arrive within 5s (started but not at the barrier: 3 on " + rec.Nodes[1] + ")"
	if !strings.Contains(gen, want) {
		t.Errorf("gen_server_0.log lacks %q", want)
	}
	if s.DurationSeconds > 60 {
		t.Errorf("the run took %.1fs", s.DurationSeconds)
	}
}

func TestTaskRank0GatesOthers(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "task-rank0", NumGen: 1, NodesPerGen: 2,
		Command:  stampedToy(""),
		RunFlags: `--no-task-barrier --task-rank0 'sleep 2; date +%s.%N > "$jobWorkspace/prep.$DISAGG_SERVING_TYPE"'`})
	rec, s := finish(t, j, start)
	checkJob(t, rec, "COMPLETED", "0:0")
	checkRun(t, j, s, 0)
	data, err := os.ReadFile(filepath.Join(j.ws, "prep.GEN_0"))
	if err != nil {
		t.Fatal(err)
	}
	prepared := parseStamp(t, string(data))
	for rank, at := range startTimes(t, j.ws, "GEN_0", 4) {
		if at.Before(prepared) {
			t.Errorf("rank %d of GEN_0 started its command %s before rank 0's preparation ended", rank, prepared.Sub(at))
		}
	}
	gen := attemptLog(t, filepath.Join(j.ws, "gen_server_0.log"), "GEN_0", s.RunToken)
	if n := strings.Count(gen, "task: rank-0 preparation of GEN_0: done by rank 0; waited "); n != 3 {
		t.Errorf("gen_server_0.log shows %d ranks waiting for rank 0's preparation, want 3", n)
	}
	if strings.Contains(gen, "barrier of GEN_0") {
		t.Error("--no-task-barrier, but GEN_0's ranks went through a barrier")
	}
}

// afterFlags makes every rank write its after file, and the benchmark's rank 0 run a deciding check.
const afterFlags = `--task-after 'echo $DISAGG_TASK_EXIT_CODE > "$jobWorkspace/after.$DISAGG_SERVING_TYPE.$SLURM_PROCID"' --task-after-rank0 'if [ "$DISAGG_SERVING_TYPE" = BENCHMARK ]; then echo perf check failed; exit 9; fi' --task-after-decides`

// afterCode reads the command exit code a rank's after command saw.
func afterCode(t *testing.T, ws, role string, rank int) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(ws, fmt.Sprintf("after.%s.%d", role, rank)))
	if err != nil {
		t.Errorf("%s rank %d ran no after command: %v", role, rank, err)
		return ""
	}
	return strings.TrimSpace(string(data))
}

func TestTaskAfterCommandsOnFailure(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "task-after-fail", NumGen: 1, NumCtx: 1, Requests: longToy, Work: "20ms",
		Fail: "GEN_0:1:3:3s", RunFlags: afterFlags})
	rec, s := finish(t, j, start)
	checkJob(t, rec, "FAILED", "3:0")
	checkRun(t, j, s, 3)
	checkFailure(t, s, "GEN_0", rec.Nodes[0], []int{1}, 3)
	if got := afterCode(t, j.ws, "GEN_0", 1); got != "3" {
		t.Errorf("the failing rank's after command saw %q, want 3", got)
	}
	// The other ranks were stopped by the teardown's SIGTERM; their after commands still ran.
	for _, rc := range []struct {
		role string
		rank int
	}{{"GEN_0", 0}, {"CTX_0", 0}, {"CTX_0", 1}} {
		if got := afterCode(t, j.ws, rc.role, rc.rank); got != "143" {
			t.Errorf("%s rank %d's after command saw %q, want 143 (stopped by the teardown)", rc.role, rc.rank, got)
		}
	}
	for _, r := range s.Roles {
		if r.Name != "GEN_0" && r.LaunchedAt != nil && r.State != "stopped" {
			t.Errorf("%s is %q, want stopped: a rank stopped by the teardown must not read as a failure", r.Name, r.State)
		}
	}
}

func TestTaskAfterDecides(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "task-after-decides", NumGen: 1, NumCtx: 1, RunFlags: afterFlags})
	rec, s := finish(t, j, start)
	checkJob(t, rec, "FAILED", "9:0")
	checkRun(t, j, s, 9)
	if got := afterCode(t, j.ws, "BENCHMARK", 0); got != "0" {
		t.Errorf("the benchmark's after command saw %q, want 0 (the test passed)", got)
	}
	for _, role := range []string{"GEN_0", "CTX_0"} {
		for rank := range 2 {
			if got := afterCode(t, j.ws, role, rank); got != "0" {
				t.Errorf("%s rank %d's after command saw %q, want 0", role, rank, got)
			}
		}
	}
	bench := attemptLog(t, filepath.Join(j.ws, "benchmark.log"), "BENCHMARK", s.RunToken)
	if !strings.Contains(bench, "perf check failed\n") || !strings.Contains(bench, "decides: the task exits 9 although the role command passed") {
		t.Errorf("benchmark.log does not show the deciding after command:\n%s", bench)
	}
}

func TestTaskStepKillLeavesNothing(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	// Every role's command leaves two sleeps in the background, which carry the job's id in their
	// environment: checkRun's scan of the machine finds them if they outlive their step.
	j := submit(t, jobSpec{Name: "task-step-kill", NumGen: 1, NumCtx: 1,
		Command: `sleep 600 & sleep 600 & exec ` + binary + ` toy --requests ` + longToy + ` --concurrency 4 --work 50ms`})
	running := j.waitSummary(jobTimeout, "the benchmark sending requests", func(s summary) bool { return benchmarkSending(j, s) })
	marker, err := os.ReadFile(filepath.Join(j.ws, ".disagg-supervisor", "runs", running.RunToken, "started", "GEN_0", "0"))
	if err != nil {
		t.Fatal(err)
	}
	var step string
	for _, f := range strings.Fields(string(marker)) {
		if v, ok := strings.CutPrefix(f, "step="); ok {
			step = v
		}
	}
	if step == "" {
		t.Fatalf("GEN_0's start marker names no step: %q", marker)
	}
	if _, err := slurmCmd("", "scancel", "--ctld", "--signal=KILL", j.id+"."+step); err != nil {
		t.Fatal(err)
	}
	rec, s := finish(t, j, start)
	checkJob(t, rec, "FAILED", "137:0")
	checkRun(t, j, s, 137)
	if f := s.Failure; f == nil || f.Role != "GEN_0" {
		t.Errorf("failure %+v, want GEN_0", f)
	}
}
