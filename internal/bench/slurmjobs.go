package bench

import (
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// slurmJobs submits the suite's batch jobs and waits for each to end. It remembers every job it
// submitted, so that cancelLeftovers can cancel those an error left behind. Its zero value waits up
// to defaultJobTimeout per job, asking squeue every defaultJobPoll.
type slurmJobs struct {
	ids []string
	// timeout bounds the wait for one job, its time in the queue included; poll is how often squeue
	// is asked. Zero means the default; tests shorten them.
	timeout, poll time.Duration
}

const (
	defaultJobTimeout = 10 * time.Minute
	defaultJobPoll    = 250 * time.Millisecond
)

// submitAndWait submits the batch script with sbatch and waits until squeue no longer lists the job
// as active; it returns the job id. A job still active after the timeout is cancelled, and is an
// error.
func (j *slurmJobs) submitAndWait(script string) (string, error) {
	timeout, poll := j.timeout, j.poll
	if timeout == 0 {
		timeout = defaultJobTimeout
	}
	if poll == 0 {
		poll = defaultJobPoll
	}
	out, err := exec.Command("sbatch", "--parsable", script).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("sbatch: %v: %s", err, strings.TrimSpace(string(out)))
	}
	// --parsable prints "id" or "id;cluster".
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";")
	j.ids = append(j.ids, id)
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(poll) {
		if !jobActive(id) {
			return id, nil
		}
	}
	_ = exec.Command("scancel", id).Run()
	return id, fmt.Errorf("job %s did not end within %s (queued behind other jobs?)", id, waitText(timeout))
}

// cancelLeftovers cancels any of the submitted jobs still active (only after an error cut a wait
// short).
func (j *slurmJobs) cancelLeftovers() {
	for _, id := range j.ids {
		if jobActive(id) {
			_ = exec.Command("scancel", id).Run()
		}
	}
}

// jobActive asks squeue whether the job is still active. A job squeue fails on or no longer lists
// has ended: Slurm forgets finished jobs after a while.
func jobActive(id string) bool {
	state, err := exec.Command("squeue", "-h", "-j", id, "-o", "%T").Output()
	s := strings.TrimSpace(string(state))
	return err == nil && s != "" && activeState(s)
}

func activeState(s string) bool {
	switch s {
	case "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING", "STAGE_OUT":
		return true
	}
	return false
}

// waitText says a wait's bound in whole minutes when it is some.
func waitText(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}
