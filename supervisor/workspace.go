package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/hashicorp/go-multierror"
)

// touchDone writes gen_server_<i>.done once a GEN step has been reaped, as today's launcher does: the
// harness waits for it before parsing the GEN log.
func (r *run) touchDone(s *step) {
	path := doneFile(r.plan.OutputDir, s)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		r.errs = multierror.Append(r.errs, fmt.Errorf("role %s: %w", s.name, err))
		r.writeFailed(path, err)
	}
}

func doneFile(outputDir string, s *step) string {
	base := filepath.Base(s.log)
	return filepath.Join(outputDir, base[:len(base)-len(filepath.Ext(base))]+".done")
}

// prepareDirs makes the workspace, output and coordination directories.
func prepareDirs(p roles.Plan) error {
	for _, dir := range []string{p.Workspace, p.OutputDir, filepath.Dir(p.TaskBinary), p.CoordDir} {
		if dir == "" || dir == "." {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("make directory: %w", err)
		}
	}
	// A stale .done file from an earlier attempt, which would tell the harness a GEN server had
	// ended, was moved aside already (moveStale).
	return nil
}

// envWithRoles is every variable a step can see, for finding the secret values to mask in log tails.
func envWithRoles(base []string, p roles.Plan) []string {
	env := append([]string{}, base...)
	for _, role := range append(p.CheckRoles(), p.Roles...) {
		for name, value := range role.Env {
			env = append(env, name+"="+value)
		}
	}
	return env
}

// GoroutineDumpFile is where a SIGQUIT leaves the supervisor's goroutine stacks, in the workspace.
const GoroutineDumpFile = "supervisor.goroutines.txt"

// dumpGoroutines writes every goroutine's stack to GoroutineDumpFile, appending, so that a SIGQUIT
// shows what the supervisor was doing and still ends the run with a final record.
func (r *run) dumpGoroutines() {
	path := filepath.Join(r.plan.Workspace, GoroutineDumpFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		fmt.Fprintf(f, "=== goroutines at %s (SIGQUIT)\n", r.cfg.clock.Now().UTC().Format(time.RFC3339Nano))
		err = pprof.Lookup("goroutine").WriteTo(f, 2)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		r.warn("", fmt.Sprintf("SIGQUIT: cannot write the goroutine dump %s: %v", path, err))
		return
	}
	r.emit(Event{Name: record.EventSignal, Signal: "SIGQUIT", Message: "goroutine stacks written to " + path})
}
