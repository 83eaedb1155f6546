package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
)

// One run per workspace. Two supervisors in one workspace would move each other's end markers aside,
// overwrite each other's summary.json and logs, and each read the other's benchmark_status file as
// its own benchmark's end. So a run holds an exclusive flock(2) on coord.LockFile for its whole
// life, and a second supervisor refuses to start (bad input) naming the holder.
//
// What is guaranteed: on one host, and on a shared file system whose flock is cluster-wide (NFS,
// where Linux maps flock onto the server's byte-range locks; Lustre mounted with -o flock), a second
// supervisor cannot start while the first lives, and the kernel releases the lock when the holder
// dies, however it dies. On NFS a holder on a host that died (a requeue after a node failure) may
// keep its lock until the server notices; a requeued attempt of the same job is then refused with a
// message that says so. On a file system without flock (Lustre's default, ENOSYS) the run goes on
// unprotected, and says so in an event.

// LockHolder is what the lock file says about the supervisor that holds it.
type LockHolder struct {
	PID          int       `json:"pid"`
	Host         string    `json:"host"`
	BootID       string    `json:"boot_id,omitempty"`
	JobID        string    `json:"job_id"`
	RestartCount int       `json:"restart_count"`
	RunToken     string    `json:"run_token"`
	StartedAt    time.Time `json:"started_at"`
}

// workspaceLock is a held workspace lock; release gives it up.
type workspaceLock struct {
	file *os.File
	// unsupported is set when the file system has no flock: the run goes on without the lock.
	unsupported error
}

// workspaceBusyError says who holds the workspace lock: bad input, nothing launched.
type workspaceBusyError struct{ msg string }

func (e *workspaceBusyError) Error() string { return e.msg }

// lockWorkspace takes the workspace lock of plan's workspace without waiting and writes the holder's
// record into it. A *workspaceBusyError says who holds it; any other error is the supervisor's own
// failure (the workspace is not writable).
func lockWorkspace(plan roles.Plan, self LockHolder) (*workspaceLock, error) {
	path := coord.LockFile(plan.Workspace)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("workspace lock: %w", err)
	}
	// Never truncated before the lock is taken, never replaced, never removed: the record belongs to
	// whoever holds the lock, and a new file at the path would be a second, unheld lock.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("workspace lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			holder, rerr := readLockHolder(f)
			f.Close()
			return nil, &workspaceBusyError{msg: busyMessage(plan, path, holder, rerr)}
		}
		f.Close()
		if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOLCK) {
			return &workspaceLock{unsupported: fmt.Errorf("flock %s: %w", path, err)}, nil
		}
		return nil, fmt.Errorf("workspace lock %s: %w", path, err)
	}
	data, err := json.Marshal(self)
	if err == nil {
		err = f.Truncate(0)
	}
	if err == nil {
		_, err = f.WriteAt(append(data, '\n'), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("workspace lock %s: write the holder's record: %w", path, err)
	}
	return &workspaceLock{file: f}, nil
}

// release gives the lock up. The file stays, with the last holder's record (see lockWorkspace).
func (l *workspaceLock) release() {
	if l != nil && l.file != nil {
		_ = l.file.Close() // closing the last descriptor releases the flock
	}
}

// readLockHolder reads the holder's record from the lock file.
func readLockHolder(f *os.File) (LockHolder, error) {
	var h LockHolder
	info, err := f.Stat()
	if err != nil {
		return h, err
	}
	data := make([]byte, min(info.Size(), 64<<10))
	n, err := f.ReadAt(data, 0)
	if n == 0 {
		// The holder writes its record right after it took the lock.
		return h, fmt.Errorf("the lock file is empty (its holder has just started)")
	}
	if err := json.Unmarshal(data[:n], &h); err != nil {
		return h, fmt.Errorf("the lock file does not hold a record: %w", err)
	}
	return h, nil
}

// busyMessage is the one line that names the lock's holder.
func busyMessage(plan roles.Plan, path string, h LockHolder, readErr error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "workspace %s: another supervisor runs in it", plan.Workspace)
	if readErr != nil {
		fmt.Fprintf(&b, " (holder unknown: %v)", readErr)
	} else {
		fmt.Fprintf(&b, ": pid %d on host %s, job %s (run token %s), started at %s",
			h.PID, h.Host, h.JobID, h.RunToken, h.StartedAt.UTC().Format(time.RFC3339))
		if h.JobID == plan.JobID && h.RestartCount != plan.RestartCount {
			fmt.Fprintf(&b, "; it is attempt %d of this same job (this is attempt %d): if Slurm requeued the job after that host failed, the file server has not released its lock yet; try again once it has",
				h.RestartCount, plan.RestartCount)
		}
	}
	fmt.Fprintf(&b, "; one run per workspace (lock %s)", path)
	return b.String()
}
