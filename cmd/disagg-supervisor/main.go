// Command disagg-supervisor plans, launches and watches the roles of a disaggregated LLM-serving job
// inside one Slurm allocation. See the README and docs/ for the inputs, exit codes and file formats.
package main

import (
	"os"
	"runtime"
)

func init() {
	// Keep main on the process's main thread. The kernel ties the parent-death signal to the thread
	// that forked the child: `task` starts the role command from main with SIGKILL as that signal, so
	// the command dies with the task (which the fake srun's own parent-death signal kills with it), and
	// a role never outlives its srun. The supervisor, which forks every srun from main, gets the same
	// guarantee for its children.
	runtime.LockOSThread()
}

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}
