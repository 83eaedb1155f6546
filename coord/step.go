package coord

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// StepKey names one Slurm step of a role: the barrier and rank 0's preparation belong to a step, not
// to a role, because a role's step may be launched again in the same attempt (a precheck, a second
// launch) and its files must not count for the new step.
type StepKey struct {
	Role, Job, Step string
}

// name is the key's file name part; an unknown job or step (outside Slurm) still gives one name.
func (k StepKey) name() string {
	job, step := k.Job, k.Step
	if job == "" {
		job = "none"
	}
	if step == "" {
		step = "none"
	}
	return "job_" + Name(job) + "_step_" + Name(step)
}

// AfterDir holds, one file per rank, the ranks of the step k that have finished their after commands.
func (d Dir) AfterDir(k StepKey) string {
	return filepath.Join(string(d), afterDir, Name(k.Role), k.name())
}

// After is one rank's file in AfterDir.
func (d Dir) After(k StepKey, rank int) string {
	return filepath.Join(d.AfterDir(k), strconv.Itoa(rank))
}

// Rank0Files are the outcome files of rank 0's preparation in one step.
type Rank0Files struct {
	OK, Failed string
}

// Rank0 names the outcome files of rank 0's preparation in the step k.
func (d Dir) Rank0(k StepKey) Rank0Files {
	base := filepath.Join(string(d), rank0Dir, Name(k.Role), k.name())
	return Rank0Files{OK: base + okSuffix, Failed: base + failedSuffix}
}

// Failure is what a failed file of rank 0's preparation holds: the exit code the other ranks exit
// with, and rank 0's message, which they repeat.
type Failure struct {
	Code    int
	Message string
}

// WriteFailure writes a failed file: the code on the first line, the message (one line) on the second.
func WriteFailure(path string, f Failure) error {
	msg := strings.ReplaceAll(f.Message, "\n", " ")
	return writeInDir(path, fmt.Appendf(EncodeExitCode(f.Code), "%s\n", msg))
}

// ReadFailure reads what WriteFailure wrote. The file's existence means failure, so one that cannot
// be read or parsed, or that says 0, gives code 1 with what could be read.
func ReadFailure(path string) Failure {
	data, err := os.ReadFile(path)
	if err != nil {
		return Failure{Code: 1, Message: err.Error()}
	}
	first, rest, _ := strings.Cut(string(data), "\n")
	code, err := DecodeExitCode([]byte(first))
	if err != nil || code == 0 {
		code = 1
	}
	return Failure{Code: code, Message: strings.TrimSpace(rest)}
}

// Release is what a barrier's release file holds: who saw every rank arrive, and the instant at which
// every rank leaves. The instant lies on the waiting ranks' common poll grid, so that ranks that poll
// seldom still leave together (see the task's barrier).
type Release struct {
	By Marker
	At time.Time
}

// WriteRelease writes a release file: the marker's line, then the instant in Unix nanoseconds.
func WriteRelease(path string, r Release) error {
	return writeInDir(path, fmt.Appendf(r.By.Encode(), "%d\n", r.At.UnixNano()))
}

// ReadRelease reads what WriteRelease wrote. A missing file gives an error that matches
// fs.ErrNotExist.
func ReadRelease(path string) (Release, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Release{}, err
	}
	first, rest, _ := strings.Cut(string(data), "\n")
	m, err := DecodeMarker([]byte(first))
	if err != nil {
		return Release{}, fmt.Errorf("%s: %w", path, err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
	if err != nil {
		return Release{}, fmt.Errorf("%s: release instant %q is not an integer", path, strings.TrimSpace(rest))
	}
	return Release{By: m, At: time.Unix(0, ns)}, nil
}
