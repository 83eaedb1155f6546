package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestScancelRightAfterBenchmarkStarts cancels the job the moment its BENCHMARK step is launched.
// Slurm cancels the steps and signals the batch shell at the same time, so a server step may end
// (with 143) before the supervisor's own SIGTERM arrives: the run is still an interruption, never a
// failure of that server.
func TestScancelRightAfterBenchmarkStarts(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "scancel-early", NumGen: 1, NumCtx: 1, Requests: longToy, Work: "50ms"})
	j.waitSummary(jobTimeout, "the benchmark launched", func(s summary) bool {
		b, _ := s.role("BENCHMARK")
		return b.LaunchedAt != nil
	})
	if _, err := slurmCmd("", "scancel", j.id); err != nil {
		t.Fatal(err)
	}
	rec, s := finish(t, j, start)
	checkJob(t, rec, "CANCELLED", "143:0")
	checkRun(t, j, s, 143)
	if s.State != "interrupted" {
		t.Errorf("summary state %q, want interrupted", s.State)
	}
	if f := s.Failure; f == nil || f.Role != "" {
		t.Errorf("failure %+v, want an interruption that blames no role", f)
	}
	// How long Slurm took to answer when a step's end was held (scripts/stress.sh collects these).
	var held time.Time
	var heldRole string
	for _, ev := range attemptEvents(t, j.ws, s.RunToken) {
		switch {
		case ev.Event == "warning" && strings.Contains(ev.Message, "asking Slurm"):
			held, heldRole = ev.Time, ev.Role
		case ev.Event == "result" && !held.IsZero():
			t.Logf("hold: %s ended first; decided %.0f ms later: %s", heldRole, ev.Time.Sub(held).Seconds()*1000, ev.Message)
		}
	}
}

// TestKillWaitBoundsTeardown: after scancel a step that ignores SIGTERM is killed by the supervisor
// inside Slurm's KillWait (5 s on the dev cluster) although --grace is a minute, so the supervisor
// finishes its record and exits by itself before Slurm's SIGKILL.
func TestKillWaitBoundsTeardown(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "killwait", NumGen: 1, NumCtx: 1, Requests: longToy, Work: "50ms",
		ToyFlags: "--ignore-term CTX_0", RunFlags: "--grace 60s"})
	j.waitSummary(jobTimeout, "the benchmark sending requests", func(s summary) bool { return benchmarkSending(j, s) })
	if _, err := slurmCmd("", "scancel", j.id); err != nil {
		t.Fatal(err)
	}
	rec, s := finish(t, j, start)
	// 143:0 is the supervisor's own exit code: it ended before Slurm's SIGKILL (which gives 0:9).
	checkJob(t, rec, "CANCELLED", "143:0")
	if s.State != "interrupted" || s.EndedAt == nil || s.DecidedAt == nil {
		t.Fatalf("summary state %q decided %v ended %v, want a complete interrupted record", s.State, s.DecidedAt, s.EndedAt)
	}
	if took := s.EndedAt.Sub(*s.DecidedAt); took >= 5*time.Second {
		t.Errorf("teardown took %s, want it inside KillWait (5s)", took)
	}
	if !slices.Contains(s.IgnoredSIGTERM, "CTX_0") {
		t.Errorf("ignored_sigterm %v, want CTX_0", s.IgnoredSIGTERM)
	}
	var cut bool
	for _, ev := range attemptEvents(t, j.ws, s.RunToken) {
		cut = cut || (ev.Event == "teardown" && strings.Contains(ev.Message, "grace cut from 1m0s"))
	}
	if !cut {
		t.Error("no teardown event says the grace period was cut to fit KillWait")
	}
}

// TestRecordSurvivesSIGKILL kills the supervisor (the batch shell) with SIGKILL right after it has
// decided that GEN_0 failed, while a step that ignores SIGTERM holds up the teardown: the summary,
// the result event and the JUnit file already tell the true story.
func TestRecordSurvivesSIGKILL(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	// The teardown is held up by CTX_0 for the grace period (a minute) only when the supervisor's
	// `scancel --signal=TERM` reaches its step. On the loaded dev cluster scancel now and then answers
	// "Invalid job id specified" for a running job; the supervisor then stops the step through srun,
	// which kills it, and the run ends before the test can kill the supervisor. Such an attempt proves
	// nothing here and is run again, at most three times.
	var j *job
	var start time.Time
	for attempt := 1; ; attempt++ {
		start = time.Now()
		j = submit(t, jobSpec{Name: "sigkill", NumGen: 1, NumCtx: 1, Requests: longToy, Work: "50ms",
			Fail: "GEN_0:1:3:2s", ToyFlags: "--ignore-term CTX_0", RunFlags: "--grace 60s"})
		j.waitSummary(jobTimeout, "the result decided", func(s summary) bool { return s.State != "running" })
		_, err := slurmCmd("", "scancel", "--batch", "--signal=KILL", j.id)
		if err == nil {
			break
		}
		_, s := finish(t, j, start)
		if s.EndedAt == nil || attempt == 3 {
			t.Fatalf("attempt %d: %v; summary ended %v, errors %q", attempt, err, s.EndedAt, s.Errors)
		}
		t.Logf("attempt %d: the run ended before the SIGKILL (errors %q); again", attempt, s.Errors)
	}
	_, s := finish(t, j, start)
	if s.State != "failed" || s.ExitCode == nil || *s.ExitCode != 3 || s.DecidedAt == nil {
		t.Errorf("summary state %q exit code %s decided %v, want failed with 3", s.State, ptrString(s.ExitCode), s.DecidedAt)
	}
	if f := s.Failure; f == nil || f.Role != "GEN_0" || f.Code != 3 {
		t.Errorf("failure %+v, want GEN_0 with code 3", f)
	}
	var result bool
	for _, ev := range attemptEvents(t, j.ws, s.RunToken) {
		result = result || (ev.Event == "result" && ev.Code != nil && *ev.Code == 3)
	}
	if !result {
		t.Error("the event log has no result event with code 3")
	}
	junit, err := os.ReadFile(filepath.Join(j.ws, "results-disagg-supervisor.xml"))
	if err != nil || !strings.Contains(string(junit), `name="supervisor"`) || !strings.Contains(string(junit), `<failure message="test: role GEN_0`) {
		t.Errorf("JUnit file (%v) does not fail the supervisor case with GEN_0:\n%s", err, junit)
	}
}

// TestInstallScriptOnEveryTask runs the generator's installScript as today's launch draft does: one
// srun with the user's arguments and no node or task options, so every task of the job runs it, before
// any role, logging to $jobWorkspace/install.log.
func TestInstallScriptOnEveryTask(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "install-script", NumGen: 1, NumCtx: 1,
		BeforeExec: []string{
			`printf '#!/bin/sh\necho "install task $SLURM_PROCID of $SLURM_NTASKS on $SLURMD_NODENAME"\n' > "$jobWorkspace/install.sh"`,
			`chmod +x "$jobWorkspace/install.sh"`,
			`export installScript="$jobWorkspace/install.sh"`,
		}})
	rec, s := finish(t, j, start)
	checkJob(t, rec, "COMPLETED", "0:0")
	checkRun(t, j, s, 0)
	in, ok := s.role("INSTALL")
	if !ok || in.State != "exited" || in.NTasks != 4 || in.ExitCode == nil || *in.ExitCode != 0 {
		t.Errorf("install step %+v, want 4 tasks (2 nodes x 2), exited with 0", in)
	}
	log, err := os.ReadFile(filepath.Join(j.ws, "install.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range rec.Nodes {
		if n := strings.Count(string(log), "of 4 on "+node+"\n"); n != 2 {
			t.Errorf("install.log has %d install tasks on %s, want 2:\n%s", n, node, log)
		}
	}
	if g, _ := s.role("GEN_0"); g.LaunchedAt == nil || in.EndedAt == nil || g.LaunchedAt.Before(*in.EndedAt) {
		t.Errorf("GEN_0 launched at %v, install ended at %v: want the install first", g.LaunchedAt, in.EndedAt)
	}
}
