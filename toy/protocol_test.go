package toy

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stackEnv is the environment of every rank of a gen-only or disaggregated test job in dir.
func stackEnv(dir string, numGen, numCtx int) func(role string, rank int) fakeEnv {
	return func(role string, rank int) fakeEnv {
		return roleEnv(dir, role, rank).with(envNumGen, strconv.Itoa(numGen), envNumCtx, strconv.Itoa(numCtx))
	}
}

// TestServersExitOnStatus checks that every rank of every server role (and a benchmark rank above 0)
// exits 0 once benchmark_status.0.txt appears, whatever it holds, and that a rank run with
// -until-stopped does not.
func TestServersExitOnStatus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := stackEnv(dir, 1, 1)
	args := []string{"--wait-timeout", "5s"}
	var ranks []*running
	for _, rr := range []struct {
		role string
		rank int
	}{{"GEN_0", 0}, {"GEN_0", 1}, {"CTX_0", 0}, {roleServer, 0}, {roleServer, 1}, {roleBenchmark, 1}} {
		ranks = append(ranks, start(ctx, fmt.Sprintf("%s rank %d", rr.role, rr.rank), env(rr.role, rr.rank), args...))
	}
	stubborn := start(ctx, "GEN_1 with -until-stopped", env("GEN_1", 0), append(args, "--until-stopped")...)
	eventually(t, testDeadline, "the router's address", func() bool { return fileExists(addressFile(dir, roleServer)) })
	eventually(t, testDeadline, "every rank's first line", func() bool {
		for _, r := range append(ranks, stubborn) {
			if !strings.Contains(r.stdout.String(), "toy: role=") {
				return false
			}
		}
		return true
	})
	for _, r := range append(ranks, stubborn) {
		if r.exited() {
			t.Fatalf("%s exited before any status file; stderr:\n%s", r.name, r.stderr)
		}
	}

	// Newer helpers write a verdict (SUCCESS, FAILED) instead of Done; the servers stop whatever it is.
	if err := writeFileAtomic(statusFile(dir, 0), "FAILED"); err != nil {
		t.Fatal(err)
	}
	for _, r := range ranks {
		if code := r.wait(t, testDeadline); code != ExitOK {
			t.Errorf("%s: exit code = %d, want %d; stderr:\n%s", r.name, code, ExitOK, r.stderr)
		}
		if want := "benchmark_status.0.txt appeared: stopped serving configuration 0; exiting"; !strings.Contains(r.stdout.String(), want) {
			t.Errorf("%s: stdout lacks %q:\n%s", r.name, want, r.stdout)
		}
	}
	if stubborn.exited() {
		t.Errorf("%s exited on the status file; stderr:\n%s", stubborn.name, stubborn.stderr)
	}
	cancel()
	if code := stubborn.wait(t, testDeadline); code != ExitTerminated {
		t.Errorf("%s: exit code after cancel = %d, want %d", stubborn.name, code, ExitTerminated)
	}
}

// startGenOnly starts GEN_0 ... GEN_<numGen-1> (rank 0) and the router of a gen-only job in dir.
func startGenOnly(ctx context.Context, dir string, numGen int, args ...string) (gens []*running, server *running) {
	env := stackEnv(dir, numGen, 0)
	for i := range numGen {
		gens = append(gens, start(ctx, genRole(i), env(genRole(i), 0), args...))
	}
	return gens, start(ctx, roleServer, env(roleServer, 0), args...)
}

// TestBenchmarkWaitsForDone checks the benchmark's end: it announces the end, the servers exit, and it
// exits only once the test, standing in for the supervisor, has written every .done file.
func TestBenchmarkWaitsForDone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := []string{"--wait-timeout", "5s", "--work", "1ms"}
	gens, server := startGenOnly(ctx, dir, 2, args...)
	bench := start(ctx, roleBenchmark, stackEnv(dir, 2, 0)(roleBenchmark, 0), append(args, "--requests", "20")...)

	eventually(t, testDeadline, "benchmark_status.0.txt", func() bool { return fileExists(statusFile(dir, 0)) })
	if got := readFile(t, statusFile(dir, 0)); got != statusDone {
		t.Errorf("status file = %q, want %q", got, statusDone)
	}
	for _, r := range append(gens, server) {
		if code := r.wait(t, testDeadline); code != ExitOK {
			t.Errorf("%s: exit code = %d, want %d; stderr:\n%s", r.name, code, ExitOK, r.stderr)
		}
	}
	if err := writeFileAtomic(filepath.Join(dir, doneFileName(0)), ""); err != nil {
		t.Fatal(err)
	}
	// gen_server_1.done does not exist yet, and the default -done-timeout is 2 minutes.
	if bench.exited() {
		t.Fatalf("benchmark exited before every .done file existed (code %d); stdout:\n%s", bench.code, bench.stdout)
	}
	if err := writeFileAtomic(filepath.Join(dir, doneFileName(1)), ""); err != nil {
		t.Fatal(err)
	}
	if code := bench.wait(t, testDeadline); code != ExitOK {
		t.Errorf("benchmark exit code = %d, want %d; stderr:\n%s", code, ExitOK, bench.stderr)
	}
	if want := "toy: BENCHMARK: saw gen_server_0.done gen_server_1.done\n"; !strings.Contains(bench.stdout.String(), want) {
		t.Errorf("benchmark stdout lacks %q:\n%s", want, bench.stdout)
	}
}

// TestBenchmarkDoneTimeout checks that a .done file that never comes fails the benchmark after
// -done-timeout, with a message naming it, although every request succeeded.
func TestBenchmarkDoneTimeout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := []string{"--wait-timeout", "5s", "--work", "1ms"}
	gens, server := startGenOnly(ctx, dir, 2, args...)
	// GEN_1's step never ends in the supervisor's eyes: only GEN_0's .done is there. It is written
	// before the benchmark starts: written when GEN_0 ends, it could come after the 300 ms on a
	// loaded machine, and the message named both files.
	if err := writeFileAtomic(filepath.Join(dir, doneFileName(0)), ""); err != nil {
		t.Fatal(err)
	}
	bench := start(ctx, roleBenchmark, stackEnv(dir, 2, 0)(roleBenchmark, 0),
		append(args, "--requests", "20", "--done-timeout", "300ms")...)

	if code := bench.wait(t, testDeadline); code != ExitFailed {
		t.Errorf("benchmark exit code = %d, want %d; stderr:\n%s", code, ExitFailed, bench.stderr)
	}
	want := "gave up after 300ms (-done-timeout) waiting in " + dir + " for gen_server_1.done (saw: gen_server_0.done)"
	if !strings.Contains(bench.stderr.String(), want) {
		t.Errorf("benchmark stderr lacks %q:\n%s", want, bench.stderr)
	}
	if got := readFile(t, statusFile(dir, 0)); got != statusDone {
		t.Errorf("status file = %q, want %q", got, statusDone)
	}
	for _, r := range append(gens, server) {
		if code := r.wait(t, testDeadline); code != ExitOK {
			t.Errorf("%s: exit code = %d, want %d", r.name, code, ExitOK)
		}
	}
}

// TestBenchmarkCancelIsPrompt cancels a benchmark that was asked for 100000000 requests (the tests'
// "until stopped") in the middle of its load: it must return at once, without summarising, and leave
// neither results nor a status file. Memory and time spent after the cancellation used to grow with
// -requests, which kept the process alive for seconds after SIGTERM.
func TestBenchmarkCancelIsPrompt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := []string{"--wait-timeout", "5s", "--work", "1ms"}
	gens, server := startGenOnly(ctx, dir, 1, args...)
	benchCtx, stopBench := context.WithCancel(ctx)
	defer stopBench()
	bench := start(benchCtx, roleBenchmark, stackEnv(dir, 1, 0)(roleBenchmark, 0),
		append(args, "--requests", "100000000", "--concurrency", "4")...)
	eventually(t, testDeadline, "the benchmark sending", func() bool {
		return strings.Contains(bench.stdout.String(), "toy: BENCHMARK: sending 100000000 requests")
	})
	// Let a few hundred requests through first; not a measurement.
	time.Sleep(300 * time.Millisecond)
	stopBench()
	// Generous: the work left after the cancellation is a few in-flight requests.
	if code := bench.wait(t, 2*time.Second); code != ExitTerminated {
		t.Errorf("benchmark exit code = %d, want %d; stderr:\n%s", code, ExitTerminated, bench.stderr)
	}
	if strings.Contains(bench.stdout.String(), "toy: benchmark requests=") {
		t.Errorf("a cancelled benchmark printed a summary:\n%s", bench.stdout)
	}
	if fileExists(filepath.Join(dir, resultsFileName)) || fileExists(statusFile(dir, 0)) {
		t.Error("a cancelled benchmark left results or a status file")
	}
	cancel()
	for _, r := range append(gens, server) {
		if code := r.wait(t, testDeadline); code != ExitTerminated {
			t.Errorf("%s: exit code = %d, want %d", r.name, code, ExitTerminated)
		}
	}
}

// TestFaultAlwaysFires runs a fast benchmark against a stack with a fault in another role. The
// benchmark must not announce its end before the fault has fired, so the faulted rank always ends
// with the fault's code, never with the 0 of a normal end: the job's result, as the supervisor reads
// it, is the fault's code every time. Run it with -count=20.
func TestFaultAlwaysFires(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fail string
		// faulted is the name of the rank the fault hits.
		faulted  string
		wantCode int
	}{
		// The default delay (1s) is far longer than the load.
		{name: "GEN rank 1, default delay", fail: "GEN_0:1:3", faulted: "GEN_0 rank 1", wantCode: 3},
		{name: "GEN rank 0", fail: "GEN_0:0:6:100ms", faulted: "GEN_0 rank 0", wantCode: 6},
		{name: "router", fail: "DISAGG_SERVER:0:5:100ms", faulted: "DISAGG_SERVER rank 0", wantCode: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			args := []string{"--wait-timeout", "3s", "--work", "1ms", "--fail", tc.fail}
			env := stackEnv(dir, 1, 1)
			gen := []*running{start(ctx, "GEN_0 rank 0", env("GEN_0", 0), args...), start(ctx, "GEN_0 rank 1", env("GEN_0", 1), args...)}
			touchDoneWhenEnded(t, dir, 0, gen...)
			servers := append(gen, start(ctx, "CTX_0 rank 0", env("CTX_0", 0), args...), start(ctx, "DISAGG_SERVER rank 0", env(roleServer, 0), args...))
			bench := start(ctx, roleBenchmark, env(roleBenchmark, 0), append(args, "--requests", "10", "--concurrency", "2")...)

			// The benchmark's own code depends on whether the fault hit its requests, and a peer of
			// the faulted rank may fail too (a router that had not yet reached a GEN server that
			// then died waits for it in vain); the faulted rank's code is what the test is about.
			bench.wait(t, testDeadline)
			for _, s := range servers {
				code := s.wait(t, testDeadline)
				if s.name == tc.faulted && code != tc.wantCode {
					t.Errorf("%s: exit code = %d, want %d; stdout:\n%s\nstderr:\n%s", s.name, code, tc.wantCode, s.stdout, s.stderr)
				}
			}
			if !fileExists(statusFile(dir, 0)) {
				t.Errorf("no status file after the fault fired; benchmark stderr:\n%s", bench.stderr)
			}
		})
	}
}

// TestFaultThatNeverFires checks that a fault aimed at a rank that is not in the job fails the run
// instead of being forgotten: the benchmark waits for it, bounded, then announces the end and exits 1
// naming it.
func TestFaultThatNeverFires(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := []string{"--wait-timeout", "2s", "--work", "1ms", "--fail", "GEN_5:0:1:10ms"}
	gens, server := startGenOnly(ctx, dir, 1, args...)
	touchDoneWhenEnded(t, dir, 0, gens...)
	bench := start(ctx, roleBenchmark, stackEnv(dir, 1, 0)(roleBenchmark, 0), append(args, "--requests", "10")...)
	if code := bench.wait(t, testDeadline); code != ExitFailed {
		t.Errorf("benchmark exit code = %d, want %d; stderr:\n%s", code, ExitFailed, bench.stderr)
	}
	for _, want := range []string{
		"toy: BENCHMARK: waiting for injected faults to fire before announcing the end: GEN_5:0:1:10ms",
		"injected faults did not fire within 2.01s (longest delay + -wait-timeout): no fault-GEN_5-0.time",
	} {
		if !strings.Contains(bench.stdout.String()+bench.stderr.String(), want) {
			t.Errorf("benchmark output lacks %q:\nstdout:\n%s\nstderr:\n%s", want, bench.stdout, bench.stderr)
		}
	}
	if got := readFile(t, statusFile(dir, 0)); got != statusDone {
		t.Errorf("status file = %q, want %q", got, statusDone)
	}
	for _, r := range append(gens, server) {
		if code := r.wait(t, testDeadline); code != ExitOK {
			t.Errorf("%s: exit code = %d, want %d", r.name, code, ExitOK)
		}
	}
}
