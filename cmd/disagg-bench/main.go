// Command disagg-bench measures what users choose a launcher by and writes bench/results.json and,
// from it, BENCHMARKS.md; its modes stress-check and stress-report are the Go half of
// scripts/stress.sh. Run it through scripts/bench.sh and scripts/stress.sh. The measurements, the
// report and the stress modes are package internal/bench; this file only turns flags into its calls
// and its results into the exit code.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/disagg-supervisor/disagg-supervisor/internal/bench"
)

func main() {
	// The stress modes are subcommands so that the benchmark flags keep their meaning.
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "stress-") {
		code, err := bench.StressCommand(os.Args[1], os.Args[2:])
		if err != nil {
			fmt.Fprintln(os.Stderr, "disagg-bench:", err)
		}
		os.Exit(code)
	}
	var o bench.Options
	groups := bench.GroupNames()
	flag.StringVar(&o.Bin, "bin", "", "disagg-supervisor binary, built with CGO_ENABLED=0 (required unless --render)")
	flag.StringVar(&o.GoBench, "gobench", "bench/gobench.txt", "output of the go test benchmarks (item 5)")
	flag.StringVar(&o.JSONOut, "json", "bench/results.json", "where the results go")
	flag.StringVar(&o.MDOut, "md", "BENCHMARKS.md", "where the report goes")
	flag.StringVar(&o.Command, "command", "scripts/bench.sh", "the command that ran the suite, for the report")
	flag.IntVar(&o.Runs, "runs", 5, "runs per figure (at least 5 for a median worth the name)")
	flag.BoolVar(&o.SkipCluster, "skip-cluster", false, "do not measure on Slurm (machines without the dev cluster)")
	flag.BoolVar(&o.Render, "render", false, "only render --md from an existing --json")
	flag.BoolVar(&o.Keep, "keep", false, "keep the work directory with every run's files")
	flag.StringVar(&o.StressJSON, "stress-json", "bench/stress.json", "pass counts of scripts/stress.sh, rendered into --md when the file exists")
	flag.Func("only", "measure only these groups (comma-separated: "+strings.Join(groups, ", ")+
		"); the other figures are kept from --json", func(v string) error {
		for _, name := range strings.Split(v, ",") {
			if !slices.Contains(groups, name) {
				return fmt.Errorf("unknown group %q (groups: %s)", name, strings.Join(groups, ", "))
			}
			o.Only = append(o.Only, name)
		}
		return nil
	})
	flag.Parse()
	if err := bench.Run(o); err != nil {
		fmt.Fprintln(os.Stderr, "disagg-bench:", err)
		os.Exit(1)
	}
}
