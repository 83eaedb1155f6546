package task

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
)

// The coordination directory's layout and file formats belong to package coord, which the supervisor
// reads them with; this file only puts its contents into the task's messages.

// holder names the task recorded in a lock or marker file, for a message; a lock whose holder has not
// written it yet, or cannot be read, gives "unknown task".
func holder(path string) string {
	m, err := coord.ReadMarker(path)
	if err != nil {
		return "unknown task"
	}
	return m.String()
}

// describeFailed renders failed installs as "node3 (exit code 5), node4 (exit code 1)".
func describeFailed(failed []coord.FailedInstall) string {
	parts := make([]string, len(failed))
	for i, f := range failed {
		parts[i] = fmt.Sprintf("%s (exit code %d)", f.Node, f.Code)
	}
	return strings.Join(parts, ", ")
}

// notWritten tells a marker that does not exist yet from one that exists but cannot be read.
func notWritten(err error) bool { return errors.Is(err, fs.ErrNotExist) }
