package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Every scenario is t.Parallel, so `go test` runs as many at once as -parallel allows (the number of
// CPUs by default). The jobs are small (1-3 nodes, 2 CPUs and 2 GPUs of each node's 8 and 4), so
// Slurm runs them side by side, and queues them behind whatever else uses the cluster. The scenarios
// that wait on Slurm's timers (time limit, requeue) come first to overlap the quick ones.

const jobTimeout = 4 * time.Minute

// finish waits for the job to end and reads its summary.
func finish(t *testing.T, j *job, start time.Time) (jobRecord, summary) {
	t.Helper()
	rec := j.wait(jobTimeout)
	t.Logf("job %s ended %s ExitCode=%s on %v after %s", j.id, rec.State, rec.ExitCode, rec.Nodes, time.Since(start).Round(100*time.Millisecond))
	s, err := readSummary(j.ws)
	if err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	if len(rec.Nodes) == 0 {
		t.Fatalf("job %s: Slurm never reported its node list", j.id)
	}
	return rec, s
}

// longToy runs until stopped: far more requests than it can send, at a pace that keeps the machine's
// two cores free for Slurm.
const longToy = "100000000"

func TestTimeLimitDrain(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	// --signal=B:USR1@60 on a 2-minute job. Slurm checks time limits on a 30 s timer, so the warning
	// comes up to one period before or after the asked time: observed 2-25 s into a 1-minute job with
	// @30 (where it can come before the batch script has exec'd the supervisor, and kill the shell),
	// and 76-89 s into a 90 s job with @30 (too late to drain). Here it comes 30-90 s after the start,
	// leaving at least 30 s to drain.
	const limitSeconds = 120
	j := submit(t, jobSpec{Name: "timelimit", Time: "2", SBATCH: []string{"--signal=B:USR1@60"},
		Requests: longToy, Work: "50ms"})
	rec, s := finish(t, j, start)
	checkJob(t, rec, "FAILED", "138:0")
	checkRun(t, j, s, 138)
	if s.State != "interrupted" {
		t.Errorf("summary state %q, want interrupted", s.State)
	}
	if f := s.Failure; f == nil || f.Class != "cancelled" || f.Role != "" || !strings.Contains(f.Reason, "SIGUSR1") {
		t.Errorf("failure %+v, want class cancelled, no role, a reason naming the drain signal", f)
	}
	// USR1 may come before every role is launched; a role not launched by then stays pending.
	launched := 0
	for _, r := range s.Roles {
		switch {
		case r.LaunchedAt == nil && r.State == "pending":
		case r.State == "stopped":
			launched++
		default:
			t.Errorf("%s is %q, want stopped by the drain (or pending if never launched)", r.Name, r.State)
		}
	}
	t.Logf("USR1 after %.1fs of the run, with %d of %d roles launched", s.DurationSeconds, launched, len(s.Roles))
	var drained bool
	for _, ev := range attemptEvents(t, j.ws, s.RunToken) {
		if ev.Event == "signal" && ev.Signal == "SIGUSR1" {
			drained = true
		}
	}
	if !drained {
		t.Error("event log has no signal event for SIGUSR1")
	}
	// The point of the drain: the summary is final before the time limit, not cut short by the kill.
	started, err := time.ParseInLocation("2006-01-02T15:04:05", rec.fields["StartTime"], time.Local)
	if err != nil {
		t.Fatalf("StartTime %q: %v", rec.fields["StartTime"], err)
	}
	limit := started.Add(limitSeconds * time.Second)
	if s.EndedAt == nil || !s.EndedAt.Before(limit) {
		t.Errorf("summary ended at %v, want before the time limit %v", s.EndedAt, limit)
	} else {
		t.Logf("drained and finished %s before the time limit", limit.Sub(*s.EndedAt).Round(time.Second))
	}
}

func TestRequeue(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	// The first attempt runs until it is requeued; the second sends a few requests and succeeds.
	j := submit(t, jobSpec{Name: "requeue", NumGen: 1, NumCtx: 1,
		SBATCH:  []string{"--requeue", "--open-mode=append"},
		Setup:   []string{`if [ "${SLURM_RESTART_COUNT:-0}" = 0 ]; then toyflags="--requests ` + longToy + ` --work 50ms"; else toyflags="--requests 100"; fi`},
		Command: binary + " toy --concurrency 4 $toyflags"})
	first := j.waitSummary(jobTimeout, "the first attempt's benchmark sending requests", func(s summary) bool {
		return strings.HasPrefix(s.RunToken, j.id+".0.") && benchmarkSending(j, s)
	})
	tok1 := first.RunToken
	if _, err := slurmCmd("", "scontrol", "requeue", j.id); err != nil {
		t.Fatal(err)
	}
	requeued := time.Now()
	// The job starts again only once every step of the first attempt has ended.
	second := j.waitSummary(jobTimeout, "a second attempt", func(s summary) bool { return strings.HasPrefix(s.RunToken, j.id+".1.") })
	t.Logf("requeue to second attempt %s", time.Since(requeued).Round(100*time.Millisecond))
	oldDirs := []string{filepath.Join(j.ws, "hostnames-"+tok1), filepath.Join(j.ws, ".disagg-supervisor", "runs", tok1)}
	before := snapshot(t, oldDirs...)

	rec, s := finish(t, j, start)
	checkJob(t, rec, "COMPLETED", "0:0")
	if rec.Restarts != 1 {
		t.Errorf("Restarts=%d, want 1", rec.Restarts)
	}
	checkRun(t, j, s, 0)
	checkNothingLeft(t, j, tok1)
	tok2 := s.RunToken
	if !strings.HasPrefix(tok2, j.id+".1.") || tok2 == tok1 || tok2 != second.RunToken {
		t.Errorf("run tokens: first %s, second %s (seen at its start as %s), want a new <job>.1.* token", tok1, tok2, second.RunToken)
	}
	if s.State != "succeeded" {
		t.Errorf("second attempt: state %q, want succeeded", s.State)
	}

	// Each attempt has its own coordination directory, and the second never touched the first's files.
	for _, tok := range []string{tok1, tok2} {
		fileExists(t, filepath.Join(j.ws, ".disagg-supervisor", "runs", tok, "started", "GEN_0", "0"))
		fileExists(t, filepath.Join(j.ws, "hostnames-"+tok, "GEN_0.txt"))
	}
	after := snapshot(t, oldDirs...)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("the first attempt's files changed during the second attempt:\nbefore %v\nafter  %v", before, after)
	}
	for path, mtime := range after {
		if !mtime.Before(s.StartedAt) {
			t.Errorf("%s was modified at %v, after the second attempt started at %v", path, mtime, s.StartedAt)
		}
	}

	// Logs are appended: both attempts' headers, in order.
	for _, name := range []string{"gen_server_0.log", "ctx_server_0.log", "disagg_server.log", "benchmark.log"} {
		data, err := os.ReadFile(filepath.Join(j.ws, name))
		if err != nil {
			t.Error(err)
			continue
		}
		role := map[string]string{"gen_server_0.log": "GEN_0", "ctx_server_0.log": "CTX_0", "disagg_server.log": "DISAGG_SERVER", "benchmark.log": "BENCHMARK"}[name]
		i1, i2 := strings.Index(string(data), header(role, tok1)), strings.Index(string(data), header(role, tok2))
		if i1 < 0 || i2 < 0 || i1 > i2 {
			t.Errorf("%s: header of attempt %s at %d, of attempt %s at %d; want both, in order", name, tok1, i1, tok2, i2)
		}
	}
	out, _ := os.ReadFile(filepath.Join(j.ws, "slurm-"+j.id+".out"))
	for _, want := range []string{"attempt: restart count 0", "attempt: restart count 1"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("job output has no %q line (--open-mode=append keeps both attempts)", want)
		}
	}

	// The first attempt's story is complete too: its own result event in the appended event log.
	var result *event
	for _, ev := range attemptEvents(t, j.ws, tok1) {
		if ev.Event == "result" {
			result = &ev
		}
	}
	switch {
	case result == nil:
		t.Errorf("the event log has no result event for the requeued attempt %s", tok1)
	case result.Code == nil || *result.Code != 143:
		// Slurm cancels the steps and signals the batch shell at the same moment; a step that ends
		// first is recognised by slurmstepd's "CANCELLED ... DUE TO JOB REQUEUE" line, so the attempt
		// still ends as interrupted (143), never as a role's failure.
		t.Errorf("requeued attempt %s ended with code %s, want 143 (interrupted): %s", tok1, ptrString(result.Code), result.Message)
	default:
		t.Logf("requeued attempt %s: %s", tok1, result.Message)
	}
}

// benchmarkSending reports whether the attempt of summary s is mid-run: every role launched, and the
// toy benchmark sending its requests.
func benchmarkSending(j *job, s summary) bool {
	if !s.roleRunning("BENCHMARK") {
		return false
	}
	data, err := os.ReadFile(filepath.Join(j.ws, "benchmark.log"))
	if err != nil {
		return false
	}
	i := strings.LastIndex(string(data), header("BENCHMARK", s.RunToken))
	return i >= 0 && strings.Contains(string(data[i:]), "toy: BENCHMARK: sending ")
}

func TestSuccess(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "success", NumGen: 2, NumCtx: 1})
	rec, s := finish(t, j, start)
	if len(rec.Nodes) != 3 {
		t.Fatalf("job ran on %v, want 3 nodes", rec.Nodes)
	}
	checkJob(t, rec, "COMPLETED", "0:0")
	checkRun(t, j, s, 0)
	if s.State != "succeeded" || s.Failure != nil {
		t.Errorf("summary state %q failure %+v, want succeeded without failure", s.State, s.Failure)
	}
	want := map[string][]string{
		"GEN_0": rec.Nodes[:1], "GEN_1": rec.Nodes[1:2], "CTX_0": rec.Nodes[2:3],
		"DISAGG_SERVER": rec.Nodes[:1], "BENCHMARK": rec.Nodes[:1],
	}
	if got := s.roleNames(); !slices.Equal(got, []string{"GEN_0", "GEN_1", "CTX_0", "DISAGG_SERVER", "BENCHMARK"}) {
		t.Errorf("roles %v", got)
	}
	for _, r := range s.Roles {
		if !slices.Equal(r.Nodes, want[r.Name]) {
			t.Errorf("%s ran on %v, want %v", r.Name, r.Nodes, want[r.Name])
		}
		// The harness's handshake: the servers end with 0 on the benchmark's status file, the
		// benchmark ends last. The toy's servers all end before it does (it waits for the GEN .done
		// files); a CTX or router step may still be ending when the benchmark does, and is stopped.
		wantStates := []string{"finished"}
		switch {
		case r.Name == "BENCHMARK":
			wantStates = []string{"exited"}
		case !strings.HasPrefix(r.Name, "GEN_"):
			wantStates = append(wantStates, "stopped")
		}
		if !slices.Contains(wantStates, r.State) || r.ReadyAt == nil {
			t.Errorf("%s: state %q ready_at %v, want %v after being ready", r.Name, r.State, r.ReadyAt, wantStates)
		}
	}
	// The benchmark saw every .done file before it ended, and its output is in the job's output file
	// as well as in its log.
	out, _ := os.ReadFile(filepath.Join(j.ws, "slurm-"+j.id+".out"))
	if !strings.Contains(string(out), "toy: BENCHMARK: saw gen_server_0.done gen_server_1.done") {
		t.Error("the job's output file does not show the benchmark seeing both .done files")
	}
	if junits, _ := filepath.Glob(filepath.Join(j.ws, "results*.xml")); !slices.Contains(junits, filepath.Join(j.ws, "results-disagg-supervisor.xml")) {
		t.Errorf("CI's results*.xml pattern finds %v, not the supervisor's verdict", junits)
	}
	if b, _ := s.role("BENCHMARK"); b.ExitCode == nil || *b.ExitCode != 0 {
		t.Errorf("BENCHMARK exit code %s, want 0", ptrString(b.ExitCode))
	}
	fileExists(t, filepath.Join(j.ws, "gen_server_0.done"))
	fileExists(t, filepath.Join(j.ws, "gen_server_1.done"))
	var results struct {
		Requests int `json:"requests"`
		Failed   int `json:"failed"`
	}
	if data, err := os.ReadFile(filepath.Join(j.ws, "toy_benchmark_results.json")); err != nil {
		t.Errorf("benchmark results: %v", err)
	} else if err := json.Unmarshal(data, &results); err != nil || results.Requests != 100 || results.Failed != 0 {
		t.Errorf("benchmark results %+v (%v), want 100 requests, none failed", results, err)
	}
	junit, err := os.ReadFile(filepath.Join(j.ws, "results-disagg-supervisor.xml"))
	if err != nil || !strings.Contains(string(junit), `failures="0"`) {
		t.Errorf("JUnit file: %v\n%s", err, junit)
	}
}

// TestTwoServerConfigs runs two server configurations one after the other in the same steps, as the
// harness does with benchmark_status.0.txt then .1.txt: servers outlive the first index and end after
// the second, and the run succeeds.
func TestTwoServerConfigs(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "two-configs", NumGen: 1, NumCtx: 1, ToyFlags: "--server-configs 2"})
	rec, s := finish(t, j, start)
	checkJob(t, rec, "COMPLETED", "0:0")
	checkRun(t, j, s, 0)
	if s.State != "succeeded" || len(s.Warnings) > 0 {
		t.Errorf("summary state %q warnings %v, want succeeded without warnings", s.State, s.Warnings)
	}
	if g, _ := s.role("GEN_0"); g.State != "finished" {
		t.Errorf("GEN_0 is %q, want finished", g.State)
	}
	for _, name := range []string{"benchmark_status.0.txt", "benchmark_status.1.txt", "gen_server_0.done"} {
		fileExists(t, filepath.Join(j.ws, name))
	}
}

// TestThreeServerConfigs: a job of three configurations that the supervisor knows (--server-configs 3):
// each is a phase of its own, completed in turn, and the servers finish after the last.
func TestThreeServerConfigs(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "three-configs", NumGen: 1, NumCtx: 1, ToyFlags: "--server-configs 3", RunFlags: "--server-configs 3"})
	rec, s := finish(t, j, start)
	checkJob(t, rec, "COMPLETED", "0:0")
	checkRun(t, j, s, 0)
	if len(s.ServerConfigs) != 3 {
		t.Fatalf("server_configs %+v, want 3", s.ServerConfigs)
	}
	for i, c := range s.ServerConfigs {
		if c.Index != i || c.Verdict != "completed" || c.Status != "Done" {
			t.Errorf("configuration %d: %+v, want completed with status Done", i, c)
		}
	}
	if g, _ := s.role("GEN_0"); g.State != "finished" {
		t.Errorf("GEN_0 is %q, want finished", g.State)
	}
	junit, _ := os.ReadFile(filepath.Join(j.ws, "results-disagg-supervisor.xml"))
	if !strings.Contains(string(junit), `name="supervisor[config 2]"`) {
		t.Errorf("JUnit lacks the case of configuration 2:\n%s", junit)
	}
}

func TestGenOnly(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	// numCtxServers=1 as the generator writes it; gen-only mode drops the CTX servers, and the job
	// has nodes for the GEN servers only.
	j := submit(t, jobSpec{Name: "genonly", NumGen: 2, NumCtx: 1, GenOnly: true})
	rec, s := finish(t, j, start)
	checkJob(t, rec, "COMPLETED", "0:0")
	checkRun(t, j, s, 0)
	if got := s.roleNames(); !slices.Equal(got, []string{"GEN_0", "GEN_1", "DISAGG_SERVER", "BENCHMARK"}) {
		t.Errorf("roles %v, want no CTX role", got)
	}
	for _, ev := range attemptEvents(t, j.ws, s.RunToken) {
		if ev.Event == "launch" && strings.HasPrefix(ev.Role, "CTX_") {
			t.Errorf("a CTX step was launched: %+v", ev)
		}
	}
	fileAbsent(t, filepath.Join(j.ws, "ctx_server_0.log"))
	gen := attemptLog(t, filepath.Join(j.ws, "gen_server_0.log"), "GEN_0", s.RunToken)
	if !strings.Contains(gen, "\nTRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1\n") {
		t.Error("GEN_0's environment has no TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1")
	}
}

// failureScenario is a run in which one role fails on purpose.
type failureScenario struct {
	spec    jobSpec
	state   string // JobState
	code    int
	role    string
	node    int // index of the failing node in the allocation; -1: none named
	ranks   []int
	faultAt string // ROLE:RANK whose fault time starts the clock of "ends within seconds"; "" for none
	class   string // the failure's class, also the JUnit message's prefix
}

func runFailure(t *testing.T, sc failureScenario) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, sc.spec)
	rec, s := finish(t, j, start)
	checkJob(t, rec, sc.state, fmt.Sprintf("%d:0", sc.code))
	checkRun(t, j, s, sc.code)
	if s.State != "failed" {
		t.Errorf("summary state %q, want failed", s.State)
	}
	node := ""
	if sc.node >= 0 {
		node = rec.Nodes[sc.node]
	}
	checkFailure(t, s, sc.role, node, sc.ranks, sc.code)
	if f := s.Failure; f != nil && !strings.Contains(strings.Join(f.LogTail, "\n"), "toy:") {
		t.Errorf("failure log tail shows nothing of the toy: %q", f.LogTail)
	}
	if f := s.Failure; f != nil && node != "" {
		// srun's line about the failing task is among the first error lines, with its line number.
		var found bool
		for _, l := range f.FirstErrors {
			found = found || (l.Line > 0 && strings.HasPrefix(l.Text, "srun: error: "+node+": "))
		}
		if !found {
			t.Errorf("first errors %+v do not show srun's line about %s", f.FirstErrors, node)
		}
	}
	for _, r := range s.Roles {
		// A failing benchmark has announced its end first (the harness's handshake): the servers
		// then finish by themselves.
		if r.Name != sc.role && r.LaunchedAt != nil && r.State != "stopped" && !(sc.role == "BENCHMARK" && r.State == "finished") {
			t.Errorf("%s is %q, want stopped by the teardown", r.Name, r.State)
		}
	}
	if f := s.Failure; f != nil && f.Class != sc.class {
		t.Errorf("failure class %q, want %q", f.Class, sc.class)
	}
	// The supervisor's case fails whenever the job does, the class first in its message.
	junit, _ := os.ReadFile(filepath.Join(j.ws, "results-disagg-supervisor.xml"))
	if want := `<failure message="` + sc.class + `: `; !strings.Contains(string(junit), want) {
		t.Errorf("JUnit lacks %s:\n%s", want, junit)
	}
	if sc.faultAt == "" {
		return
	}
	role, rank, _ := strings.Cut(sc.faultAt, ":")
	n, _ := strconv.Atoi(rank)
	fault := faultTime(t, j.ws, role, n)
	supervisorDone := s.EndedAt.Sub(fault)
	jobDone := time.Since(fault)
	t.Logf("fault to supervisor exit %s, to job end seen by scontrol %s", supervisorDone.Round(10*time.Millisecond), jobDone.Round(100*time.Millisecond))
	// Detection is immediate (srun ends); teardown is one scancel per step. Generous bounds for a
	// loaded two-core machine, still far from "the job idles until the walltime".
	if supervisorDone > 10*time.Second || jobDone > 30*time.Second {
		t.Errorf("the run did not end within seconds of the fault: supervisor %s, job %s", supervisorDone, jobDone)
	}
}

func TestGenRankExits(t *testing.T) {
	runFailure(t, failureScenario{
		spec:  jobSpec{Name: "gen-exit3", NumGen: 1, NumCtx: 1, Requests: longToy, Work: "20ms", Fail: "GEN_0:1:3:3s"},
		state: "FAILED", code: 3, role: "GEN_0", node: 0, ranks: []int{1}, faultAt: "GEN_0:1", class: "test",
	})
}

func TestCtxRankKilled(t *testing.T) {
	runFailure(t, failureScenario{
		spec:  jobSpec{Name: "ctx-kill", NumGen: 1, NumCtx: 1, Requests: longToy, Work: "20ms", Fail: "CTX_0:1:kill:3s"},
		state: "FAILED", code: 137, role: "CTX_0", node: 1, ranks: []int{1}, faultAt: "CTX_0:1", class: "test",
	})
}

func TestServerExitsEarly(t *testing.T) {
	// Status 0 from a server is not srun's "task failed" line: the failure names no node or rank.
	runFailure(t, failureScenario{
		spec:  jobSpec{Name: "server-exit0", Requests: longToy, Work: "20ms", Fail: "DISAGG_SERVER:0:0:2s"},
		state: "FAILED", code: 84, role: "DISAGG_SERVER", node: -1, faultAt: "DISAGG_SERVER:0", class: "test",
	})
}

func TestBenchmarkFails(t *testing.T) {
	runFailure(t, failureScenario{
		spec:  jobSpec{Name: "benchmark-exit7", Fail: "BENCHMARK:0:7"},
		state: "FAILED", code: 7, role: "BENCHMARK", node: 0, ranks: []int{0}, class: "test",
	})
}

func TestScancel(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "scancel", NumGen: 1, NumCtx: 1, Requests: longToy, Work: "50ms"})
	j.waitSummary(jobTimeout, "the benchmark sending requests", func(s summary) bool { return benchmarkSending(j, s) })
	if _, err := slurmCmd("", "scancel", j.id); err != nil {
		t.Fatal(err)
	}
	cancelled := time.Now()
	rec, s := finish(t, j, start)
	t.Logf("scancel to job end %s", time.Since(cancelled).Round(100*time.Millisecond))
	// The supervisor exits 143 by itself within KillWait, so the job's exit code is its own.
	checkJob(t, rec, "CANCELLED", "143:0")
	checkRun(t, j, s, 143)
	if s.State != "interrupted" {
		t.Errorf("summary state %q, want interrupted", s.State)
	}
	// Slurm's word names who ended the job, and no role.
	if f := s.Failure; f == nil || f.Class != "cancelled" || f.Role != "" || !strings.Contains(f.Reason, "(scancel)") {
		t.Errorf("failure %+v, want class cancelled, no role, a reason naming scancel", f)
	}
	for _, r := range s.Roles {
		if r.State != "stopped" {
			t.Errorf("%s is %q, want stopped", r.Name, r.State)
		}
	}
	var signalled bool
	for _, ev := range attemptEvents(t, j.ws, s.RunToken) {
		signalled = signalled || (ev.Event == "signal" && ev.Signal == "SIGTERM")
	}
	if !signalled {
		t.Error("event log has no signal event for SIGTERM")
	}
}

func TestInstallFailure(t *testing.T) {
	// One GEN server over two nodes, so the barrier spans nodes: the ranks on the first node install,
	// then wait at the barrier for ranks of the second node, whose install fails after a second.
	install := `--task-install "if [ \"\$SLURMD_NODENAME\" = $failnode ]; then sleep 1; exit 5; fi" --task-barrier --task-install-timeout 60s --task-barrier-timeout 60s`
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "install-fail", NumGen: 1, NodesPerGen: 2,
		Setup:    []string{`failnode=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | sed -n 2p)`},
		RunFlags: install})
	rec, s := finish(t, j, start)
	checkJob(t, rec, "FAILED", "5:0")
	checkRun(t, j, s, 5)
	// The install gate recorded the failure where it happened, and only there.
	installs := filepath.Join(j.ws, ".disagg-supervisor", "runs", s.RunToken, "install")
	fileExists(t, filepath.Join(installs, rec.Nodes[1]+".failed"))
	fileAbsent(t, filepath.Join(installs, rec.Nodes[0]+".failed"))
	fileExists(t, filepath.Join(installs, rec.Nodes[0]+".ok"))
	f := s.Failure
	if f == nil || f.Role != "GEN_0" || f.Code != 5 || len(f.Ranks) == 0 || f.Class != "setup" {
		t.Fatalf("failure %+v, want GEN_0 with code 5, class setup and the ranks srun named", f)
	}
	// The named ranks are on the named node (ranks 0-1 on the first node, 2-3 on the second); srun
	// may name them in one line or two.
	first := slices.Index(rec.Nodes, f.Node)
	if first < 0 || slices.ContainsFunc(f.Ranks, func(r int) bool { return r/2 != first }) {
		t.Errorf("failure names ranks %v on %q; in this layout ranks %d-%d run there", f.Ranks, f.Node, 2*first, 2*first+1)
	}
	// Ranks of the first node leave the barrier with the installer's code and srun may report them
	// first; the root cause is still the node whose install failed, and its installer.
	if f.Node != rec.Nodes[1] || !strings.Contains(f.Reason, "per-node install failed on "+rec.Nodes[1]) {
		t.Errorf("root cause names %s ranks %v (%q), want the failed install on %s", f.Node, f.Ranks, f.Reason, rec.Nodes[1])
	}
	if s.DurationSeconds > 30 {
		t.Errorf("the run took %.1fs, want well under the 60 s install and barrier timeouts", s.DurationSeconds)
	}
	for _, name := range []string{"DISAGG_SERVER", "BENCHMARK"} {
		if r, _ := s.role(name); r.LaunchedAt != nil {
			t.Errorf("%s was launched although GEN_0 never became ready", name)
		}
	}
	gen := attemptLog(t, filepath.Join(j.ws, "gen_server_0.log"), "GEN_0", s.RunToken)
	if strings.Contains(gen, "toy: role=") {
		t.Error("a GEN_0 rank got past the barrier and started the toy although an install failed")
	}
	if !strings.Contains(gen, "install on "+rec.Nodes[0]+": done") {
		t.Errorf("gen_server_0.log does not show the install on %s succeeding", rec.Nodes[0])
	}
}

// snapshot maps every file and directory under dirs to its modification time.
func snapshot(t *testing.T, dirs ...string) map[string]time.Time {
	t.Helper()
	times := map[string]time.Time{}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			times[path] = info.ModTime()
			return nil
		})
		if err != nil {
			t.Errorf("snapshot %s: %v", dir, err)
		}
	}
	return times
}

// plan is the part of `plan --json` this test compares with what Slurm did.
type plan struct {
	JobID       string `json:"job_id"`
	Nodes       []string
	GPUsPerNode int `json:"gpus_per_node"`
	Roles       []struct {
		Name          string   `json:"name"`
		Kind          string   `json:"kind"`
		Nodes         []string `json:"nodes"`
		NTasks        int      `json:"ntasks"`
		NTasksPerNode int      `json:"ntasks_per_node"`
	} `json:"roles"`
}

var (
	taskLineRE = regexp.MustCompile(`^task: role=(\S+) kind=\S+ rank=(\d+) localid=(\d+) ntasks=(\d+) node=(\S+) pid=\d+ job=(\S+) step=(\S+)`)
	toyLineRE  = regexp.MustCompile(`^toy: role=(\S+) rank=(\d+) node=(\S+) pid=\d+ cuda_visible_devices=(\S*)$`)
)

func TestPlanMatchesSlurm(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	// GEN_0 spans two nodes, so the block distribution of its ranks is visible.
	j := submit(t, jobSpec{Name: "plan", NumGen: 1, NodesPerGen: 2, NumCtx: 1,
		BeforeExec: []string{
			`disagg-supervisor plan --json > "$jobWorkspace/plan.json"`,
			// What Slurm gives a step without GPU options on each node: the job's GPUs there.
			`for node in $(scontrol show hostnames "$SLURM_JOB_NODELIST"); do srun --overlap -N1 -n1 -w "$node" printenv CUDA_VISIBLE_DEVICES > "$jobWorkspace/cuda-$node.txt" || true; done`,
		}})
	rec, s := finish(t, j, start)
	checkJob(t, rec, "COMPLETED", "0:0")
	checkRun(t, j, s, 0)

	var p plan
	data, err := os.ReadFile(filepath.Join(j.ws, "plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatalf("plan.json: %v", err)
	}
	if p.JobID != j.id || !slices.Equal(p.Nodes, rec.Nodes) || p.GPUsPerNode != 2 {
		t.Errorf("plan: job %s nodes %v gpus/node %d, want job %s nodes %v (scontrol show hostnames) gpus/node 2",
			p.JobID, p.Nodes, p.GPUsPerNode, j.id, rec.Nodes)
	}
	cuda := map[string]string{}
	for _, node := range rec.Nodes {
		data, _ := os.ReadFile(filepath.Join(j.ws, "cuda-"+node+".txt"))
		if cuda[node] = strings.TrimSpace(string(data)); cuda[node] == "" {
			t.Errorf("srun on %s printed no CUDA_VISIBLE_DEVICES", node)
		}
	}
	if len(p.Roles) != len(s.Roles) {
		t.Fatalf("plan has roles %v, the run %v", p.Roles, s.roleNames())
	}
	for i, pr := range p.Roles {
		r := s.Roles[i]
		if r.Name != pr.Name || !slices.Equal(r.Nodes, pr.Nodes) || r.NTasks != pr.NTasks {
			t.Errorf("run role %s on %v x %d, plan %s on %v x %d", r.Name, r.Nodes, r.NTasks, pr.Name, pr.Nodes, pr.NTasks)
		}
		// Block distribution: ntasks_per_node consecutive ranks per node, in the plan's node order.
		where := func(rank int) string { return pr.Nodes[rank/pr.NTasksPerNode] }
		text := attemptLog(t, r.Log, r.Name, s.RunToken)
		tasks, toys := map[int]bool{}, map[int]bool{}
		sc := bufio.NewScanner(strings.NewReader(text))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if m := taskLineRE.FindStringSubmatch(line); m != nil && m[1] == pr.Name {
				// The task runner's identity line: SLURMD_NODENAME and SLURM_PROCID, as slurmd set them.
				rank, _ := strconv.Atoi(m[2])
				localID, _ := strconv.Atoi(m[3])
				tasks[rank] = true
				if m[5] != where(rank) || localID != rank%pr.NTasksPerNode || m[4] != strconv.Itoa(pr.NTasks) || m[6] != j.id {
					t.Errorf("%s rank %d ran on %s (localid %d, ntasks %s, job %s), plan says %s (localid %d, ntasks %d, job %s)",
						pr.Name, rank, m[5], localID, m[4], m[6], where(rank), rank%pr.NTasksPerNode, pr.NTasks, j.id)
				}
			}
			if m := toyLineRE.FindStringSubmatch(line); m != nil && m[1] == pr.Name {
				rank, _ := strconv.Atoi(m[2])
				toys[rank] = true
				node := where(rank)
				// DISAGG_SERVER and BENCHMARK run without SLURM_* (so they never join an MPI world);
				// the toy then names the host, which all nodes of the dev cluster share.
				if (pr.Kind == "gen" || pr.Kind == "ctx") && m[3] != node {
					t.Errorf("%s rank %d: toy ran on %s, plan says %s", pr.Name, rank, m[3], node)
				}
				if m[4] != cuda[node] {
					t.Errorf("%s rank %d on %s: CUDA_VISIBLE_DEVICES=%q, Slurm assigns %q there", pr.Name, rank, node, m[4], cuda[node])
				}
			}
		}
		for rank := 0; rank < pr.NTasks; rank++ {
			if !tasks[rank] || !toys[rank] {
				t.Errorf("%s rank %d: task line %v, toy line %v in %s; want both", pr.Name, rank, tasks[rank], toys[rank], r.Log)
			}
		}
		if len(tasks) != pr.NTasks || len(toys) != pr.NTasks {
			t.Errorf("%s: %d task and %d toy ranks, plan has %d", pr.Name, len(tasks), len(toys), pr.NTasks)
		}
	}
}
