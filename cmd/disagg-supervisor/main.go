// Command disagg-supervisor plans, launches and watches the roles of a disaggregated LLM-serving job
// inside one Slurm allocation. See the README for the inputs, exit codes and file formats.
package main

import (
	"os"
	"runtime"
)

func init() {
	// Keep main on the process's main thread. The kernel keeps the parent-death signal per thread:
	// `task` execs the role command from main, and only the main thread carries the SIGKILL-on-parent-
	// death that the fake srun set, so a role never outlives its srun. The supervisor, which forks
	// every srun from main, gets the same guarantee for its children.
	runtime.LockOSThread()
}

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}
