package supervisor

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/disagg-supervisor/disagg-supervisor/record"
)

// prepareTaskBinary copies the supervisor's own binary to where every step's argv expects it.
func (r *run) prepareTaskBinary() error {
	src, dst := r.cfg.Executable, r.plan.TaskBinary
	if src == "" || dst == "" {
		return nil
	}
	if same, _ := sameFile(src, dst); same {
		return nil
	}
	if dynamic, err := isDynamic(src); err == nil && dynamic {
		r.emit(Event{Name: record.EventWarning, Message: fmt.Sprintf(
			"%s is dynamically linked and may not start inside containers; build it with CGO_ENABLED=0", src)})
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy task binary: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".task-binary.*")
	if err != nil {
		return fmt.Errorf("copy task binary: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return fmt.Errorf("copy task binary to %s: %w", dst, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return fmt.Errorf("copy task binary to %s: %w", dst, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("copy task binary to %s: %w", dst, err)
	}
	// Rename, so a step of an earlier attempt still running the old file is not disturbed.
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("copy task binary to %s: %w", dst, err)
	}
	r.emit(Event{Name: record.EventPlan, Message: "task binary copied to " + dst})
	return nil
}

func sameFile(a, b string) (bool, error) {
	ia, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	ib, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(ia, ib), nil
}

// isDynamic reports whether an ELF binary asks for a dynamic loader.
func isDynamic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return true, nil
		}
	}
	return false, nil
}
