package task

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

// Paths inside the TensorRT-LLM source tree ($llmSrcNode) that the role commands rely on.
const (
	llmapiLaunchPath = "tensorrt_llm/llmapi/trtllm-llmapi-launch"
	testDefsPath     = "tests/integration/defs"
	// probeScript prints the directory of the installed tensorrt_llm package.
	probeScript = "import tensorrt_llm,os;print(os.path.dirname(tensorrt_llm.__file__))"
)

// llmSrcSetup prepares the source tree the way the role commands expect: the wrapper that manages the
// MPI world must be executable (a source checkout may have lost the bit), and pytest runs from the
// integration test directory. Either part is skipped when its path does not exist.
func (r *runner) llmSrcSetup() {
	src, _ := r.env.get(taskopts.LLMSrcVar)
	if src == "" {
		return
	}
	launch := filepath.Join(src, llmapiLaunchPath)
	if fi, err := os.Stat(launch); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0o111 {
		if err := os.Chmod(launch, fi.Mode().Perm()|0o111); err != nil {
			// Not fatal: a command that does not use the wrapper still works, and one that does
			// fails with a clear "Permission denied".
			r.logf("warning: cannot make %s executable: %v", launch, err)
		} else {
			r.logf("made %s executable", launch)
		}
	}
	defs := filepath.Join(src, testDefsPath)
	if fi, err := os.Stat(defs); err == nil && fi.IsDir() {
		r.workdir = defs
		// bash trusts PWD when it names the working directory, and the command may read it.
		r.env.set("PWD", defs)
		r.logf("the command will start in %s", defs)
	}
}

// ldLibraryPath prepends the installed tensorrt_llm package's libs directory to LD_LIBRARY_PATH.
// It is best effort: without python3 or the package there is nothing to add, and the command will
// say so itself if it needs them.
func (r *runner) ldLibraryPath(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, r.probeTimeout)
	defer cancel()
	cmd, err := probeCommand(ctx, r.env)
	if err != nil {
		r.logf("LD_LIBRARY_PATH unchanged: %v", err)
		return
	}
	python := cmd.Path
	cmd.Dir = r.workdir
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	if err := cmd.Run(); err != nil {
		detail := lastLine(errOut.String())
		if detail != "" {
			detail = ": " + detail
		}
		r.logf("LD_LIBRARY_PATH unchanged: %s cannot import tensorrt_llm (%v)%s", python, err, detail)
		return
	}
	// The package prints a version banner on import, so the path is the last line, not the output.
	pkg := lastLine(out.String())
	libs := filepath.Join(pkg, "libs")
	if fi, err := os.Stat(libs); !filepath.IsAbs(pkg) || err != nil || !fi.IsDir() {
		r.logf("LD_LIBRARY_PATH unchanged: tensorrt_llm is at %q but %s is not a directory", pkg, libs)
		return
	}
	if old, _ := r.env.get("LD_LIBRARY_PATH"); old != "" {
		r.env.set("LD_LIBRARY_PATH", libs+":"+old)
	} else {
		r.env.set("LD_LIBRARY_PATH", libs)
	}
	r.logf("LD_LIBRARY_PATH: prepended %s", libs)
}

// ProbeCommand is the task runner's LD_LIBRARY_PATH probe as it runs in a task whose environment is
// env: the python3 of env's PATH importing tensorrt_llm and printing the package's directory. The
// benchmark suite times it, so that it measures what every task runs.
func ProbeCommand(ctx context.Context, env []string) (*exec.Cmd, error) {
	return probeCommand(ctx, newEnviron(env))
}

func probeCommand(ctx context.Context, env *environ) (*exec.Cmd, error) {
	python, err := lookPath("python3", env)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, python, "-c", probeScript)
	// The probe gets no launcher variables: an import that initialises MPI must not join this
	// step's PMIx world as this rank before the real command does.
	probeEnv := newEnviron(env.list())
	probeEnv.unset(isLauncherVar)
	cmd.Env = probeEnv.list()
	return cmd, nil
}

// unsetLauncherVars applies --unset-slurm.
func (r *runner) unsetLauncherVars() {
	do, why := shouldUnset(r.opts.UnsetSlurm, r.id.kind, r.env)
	if !do {
		r.logf("kept PMI*/PMIX*/MPI*/OMPI*/SLURM* variables (%s)", why)
		return
	}
	removed := r.env.unset(isLauncherVar)
	r.logf("unset %d PMI*/PMIX*/MPI*/OMPI*/SLURM* variables, kept SLURM_PROCID (%s)", len(removed), why)
}

// lastLine is the last non-blank line of s, trimmed.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
