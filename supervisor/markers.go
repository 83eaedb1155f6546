package supervisor

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
)

// An earlier attempt of the job (a requeue, a rerun in the same workspace) leaves files that would
// mislead this one: end markers that make early exits look like normal ends, gen_server_<i>.done
// sentinels that tell the harness a GEN server has ended, precheck status files that give an instance
// a verdict it never wrote. They are moved, never deleted, into the attempt's stale directory
// (coord.StaleDir), before anything is launched and under the workspace lock: a pattern that matches
// more than it should costs a move the user can undo, not the user's files.

// staleMove is one file or directory moved out of this attempt's way.
type staleMove struct {
	from, to string
}

func (m staleMove) String() string { return m.from + " -> " + m.to }

// staleItem is a candidate for moving: a path, what it is to the run, and the input that named it,
// for the error when it cannot be moved.
type staleItem struct {
	path  string
	what  string
	input string
	// dirOK allows a directory (the precheck's csv/); an end marker or sentinel is a file.
	dirOK bool
}

// endMarkerExists reports whether a regular file matches pattern. Only regular files announce the
// benchmark's end (symbolic links are followed): a directory or anything else that happens to match
// is not the harness's status file.
func endMarkerExists(pattern string) bool {
	matches, _ := filepath.Glob(pattern)
	for _, name := range matches {
		if info, err := os.Stat(name); err == nil && info.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// staleItems lists what an earlier attempt may have left in the plan's directories: the files that
// match the end markers, the GEN servers' .done sentinels and, with the precheck, its status,
// rendezvous and abort files and its csv directory.
func staleItems(plan roles.Plan, endMarkers []string) []staleItem {
	var items []staleItem
	seen := map[string]bool{}
	add := func(it staleItem) {
		if !seen[it.path] {
			seen[it.path] = true
			items = append(items, it)
		}
	}
	for _, pattern := range endMarkers {
		matches, _ := filepath.Glob(pattern)
		for _, name := range matches {
			add(staleItem{path: name, what: "an earlier attempt's end marker", input: "--end-marker " + strconv.Quote(pattern)})
		}
	}
	for _, role := range plan.Roles {
		if role.Kind == roles.KindGen {
			name := doneFile(plan.OutputDir, &step{log: role.Log})
			add(staleItem{path: name, what: "an earlier attempt's GEN end sentinel", input: name})
		}
	}
	if len(plan.Precheck) > 0 {
		layout := roles.PrecheckDir(plan.OutputDir)
		for _, pattern := range layout.StalePatterns() {
			matches, _ := filepath.Glob(filepath.FromSlash(pattern))
			for _, name := range matches {
				add(staleItem{path: name, what: "an earlier attempt's precheck file", input: name})
			}
		}
		csv := filepath.FromSlash(layout.CSVDir())
		add(staleItem{path: csv, what: "an earlier attempt's precheck results", input: csv, dirOK: true})
	}
	return items
}

// moveStale moves the earlier attempt's files of staleItems into the attempt's stale directory,
// keeping their place relative to the workspace, and returns what moved where. A file that cannot be
// moved, or a match that is not a file, is an error naming the input that selected it: the run must
// not start with it in place, and it is not the supervisor's to delete.
func moveStale(plan roles.Plan, endMarkers []string) ([]staleMove, error) {
	staleDir := coord.StaleDir(plan.Workspace, plan.RunToken)
	var moved []staleMove
	for _, it := range staleItems(plan, endMarkers) {
		info, err := os.Lstat(it.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return moved, fmt.Errorf("%s: %s: %w", it.input, it.path, err)
		}
		mode := info.Mode()
		switch {
		case mode.IsRegular(), mode&fs.ModeSymlink != 0:
			// A symbolic link moves as a link: what it points to is not touched.
		case mode.IsDir() && it.dirOK:
		default:
			return moved, fmt.Errorf("%s: %s matches but is a %s, not a file: it cannot be %s; remove or rename it, or narrow the pattern",
				it.input, it.path, fileKind(mode), it.what)
		}
		to, err := staleDestination(staleDir, plan, it.path)
		if err == nil {
			err = moveAside(it.path, to)
		}
		if err != nil {
			return moved, fmt.Errorf("%s: cannot move %s (%s) to %s: %w", it.input, it.path, it.what, staleDir, err)
		}
		moved = append(moved, staleMove{from: it.path, to: to})
	}
	return moved, nil
}

// staleDestination is where name goes in staleDir: at its path relative to the workspace, or under
// coord.StaleOutputDir relative to an output directory outside it; never over a file already there.
func staleDestination(staleDir string, plan roles.Plan, name string) (string, error) {
	rel, err := filepath.Rel(plan.Workspace, name)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		out, oerr := filepath.Rel(plan.OutputDir, name)
		if oerr != nil || out == "." || strings.HasPrefix(out, "..") {
			return "", fmt.Errorf("%s is in neither the workspace nor the output directory", name)
		}
		rel = filepath.Join(coord.StaleOutputDir, out)
	}
	to := filepath.Join(staleDir, rel)
	for i := 1; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
			return to, nil
		} else if err != nil {
			return "", err
		}
		to = filepath.Join(staleDir, rel) + "." + strconv.Itoa(i)
	}
}

// moveAside renames from to to. Across file systems (an output directory on another mount than the
// workspace) it copies, then removes the original only once the copy is complete.
func moveAside(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	err := os.Rename(from, to)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	if err := copyTree(from, to); err != nil {
		return fmt.Errorf("copy across file systems: %w", err)
	}
	return os.RemoveAll(from)
}

// copyTree copies a file, a symbolic link or a directory of them to a new path.
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, name)
		if err != nil {
			return err
		}
		dest := filepath.Join(to, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch mode := info.Mode(); {
		case mode.IsDir():
			return os.MkdirAll(dest, mode.Perm()|0o700)
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(name)
			if err != nil {
				return err
			}
			return os.Symlink(target, dest)
		case mode.IsRegular():
			return copyFile(name, dest, mode.Perm())
		default:
			return fmt.Errorf("%s is a %s, which cannot be copied", name, fileKind(mode))
		}
	})
}

func copyFile(from, to string, perm fs.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// fileKind names a file mode for a message.
func fileKind(mode fs.FileMode) string {
	switch {
	case mode.IsDir():
		return "directory"
	case mode&fs.ModeNamedPipe != 0:
		return "named pipe"
	case mode&fs.ModeSocket != 0:
		return "socket"
	case mode&fs.ModeDevice != 0:
		return "device"
	case mode&fs.ModeSymlink != 0:
		return "symbolic link"
	}
	return "special file"
}

// staleEvent is the plan event's text for what moved where.
func staleEvent(staleDir string, moved []staleMove) string {
	parts := make([]string, len(moved))
	for i, m := range moved {
		parts[i] = m.String()
	}
	return fmt.Sprintf("moved %d file(s) of an earlier attempt out of the way, into %s: %s", len(moved), staleDir, strings.Join(parts, ", "))
}
