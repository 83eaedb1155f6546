package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// foreignSleep is how long the foreign step runs: well inside the run (the toy below sends for tens
// of seconds), so that it ends by itself before the supervisor does.
const foreignSleep = 15

// TestForeignStepIgnored: CI runs a step of its own inside the job (`srun --overlap`, every few
// minutes) beside the supervisor's. The batch script starts such a step in the background just before
// it execs the supervisor; the supervisor must neither report it nor stop it: the step runs to its
// end with status 0, no role or event names it, and the job ends COMPLETED 0:0 as if it were not
// there. Started first, the foreign step also takes the job's first step id, so the roles' steps are
// numbered from 1: the supervisor must still signal its own steps, not that one.
func TestForeignStepIgnored(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	foreign := `( srun --overlap -N1 -n1 --job-name=foreign-ci-step bash -c ` +
		`'echo "$SLURM_STEP_ID" > "$jobWorkspace/foreign.step.tmp" && mv "$jobWorkspace/foreign.step.tmp" "$jobWorkspace/foreign.step"; ` +
		`sleep ` + strconv.Itoa(foreignSleep) + `; echo done > "$jobWorkspace/foreign.end"' ` +
		`> "$jobWorkspace/foreign.log" 2>&1; echo $? > "$jobWorkspace/foreign.rc" ) &`
	// About 2000 requests of 50 ms each, 4 at a time through CTX and GEN: the benchmark sends for
	// longer than the foreign step sleeps.
	j := submit(t, jobSpec{Name: "foreign", NumGen: 1, NumCtx: 1, Requests: "2000", Work: "50ms",
		BeforeExec: []string{foreign}})

	// While the run goes on, Slurm knows the foreign step as running.
	s := j.waitSummary(jobTimeout, "the benchmark sending requests", func(s summary) bool { return benchmarkSending(j, s) })
	stepID := waitContent(t, filepath.Join(j.ws, "foreign.step"), jobTimeout)
	out, err := slurmCmd("", "scontrol", "show", "step", "--oneliner", j.id+"."+stepID)
	switch {
	case err != nil:
		t.Errorf("scontrol show step %s.%s while the run goes on: %v", j.id, stepID, err)
	case !strings.Contains(out, "State=RUNNING"):
		t.Errorf("foreign step %s.%s is not running beside the run (run %s): %s", j.id, stepID, s.State, out)
	}

	rec, s := finish(t, j, start)
	checkJob(t, rec, "COMPLETED", "0:0")
	checkRun(t, j, s, 0)
	if s.State != "succeeded" || s.Failure != nil {
		t.Errorf("summary state %q failure %+v, want succeeded without failure", s.State, s.Failure)
	}
	roles := []string{"GEN_0", "CTX_0", "DISAGG_SERVER", "BENCHMARK"}
	if got := s.roleNames(); !slices.Equal(got, roles) {
		t.Errorf("roles %v, want %v: only the supervisor's own steps", got, roles)
	}
	// The Slurm commands the run made are counted, and they are few: a handful per role at most.
	total := 0
	for _, n := range s.SlurmCalls {
		total += n
	}
	t.Logf("slurm_calls %v", s.SlurmCalls)
	if s.SlurmCalls["scontrol show config"] != 1 || total > 4+3*len(roles) {
		t.Errorf("slurm_calls %v: want scontrol show config once and at most %d calls in all", s.SlurmCalls, 4+3*len(roles))
	}
	// No event is about the foreign step: every event's role is one of the plan's, and no message
	// names its step id (JOB.STEP, not followed by more of a run token).
	named := regexp.MustCompile(`(^|[^0-9.])` + regexp.QuoteMeta(j.id+"."+stepID) + `($|[^0-9.])`)
	for _, ev := range attemptEvents(t, j.ws, s.RunToken) {
		if ev.Role != "" && !slices.Contains(roles, ev.Role) {
			t.Errorf("event %s about %q, not a role of the run: %s", ev.Event, ev.Role, ev.Message)
		}
		if named.MatchString(ev.Message) {
			t.Errorf("event %s names the foreign step %s.%s: %s", ev.Event, j.id, stepID, ev.Message)
		}
	}

	// The foreign step ran to its end: its sleep finished and srun returned 0, with no cancellation
	// notice from slurmstepd in its output.
	if s.EndedAt != nil && s.EndedAt.Sub(s.StartedAt) < foreignSleep*time.Second {
		t.Logf("the run took %s, less than the foreign step's %d s: the job's end may have cut it", s.EndedAt.Sub(s.StartedAt), foreignSleep)
	}
	fileExists(t, filepath.Join(j.ws, "foreign.end"))
	if rc := readTrimmed(filepath.Join(j.ws, "foreign.rc")); rc != "0" {
		t.Errorf("the foreign step's srun returned %q, want 0", rc)
	}
	if log := readTrimmed(filepath.Join(j.ws, "foreign.log")); strings.Contains(log, "CANCELLED") {
		t.Errorf("the foreign step was cancelled:\n%s", log)
	}
}

// waitContent waits for a file with content (written by rename, so whole) and returns it trimmed.
func waitContent(t *testing.T, path string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if s := readTrimmed(path); s != "" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not written within %s", path, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func readTrimmed(path string) string {
	data, _ := os.ReadFile(path)
	return strings.TrimSpace(string(data))
}
