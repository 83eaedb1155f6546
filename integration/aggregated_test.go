package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The aggregated test's scenarios: the generator's aggregated exports (gpusPerNodePerServer,
// totalNodes, world_size, no numGenServers) make the plan one SERVER over the allocation, here the
// toy's aggregated mode, whose rank 0 serves and measures itself.

func TestAggregatedSuccess(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	// The install script runs on every task of the job first, as for a disaggregated test.
	j := submit(t, jobSpec{Name: "agg-success", Aggregated: true, WorldSize: 4,
		BeforeExec: []string{
			`printf '#!/bin/sh\necho "install task $SLURM_PROCID on $SLURMD_NODENAME"\n' > "$jobWorkspace/install.sh"`,
			`chmod +x "$jobWorkspace/install.sh"`,
			`export installScript="$jobWorkspace/install.sh"`,
		}})
	rec, s := finish(t, j, start)
	if len(rec.Nodes) != 2 {
		t.Fatalf("job ran on %v, want 2 nodes", rec.Nodes)
	}
	checkJob(t, rec, "COMPLETED", "0:0")
	checkRun(t, j, s, 0)
	if s.State != "succeeded" || s.Failure != nil {
		t.Errorf("summary state %q failure %+v, want succeeded without failure", s.State, s.Failure)
	}
	if got := s.roleNames(); !slices.Equal(got, []string{"INSTALL", "SERVER"}) {
		t.Errorf("roles %v, want INSTALL and SERVER", got)
	}
	srv, _ := s.role("SERVER")
	in, _ := s.role("INSTALL")
	if !slices.Equal(srv.Nodes, rec.Nodes) || srv.NTasks != 4 || srv.Kind != "aggregated" || srv.State != "exited" ||
		srv.ExitCode == nil || *srv.ExitCode != 0 || srv.ReadyAt == nil {
		t.Errorf("SERVER %+v, want 4 tasks of kind aggregated on %v, ready, exited with 0", srv, rec.Nodes)
	}
	if srv.LaunchedAt == nil || in.EndedAt == nil || srv.LaunchedAt.Before(*in.EndedAt) {
		t.Errorf("SERVER launched at %v, install ended at %v: want the install first", srv.LaunchedAt, in.EndedAt)
	}
	// The SERVER's output is in the job's output file as well as in its log, as today's draft shows it.
	out, _ := os.ReadFile(filepath.Join(j.ws, "slurm-"+j.id+".out"))
	for _, want := range []string{"toy: SERVER: aggregated serving on 127.0.0.1:", "toy: benchmark requests=100 failed=0 ",
		"toy: SERVER rank 3: SERVER.end appeared: exiting"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the job's output file does not show %q", want)
		}
	}
	log := attemptLog(t, filepath.Join(j.ws, "aggregated_server.log"), "SERVER", s.RunToken)
	for _, node := range rec.Nodes {
		if !strings.Contains(log, "node="+node+" ") {
			t.Errorf("no rank of the SERVER ran on %s:\n%s", node, log)
		}
	}
	fileAbsent(t, filepath.Join(j.ws, "gen_server_0.log"))
	if res, err := os.ReadFile(filepath.Join(j.ws, "toy_benchmark_results.json")); err != nil || !strings.Contains(string(res), `"failed": 0`) {
		t.Errorf("results (%v): %s", err, res)
	}
}

func TestAggregatedRankExits(t *testing.T) {
	// Rank 3 is the second task of the second node.
	runFailure(t, failureScenario{
		spec:  jobSpec{Name: "agg-rank3-exit7", Aggregated: true, Requests: longToy, Work: "20ms", Fail: "SERVER:3:7:3s"},
		state: "FAILED", code: 7, role: "SERVER", node: 1, ranks: []int{3}, faultAt: "SERVER:3", class: "test",
	})
}

func TestAggregatedGenOnly(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "agg-genonly", Aggregated: true, GenOnly: true})
	rec, s := finish(t, j, start)
	checkJob(t, rec, "COMPLETED", "0:0")
	checkRun(t, j, s, 0)
	srv, _ := s.role("SERVER")
	if want := filepath.Join(j.ws, "gen_server_0.log"); srv.Log != want {
		t.Errorf("SERVER log %s, want %s", srv.Log, want)
	}
	log := attemptLog(t, filepath.Join(j.ws, "gen_server_0.log"), "SERVER", s.RunToken)
	for _, want := range []string{"\nTRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1\n", "toy: SERVER: aggregated, gen-only (TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1) serving on ",
		"toy: benchmark requests=100 failed=0 "} {
		if !strings.Contains(log, want) {
			t.Errorf("gen_server_0.log has no %q", want)
		}
	}
	// Instead of the job's output file, as today.
	out, _ := os.ReadFile(filepath.Join(j.ws, "slurm-"+j.id+".out"))
	if strings.Contains(string(out), "toy: SERVER") {
		t.Error("the gen-only SERVER's output is in the job's output file too")
	}
	fileAbsent(t, filepath.Join(j.ws, "aggregated_server.log"))
}

func TestAggregatedScancel(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "agg-scancel", Aggregated: true, Requests: longToy, Work: "50ms"})
	j.waitSummary(jobTimeout, "the SERVER sending requests", func(s summary) bool { return serverSending(j, s) })
	if _, err := slurmCmd("", "scancel", j.id); err != nil {
		t.Fatal(err)
	}
	rec, s := finish(t, j, start)
	checkJob(t, rec, "CANCELLED", "143:0")
	checkRun(t, j, s, 143)
	if srv, _ := s.role("SERVER"); s.State != "interrupted" || srv.State != "stopped" || s.Failure == nil || s.Failure.Role == "SERVER" {
		t.Errorf("summary state %q, SERVER %q, failure %+v; want interrupted, stopped, not the SERVER's failure", s.State, srv.State, s.Failure)
	}
}

// serverSending reports whether the attempt of summary s is mid-run: the SERVER's tasks all started
// and rank 0 sending its requests.
func serverSending(j *job, s summary) bool {
	if !s.roleRunning("SERVER") {
		return false
	}
	data, err := os.ReadFile(filepath.Join(j.ws, j.serverLog))
	i := strings.LastIndex(string(data), header("SERVER", s.RunToken))
	return err == nil && i >= 0 && strings.Contains(string(data[i:]), "toy: SERVER: sending ")
}

// TestAggregatedRequeue requeues a running aggregated job: the first attempt ends interrupted (never
// the SERVER's failure), the second runs with a new run token and succeeds, and the SERVER's log
// holds both attempts.
func TestAggregatedRequeue(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "agg-requeue", Aggregated: true,
		SBATCH:  []string{"--requeue", "--open-mode=append"},
		Setup:   []string{`if [ "${SLURM_RESTART_COUNT:-0}" = 0 ]; then toyflags="--requests ` + longToy + ` --work 50ms"; else toyflags="--requests 100"; fi`},
		Command: binary + " toy --concurrency 4 $toyflags"})
	first := j.waitSummary(jobTimeout, "the first attempt's SERVER sending requests", func(s summary) bool {
		return strings.HasPrefix(s.RunToken, j.id+".0.") && serverSending(j, s)
	})
	tok1 := first.RunToken
	if _, err := slurmCmd("", "scontrol", "requeue", j.id); err != nil {
		t.Fatal(err)
	}
	rec, s := finish(t, j, start)
	checkJob(t, rec, "COMPLETED", "0:0")
	if rec.Restarts != 1 {
		t.Errorf("Restarts=%d, want 1", rec.Restarts)
	}
	checkRun(t, j, s, 0)
	checkNothingLeft(t, j, tok1)
	if tok2 := s.RunToken; !strings.HasPrefix(tok2, j.id+".1.") || s.State != "succeeded" {
		t.Errorf("second attempt %s is %q, want a <job>.1.* token that succeeded", tok2, s.State)
	}
	data, _ := os.ReadFile(filepath.Join(j.ws, "aggregated_server.log"))
	i1, i2 := strings.Index(string(data), header("SERVER", tok1)), strings.Index(string(data), header("SERVER", s.RunToken))
	if i1 < 0 || i2 < 0 || i1 > i2 {
		t.Errorf("aggregated_server.log: header of attempt %s at %d, of %s at %d; want both, in order", tok1, i1, s.RunToken, i2)
	}
	var result *event
	for _, ev := range attemptEvents(t, j.ws, tok1) {
		if ev.Event == "result" {
			result = &ev
		}
	}
	if result == nil || result.Code == nil || *result.Code != 143 {
		t.Errorf("requeued attempt %s: result %+v, want 143 (interrupted)", tok1, result)
	}
}

// TestAggregatedTimeLimitDrain: the pre-timeout signal drains an aggregated run as a disaggregated
// one (see TestTimeLimitDrain for the timing of Slurm's warning).
func TestAggregatedTimeLimitDrain(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "agg-timelimit", Aggregated: true, Time: "2", SBATCH: []string{"--signal=B:USR1@60"},
		Requests: longToy, Work: "50ms"})
	rec, s := finish(t, j, start)
	checkJob(t, rec, "FAILED", "138:0")
	checkRun(t, j, s, 138)
	srv, _ := s.role("SERVER")
	if s.State != "interrupted" || (srv.State != "stopped" && !(srv.State == "pending" && srv.LaunchedAt == nil)) {
		t.Errorf("summary state %q, SERVER %q; want interrupted, SERVER stopped by the drain", s.State, srv.State)
	}
	var drained bool
	for _, ev := range attemptEvents(t, j.ws, s.RunToken) {
		drained = drained || (ev.Event == "signal" && ev.Signal == "SIGUSR1")
	}
	if !drained {
		t.Error("event log has no signal event for SIGUSR1")
	}
}
