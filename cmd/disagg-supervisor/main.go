// Command disagg-supervisor plans, launches and watches the roles of a disaggregated LLM-serving job
// inside one Slurm allocation. See the README for the inputs, exit codes and file formats.
package main

import "os"

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}
