package slurm

import (
	"context"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/internal/slurmdev"
)

func TestParseKillWait(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "Configuration data as of 2026-11-30T05:00:00\nJobCompType = (null)\nKillWait                = 5 sec\nKillOnBadExit = 0\n", want: 5 * time.Second},
		{in: "KillWait = 30 sec\n", want: 30 * time.Second},
		{in: "KillWait = 0 sec", want: 0},
		// KillOnBadExit must not be mistaken for KillWait.
		{in: "KillOnBadExit = 1\n", wantErr: true},
		{in: "KillWait = soon\n", wantErr: true},
		{in: "", wantErr: true},
	} {
		got, err := ParseKillWait(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseKillWait(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseJobState(t *testing.T) {
	line := "JobId=16 JobName=wrap UserId=root(0) GroupId=root(0) Priority=1 JobState=COMPLETING Reason=None Dependency=(null) Requeue=1 Restarts=0"
	if got, err := ParseJobState(line); err != nil || got != (JobStatus{State: "COMPLETING"}) {
		t.Errorf("ParseJobState = %+v, %v; want COMPLETING and no reason", got, err)
	}
	down := "JobId=17 JobName=x JobState=COMPLETING Reason=NodeDown Dependency=(null) Requeue=0 Restarts=0"
	if got, err := ParseJobState(down); err != nil || got != (JobStatus{State: "COMPLETING", Reason: "NodeDown"}) {
		t.Errorf("ParseJobState = %+v, %v; want COMPLETING, NodeDown", got, err)
	}
	if _, err := ParseJobState("slurm_load_jobs error: Invalid job id specified"); err == nil {
		t.Error("ParseJobState of an error message: no error")
	}
	for state, want := range map[string]bool{"RUNNING": false, "": false, "COMPLETING": true, "CANCELLED": true,
		"PENDING": true, "TIMEOUT": true, "PREEMPTED": true, "NODE_FAIL": true} {
		if got := JobEnding(state); got != want {
			t.Errorf("JobEnding(%q) = %v, want %v", state, got, want)
		}
	}
}

// TestKillWaitFromCluster reads KillWait from the dev cluster, whose configuration sets 5 s.
func TestKillWaitFromCluster(t *testing.T) {
	tools := slurmdev.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := (&Client{Scontrol: tools.Scontrol}).KillWait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != 5*time.Second {
		t.Errorf("KillWait = %v, want the dev cluster's 5s", got)
	}
}

func TestNodeStates(t *testing.T) {
	got := ParseNodeStates("node1 allocated\nnode2 down*\nnode3 idle*\nnode4 mixed\n")
	want := map[string]bool{"node1": false, "node2": true, "node3": true, "node4": false}
	for node, failed := range want {
		if NodeFailed(got[node]) != failed {
			t.Errorf("%s: state %q, failed %v; want %v", node, got[node], !failed, failed)
		}
	}
}
