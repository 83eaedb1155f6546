package task

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

// setupScript sources the setup file with no positional parameters (the file sees an empty "$@", as
// when a script sources it), calls the function when one is named, and writes the resulting
// environment, NUL-separated, to a file: a file rather than a pipe, because a daemon that the setup
// starts in the background would hold a pipe open and the task would wait for it forever. The helper
// variables are not exported, so they are not in it. A failing source or function ends bash with its
// status.
const setupScript = `__disagg_file=$1 __disagg_fn=$2 __disagg_env=$3 __disagg_out=$4
set --
. "$__disagg_file" || exit
if [ -n "$__disagg_fn" ]; then "$__disagg_fn" || exit; fi
exec "$__disagg_env" -0 > "$__disagg_out"`

// bashOwnVars are the variables bash sets or changes for itself; the setup's result keeps the
// task's values of these (or their absence).
var bashOwnVars = []string{"_", "SHLVL", "PWD", "OLDPWD"}

// setup applies --setup: the environment the setup file (and function) builds is what the rest of
// the task, the environment dump and the command see. Its output goes to the role log. A failure
// ends the task with exitUsage (the setup's own code is in the message), before the barrier.
func (r *runner) setup(ctx context.Context) error {
	file, fn, err := taskopts.SplitSetup(r.opts.Setup)
	if err != nil {
		return fail(exitUsage, "setup: %w", err)
	}
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	if fi, err := os.Stat(file); err != nil || fi.IsDir() {
		if err == nil {
			err = fmt.Errorf("is a directory")
		}
		return fail(exitUsage, "setup %s: cannot source it: %w", r.opts.Setup, err)
	}
	bash, err := lookPath("bash", r.env)
	if err != nil {
		return fail(exitNotFound, "setup %s: %w", r.opts.Setup, err)
	}
	envBin, err := lookPath("env", r.env)
	if err != nil {
		return fail(exitNotFound, "setup %s: %w", r.opts.Setup, err)
	}
	out, err := os.CreateTemp("", "disagg-task-setup-*.env")
	if err != nil {
		return fail(exitFailure, "setup %s: %w", r.opts.Setup, err)
	}
	out.Close()
	defer os.Remove(out.Name())
	cmd := exec.CommandContext(ctx, bash, "-c", setupScript, "bash", file, fn, envBin, out.Name())
	cmd.Args[0] = "bash"
	cmd.Env = r.env.list()
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	cmd.WaitDelay = r.killGrace
	_ = cmd.Run()
	st := statusOf(cmd.ProcessState)
	if ctx.Err() != nil {
		return r.interrupted(ctx, "during setup "+r.opts.Setup)
	}
	if st.exitCode() != 0 {
		return fail(exitUsage, "setup %s failed with %s", r.opts.Setup, st)
	}
	data, err := os.ReadFile(out.Name())
	if err != nil {
		return fail(exitFailure, "setup %s: read its environment: %w", r.opts.Setup, err)
	}

	var next []string
	for _, kv := range strings.Split(string(data), "\x00") {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" || isBashOwn(name) {
			continue
		}
		next = append(next, kv)
	}
	for _, name := range bashOwnVars {
		if v, ok := r.env.get(name); ok {
			next = append(next, name+"="+v)
		}
	}
	before := newEnviron(r.env.list())
	r.env = newEnviron(next)
	changed, removed := diffEnv(before, r.env)
	what := "sourced " + file
	if fn != "" {
		what += " and called " + fn
	}
	r.logf("setup: %s: %d variables set or changed, %d removed", what, changed, removed)
	return nil
}

func isBashOwn(name string) bool {
	for _, n := range bashOwnVars {
		if n == name {
			return true
		}
	}
	return false
}

// diffEnv counts the variables b sets or changes relative to a, and those it lacks.
func diffEnv(a, b *environ) (changed, removed int) {
	for _, kv := range b.kv {
		name, v, _ := strings.Cut(kv, "=")
		if old, ok := a.get(name); !ok || old != v {
			changed++
		}
	}
	for _, kv := range a.kv {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := b.get(name); !ok {
			removed++
		}
	}
	return changed, removed
}
