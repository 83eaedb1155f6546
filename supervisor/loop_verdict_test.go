package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// TestLoopVerdicts plays the rules that class a failure: each infrastructure rule of docs/exit-codes.md, the
// per-rank runner's own verdict, and what Slurm says about the job it ends.
func TestLoopVerdicts(t *testing.T) {
	runLoopCases(t, []loopCase{
		{
			name: "srun's node failure line: infrastructure, naming the node",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("GEN_1", "srun: error: Node failure on node2\nsrun: error: node2: tasks 0-1: Killed\n")
				h.exit("GEN_1", 137)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitInfrastructure, role: "GEN_1", reason: "the role's own code was 137",
				class: verdict.ClassInfrastructure, evidence: "Node failure on node2", badNodes: []string{"node2"}},
		},
		{
			name: "a task launch that failed: infrastructure, naming the node",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("CTX_0", "srun: error: Task launch for StepId=41.3 failed on node node3: Communication connection failure\n")
				h.exit("CTX_0", 1)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitInfrastructure, role: "CTX_0", class: verdict.ClassInfrastructure,
				evidence: "task-launch: srun: error: Task launch", badNodes: []string{"node3"}},
		},
		{
			name: "tasks that srun could not launch: infrastructure, and the node whose tasks were killed is not blamed",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("GEN_0", "srun: error: task 2 launch failed: Unspecified error\n"+
					"srun: error: task 3 launch failed: Unspecified error\nsrun: error: node1: tasks 0-1: Killed\n")
				h.exit("GEN_0", 137)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitInfrastructure, role: "GEN_0", class: verdict.ClassInfrastructure,
				evidence: "task-launch: srun: error: task 2 launch failed"},
		},
		{
			name: "a GPU fallen off the bus among the first errors: infrastructure on the failing task's node",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("GEN_0", "NVRM: Xid (PCI:0000:3b:00): 79, pid=1234, GPU has fallen off the bus.\n"+
					"RuntimeError: CUDA error: unspecified launch failure\nsrun: error: node1: task 1: Exited with exit code 1\n")
				h.exit("GEN_0", 1)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitInfrastructure, role: "GEN_0", class: verdict.ClassInfrastructure,
				evidence: "gpu-hardware: NVRM: Xid", badNodes: []string{"node1"}},
		},
		{
			name: "a step that cannot be created while the job runs: infrastructure, no node named",
			opts: options{slurm: true},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("GEN_1", "srun: error: Unable to create step for job 41: Unexpected message received\n")
				h.exit("GEN_1", 1)
				h.answer("RUNNING", nil)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitInfrastructure, role: "GEN_1", class: verdict.ClassInfrastructure,
				evidence: "step-create"},
		},
		{
			name: "a rank's PMIx start failed before its command started: infrastructure on its node",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("GEN_1", "slurmstepd: error:  mpi/pmix_v4: pmixp_p2p_send: node2 [1]: pmixp_utils.c:467: send failed, rc=1001\n"+
					"srun: error: node2: task 1: Exited with exit code 1\n")
				h.exit("GEN_1", 1)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitInfrastructure, role: "GEN_1", class: verdict.ClassInfrastructure,
				evidence: "pmi-start: slurmstepd", badNodes: []string{"node2"}},
		},
		{
			name: "the same words from a rank whose command had started: the test's own failure",
			play: func(t *testing.T, h *harness) {
				h.up()
				dir := coord.Dir(h.plan.CoordDir)
				for rank := range 2 {
					if err := coord.WriteMarker(dir.Started("GEN_1", rank), coord.Marker{Role: "GEN_1", Rank: rank, Node: "node2"}); err != nil {
						t.Fatal(err)
					}
				}
				h.writeLog("GEN_1", "RuntimeError: MPI_Init_thread failed: the test re-initialised MPI\n"+
					"srun: error: node2: task 1: Exited with exit code 1\n")
				h.exit("GEN_1", 1)
			},
			want: outcome{state: record.RunFailed, code: 1, role: "GEN_1", class: verdict.ClassTest},
		},
		{
			name: "no space left in the output directory: infrastructure",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("BENCHMARK", "OSError: [Errno 28] No space left on device: '"+filepath.Join(h.plan.OutputDir, "x.csv")+"'\n")
				h.exit("BENCHMARK", 1)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitInfrastructure, role: "BENCHMARK", class: verdict.ClassInfrastructure,
				evidence: "no-space: OSError"},
		},
		{
			name: "no space left elsewhere (a node's /tmp): the test's own failure",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("BENCHMARK", "OSError: [Errno 28] No space left on device: '/tmp/cache/x'\n")
				h.exit("BENCHMARK", 1)
			},
			want: outcome{state: record.RunFailed, code: 1, role: "BENCHMARK", class: verdict.ClassTest},
		},
		{
			name: "a test that prints about Xid without the driver's form: the test's own failure",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("GEN_0", "AssertionError: expected Xid count 0\nsrun: error: node1: task 0: Exited with exit code 1\n")
				h.exit("GEN_0", 1)
			},
			want: outcome{state: record.RunFailed, code: 1, role: "GEN_0", class: verdict.ClassTest},
		},
		{
			name: "the per-rank runner's own failure: its code, origin supervisor, its line first",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("GEN_0", "srun: error: node1: task 1: Exited with exit code 81\n"+
					"task: error: role GEN_0 rank 1 on node1: $pytestCommand is empty\n")
				h.exit("GEN_0", 81)
				f := h.summary().Failure
				if f == nil || len(f.FirstErrors) == 0 || !strings.HasPrefix(f.FirstErrors[0].Text, "task: error: ") || f.Origin != verdict.OriginSupervisor {
					t.Errorf("failure %+v; want the task's line first and origin supervisor", f)
				}
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitBadInput, role: "GEN_0", reason: "$pytestCommand is empty",
				class: verdict.ClassSetup, evidence: "task: error:"},
		},
		{
			name: "a role's own code in the band, without the runner's line: the role's",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("GEN_0", "srun: error: node1: task 1: Exited with exit code 85\n")
				h.exit("GEN_0", 85)
				if f := h.summary().Failure; f == nil || f.Origin != verdict.OriginRole {
					t.Errorf("failure %+v; want origin role", f)
				}
			},
			want: outcome{state: record.RunFailed, code: 85, role: "GEN_0", class: verdict.ClassTest},
		},
		{
			name: "Slurm ends the job with Reason=NodeDown: infrastructure naming the node sinfo calls down",
			opts: options{slurm: true, nodeStates: map[string]string{"node1": "allocated", "node2": "down*", "node3": "allocated", "node4": "allocated"}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("GEN_1", 143)
				h.answerWhy(slurm.JobStatus{State: "COMPLETING", Reason: "NodeDown"}, nil)
				data, err := os.ReadFile(filepath.Join(h.plan.Workspace, record.BadNodesFile))
				if err != nil || string(data) != "node2\n" {
					t.Errorf("%s: %q, %v; want node2", record.BadNodesFile, data, err)
				}
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitInfrastructure, reason: "a node failed: Slurm is ending the job because of node2",
				class: verdict.ClassInfrastructure, evidence: "Reason=NodeDown", badNodes: []string{"node2"}},
		},
		{
			name: "Slurm's SIGTERM, then its word: the time limit ended the job",
			opts: options{slurm: true, killWait: 30 * 1e9},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.signal(syscall.SIGTERM)
				h.answer("TIMEOUT", nil)
			},
			want: outcome{state: record.RunInterrupted, code: 143, reason: "Slurm is ending the job (the time limit): the supervisor received SIGTERM",
				class: verdict.ClassCancelled, evidence: "JobState=TIMEOUT"},
		},
		{
			name: "Slurm's SIGTERM, then its word: a node failed",
			opts: options{slurm: true, killWait: 30 * 1e9, nodeStates: map[string]string{"node3": "down*"}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.signal(syscall.SIGTERM)
				h.answer("NODE_FAIL", nil)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitInfrastructure, reason: "because of node3",
				class: verdict.ClassInfrastructure, evidence: "JobState=NODE_FAIL", badNodes: []string{"node3"}},
		},
		{
			name: "slurmstepd's node-failure line: infrastructure, without asking",
			opts: options{slurm: true, killWait: 30 * 1e9},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("CTX_0", "slurmstepd: error: *** STEP 41.3 ON node3 CANCELLED AT 2026-11-30T05:20:25 DUE TO NODE FAILURE, SEE SLURMCTLD LOG FOR DETAILS ***\n")
				h.exit("CTX_0", 143)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitInfrastructure, class: verdict.ClassInfrastructure, evidence: "node-fail-step"},
		},
		{
			name: "scancel refused while Slurm ends the job: a debug event, not an error",
			opts: options{slurm: true, killWait: 30 * 1e9, stopErr: errors.New("scancel --ctld --signal=TERM 41.2: exit status 1: scancel: error: Kill job error on job step id 41.2: Invalid job id specified")},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.signal(syscall.SIGTERM)
				h.answer("CANCELLED", nil)
				if s := h.summary(); contains(s.Errors, "Invalid job id") {
					t.Errorf("errors %q hold the refused scancel", s.Errors)
				}
			},
			want: outcome{state: record.RunInterrupted, code: 143, reason: "(scancel)", class: verdict.ClassCancelled},
		},
	})
}

// TestLoopMeasurement plays the measurement window: its disturbances, its end at the end marker, and
// the result rules that make a benchmark's 0 invalid.
func TestLoopMeasurement(t *testing.T) {
	tokens := []record.ResultRule{{Require: true, Pattern: regexp.MustCompile(`Total generated tokens:\s*[1-9]`)},
		{Pattern: regexp.MustCompile(`!FAILED REQUESTS!`)}}
	errUnavailable := errors.New("status 503 Service Unavailable (want 200-299)")
	for _, tt := range []struct {
		name  string
		opts  options
		play  func(t *testing.T, h *harness)
		want  outcome
		check func(t *testing.T, m *record.Measurement)
	}{
		{
			name: "a liveness check failing once inside the window is a disturbance; the window ends at the marker",
			opts: options{liveness: []string{"DISAGG_SERVER=tcp:{node}:1@1s/3"}, rules: tokens},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.setSick("DISAGG_SERVER", errUnavailable)
				h.advance(time.Second)
				h.setSick("DISAGG_SERVER", nil)
				h.advance(time.Second)
				h.writeLog("BENCHMARK", "Total generated tokens: 2048\n")
				h.announceEnd()
				h.setSick("DISAGG_SERVER", errUnavailable)
				h.advance(time.Second) // after the marker: not in the window
				h.exit("BENCHMARK", 0)
			},
			want: outcome{state: record.RunSucceeded},
			check: func(t *testing.T, m *record.Measurement) {
				if len(m.Disturbances) != 1 || !strings.Contains(m.Disturbances[0], "DISAGG_SERVER: liveness check failed (1 of 3 in a row)") {
					t.Errorf("disturbances %q, want the one failed liveness check inside the window", m.Disturbances)
				}
				if !strings.HasPrefix(m.EndedBy, "end marker ") || m.Status != "0" || m.Valid == nil || !*m.Valid {
					t.Errorf("window %+v, want ended by the end marker, status 0, valid", m)
				}
			},
		},
		{
			name: "a benchmark that passed with zero tokens: invalid (86)",
			opts: options{rules: tokens},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("BENCHMARK", "Total generated tokens: 0\n")
				h.announceEnd()
				h.exit("BENCHMARK", 0)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitInvalid, role: "BENCHMARK", reason: "no line matches", class: verdict.ClassInvalid},
			check: func(t *testing.T, m *record.Measurement) {
				if m.Valid == nil || *m.Valid || len(m.Rules) != 2 || m.Rules[0].Passed || !m.Rules[1].Passed {
					t.Errorf("window %+v, want invalid: the require rule failed, the reject rule passed", m)
				}
			},
		},
		{
			name: "failed requests rejected: invalid (86), the line quoted",
			opts: options{rules: tokens},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("BENCHMARK", "Total generated tokens: 100\n!FAILED REQUESTS! 12 of 100\n")
				h.announceEnd()
				h.exit("BENCHMARK", 0)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitInvalid, role: "BENCHMARK", reason: "!FAILED REQUESTS! 12 of 100", class: verdict.ClassInvalid},
		},
		{
			name: "a failing benchmark is its own verdict: the rules do not make it invalid",
			opts: options{rules: tokens},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("BENCHMARK", 1)
			},
			want: outcome{state: record.RunFailed, code: 1, role: "BENCHMARK", class: verdict.ClassTest},
			check: func(t *testing.T, m *record.Measurement) {
				if m.Valid != nil || m.EndedBy != "the benchmark's end" {
					t.Errorf("window %+v, want ended by the benchmark's end, no validity", m)
				}
			},
		},
		{
			name: "a server step ending inside the window is a disturbance",
			opts: options{ignoreTerm: nil},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("CTX_0", 3)
			},
			want: outcome{state: record.RunFailed, code: 3, role: "CTX_0", class: verdict.ClassTest},
			check: func(t *testing.T, m *record.Measurement) {
				if len(m.Disturbances) == 0 || !strings.Contains(m.Disturbances[0], "exit CTX_0") || m.EndedBy != "the decision" {
					t.Errorf("window %+v, want CTX_0's end as a disturbance, closed by the decision", m)
				}
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, tt.opts)
				defer h.drain()
				tt.play(t, h)
				checkOutcome(t, h, h.result(), tt.want)
				m := h.summary().Measurement
				if m == nil {
					t.Fatal("summary has no measurement")
				}
				if tt.check != nil {
					tt.check(t, m)
				}
			})
		})
	}
}
