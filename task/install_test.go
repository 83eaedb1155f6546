package task

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
)

// TestInstallGateOncePerNode runs four tasks at once; the install command appends the node name to
// a file, so the file counts the installs. Roles alternate, because the gate is keyed by node: two
// roles sharing a node must share one install.
func TestInstallGateOncePerNode(t *testing.T) {
	tests := []struct {
		name  string
		nodes []string // node of each task
		want  []string // installs, sorted
	}{
		{name: "one node", nodes: []string{"node1", "node1", "node1", "node1"}, want: []string{"node1"}},
		{name: "two nodes", nodes: []string{"node1", "node2", "node1", "node2"}, want: []string{"node1", "node2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cdir := t.TempDir()
			count := filepath.Join(t.TempDir(), "installs")
			var opts []Options
			var envs [][]string
			for i, node := range tt.nodes {
				o := baseOpts(cdir)
				o.Role = []string{"GEN_0", "CTX_0"}[i%2]
				o.InstallCommand = `echo "$SLURMD_NODENAME" >> "$INSTALL_COUNT"; sleep 0.2`
				opts = append(opts, o)
				envs = append(envs, slurmEnv(i/2, i/2, 2, node, "INSTALL_COUNT="+count))
			}
			for i, res := range runAll(t.Context(), opts, envs) {
				if res.code != 0 || res.exec == nil {
					t.Errorf("task %d: code %d, exec %v; stderr:\n%s", i, res.code, res.exec != nil, res.stderr)
				}
			}
			got := strings.Fields(readFile(t, count))
			sort.Strings(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("installs (-want +got):\n%s", diff)
			}
			for _, node := range tt.want {
				if !exists(coord.Dir(cdir).Install(node).OK) {
					t.Errorf("no ok marker for %s", node)
				}
			}
			if tmp := tempFiles(t, cdir); len(tmp) > 0 {
				t.Errorf("temporary files left: %v", tmp)
			}
		})
	}
}

// TestInstallFailureStopsWaiters: the waiters must return the installer's code as soon as it fails,
// not at their timeout.
func TestInstallFailureStopsWaiters(t *testing.T) {
	cdir := t.TempDir()
	var opts []Options
	var envs [][]string
	for rank := range 4 {
		o := baseOpts(cdir)
		o.InstallCommand = "sleep 0.3; exit 5"
		o.InstallTimeout = time.Minute
		opts = append(opts, o)
		envs = append(envs, slurmEnv(rank, rank, 4, "node2"))
	}
	installers, waiters := 0, 0
	for i, res := range runAll(t.Context(), opts, envs) {
		if res.code != 5 || res.exec != nil {
			t.Errorf("task %d: code %d, exec %v; want 5 and no exec; stderr:\n%s", i, res.code, res.exec != nil, res.stderr)
		}
		if res.elapsed > 10*time.Second {
			t.Errorf("task %d took %s; it waited for its timeout", i, res.elapsed)
		}
		switch {
		case strings.Contains(res.stderr, "install on node2 failed with exit code 5 (by another task); not waiting (installer: role=GEN_0 rank="):
			waiters++
		case strings.Contains(res.stderr, "on node2: install on node2 failed with exit code 5 after"):
			installers++
		default:
			t.Errorf("task %d: unexpected stderr:\n%s", i, res.stderr)
		}
	}
	if installers != 1 || waiters != 3 {
		t.Errorf("%d installers and %d waiters, want 1 and 3", installers, waiters)
	}
	if got := coord.ReadExitCode(coord.Dir(cdir).Install("node2").Failed); got != 5 {
		t.Errorf("failed marker holds %d, want the exit code", got)
	}
}

func TestInstallWaitTimeout(t *testing.T) {
	t.Run("installer died", func(t *testing.T) {
		cdir := t.TempDir()
		lock := coord.Dir(cdir).Install("node1").Lock
		if err := os.MkdirAll(filepath.Dir(lock), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(lock, []byte("role=CTX_0 rank=0 node=node1 pid=999 job=42 step=2 time=2025-01-01T00:00:00Z\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		opts := baseOpts(cdir)
		opts.InstallCommand = "true"
		opts.InstallTimeout = 200 * time.Millisecond
		res := runTask(t.Context(), opts, slurmEnv(1, 1, 4, "node1"))
		if res.code != exitWaited || res.exec != nil {
			t.Fatalf("code %d, exec %v; want %d; stderr:\n%s", res.code, res.exec != nil, exitWaited, res.stderr)
		}
		want := "task: error: role GEN_0 rank 1 on node1: install on node1 did not finish within 200ms; gave up waiting for role=CTX_0 rank=0 node=node1 pid=999 job=42 step=2 time=2025-01-01T00:00:00Z, whose lock " + lock + " has no ok or failed marker (did the installer die?)\n"
		if !strings.HasSuffix(res.stderr, want) {
			t.Errorf("stderr ends\n%s\nwant it to end\n%s", res.stderr, want)
		}
	})

	t.Run("installer never finishes", func(t *testing.T) {
		cdir := t.TempDir()
		installerOpts := baseOpts(cdir)
		installerOpts.InstallCommand = "sleep 30"
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan result, 1)
		go func() { done <- runTask(ctx, installerOpts, slurmEnv(0, 0, 2, "node3")) }()
		waitFor(t, coord.Dir(cdir).Install("node3").Lock)

		waiterOpts := installerOpts
		waiterOpts.InstallTimeout = 300 * time.Millisecond
		res := runTask(t.Context(), waiterOpts, slurmEnv(1, 1, 2, "node3"))
		if res.code != exitWaited || !strings.Contains(res.stderr, "on node3: install on node3 did not finish within 300ms; gave up waiting for role=GEN_0 rank=0 node=node3") {
			t.Errorf("waiter: code %d; want %d naming node3 and the installer; stderr:\n%s", res.code, exitWaited, res.stderr)
		}

		// Stopping the installer publishes its failure for any later waiter.
		cancel()
		installer := <-done
		if installer.code != 143 || installer.elapsed > 10*time.Second {
			t.Errorf("installer: code %d after %s, want 143 soon after cancel; stderr:\n%s", installer.code, installer.elapsed, installer.stderr)
		}
		if got := coord.ReadExitCode(coord.Dir(cdir).Install("node3").Failed); got != 143 {
			t.Errorf("failed marker holds %d", got)
		}
	})
}

func TestInstallWaitProgress(t *testing.T) {
	cdir := t.TempDir()
	lock := coord.Dir(cdir).Install("node1").Lock
	if err := os.MkdirAll(filepath.Dir(lock), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lock, []byte("role=GEN_1 rank=4 node=node1 pid=77\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The installer finishes once the waiter has reported that it is still waiting.
	stderr := &lockedBuffer{}
	go func() {
		for !strings.Contains(stderr.String(), "still waiting") {
			time.Sleep(5 * time.Millisecond)
		}
		_ = coord.WriteMarker(coord.Dir(cdir).Install("node1").OK, coord.Marker{Role: "GEN_1", Rank: 4, Node: "node1", PID: 77})
	}()
	s := testSeams()
	s.progressEvery = 20 * time.Millisecond
	opts := baseOpts(cdir)
	opts.InstallCommand = "true"
	res := runTaskWith(t.Context(), opts, slurmEnv(0, 0, 1, "node1"), s, nil, stderr)
	if res.code != 0 {
		t.Fatalf("code %d; stderr:\n%s", res.code, res.stderr)
	}
	for _, s := range []string{
		"task: install on node1: waiting for the installer (role=GEN_1 rank=4 node=node1 pid=77, lock " + lock + "), up to 10s\n",
		"task: install on node1: still waiting for role=GEN_1 rank=4 node=node1 pid=77 after ",
		"task: install on node1: done by another task; waited ",
	} {
		if !strings.Contains(res.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, res.stderr)
		}
	}
}

// TestInterruptedInstaller: a task interrupted just as it claims the lock must still publish a failed
// marker, or every other task on the node would wait for an install that never runs.
func TestInterruptedInstaller(t *testing.T) {
	cdir := t.TempDir()
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(signalError{syscall.SIGTERM})
	opts := baseOpts(cdir)
	opts.InstallCommand = "touch " + filepath.Join(cdir, "ran")
	res := runTask(ctx, opts, slurmEnv(0, 0, 1, "node1"))
	if res.code != 143 || res.exec != nil {
		t.Fatalf("code %d, exec %v; want 143; stderr:\n%s", res.code, res.exec != nil, res.stderr)
	}
	if exists(filepath.Join(cdir, "ran")) {
		t.Errorf("the install ran after the interrupt")
	}
	if got := coord.ReadExitCode(coord.Dir(cdir).Install("node1").Failed); got != 143 {
		t.Errorf("failed marker holds %d", got)
	}
	for _, want := range []string{"install on node1 failed with exit code 143 after ", "(interrupted before the install started: received signal terminated)"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
}
