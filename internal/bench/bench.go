// Package bench is the benchmark suite behind cmd/disagg-bench: it measures what users choose a
// launcher by, and writes bench/results.json and, from it, BENCHMARKS.md:
//
//  1. launch latency on the Slurm dev cluster: from the supervisor's start to every role of a 2 GEN +
//     1 CTX + DISAGG_SERVER + BENCHMARK layout running (the latest "running" event);
//  2. the same layout launched by today's sequence, a bash script that runs `srun ... &` then
//     `sleep 5` for each role, and our speed-up over it;
//  3. failure-detection latency: a GEN, CTX or DISAGG_SERVER rank fails and writes the instant it did;
//     the time until the supervisor has exited and no process or step of the run is left, in local
//     mode and on the cluster;
//  4. overhead while supervising 10 idle roles for 30 s: peak RSS and CPU time of the supervisor
//     process alone;
//  5. scale: the medians of the go test benchmarks whose output it is given (--gobench);
//  6. throughput and latency of the toy benchmark through the toy stack;
//  7. the precheck phase's wall time against its slowest instance, in local mode and on the cluster
//     (group precheck, precheck.go).
//
// Every figure is the median of --runs runs and comes with a reference measured in the same run on
// the same machine (a bare srun step, a bare fake-srun step, a direct process spawn, ...) and its ratio
// to it. Run it through scripts/bench.sh, which builds the binaries, starts the dev cluster and runs
// the go benchmarks first. --render only turns an existing results.json into BENCHMARKS.md again.
//
// BENCHMARKS.md also has a section on the pass counts of scripts/stress.sh whenever bench/stress.json
// (--stress-json) exists; the modes stress-check and stress-report (stress.go) produce that file.
//
// Each group of figures (GroupNames, --only) has its file: cluster.go (1, 2, 3d-3f), local.go (3a-3c,
// 4, 6, and the go benchmarks of 5, which report.go's scale reads), precheck.go (7), hangs.go (8),
// aggregated.go (3g) and barrier.go (9). slurmjobs.go submits the sbatch jobs and waits for them,
// report.go renders BENCHMARKS.md, and testlog.go parses the go test output that stress-report counts.
package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
)

// Options are disagg-bench's flags for a benchmark run (or, with Render, a rendering only).
type Options struct {
	Bin         string // the disagg-supervisor binary (static)
	GoBench     string // go test -bench output
	JSONOut     string
	MDOut       string
	Command     string // how the suite was run, for the report
	Runs        int
	SkipCluster bool
	Render      bool
	Keep        bool
	StressJSON  string // scripts/stress.sh's pass counts, rendered when the file exists
	// Only, when set, names the groups to measure (see GroupNames); the figures of the other groups
	// are kept from the existing JSONOut, so one group can be measured again without the whole suite.
	Only []string
}

// grace is the supervisor's --grace in every failure run; the targets add it.
const grace = time.Second

// Run measures the suite (or the Only groups) into JSONOut unless Render is set, then renders MDOut
// from JSONOut, StressJSON and the by-script figures next to JSONOut, and prints the figures' table
// to stdout.
func Run(o Options) error {
	if !o.Render {
		if o.Bin == "" || o.Runs < 1 {
			return fmt.Errorf("--bin is required and --runs must be at least 1")
		}
		bin, err := filepath.Abs(o.Bin)
		if err != nil {
			return err
		}
		o.Bin = bin
		work, err := os.MkdirTemp("", "disagg-bench-")
		if err != nil {
			return err
		}
		if o.Keep {
			logf("work directory %s (kept)", work)
		} else {
			defer os.RemoveAll(work)
		}
		res := measure(o, work)
		if len(o.Only) > 0 {
			if err := keepOtherFigures(&res, o.JSONOut); err != nil {
				return err
			}
		}
		if err := writeJSON(o.JSONOut, res); err != nil {
			return err
		}
	}
	// The report is always rendered from the file, so what it shows is what results.json holds.
	data, err := os.ReadFile(o.JSONOut)
	if err != nil {
		return err
	}
	var res results
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("%s: %w", o.JSONOut, err)
	}
	stress, err := readStress(o.StressJSON)
	if err != nil {
		return err
	}
	byScript, err := readByScript(o.JSONOut)
	if err != nil {
		return err
	}
	printTable(os.Stdout, res)
	return os.WriteFile(o.MDOut, []byte(markdown(res, stress, byScript)), 0o644)
}

// group is a set of figures measured together; --only picks groups by name.
type group struct {
	name    string
	measure func(o Options, work string) []figure
}

// groups are the suite's groups, in the order they run.
func groups() []group {
	return []group{
		{"cluster", measureCluster},
		{"local", func(o Options, work string) []figure {
			l := &local{bin: o.Bin, work: filepath.Join(work, "local"), runs: o.Runs}
			return slices.Concat(l.failures(), l.overhead(), l.throughput(), scale(o.GoBench, l))
		}},
		{"precheck", measurePrecheck},
		{"hangs", measureHangs},
		{"aggregated", measureAggregated},
		{"barrier", measureBarrier},
	}
}

// GroupNames are the names of the suite's groups, in the order they run: the values --only takes.
func GroupNames() []string {
	var names []string
	for _, g := range groups() {
		names = append(names, g.name)
	}
	return names
}

// measure runs every item (or the --only groups); an item that cannot run is reported as not
// measured, with the reason.
func measure(o Options, work string) results {
	res := results{Date: time.Now().UTC().Format(time.RFC3339), Command: o.Command, Runs: o.Runs,
		Machine: describeMachine(), GraceSeconds: grace.Seconds()}
	started := time.Now()
	for _, g := range groups() {
		if len(o.Only) == 0 || slices.Contains(o.Only, g.name) {
			res.Figures = append(res.Figures, g.measure(o, work)...)
		}
	}
	sort.SliceStable(res.Figures, func(i, j int) bool { return res.Figures[i].ID < res.Figures[j].ID })
	res.SuiteSeconds = time.Since(started).Seconds()
	return res
}

// clusterReason says why the cluster figures cannot be measured; empty when they can.
func clusterReason(o Options) string {
	if o.SkipCluster {
		return "--skip-cluster was given"
	}
	if err := clusterAvailable(); err != nil {
		return err.Error()
	}
	return ""
}

func measureCluster(o Options, work string) []figure {
	if reason := clusterReason(o); reason != "" {
		var fs []figure
		for _, f := range clusterFigures() {
			f.NotMeasured = reason
			fs = append(fs, f)
		}
		return fs
	}
	c := &cluster{bin: o.Bin, work: filepath.Join(work, "cluster"), runs: o.Runs}
	fs := slices.Concat(c.launch(), c.failures())
	c.cancelLeftovers()
	return fs
}

// keptNote starts the note of a figure carried over from an earlier suite run by --only.
const keptNote = "Measured in an earlier run of the suite:"

// keepOtherFigures adds to res the figures of path that res does not measure again, so that a run
// with --only updates its groups' figures and leaves the others as they were measured.
func keepOtherFigures(res *results, path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var old results
	if err := json.Unmarshal(data, &old); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, f := range old.Figures {
		if !slices.ContainsFunc(res.Figures, func(g figure) bool { return g.ID == f.ID }) {
			if !slices.ContainsFunc(f.Notes, func(n string) bool { return strings.HasPrefix(n, keptNote) }) {
				f.note("%s %s, `%s`.", keptNote, old.Date, old.Command)
			}
			res.Figures = append(res.Figures, f)
		}
	}
	sort.SliceStable(res.Figures, func(i, j int) bool { return res.Figures[i].ID < res.Figures[j].ID })
	return nil
}

func describeMachine() machine {
	m := machine{NProc: runtime.NumCPU(), Go: runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m.CPU = strings.TrimSpace(value)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(data), "MemTotal: %f kB", &kb); err == nil {
			m.MemoryGB = fmt.Sprintf("%.1f", kb/(1<<20))
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	m.Slurm = slurmVersion()
	return m
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "disagg-bench %s: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
