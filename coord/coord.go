// Package coord owns a run attempt's coordination directory: where it is, what its files are named and
// what each one holds. The task runners write it and the supervisor reads it, through this package only.
package coord

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Layout of the coordination directory (one per run attempt, shared by every task of every step):
//
//	started/<ROLE>/<rank>   a Marker, written by each task as soon as it runs
//	install/<node>.lock     claimed with O_EXCL by the one task per node that installs; holds its Marker
//	install/<node>.ok       the install on <node> succeeded; holds the installer's Marker
//	install/<node>.failed   the install on <node> failed; holds the installer's exit code
//	install/failed          some node's install failed (written after its <node>.failed): the one
//	                        file a waiter polls to learn of any node's failure; holds that exit code
//	barrier/<ROLE>/job_<job>_step_<step>/<rank>
//	                        a Marker, written by each task of that step that reached the barrier
//	barrier/<ROLE>/job_<job>_step_<step>.released
//	                        every rank of that step has arrived; holds the Marker of the rank that
//	                        saw it (the last to arrive, or rank 0); the waiting ranks poll this file
//	rank0/<ROLE>/job_<job>_step_<step>.ok      rank 0's preparation succeeded; holds its Marker
//	rank0/<ROLE>/job_<job>_step_<step>.failed  it failed; holds the exit code, then its message
//	after/<ROLE>/job_<job>_step_<step>/<rank>  a Marker, written by each task when its after commands are done
//	leftovers/<ROLE>/job_<job>_step_<step>/<rank>
//	                        Leftovers (JSON), written by a task that found processes of its command
//	                        still running after the command and its after commands had ended
//	nodes/<node>            the node's heartbeat, rewritten every period (see heartbeat.go)
//
// Every file except the lock is written with WriteFileAtomic, so a reader never sees a half-written
// file. Temporary names start with a dot, so they match no name above.
const (
	startedDir = "started"
	installDir = "install"
	barrierDir = "barrier"
	rank0Dir   = "rank0"
	afterDir   = "after"

	lockSuffix     = ".lock"
	okSuffix       = ".ok"
	failedSuffix   = ".failed"
	releasedSuffix = ".released"

	// anyInstallFailed has no suffix, so no node's file can have its name.
	anyInstallFailed = "failed"
)

// RunDir is the coordination directory of the attempt runToken under workspace. It only joins names,
// so the pure planner can call it: the run token keys it, and a requeued job never reads an older
// attempt's files.
func RunDir(workspace, runToken string) string {
	return path.Join(StateDir(workspace), runsDirName, runToken)
}

// Dir is a coordination directory, as RunDir names it.
type Dir string

// StartedDir holds the start markers of role's tasks, one file per rank.
func (d Dir) StartedDir(role string) string {
	return filepath.Join(string(d), startedDir, Name(role))
}

// Started is the start marker of one task.
func (d Dir) Started(role string, rank int) string {
	return filepath.Join(d.StartedDir(role), strconv.Itoa(rank))
}

// BarrierDir holds the barrier arrivals of the tasks of one step, one file per rank. It is keyed by
// job and step as well as role (and, through the directory, by run token), so that no other step's
// or attempt's arrivals ever count.
func (d Dir) BarrierDir(k StepKey) string {
	return filepath.Join(string(d), barrierDir, Name(k.Role), k.name())
}

// Barrier is the barrier arrival of one task.
func (d Dir) Barrier(k StepKey, rank int) string {
	return filepath.Join(d.BarrierDir(k), strconv.Itoa(rank))
}

// BarrierReleased is the file that says every rank of the step k has arrived at the barrier. It is
// beside BarrierDir, not in it, so that a listing of the arrivals is only arrivals.
func (d Dir) BarrierReleased(k StepKey) string {
	return d.BarrierDir(k) + releasedSuffix
}

// InstallDir holds the install gate files of every node.
func (d Dir) InstallDir() string {
	return filepath.Join(string(d), installDir)
}

// InstallFiles are the install gate's files for one node.
type InstallFiles struct {
	Lock, OK, Failed string
}

// AnyInstallFailed is the file that says some node's install failed. A waiter stats this one path
// instead of listing InstallDir at every poll; once it exists, FailedInstalls says which nodes.
func (d Dir) AnyInstallFailed() string {
	return filepath.Join(d.InstallDir(), anyInstallFailed)
}

// Install names the install gate's files of node.
func (d Dir) Install(node string) InstallFiles {
	base := filepath.Join(d.InstallDir(), Name(node))
	return InstallFiles{Lock: base + lockSuffix, OK: base + okSuffix, Failed: base + failedSuffix}
}

// Name turns a node or role name into a single safe path element, and a marker field into a value
// without spaces or '=': names come from the environment and must not be able to point outside the
// coordination directory or break a marker's fields.
func Name(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || strings.Trim(s, ".") == "" {
		// "", "." and ".." would name a directory, not a file in it.
		s = "_" + s
	}
	return s
}

// Ranks lists, sorted, the ranks that have a file in dir (a StartedDir or a BarrierDir); a missing
// dir means none yet. Temporary files of a write in progress are not ranks.
func Ranks(dir string) ([]int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ranks []int
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if r, err := strconv.Atoi(e.Name()); err == nil && r >= 0 && strconv.Itoa(r) == e.Name() {
			ranks = append(ranks, r)
		}
	}
	sort.Ints(ranks)
	return ranks, nil
}

// FailedInstall is one install/<node>.failed file.
type FailedInstall struct {
	// Node is the node's name as the file names it (see Name).
	Node string
	// Code is the installer's exit code; never 0.
	Code int
	// Installer is the lock holder's marker, when InstallerKnown: the lock may be empty or unreadable,
	// and the failure stands all the same.
	Installer      Marker
	InstallerKnown bool
}

// FailedInstalls lists the failed installs of every node, sorted by node. A failed file that cannot be
// read or parsed still means failure, so it gives exit code 1 rather than none.
func (d Dir) FailedInstalls() ([]FailedInstall, error) {
	entries, err := os.ReadDir(d.InstallDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []FailedInstall
	for _, e := range entries {
		node, ok := strings.CutSuffix(e.Name(), failedSuffix)
		if !ok || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		files := d.Install(node)
		f := FailedInstall{Node: node, Code: ReadExitCode(files.Failed)}
		if m, err := ReadMarker(files.Lock); err == nil {
			f.Installer, f.InstallerKnown = m, true
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out, nil
}

// ReadExitCode reads the exit code in an install's failed file. Its existence already means failure,
// so a file that cannot be read or parsed, or that says 0, gives 1.
func ReadExitCode(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 1
	}
	code, err := DecodeExitCode(data)
	if err != nil || code == 0 {
		return 1
	}
	return code
}

// EncodeExitCode is the content of an install's failed file.
func EncodeExitCode(code int) []byte {
	return fmt.Appendf(nil, "%d\n", code)
}

// DecodeExitCode parses what EncodeExitCode wrote.
func DecodeExitCode(data []byte) (int, error) {
	s := strings.TrimSpace(string(data))
	code, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("exit code file holds %q, not an integer", s)
	}
	return code, nil
}

// WriteFileAtomic writes data to path through a temporary file in the same directory and a rename, so
// that a reader, polling from another node or reading a summary of a run in progress, sees either the
// old file or the whole new one, never a prefix. The directory must exist: whether to create it is the
// caller's decision.
func WriteFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// CreateTemp makes 0600 files; the supervisor, a task in another container or CI collecting
		// the results may read them under another uid.
		err = os.Chmod(name, 0o644)
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		_ = os.Remove(name)
		return err
	}
	return nil
}

// writeInDir is WriteFileAtomic that first creates the directory: the coordination subdirectories are
// made by whichever task gets there first.
func writeInDir(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return WriteFileAtomic(path, data)
}

// WriteMarker writes m to path (a start marker, a barrier arrival or an install's ok file).
func WriteMarker(path string, m Marker) error {
	return writeInDir(path, m.Encode())
}

// WriteFailed writes an install's failed file (an InstallFiles.Failed) with the installer's exit code,
// then the AnyInstallFailed file beside it, in that order, so that whoever sees the latter finds the
// node's file in a listing.
func WriteFailed(path string, code int) error {
	if err := writeInDir(path, EncodeExitCode(code)); err != nil {
		return err
	}
	if err := WriteFileAtomic(filepath.Join(filepath.Dir(path), anyInstallFailed), EncodeExitCode(code)); err != nil {
		return fmt.Errorf("%s is written, but not the failure flag beside it: %w", path, err)
	}
	return nil
}

// OldestRank is the earliest modification time of the rank files in dir (a BarrierDir): when the first
// of them arrived, by the file system's clock. false when dir holds none or cannot be read.
func OldestRank(dir string) (time.Time, bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return time.Time{}, false
	}
	var oldest time.Time
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil || e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if oldest.IsZero() || info.ModTime().Before(oldest) {
			oldest = info.ModTime()
		}
	}
	return oldest, !oldest.IsZero()
}
