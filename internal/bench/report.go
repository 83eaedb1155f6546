package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// catalog names every figure, its unit and how it is measured.
var catalog = map[string]struct{ name, unit, method string }{
	"1": {"Launch latency, cluster: supervisor start → all 5 roles running", "s",
		"An sbatch job of 3 nodes (8 tasks and 4 GPUs each) writes `date +%s.%N` right before `exec disagg-supervisor run` " +
			"of 2 GEN + 1 CTX (1 node × 4 tasks each, `sleep 60`), DISAGG_SERVER (`sleep 60`) and BENCHMARK (`sleep 2`), no probes. " +
			"The figure is the latest `running` event of supervisor.events.jsonl (every task of the step has written its start marker) minus that instant. " +
			"Reference: `srun -N1 -n1 true`, timed three times by the same batch script before the supervisor starts."},
	"2": {"Today's sequence in bash (`srun … &` then `sleep 5`, per role) → all 5 roles running", "s",
		"The same allocation; a bash script launches the five steps with the srun options of the supervisor's plan, each `srun … &` " +
			"followed by `sleep 5` as today's launch draft does; every task writes `date +%s.%N` when it starts. The figure is the latest of those " +
			"minus the script's start. Reference: the supervisor's launch latency (item 1) of the same suite run; the ratio is our speed-up."},
	"3a": {"Failure detection, local: GEN_0 rank 1 exits 3", "s", localFailureMethod("GEN_0:1:3:2s")},
	"3b": {"Failure detection, local: CTX_0 rank 1 exits 3", "s", localFailureMethod("CTX_0:1:3:2s")},
	"3c": {"Failure detection, local: DISAGG_SERVER exits 3", "s", localFailureMethod("DISAGG_SERVER:0:3:2s")},
	"3d": {"Failure detection, cluster: GEN_0 rank 1 exits 3", "s", clusterFailureMethod("GEN_0:1:3:2s")},
	"3e": {"Failure detection, cluster: CTX_0 rank 1 exits 3", "s", clusterFailureMethod("CTX_0:1:3:2s")},
	"3f": {"Failure detection, cluster: DISAGG_SERVER exits 3", "s", clusterFailureMethod("DISAGG_SERVER:0:3:2s")},
	"3g": {"Failure detection, local, aggregated test: SERVER rank 3 exits 7", "s", aggregatedFailureMethod},
	"4a": {"Supervisor peak RSS, 10 idle roles for 30 s", "MB",
		"`disagg-supervisor run --local` of 8 GEN (1 task each, `sleep 600`), DISAGG_SERVER (`sleep 600`) and BENCHMARK (`sleep 30`). " +
			"VmHWM of /proc/PID/status of the supervisor process alone, sampled every 200 ms; the last sample before it exits. " +
			"The runs go side by side (each figure belongs to one process). Reference: the peak RSS (wait4 maxrss) of the same binary running `plan` for the same layout."},
	"4b": {"Supervisor CPU time, 10 idle roles for 30 s", "s",
		"The runs of 4a: utime + stime of /proc/PID/stat of the supervisor process alone (its children excluded; in clock ticks of 10 ms), last sample before it exits. " +
			"Reference: the wall time that sample covers; the ratio is the share of one core."},
	"5a": {"Plan 4,096 nodes, 1,024 GEN + 1,024 CTX servers (roles.BenchmarkBuild)", "ms", goBenchMethod},
	"5b": {"Expand a hostlist of 100,000 names (slurm.BenchmarkExpandHostlist)", "ms", goBenchMethod},
	"5c": {"Compress 100,000 host names (slurm.BenchmarkCompressHostlist)", "ms", goBenchMethod},
	"5d": {"Local mode: launch and tear down 64 roles × 8 tasks = 512 processes (integration.BenchmarkLocal512)", "s",
		"`go test -bench BenchmarkLocal512 -benchtime 1x -count N`: a fake 64-node allocation with 8 GPUs per node, 64 GEN of 1 node × 8 tasks running `sleep 600`, " +
			"a DISAGG_SERVER, and a BENCHMARK that exits 0 once all 512 worker start markers exist; one op is supervisor.Run from its start to its return, " +
			"and the benchmark fails if any process of the run is left. The task runner's LD_LIBRARY_PATH probe does not run (see the note). " +
			"Reference: starting 512 `sleep` processes directly, then killing and reaping them (integration.BenchmarkReferenceSpawn512), same go test run."},
	"6a": {"Toy benchmark throughput through the toy stack", "req/s",
		"`disagg-supervisor demo --requests 2000 --concurrency 8`: throughput_rps of toy_benchmark_results.json. " +
			"Reference: the ideal for 8 requests in flight when each one holds a CTX prefill and a GEN decode of 2 ms each: " +
			"8 / (two back-to-back 2 ms sleeps, timed 50 times on this machine before each run)."},
	"7a": {"Precheck phase, local: 3 instances of 2 tasks, the slowest 2 s", "s",
		"`disagg-supervisor run --local` of 2 GEN + 1 CTX (1 node × 2 tasks each) with `--precheck`, the toy precheck as the GEN and CTX precheck command " +
			"(`toy precheck --variant " + precheckVariant + "`), servers `sleep 600`, benchmark `true`. " +
			"The figure is GEN_0's launch event minus the first precheck instance's launch event. " +
			"Reference: the slowest instance's step time (its exit event's duration: srun start to end), same run; the ratio is the phase's overhead over it. " +
			"Today's gate adds `sleep 5` after each of the three launches."},
	"7b": {"Precheck phase, cluster: 3 instances of 4 tasks, the slowest 2 s", "s",
		"An sbatch job of 3 nodes execs `disagg-supervisor run` of 2 GEN + 1 CTX (1 node × 4 tasks each, PMIx) with `--precheck`, the toy precheck " +
			"(`toy precheck --variant " + precheckVariant + "`), servers `sleep 60`, benchmark `true`. " +
			"Figure and reference as in 7a, from the job's event log."},
	"6b": {"Toy benchmark request latency, p50", "ms",
		"The runs of 6a: latency_ms.p50 of toy_benchmark_results.json. Reference: two back-to-back 2 ms sleeps, timed before each run."},
}

const goBenchMethod = "`go test -run '^$' -bench … -count N`, median ns/op. Reference: sorting 100,000 host names " +
	"(integration.BenchmarkReferenceSortNames) in the same suite run, a yardstick of this machine's speed."

func localFailureMethod(spec string) string {
	return "`disagg-supervisor demo --fail " + spec + " --grace 1s --requests 100000` (the toy stack on a fake 4-node allocation). " +
		"The failing rank writes the Unix time in ns just before it exits. The figure is the instant this program's wait on the supervisor " +
		"process returned (or, if later, the instant no live process carrying the run token was left) minus that time. " +
		"Reference: one bare step of the fake srun, `disagg-supervisor srun -N1 -n1 true`."
}

func clusterFailureMethod(spec string) string {
	return "An sbatch job of 3 nodes runs `disagg-supervisor run` of the toy stack (2 GEN + 1 CTX of 1 node × 4 tasks, router, benchmark, " +
		"file probes) with `--fail " + spec + " --grace 1s`. The batch script writes `date +%s.%N` when the supervisor has exited, then checks " +
		"that no process carries the run token (the four nodes are this host) and that `squeue -s` lists no step of the job; if anything is " +
		"left, the instant it is all gone counts. The figure is that minus the fault time. Reference: `srun -N1 -n1 true` timed in the same jobs."
}

func fig(id string, samples []float64) figure {
	c := catalog[id]
	return newFigure(id, c.name, c.unit, c.method, samples)
}

// scale turns the go test benchmark output into item 5.
func scale(path string, l *local) []figure {
	ids := []string{"5a", "5b", "5c", "5d"}
	benches, err := parseGoBench(path)
	if err != nil {
		var out []figure
		for _, id := range ids {
			out = append(out, failed(fig(id, nil), err))
		}
		return out
	}
	get := func(name string, unit float64) []float64 {
		var out []float64
		for _, ns := range benches[name] {
			out = append(out, ns/unit)
		}
		return out
	}
	const ms, s = 1e6, 1e9
	sortRef := get("BenchmarkReferenceSortNames", ms)
	var out []figure
	for i, name := range []string{"BenchmarkBuild", "BenchmarkExpandHostlist", "BenchmarkCompressHostlist"} {
		f := fig(ids[i], get(name, ms))
		f.against("sort 100,000 host names", "ms", sortRef)
		f.target("< 50 ms", f.Median < 50)
		out = append(out, f)
	}
	f := fig("5d", get("BenchmarkLocal512", s))
	f.against("spawn, kill and reap 512 sleep processes directly", "s", get("BenchmarkReferenceSpawn512", s))
	f.target("< 5 s", f.Median < 5)
	if noBarrier := get("BenchmarkLocal512NoBarrier", s); len(noBarrier) > 0 {
		f.part("the same with the task barrier off, integration.BenchmarkLocal512NoBarrier (s)", noBarrier)
		f.note("With the task runner's barrier off it took %.2f s: the barrier, on by default for steps of more than one task, costs %.2f s here, where 512 ranks wait for their step's release file on %d cores (rank 0 counts the arrivals and writes it; the others look at that one file, backing off to a grid on which they leave together). "+
			"The task runner also stays the parent of its command, to run the after commands and report the command's status: 1,024 processes instead of 512. In the teardown each rank passes SIGTERM on to its command with one kill(2), and reads the process table only when the command left processes behind.",
			median(noBarrier), f.Median-median(noBarrier), describeMachine().NProc)
	}
	if python, wall, cpu, err := l.pythonProbe(); err == nil {
		f.part("task LD_LIBRARY_PATH probe, python3 import of tensorrt_llm, wall per task (s)", wall)
		f.part("the same, CPU per task (s)", cpu)
		n := float64(describeMachine().NProc)
		f.note("In a TensorRT-LLM job (llmSrcNode set) every task first runs python3 to import tensorrt_llm for LD_LIBRARY_PATH, as today's run script does. Measured here (%s): %.3f s wall and %.3f s CPU per probe, so 512 tasks would add about %.0f s of CPU, %.0f s on %.0f cores; this benchmark has no llmSrcNode and also turns the probe off (LDLibraryPath=false), to measure the launcher, not python.",
			python, median(wall), median(cpu), 512*median(cpu), 512*median(cpu)/n, n)
	}
	for i := range out {
		if len(out[i].Samples) == 0 {
			out[i] = failed(out[i], fmt.Errorf("%s has no samples of this benchmark", path))
		}
	}
	if len(f.Samples) == 0 {
		f = failed(f, fmt.Errorf("%s has no samples of BenchmarkLocal512", path))
	}
	return append(out, f)
}

var benchLine = regexp.MustCompile(`^(Benchmark[^\s/-]+)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op`)

// parseGoBench reads `go test -bench` output: ns/op samples by benchmark name.
func parseGoBench(path string) (map[string][]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("no go test benchmark output: %w", err)
	}
	defer f.Close()
	out := map[string][]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := benchLine.FindStringSubmatch(sc.Text()); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			out[m[1]] = append(out[m[1]], v)
		}
	}
	return out, sc.Err()
}

func value(v float64, unit string) string {
	switch {
	case unit == "s" && v < 1:
		return fmt.Sprintf("%.3f s", v)
	case unit == "s":
		return fmt.Sprintf("%.2f s", v)
	case unit == "ms":
		return fmt.Sprintf("%.2f ms", v)
	case unit == "MB":
		return fmt.Sprintf("%.1f MB", v)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}

func ratio(f figure) string {
	if f.Reference == nil {
		return "-"
	}
	switch f.RatioName {
	case "speed-up":
		return fmt.Sprintf("%.0f× (speed-up)", f.Ratio)
	case "of one core":
		return fmt.Sprintf("%.2f%% of one core", 100*f.Ratio)
	case "of ideal":
		return fmt.Sprintf("%.0f%% of ideal", 100*f.Ratio)
	}
	return fmt.Sprintf("%.1f×", f.Ratio)
}

func met(f figure) string {
	switch {
	case f.NotMeasured != "":
		return "not measured"
	case f.Met == nil:
		return "-"
	case *f.Met:
		return "met"
	}
	return "**missed**"
}

// row is a figure's cells in the summary table.
func row(f figure) []string {
	if f.NotMeasured != "" {
		return []string{f.ID, f.Name, "not measured: " + f.NotMeasured, "-", "-", orDash(f.Target), met(f)}
	}
	ref := "-"
	if f.Reference != nil {
		ref = value(f.Reference.Median, f.Reference.Unit) + ": " + f.Reference.Name
	}
	return []string{f.ID, f.Name, fmt.Sprintf("%s (n=%d)", value(f.Median, f.Unit), len(f.Samples)), ref, ratio(f), orDash(f.Target), met(f)}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

var columns = []string{"#", "figure", "median", "reference (median)", "ratio", "target", "met"}

func printTable(w io.Writer, res results) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(columns, "\t"))
	for _, f := range res.Figures {
		cells := row(f)
		cells[1] = truncate(cells[1], 60)
		cells[3] = truncate(cells[3], 40)
		fmt.Fprintln(tw, strings.ReplaceAll(strings.Join(cells, "\t"), "**", ""))
	}
	tw.Flush()
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// markdown renders BENCHMARKS.md from the results, with the stress section when there is one, and
// byScript, the figures that scripts of their own measured (bench/by-script.md), at the end.
func markdown(res results, stress *stressResults, byScript string) string {
	var b strings.Builder
	m := res.Machine
	fmt.Fprintf(&b, "# Benchmarks\n\nGenerated by `cmd/disagg-bench` from `bench/results.json`: every number below is measured, none is typed in. ")
	fmt.Fprintf(&b, "To measure again, run `scripts/bench.sh` (about 10 minutes; `--skip-cluster` without Slurm). It is not part of CI.\n\n")
	fmt.Fprintf(&b, "- Date: %s\n- Command: `%s`\n", res.Date, res.Command)
	fmt.Fprintf(&b, "- Machine: %s, nproc %d, %s GiB memory, Linux %s, %s", m.CPU, m.NProc, m.MemoryGB, m.Kernel, m.Go)
	if m.Slurm != "" {
		fmt.Fprintf(&b, ", %s (the 4-node dev cluster of scripts/slurm-dev-cluster.sh: node1..node4 on this one machine, 8 CPUs and 4 fake GPUs each, PMIx)", m.Slurm)
	}
	fmt.Fprintf(&b, "\n- Every figure is the median of %d runs (all samples are in bench/results.json); the supervisor's grace period in the failure runs is %.0f s. The suite took %.0f s.\n\n",
		res.Runs, res.GraceSeconds, res.SuiteSeconds)

	fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(columns, " | "), strings.Repeat("---|", len(columns)))
	for _, f := range res.Figures {
		fmt.Fprintf(&b, "| %s |\n", strings.Join(row(f), " | "))
	}

	b.WriteString("\n## Targets missed, and why\n\n")
	missed := 0
	for _, f := range res.Figures {
		if f.Met != nil && !*f.Met && f.NotMeasured == "" {
			missed++
			fmt.Fprintf(&b, "- **%s. %s**: %s against the target %s.", f.ID, f.Name, value(f.Median, f.Unit), f.Target)
			for _, n := range f.Notes {
				b.WriteString(" " + n)
			}
			b.WriteString("\n")
		}
	}
	if missed == 0 {
		b.WriteString("None.\n")
	}
	var skipped []string
	for _, f := range res.Figures {
		if f.NotMeasured != "" {
			skipped = append(skipped, fmt.Sprintf("- %s. %s: %s\n", f.ID, f.Name, f.NotMeasured))
		}
	}
	if len(skipped) > 0 {
		b.WriteString("\n## Not measured\n\n" + strings.Join(skipped, ""))
	}

	if stress != nil {
		b.WriteString(stressMarkdown(*stress))
	}

	b.WriteString("\n## How each figure is measured, and its samples\n")
	for _, f := range res.Figures {
		fmt.Fprintf(&b, "\n### %s. %s\n\n%s\n\n", f.ID, f.Name, f.Method)
		if f.NotMeasured != "" {
			fmt.Fprintf(&b, "Not measured: %s\n", f.NotMeasured)
			continue
		}
		fmt.Fprintf(&b, "- samples (%s): %s\n", f.Unit, samples(f.Samples))
		if r := f.Reference; r != nil {
			fmt.Fprintf(&b, "- reference, %s (%s): %s\n", r.Name, r.Unit, samples(r.Samples))
		}
		names := make([]string, 0, len(f.Parts))
		for name := range f.Parts {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Fprintf(&b, "- %s: median %s; %s\n", name, num(median(f.Parts[name])), samples(f.Parts[name]))
		}
		for _, n := range f.Notes {
			fmt.Fprintf(&b, "\n%s\n", n)
		}
	}
	if byScript = strings.TrimSpace(byScript); byScript != "" {
		b.WriteString("\n" + byScript + "\n")
	}
	return b.String()
}

func samples(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = num(x)
	}
	return strings.Join(parts, ", ")
}

func num(x float64) string {
	switch {
	case x == float64(int64(x)) && x < 1e6:
		return strconv.FormatInt(int64(x), 10)
	case x >= 100:
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.4g", x)
}

// byScriptFile holds the figures that scripts of their own measured, next to results.json; every
// rendering of BENCHMARKS.md appends it, so that they survive a new run of the suite.
const byScriptFile = "by-script.md"

// readByScript reads byScriptFile in the directory of results.json; none is no figures.
func readByScript(resultsJSON string) (string, error) {
	data, err := os.ReadFile(filepath.Join(filepath.Dir(resultsJSON), byScriptFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return string(data), err
}
