package task

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
)

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSetupBuildsTheEnvironment: what the setup file and its function export, change and unset is the
// environment of the command and of the dump; the file sees no positional parameters, and bash's own
// variables do not leak into the command's environment.
func TestSetupBuildsTheEnvironment(t *testing.T) {
	file := writeFile(t, filepath.Join(t.TempDir(), "env.sh"), `
export UCX_FIXUP=from-file SETUP_ARGS=$#
export LD_LIBRARY_PATH=/opt/libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
unset DROP_ME
not_exported=1
fix_pmix() { export PMIX_FIXUP="called with $# args"; }
`)
	opts := baseOpts(t.TempDir())
	opts.Setup = file + ":fix_pmix"
	opts.EnvDump = true
	res := runTask(t.Context(), opts, slurmEnv(0, 0, 1, "node1", "DROP_ME=x", "LD_LIBRARY_PATH=/usr/lib"))
	if res.code != 0 || res.exec == nil {
		t.Fatalf("code %d; stderr:\n%s", res.code, res.stderr)
	}
	for name, want := range map[string]string{
		"UCX_FIXUP": "from-file", "SETUP_ARGS": "0", "PMIX_FIXUP": "called with 0 args",
		"LD_LIBRARY_PATH": "/opt/libs:/usr/lib", "SLURM_PROCID": "0",
	} {
		if got, ok := res.envValue(name); !ok || got != want {
			t.Errorf("command's %s = %q (set %v), want %q", name, got, ok, want)
		}
		if !strings.Contains(res.stdout, "\n"+name+"="+want+"\n") {
			t.Errorf("dump lacks %s=%s:\n%s", name, want, res.stdout)
		}
	}
	for _, name := range []string{"DROP_ME", "not_exported", "SHLVL", "_", "__disagg_file"} {
		if v, ok := res.envValue(name); ok {
			t.Errorf("command's environment has %s=%q", name, v)
		}
	}
	if !strings.Contains(res.stderr, "task: setup: sourced "+file+" and called fix_pmix: ") {
		t.Errorf("stderr:\n%s", res.stderr)
	}
}

// TestSetupFailure: a failing setup fails the rank with the task's setup code (in the supervisor's band)
// and a message with the setup's own code, before the barrier
// (which would otherwise hold the rank for its whole timeout) and without starting the command.
func TestSetupFailure(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, setup string
		code        int
		stderr      string
	}{
		{"file fails", writeFile(t, filepath.Join(dir, "a.sh"), "echo sourcing a; return 4\n"), exitUsage, "a.sh failed with exit code 4"},
		{"function fails", writeFile(t, filepath.Join(dir, "b.sh"), "f() { echo in f >&2; exit 5; }\n") + ":f", exitUsage, "b.sh:f failed with exit code 5"},
		{"no such function", writeFile(t, filepath.Join(dir, "c.sh"), "true\n") + ":nope", exitUsage, "c.sh:nope failed with exit code 127"},
		{"no such file", filepath.Join(dir, "missing.sh"), exitUsage, "missing.sh: cannot source it: stat "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cdir := t.TempDir()
			opts := baseOpts(cdir)
			opts.Setup, opts.Barrier = tt.setup, true
			res := runTask(t.Context(), opts, slurmEnv(1, 0, 2, "node1"))
			if res.code != tt.code || res.exec != nil {
				t.Fatalf("code %d, exec %v; want %d; stderr:\n%s", res.code, res.exec != nil, tt.code, res.stderr)
			}
			if !strings.Contains(res.stderr, "task: error: role GEN_0 rank 1 on node1: setup ") || !strings.Contains(res.stderr, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, res.stderr)
			}
			if res.elapsed > 5*time.Second {
				t.Errorf("took %s", res.elapsed)
			}
			if exists(filepath.Join(cdir, "barrier")) {
				t.Error("a rank whose setup failed reached the barrier")
			}
		})
	}
}

// TestRank0PreparationGatesTheOthers: rank 0's preparation takes a while; the other ranks start their
// command only after it has finished (no fixed sleep: they leave as soon as its marker is there).
func TestRank0PreparationGatesTheOthers(t *testing.T) {
	cdir, out := t.TempDir(), t.TempDir()
	done := filepath.Join(out, "prepared")
	var opts []Options
	var envs [][]string
	for rank := range 3 {
		o := baseOpts(cdir)
		o.Rank0 = "sleep 0.3; date +%s.%N > " + done
		opts = append(opts, o)
		envs = append(envs, slurmEnv(rank, rank, 3, "node1"))
	}
	results := runAll(t.Context(), opts, envs)
	finished := parseStamp(t, readFile(t, done))
	for rank, res := range results {
		if res.code != 0 || res.exec == nil {
			t.Fatalf("rank %d: code %d; stderr:\n%s", rank, res.code, res.stderr)
		}
		if res.exec.at.Before(finished) {
			t.Errorf("rank %d started its command %s before rank 0's preparation finished", rank, finished.Sub(res.exec.at))
		}
		if rank > 0 && !strings.Contains(res.stderr, "task: rank-0 preparation of GEN_0: done by rank 0; waited ") {
			t.Errorf("rank %d: stderr:\n%s", rank, res.stderr)
		}
	}
	if !exists(coord.Dir(cdir).Rank0(coord.StepKey{Role: "GEN_0", Job: "42", Step: "3"}).OK) {
		t.Error("no ok marker")
	}
}

// TestRank0PreparationFailureFailsAll: rank 0's failure ends every rank of the step with rank 0's exit
// code and message, at once.
func TestRank0PreparationFailureFailsAll(t *testing.T) {
	cdir := t.TempDir()
	var opts []Options
	var envs [][]string
	for rank := range 3 {
		o := baseOpts(cdir)
		o.Rank0 = "sleep 0.2; echo coverage config broken >&2; exit 6"
		o.BarrierTimeout = time.Minute
		opts = append(opts, o)
		envs = append(envs, slurmEnv(rank, 0, 3, []string{"node1", "node2", "node2"}[rank]))
	}
	for rank, res := range runAll(t.Context(), opts, envs) {
		if res.code != 6 || res.exec != nil {
			t.Errorf("rank %d: code %d, exec %v; want 6; stderr:\n%s", rank, res.code, res.exec != nil, res.stderr)
		}
		if res.elapsed > 10*time.Second {
			t.Errorf("rank %d took %s", rank, res.elapsed)
		}
		want := "rank-0 preparation of GEN_0 failed with exit code 6 after "
		if !strings.Contains(res.stderr, want) || !strings.Contains(res.stderr, " on node1") {
			t.Errorf("rank %d: stderr lacks %q:\n%s", rank, want, res.stderr)
		}
		if rank > 0 && !strings.Contains(res.stderr, "task: error: role GEN_0 rank "+strconv.Itoa(rank)+" on node2: leaving: rank-0 preparation") {
			t.Errorf("rank %d: stderr:\n%s", rank, res.stderr)
		}
	}
}

// TestRank0PreparationTimeout: a rank 0 that never finishes its preparation (here: never starts) fails
// the waiting rank after the bound, naming rank 0's node from the step's layout.
func TestRank0PreparationTimeout(t *testing.T) {
	opts := baseOpts(t.TempDir())
	opts.Rank0, opts.BarrierTimeout = "true", 300*time.Millisecond
	res := runTask(t.Context(), opts, slurmEnv(1, 0, 2, "node2", "SLURM_STEP_NODELIST=node[1-2]", "SLURM_STEP_TASKS_PER_NODE=1(x2)"))
	want := "task: error: role GEN_0 rank 1 on node2: rank 0 of GEN_0 on node1 did not finish its preparation within 300ms\n"
	if res.code != exitWaited || !strings.HasSuffix(res.stderr, want) {
		t.Errorf("code %d, stderr\n%s\nwant %d and the end %q", res.code, res.stderr, exitWaited, want)
	}
}

// TestBarrierDefault: the barrier is on by default in steps of more than one task, and never holds a
// single task; --barrier=false turns it off.
func TestBarrierDefault(t *testing.T) {
	for _, tt := range []struct {
		name    string
		barrier bool
		ntasks  int
		waits   bool
	}{
		{"default, one task", true, 1, false},
		{"default, two tasks", true, 2, true},
		{"off, two tasks", false, 2, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOpts(t.TempDir())
			opts.Barrier, opts.BarrierTimeout = tt.barrier, 200*time.Millisecond
			res := runTask(t.Context(), opts, slurmEnv(0, 0, tt.ntasks, "node1"))
			if tt.waits {
				if res.code != exitWaited || !strings.Contains(res.stderr, "rank 1 of GEN_0 did not arrive within 200ms") {
					t.Errorf("code %d; stderr:\n%s", res.code, res.stderr)
				}
				return
			}
			if res.code != 0 || res.exec == nil || strings.Contains(res.stderr, "barrier") {
				t.Errorf("code %d, exec %v; stderr:\n%s", res.code, res.exec != nil, res.stderr)
			}
		})
	}
}

// TestBarrierKeyedByStep: arrivals of every rank in another step of the same role and attempt do not
// count.
func TestBarrierKeyedByStep(t *testing.T) {
	cdir := t.TempDir()
	for rank := range 2 {
		if err := coord.WriteMarker(coord.Dir(cdir).Barrier(coord.StepKey{Role: "GEN_0", Job: "42", Step: "2"}, rank), coord.Marker{Role: "GEN_0", Rank: rank, Node: "node1"}); err != nil {
			t.Fatal(err)
		}
	}
	opts := baseOpts(cdir)
	opts.Barrier, opts.BarrierTimeout = true, 200*time.Millisecond
	res := runTask(t.Context(), opts, slurmEnv(0, 0, 2, "node1"))
	if res.code != exitWaited || !strings.Contains(res.stderr, "rank 1 of GEN_0 did not arrive") {
		t.Errorf("code %d; stderr:\n%s", res.code, res.stderr)
	}
}

// TestBarrierProgressFromRankZeroOnly: while the barrier waits, rank 0 says whom it waits for; the
// other ranks stay quiet, so the role log holds one line per interval.
func TestBarrierProgressFromRankZeroOnly(t *testing.T) {
	cdir := t.TempDir()
	s := testSeams()
	s.barrierProgress = 20 * time.Millisecond
	var wg sync.WaitGroup
	results := make([]result, 2)
	for rank := range 2 {
		wg.Go(func() {
			opts := baseOpts(cdir)
			opts.Barrier, opts.BarrierTimeout = true, 300*time.Millisecond
			results[rank] = runTaskWith(t.Context(), opts, slurmEnv(rank, 0, 3, "node1"), s, nil, &lockedBuffer{})
		})
	}
	wg.Wait()
	if !strings.Contains(results[0].stderr, "task: barrier of GEN_0: still waiting for rank 2 after ") {
		t.Errorf("rank 0 reported no progress:\n%s", results[0].stderr)
	}
	if strings.Contains(results[1].stderr, "still waiting") {
		t.Errorf("rank 1 reported progress:\n%s", results[1].stderr)
	}
}

// TestBarrierAlignsSkewedRanks: four ranks arriving 1 s apart (3 s from first to last) all start their
// command within 0.2 s of each other; the commands really run and record when they started.
func TestBarrierAlignsSkewedRanks(t *testing.T) {
	cdir, out := t.TempDir(), t.TempDir()
	var wg sync.WaitGroup
	outs := make([]outcome, 4)
	errs := make([]string, 4)
	for rank := range 4 {
		wg.Go(func() {
			time.Sleep(time.Duration(rank) * time.Second)
			opts := baseOpts(cdir)
			opts.Barrier, opts.BarrierTimeout = true, 30*time.Second
			env := slurmEnv(rank, rank%2, 4, []string{"node1", "node2"}[rank/2],
				"pytestCommand=date +%s.%N > "+filepath.Join(out, "rank"+strconv.Itoa(rank)))
			outs[rank], _, errs[rank] = runReal(t.Context(), opts, env, testSeams())
		})
	}
	wg.Wait()
	var first, last time.Time
	for rank := range 4 {
		if outs[rank].code != 0 {
			t.Fatalf("rank %d: code %d; stderr:\n%s", rank, outs[rank].code, errs[rank])
		}
		at := parseStamp(t, readFile(t, filepath.Join(out, "rank"+strconv.Itoa(rank))))
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	// Without the barrier the commands start 3 s apart; with it, within a poll of the release and a
	// bash start, which a loaded machine stretches past 200 ms (seen: 214 ms). A third of the skew
	// tells the two apart.
	if spread := last.Sub(first); spread > time.Second {
		t.Errorf("commands started %s apart, want within 1s (3s without the barrier)", spread)
	}
	if !regexp.MustCompile(`task: barrier of GEN_0: all 4 ranks arrived; waited (2\.[5-9]\d*|[3-9](\.\d+)?)s\n`).MatchString(errs[0]) {
		t.Errorf("rank 0 did not wait about 3 s:\n%s", errs[0])
	}
}

// parseStamp reads `date +%s.%N`.
func parseStamp(t *testing.T, s string) time.Time {
	t.Helper()
	sec, frac, ok := strings.Cut(strings.TrimSpace(s), ".")
	if !ok || len(frac) != 9 {
		t.Fatalf("not a date +%%s.%%N stamp: %q", s)
	}
	a, err1 := strconv.ParseInt(sec, 10, 64)
	b, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("not a date +%%s.%%N stamp: %q", s)
	}
	return time.Unix(a, b)
}

// TestSetupStartingADaemon: a setup that leaves a process running in the background does not hold the
// task (it reads the setup's environment from a file, not from a pipe the daemon would keep open).
func TestSetupStartingADaemon(t *testing.T) {
	file := writeFile(t, filepath.Join(t.TempDir(), "daemon.sh"), "sleep 30 & export DAEMON_PID=$!\n")
	opts := baseOpts(t.TempDir())
	opts.Setup = file
	res := runTask(t.Context(), opts, slurmEnv(0, 0, 1, "node1"))
	if pid, ok := res.envValue("DAEMON_PID"); ok {
		if n, err := strconv.Atoi(pid); err == nil {
			_ = syscall.Kill(n, syscall.SIGKILL)
		}
	}
	if res.code != 0 || res.exec == nil {
		t.Fatalf("code %d; stderr:\n%s", res.code, res.stderr)
	}
	if res.elapsed > 10*time.Second {
		t.Errorf("took %s: the task waited for the setup's background process", res.elapsed)
	}
}
