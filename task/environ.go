package task

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/disagg-supervisor/disagg-supervisor/logscan"
	"github.com/disagg-supervisor/disagg-supervisor/redact"
	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

// environ is the environment the role command will get, as an ordered NAME=VALUE list so that what is
// exec'd keeps the order it was given in.
type environ struct {
	kv []string
}

// newEnviron copies env, dropping malformed entries and later duplicates: the first occurrence is
// the one Go's os.Getenv reports, so the task acts on the value it logs.
func newEnviron(env []string) *environ {
	e := &environ{kv: make([]string, 0, len(env))}
	seen := make(map[string]bool, len(env))
	for _, kv := range env {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" || seen[name] {
			continue
		}
		seen[name] = true
		e.kv = append(e.kv, kv)
	}
	return e
}

func (e *environ) get(name string) (string, bool) {
	for _, kv := range e.kv {
		if n, v, _ := strings.Cut(kv, "="); n == name {
			return v, true
		}
	}
	return "", false
}

func (e *environ) set(name, value string) {
	for i, kv := range e.kv {
		if n, _, _ := strings.Cut(kv, "="); n == name {
			e.kv[i] = name + "=" + value
			return
		}
	}
	e.kv = append(e.kv, name+"="+value)
}

// unset removes every variable whose name drop accepts and returns the removed names.
func (e *environ) unset(drop func(name string) bool) []string {
	var removed []string
	kept := e.kv[:0]
	for _, kv := range e.kv {
		name, _, _ := strings.Cut(kv, "=")
		if drop(name) {
			removed = append(removed, name)
			continue
		}
		kept = append(kept, kv)
	}
	e.kv = kept
	return removed
}

// list returns a copy, safe to hand to exec or to a child process.
func (e *environ) list() []string {
	return append([]string(nil), e.kv...)
}

// isLauncherVar reports whether name belongs to Slurm or an MPI/PMI launcher. A command that sees
// them believes it is one rank of an MPI world and tries to join it. SLURM_PROCID is kept because
// the tests use it to tell ranks apart.
func isLauncherVar(name string) bool {
	if name == "SLURM_PROCID" {
		return false
	}
	for _, prefix := range []string{"PMI", "MPI", "OMPI", "SLURM"} {
		// PMIX is covered by PMI.
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// shouldUnset decides --unset-slurm for this task.
func shouldUnset(mode taskopts.UnsetMode, kind taskopts.Kind, env *environ) (bool, string) {
	switch mode {
	case taskopts.UnsetAlways:
		return true, "--unset-slurm=always"
	case taskopts.UnsetNever:
		return false, "--unset-slurm=never"
	}
	if kind == taskopts.KindServer || kind == taskopts.KindBenchmark {
		return true, "kind " + string(kind) + " runs outside MPI"
	}
	if n, _ := env.get("SLURM_JOB_NUM_NODES"); n == "1" {
		return true, "single-node job"
	}
	return false, "multi-node " + string(kind) + " worker"
}

// dumpText is the sorted, redacted environment between the begin and end lines: secret-looking names'
// values, those values inside other variables (pytestCommand holds the command), and tokens of well-known
// formats under any name are masked. Newlines inside a value are escaped so that each variable is one
// line and the end line cannot be forged.
func dumpText(env []string) string {
	lines := redact.EnvList(env)
	sort.Strings(lines)
	var b strings.Builder
	b.WriteString(logscan.TaskEnvBegin + "\n")
	for _, l := range lines {
		b.WriteString(strings.ReplaceAll(l, "\n", `\n`))
		b.WriteByte('\n')
	}
	b.WriteString(logscan.TaskEnvEnd + "\n")
	return b.String()
}

// defaultPath is used when the environment has no PATH, as execvp and bash do.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lookPath finds an executable in the PATH of env rather than of this process: the environment the
// command will get is the one that decides which bash and which python3 it means. In Main the two
// are the same, so this is exec.LookPath's answer there. Relative PATH entries are skipped, as
// exec.LookPath refuses them too.
func lookPath(name string, env *environ) (string, error) {
	path, ok := env.get("PATH")
	if !ok {
		path = defaultPath
	}
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH %q", name, path)
}
