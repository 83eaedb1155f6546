package task

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
)

// TestHeartbeatWrittenAndRefreshed: local rank 0 writes its node's heartbeat while its command runs,
// and refreshes it: the command waits until the test has seen three writes, so the refreshes happen
// during the command, whatever the machine's speed. Once the task has ended, nothing writes it.
func TestHeartbeatWrittenAndRefreshed(t *testing.T) {
	cdir := t.TempDir()
	opts := baseOpts(cdir)
	opts.NodeHeartbeat = 10 * time.Millisecond
	release := filepath.Join(t.TempDir(), "release")
	path := coord.Dir(cdir).Heartbeat("node7")
	type ended struct {
		code   int
		stderr string
	}
	done := make(chan ended, 1)
	go func() {
		out, _, stderr := runReal(t.Context(), opts, slurmEnv(0, 0, 2, "node7",
			"pytestCommand=while [ ! -e "+release+" ]; do sleep 0.01; done"), testSeams())
		done <- ended{out.code, stderr}
	}()

	var seqs []uint64
	deadline := time.Now().Add(10 * time.Second)
	for len(seqs) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("saw heartbeats %v within 10s, want three", seqs)
		}
		if h, err := coord.ReadHeartbeat(path); err == nil && (len(seqs) == 0 || h.Seq > seqs[len(seqs)-1]) {
			seqs = append(seqs, h.Seq)
			want := coord.Marker{Role: "GEN_0", Rank: 0, Node: "node7", PID: os.Getpid(), Job: "42", Step: "3"}
			if h.Writer != want || h.Time.IsZero() {
				t.Errorf("heartbeat %s: want the writer %s and a time", h, want)
			}
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("read heartbeat: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	end := <-done
	if end.code != 0 {
		t.Fatalf("task ended %d: %s", end.code, end.stderr)
	}
	last, err := coord.ReadHeartbeat(path)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * opts.NodeHeartbeat)
	if now, _ := coord.ReadHeartbeat(path); now != last {
		t.Errorf("heartbeat written after the task ended: %s, then %s", last, now)
	}
	if tmp := tempFiles(t, cdir); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

// TestHeartbeatWriters: only local rank 0 of a step writes (one write per step and node each
// period), and nobody without a period.
func TestHeartbeatWriters(t *testing.T) {
	for _, tt := range []struct {
		name      string
		localID   int
		heartbeat time.Duration
		written   bool
	}{
		{"local rank 0", 0, time.Second, true},
		{"local rank 1", 1, time.Second, false},
		{"no heartbeat", 0, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cdir := t.TempDir()
			opts := baseOpts(cdir)
			opts.NodeHeartbeat = tt.heartbeat
			res := runTask(t.Context(), opts, slurmEnv(tt.localID, tt.localID, 2, "node3"))
			if res.code != 0 {
				t.Fatalf("task ended %d: %s", res.code, res.stderr)
			}
			_, err := coord.ReadHeartbeat(coord.Dir(cdir).Heartbeat("node3"))
			if written := err == nil; written != tt.written {
				t.Errorf("heartbeat written: %v (%v), want %v", written, err, tt.written)
			}
		})
	}
}

// TestHeartbeatWriteFails: a heartbeat that cannot be written is said once in the role's log and
// does not fail the task: the supervisor, not the task, judges the node.
func TestHeartbeatWriteFails(t *testing.T) {
	cdir := t.TempDir()
	// A file where the heartbeat directory must be.
	if err := os.WriteFile(coord.Dir(cdir).HeartbeatDir(), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	opts := baseOpts(cdir)
	opts.NodeHeartbeat = 5 * time.Millisecond
	out, _, stderr := runReal(t.Context(), opts, slurmEnv(0, 0, 1, "node1", "pytestCommand=sleep 0.1"), testSeams())
	if out.code != 0 {
		t.Fatalf("task ended %d: %s", out.code, stderr)
	}
	if n := strings.Count(stderr, "node heartbeat: cannot write"); n != 1 {
		t.Errorf("%d lines about the failed heartbeat, want one:\n%s", n, stderr)
	}
	if !strings.Contains(stderr, "task: role GEN_0 rank 0 on node1: node heartbeat: cannot write "+coord.Dir(cdir).Heartbeat("node1")) {
		t.Errorf("the line does not name the task and the file:\n%s", stderr)
	}
}
