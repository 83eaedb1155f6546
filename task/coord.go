package task

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Layout of the coordination directory (one per run attempt, shared by every task of every step):
//
//	started/<ROLE>/<rank>   written by each task as soon as it runs
//	install/<node>.lock     claimed with O_EXCL by the one task per node that installs; holds its identity
//	install/<node>.ok       the install on <node> succeeded
//	install/<node>.failed   the install on <node> failed; holds the installer's exit code
//	barrier/<ROLE>/<rank>   written by each task that reached the barrier
//
// Every file except the lock is written to a temporary name and renamed, so a reader never sees a
// half-written file. Temporary names start with a dot and end in ".tmp", so they match no pattern
// above.
const (
	startedDir = "started"
	installDir = "install"
	barrierDir = "barrier"
)

// fileName turns a node or role name into a single safe path element: names come from the
// environment and must not be able to point outside the coordination directory.
func fileName(name string) string {
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

// writeFileAtomic writes data to path through a temporary file in the same directory and a rename,
// creating the directory first.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// CreateTemp makes 0600 files; the supervisor or a task in another container may read them
		// under another uid.
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

// readMarker returns the key=value fields of a marker file written by markerText; a missing or
// unreadable file gives no fields.
func readMarker(path string) map[string]string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	fields := map[string]string{}
	for _, word := range strings.Fields(string(data)) {
		if k, v, ok := strings.Cut(word, "="); ok {
			fields[k] = v
		}
	}
	return fields
}

// describeHolder renders the identity stored in a lock or marker file for a message.
func describeHolder(fields map[string]string) string {
	if len(fields) == 0 {
		return "unknown task"
	}
	var parts []string
	for _, k := range []string{"role", "rank", "node", "pid", "job", "step", "time"} {
		if v, ok := fields[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

// rankFiles lists the ranks that have a file in dir; a missing dir means none yet.
func rankFiles(dir string) (map[int]bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[int]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	ranks := make(map[int]bool, len(entries))
	for _, e := range entries {
		if r, err := strconv.Atoi(e.Name()); err == nil && r >= 0 {
			ranks[r] = true
		}
	}
	return ranks, nil
}

// failedInstall is one <node>.failed marker.
type failedInstall struct {
	node string
	code int
}

// failedInstalls lists the failed-install markers in the install directory, sorted by node.
func failedInstalls(dir string) ([]failedInstall, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []failedInstall
	for _, e := range entries {
		node, ok := strings.CutSuffix(e.Name(), ".failed")
		if !ok || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		out = append(out, failedInstall{node: node, code: readExitCode(filepath.Join(dir, e.Name()))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].node < out[j].node })
	return out, nil
}

// readExitCode reads the exit code stored in a failed marker. A marker that cannot be read or parsed
// still means failure, so it gives 1 rather than 0.
func readExitCode(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 1
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || code == 0 {
		return 1
	}
	return code
}

// describeFailed renders failed installs as "node3 (exit code 5), node4 (exit code 1)".
func describeFailed(failed []failedInstall) string {
	parts := make([]string, len(failed))
	for i, f := range failed {
		parts[i] = fmt.Sprintf("%s (exit code %d)", f.node, f.code)
	}
	return strings.Join(parts, ", ")
}
