package supervisor

import (
	"errors"
	"fmt"
	"io"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// fullBytes is how little free space makes a file system full for the root cause: srun writes the
// role logs itself, so a cut log shows only as a file system without room.
const fullBytes = 64 << 10

// noSpace reports whether a write failed for want of space or quota.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// writeFailed reports a failed write of the run's own files (the event log, summary.json, JUnit, a
// sentinel) at once, once a path: a warning on the console, which usually lives elsewhere (the job's
// output file). No space left ends a run not yet decided as an infrastructure failure naming the path;
// the record keeps its last good summary.json, since every rewrite goes through a temporary file.
func (r *run) writeFailed(path string, err error) {
	if r.writeErrs[path] {
		return
	}
	if r.writeErrs == nil {
		r.writeErrs = map[string]bool{}
	}
	r.writeErrs[path] = true
	r.warn("", fmt.Sprintf("cannot write %s: %v", path, err))
	if noSpace(err) && !r.decided {
		r.decide(record.RunFailed, verdict.ExitInfrastructure, &record.Failure{Code: verdict.ExitInfrastructure,
			Class: verdict.ClassInfrastructure, Origin: verdict.OriginSupervisor,
			Reason:   fmt.Sprintf("no space left to write %s (%v)", path, err),
			Evidence: []string{fmt.Sprintf("%s: write %s: %v", verdict.RuleNoSpace, path, err)}})
	}
}

// fullFileSystems are the run's directories (output directory, workspace) whose file system has no
// room left, with what it has, for the root cause of a failure: the logs there may be cut.
func (r *run) fullFileSystems() []string {
	var full []string
	seen := map[uint64]bool{}
	for _, dir := range []string{r.plan.OutputDir, r.plan.Workspace} {
		var st unix.Statfs_t
		if dir == "" || unix.Statfs(dir, &st) != nil {
			continue
		}
		id := uint64(st.Fsid.Val[0])<<32 | uint64(uint32(st.Fsid.Val[1]))
		free := st.Bavail * uint64(st.Bsize)
		if free < fullBytes && !seen[id] {
			seen[id] = true
			full = append(full, fmt.Sprintf("%s: %s has %d bytes free: the logs there may be cut", verdict.RuleNoSpace, dir, free))
		}
	}
	return full
}

// checkedWriter passes writes on and keeps the first error, for the loop to report: the event log is
// written through zerolog, which has no error to return to its caller.
type checkedWriter struct {
	w   io.Writer
	err error
}

func (c *checkedWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// take returns the error kept since the last call, and forgets it.
func (c *checkedWriter) take() error {
	err := c.err
	c.err = nil
	return err
}
