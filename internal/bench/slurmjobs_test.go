package bench

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fakeSlurm puts sbatch, squeue and scancel scripts first on PATH. sbatch numbers its jobs from 100
// and records its arguments; squeue prints, on its k-th call for job ID, line k of states.ID, or
// forever.ID once those lines are used up (nothing, a job Slurm no longer lists, without either);
// scancel records the job it was given. Every call is appended to calls, in order.
type fakeSlurm struct{ dir string }

func newFakeSlurm(t *testing.T) fakeSlurm {
	dir := t.TempDir()
	scripts := map[string]string{
		"sbatch": `n=$(cat "$FAKE_SLURM/next" 2>/dev/null || echo 100)
if [ -e "$FAKE_SLURM/sbatch.fail" ]; then echo "sbatch: error: Batch job submission failed"; exit 1; fi
echo $((n + 1)) > "$FAKE_SLURM/next"
echo "sbatch $*" >> "$FAKE_SLURM/calls"
echo "$n;cluster"`,
		"squeue": `# squeue -h -j ID -o %T
id=$3
echo "squeue $id" >> "$FAKE_SLURM/calls"
k=$(($(cat "$FAKE_SLURM/count.$id" 2>/dev/null || echo 0) + 1))
echo $k > "$FAKE_SLURM/count.$id"
line=$(sed -n "${k}p" "$FAKE_SLURM/states.$id" 2>/dev/null)
if [ -z "$line" ] && [ -e "$FAKE_SLURM/forever.$id" ]; then line=$(cat "$FAKE_SLURM/forever.$id"); fi
[ -z "$line" ] || echo "$line"`,
		"scancel": `echo "scancel $*" >> "$FAKE_SLURM/calls"`,
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("FAKE_SLURM", dir)
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return fakeSlurm{dir}
}

func (f fakeSlurm) write(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f fakeSlurm) calls(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.dir, "calls"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(data)), " ", "_"))
}

// TestSubmitAndWaitReturnsOnceTheJobEnded: the helper submits the script and keeps asking squeue
// until the job is no longer active, whichever way Slurm says so.
func TestSubmitAndWaitReturnsOnceTheJobEnded(t *testing.T) {
	f := newFakeSlurm(t)
	// Job 100 goes through the queue and then is no longer listed; job 101 ends in a final state.
	f.write(t, "states.100", "PENDING\nRUNNING\nCOMPLETING\n")
	f.write(t, "states.101", "RUNNING\nCOMPLETED\n")
	jobs := slurmJobs{poll: time.Millisecond}
	for _, want := range []string{"100", "101"} {
		id, err := jobs.submitAndWait("/work/job.sh")
		if err != nil || id != want {
			t.Fatalf("submitAndWait = %q, %v; want %s", id, err, want)
		}
	}
	want := []string{"sbatch_--parsable_/work/job.sh", "squeue_100", "squeue_100", "squeue_100", "squeue_100",
		"sbatch_--parsable_/work/job.sh", "squeue_101", "squeue_101"}
	if got := f.calls(t); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("calls %v, want %v (no scancel)", got, want)
	}
	if strings.Join(jobs.ids, ",") != "100,101" {
		t.Errorf("remembered jobs %v, want 100 and 101", jobs.ids)
	}
}

// TestSubmitAndWaitCancelsAJobThatDoesNotEnd: past the timeout the job is cancelled and the error
// names it.
func TestSubmitAndWaitCancelsAJobThatDoesNotEnd(t *testing.T) {
	f := newFakeSlurm(t)
	f.write(t, "forever.100", "PENDING\n")
	jobs := slurmJobs{timeout: 20 * time.Millisecond, poll: time.Millisecond}
	id, err := jobs.submitAndWait("/work/job.sh")
	if err == nil || id != "100" || !strings.Contains(err.Error(), "job 100 did not end within 20ms") {
		t.Fatalf("submitAndWait = %q, %v; want job 100 and a timeout error", id, err)
	}
	calls := f.calls(t)
	if len(calls) < 3 || calls[len(calls)-2] != "squeue_100" || calls[len(calls)-1] != "scancel_100" {
		t.Errorf("calls %v, want squeue asked, then job 100 cancelled last", calls)
	}
}

// TestSubmitAndWaitSbatchFails: a refused submission is an error carrying sbatch's message, and no
// job is remembered or asked about.
func TestSubmitAndWaitSbatchFails(t *testing.T) {
	f := newFakeSlurm(t)
	f.write(t, "sbatch.fail", "")
	var jobs slurmJobs
	if _, err := jobs.submitAndWait("/work/job.sh"); err == nil || !strings.Contains(err.Error(), "Batch job submission failed") {
		t.Fatalf("err %v, want sbatch's message", err)
	}
	if len(jobs.ids) != 0 || len(f.calls(t)) != 0 {
		t.Errorf("jobs %v, calls %v after a failed sbatch, want none", jobs.ids, f.calls(t))
	}
}

// TestCancelLeftovers cancels only the remembered jobs Slurm still lists as active.
func TestCancelLeftovers(t *testing.T) {
	f := newFakeSlurm(t)
	f.write(t, "states.100", "RUNNING\n")
	f.write(t, "forever.101", "COMPLETED\n")
	jobs := slurmJobs{ids: []string{"100", "101", "102"}}
	jobs.cancelLeftovers()
	want := "squeue_100 scancel_100 squeue_101 squeue_102"
	if got := strings.Join(f.calls(t), " "); got != want {
		t.Errorf("calls %s, want %s", got, want)
	}
}

func TestWaitText(t *testing.T) {
	for d, want := range map[time.Duration]string{10 * time.Minute: "10 minutes", 90 * time.Second: "1m30s", 20 * time.Millisecond: "20ms"} {
		if got := waitText(d); got != want {
			t.Errorf("waitText(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestClusterSubmitFailJob: the failure job's script is complete, its toy run from the binary the
// supervisor copies into the run's workspace, and submit returns the job's directory once it ended.
func TestClusterSubmitFailJob(t *testing.T) {
	f := newFakeSlurm(t)
	c := &cluster{bin: "/opt/disagg-supervisor", work: t.TempDir(), jobs: slurmJobs{poll: time.Millisecond}}
	dir, err := c.submit("fail", failJob, failJobVars(faults[0])...)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "job.sh"))
	if err != nil {
		t.Fatal(err)
	}
	script := string(data)
	for _, want := range []string{
		"dir=" + dir + "\n", "bin=/opt/disagg-supervisor\n",
		`toy="$dir/ws/.disagg-supervisor/bin/disagg-supervisor toy --requests 100000 --concurrency 4 --fail GEN_0:1:3:2s"`,
		"--grace 1s",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("job script lacks %q:\n%s", want, script)
		}
	}
	if regexp.MustCompile(`@[A-Z]+@`).MatchString(script) {
		t.Errorf("job script keeps a placeholder:\n%s", script)
	}
	if calls := f.calls(t); len(calls) != 2 || calls[0] != "sbatch_--parsable_"+filepath.Join(dir, "job.sh") {
		t.Errorf("calls %v, want the script submitted and squeue asked once", calls)
	}
}
