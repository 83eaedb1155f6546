package verdict

import "testing"

func TestInfrastructureLine(t *testing.T) {
	for _, tt := range []struct {
		line, rule, node string
	}{
		{"srun: error: Node failure on node2", RuleNodeFailure, "node2"},
		{"srun: error: Node failure on gpu-a07, job aborting", RuleNodeFailure, "gpu-a07"},
		{"srun: error: Task launch for StepId=16.2 failed on node node3: Communication connection failure", RuleTaskLaunch, "node3"},
		{"srun: error: Application launch failed: Socket timed out on send/recv operation", RuleTaskLaunch, ""},
		{"srun: error: task 2 launch failed: Unspecified error", RuleTaskLaunch, ""},
		{"srun: error: Unable to create step for job 41: Unexpected message received", RuleStepCreate, ""},
		{"slurmstepd: error: *** STEP 82.0 ON node1 CANCELLED AT 2026-12-07T03:09:06 DUE TO NODE FAILURE, SEE SLURMCTLD LOG FOR DETAILS ***", RuleNodeFailStep, ""},
		{"[12345.678] NVRM: Xid (PCI:0000:3b:00): 79, pid=1234, GPU has fallen off the bus.", RuleGPUHardware, ""},
		{"NVRM: Xid(PCI:0000:3b:00): 48, An uncorrectable double bit error", RuleGPUHardware, ""},
		{"RuntimeError: CUDA error: uncorrectable ECC error encountered", RuleGPUHardware, ""},
		// What a test says about itself, or Slurm ending the job, is not the cluster failing.
		{"srun: error: Unable to create step for job 16: Job/step already completing or completed", "", ""},
		{"AssertionError: expected Xid count 0", "", ""},
		{"srun: error: node2: task 1: Exited with exit code 3", "", ""},
		{"slurmstepd: error: *** STEP 16.2 ON node1 CANCELLED AT 2026-12-07T03:00:59 ***", "", ""},
		{"INFO: checking for node failure on startup", "", ""},
		{"ERROR: task 2 launch failed: model not found", "", ""},
	} {
		ev, ok := InfrastructureLine(tt.line)
		if ok != (tt.rule != "") || ev.Rule != tt.rule || ev.Node != tt.node {
			t.Errorf("InfrastructureLine(%q) = %+v, %v; want rule %q node %q", tt.line, ev, ok, tt.rule, tt.node)
		}
	}
}

func TestPMIStartAndNoSpace(t *testing.T) {
	for line, want := range map[string]bool{
		"slurmstepd: error:  mpi/pmix_v4: pmixp_p2p_send: node2 [1]: pmixp_utils.c:467: send failed, rc=1001": true,
		"[node2:1234] PMIx_Init failed for rank 3: UNREACHABLE":                                               true,
		"MPI_Init_thread failed":                  true,
		"INFO: MPI_Init done in 2.1 s":            false,
		"PMIx server started on /tmp/pmix.sock":   false,
		"benchmark: init failed to parse options": false,
	} {
		if _, ok := PMIStartLine(line); ok != want {
			t.Errorf("PMIStartLine(%q) = %v, want %v", line, ok, want)
		}
	}
	dirs := []string{"/ws", "/ws/out"}
	for line, want := range map[string]bool{
		"OSError: [Errno 28] No space left on device: '/ws/out/results.csv'": true,
		"write /ws/summary.json: disk quota exceeded":                        false, // Go's lower-case errno text names no rule word
		"cp: error writing '/ws/out/x': Disk quota exceeded":                 true,
		"OSError: [Errno 28] No space left on device: '/tmp/cache/x'":        false,
		"No space left on device":                                            false,
	} {
		if _, ok := NoSpaceLine(line, dirs...); ok != want {
			t.Errorf("NoSpaceLine(%q) = %v, want %v", line, ok, want)
		}
	}
}

func TestCanceller(t *testing.T) {
	for _, tt := range []struct{ line, state, reason, want string }{
		{"*** JOB 7 ON node1 CANCELLED AT 2026-12-07T03:00:59 DUE TO TIME LIMIT ***", "", "", "the time limit"},
		{"*** STEP 7.1 ON node1 CANCELLED AT 2026-12-07T03:00:59 DUE TO PREEMPTION ***", "", "", "preemption"},
		{"*** STEP 7.1 ON node1 CANCELLED AT 2026-12-07T03:00:59 DUE TO JOB REQUEUE ***", "", "", "a requeue"},
		{"*** STEP 7.1 ON node1 CANCELLED AT 2026-12-07T03:00:59 DUE TO NODE FAILURE, SEE SLURMCTLD LOG FOR DETAILS ***", "", "", "a node failure"},
		{"*** STEP 7.1 ON node1 CANCELLED AT 2026-12-07T03:00:59 ***", "", "", "scancel"},
		{"", "TIMEOUT", "", "the time limit"},
		{"", "COMPLETING", "NodeDown", "a node failure"},
		{"", "COMPLETING", "", ""},
		{"", "", "", ""},
	} {
		if got := Canceller(tt.line, tt.state, tt.reason); got != tt.want {
			t.Errorf("Canceller(%q, %q, %q) = %q, want %q", tt.line, tt.state, tt.reason, got, tt.want)
		}
	}
}

func TestBand(t *testing.T) {
	for code := 0; code < 256; code++ {
		if InBand(code) != (code >= 80 && code <= 89) {
			t.Errorf("InBand(%d) = %v", code, InBand(code))
		}
	}
	for code, want := range map[int]Class{ExitInternal: ClassSetup, ExitBadInput: ClassSetup, ExitPreflight: ClassSetup,
		ExitNotReady: ClassHang, ExitEarlyExit: ClassTest, ExitHung: ClassHang, ExitInvalid: ClassInvalid,
		ExitInfrastructure: ClassInfrastructure, 3: ClassTest, 137: ClassTest} {
		if got := ClassOf(code); got != want {
			t.Errorf("ClassOf(%d) = %s, want %s", code, got, want)
		}
	}
	if !ClassTest.IsFailure() || !ClassInvalid.IsFailure() || ClassInfrastructure.IsFailure() || ClassCancelled.IsFailure() {
		t.Error("IsFailure: want test and invalid only")
	}
}
