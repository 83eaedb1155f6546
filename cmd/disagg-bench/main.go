// Command disagg-bench measures what users choose a launcher by, and writes bench/results.json and,
// from it, BENCHMARKS.md:
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
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
)

type options struct {
	bin         string // the disagg-supervisor binary (static)
	gobench     string // go test -bench output
	jsonOut     string
	mdOut       string
	command     string // how the suite was run, for the report
	runs        int
	skipCluster bool
	render      bool
	keep        bool
	stressJSON  string // scripts/stress.sh's pass counts, rendered when the file exists
	// only, when set, names the groups to measure (see groups); the figures of the other groups are
	// kept from the existing --json, so one group can be measured again without the whole suite.
	only []string
}

// grace is the supervisor's --grace in every failure run; the targets add it.
const grace = time.Second

func main() {
	// The stress modes are subcommands so that the benchmark flags keep their meaning.
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "stress-") {
		code, err := stressCommand(os.Args[1], os.Args[2:])
		if err != nil {
			fmt.Fprintln(os.Stderr, "disagg-bench:", err)
		}
		os.Exit(code)
	}
	var o options
	flag.StringVar(&o.bin, "bin", "", "disagg-supervisor binary, built with CGO_ENABLED=0 (required unless --render)")
	flag.StringVar(&o.gobench, "gobench", "bench/gobench.txt", "output of the go test benchmarks (item 5)")
	flag.StringVar(&o.jsonOut, "json", "bench/results.json", "where the results go")
	flag.StringVar(&o.mdOut, "md", "BENCHMARKS.md", "where the report goes")
	flag.StringVar(&o.command, "command", "scripts/bench.sh", "the command that ran the suite, for the report")
	flag.IntVar(&o.runs, "runs", 5, "runs per figure (at least 5 for a median worth the name)")
	flag.BoolVar(&o.skipCluster, "skip-cluster", false, "do not measure on Slurm (machines without the dev cluster)")
	flag.BoolVar(&o.render, "render", false, "only render --md from an existing --json")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory with every run's files")
	flag.StringVar(&o.stressJSON, "stress-json", "bench/stress.json", "pass counts of scripts/stress.sh, rendered into --md when the file exists")
	flag.Func("only", "measure only these groups (comma-separated: "+strings.Join(groupNames(), ", ")+
		"); the other figures are kept from --json", func(v string) error {
		for _, name := range strings.Split(v, ",") {
			if !slices.Contains(groupNames(), name) {
				return fmt.Errorf("unknown group %q (groups: %s)", name, strings.Join(groupNames(), ", "))
			}
			o.only = append(o.only, name)
		}
		return nil
	})
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "disagg-bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if !o.render {
		if o.bin == "" || o.runs < 1 {
			return fmt.Errorf("--bin is required and --runs must be at least 1")
		}
		bin, err := filepath.Abs(o.bin)
		if err != nil {
			return err
		}
		o.bin = bin
		work, err := os.MkdirTemp("", "disagg-bench-")
		if err != nil {
			return err
		}
		if o.keep {
			logf("work directory %s (kept)", work)
		} else {
			defer os.RemoveAll(work)
		}
		res := measure(o, work)
		if len(o.only) > 0 {
			if err := keepOtherFigures(&res, o.jsonOut); err != nil {
				return err
			}
		}
		if err := writeJSON(o.jsonOut, res); err != nil {
			return err
		}
	}
	// The report is always rendered from the file, so what it shows is what results.json holds.
	data, err := os.ReadFile(o.jsonOut)
	if err != nil {
		return err
	}
	var res Results
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("%s: %w", o.jsonOut, err)
	}
	stress, err := readStress(o.stressJSON)
	if err != nil {
		return err
	}
	byScript, err := readByScript(o.jsonOut)
	if err != nil {
		return err
	}
	printTable(os.Stdout, res)
	return os.WriteFile(o.mdOut, []byte(markdown(res, stress, byScript)), 0o644)
}

// group is a set of figures measured together; --only picks groups by name.
type group struct {
	name    string
	measure func(o options, work string) []Figure
}

// groups are the suite's groups, in the order they run.
func groups() []group {
	return []group{
		{"cluster", measureCluster},
		{"local", func(o options, work string) []Figure {
			l := &local{bin: o.bin, work: filepath.Join(work, "local"), runs: o.runs}
			return slices.Concat(l.failures(), l.overhead(), l.throughput(), scale(o.gobench, l))
		}},
		{"precheck", measurePrecheck},
		{"hangs", measureHangs},
		{"aggregated", measureAggregated},
		{"barrier", measureBarrier},
	}
}

func groupNames() []string {
	var names []string
	for _, g := range groups() {
		names = append(names, g.name)
	}
	return names
}

// measure runs every item (or the --only groups); an item that cannot run is reported as not
// measured, with the reason.
func measure(o options, work string) Results {
	res := Results{Date: time.Now().UTC().Format(time.RFC3339), Command: o.command, Runs: o.runs,
		Machine: describeMachine(), GraceSeconds: grace.Seconds()}
	started := time.Now()
	for _, g := range groups() {
		if len(o.only) == 0 || slices.Contains(o.only, g.name) {
			res.Figures = append(res.Figures, g.measure(o, work)...)
		}
	}
	sort.SliceStable(res.Figures, func(i, j int) bool { return res.Figures[i].ID < res.Figures[j].ID })
	res.SuiteSeconds = time.Since(started).Seconds()
	return res
}

// clusterReason says why the cluster figures cannot be measured; empty when they can.
func clusterReason(o options) string {
	if o.skipCluster {
		return "--skip-cluster was given"
	}
	if err := clusterAvailable(); err != nil {
		return err.Error()
	}
	return ""
}

func measureCluster(o options, work string) []Figure {
	if reason := clusterReason(o); reason != "" {
		var fs []Figure
		for _, f := range clusterFigures() {
			f.NotMeasured = reason
			fs = append(fs, f)
		}
		return fs
	}
	c := &cluster{bin: o.bin, work: filepath.Join(work, "cluster"), runs: o.runs}
	fs := slices.Concat(c.launch(), c.failures())
	c.cancelLeftovers()
	return fs
}

// keptNote starts the note of a figure carried over from an earlier suite run by --only.
const keptNote = "Measured in an earlier run of the suite:"

// keepOtherFigures adds to res the figures of path that res does not measure again, so that a run
// with --only updates its groups' figures and leaves the others as they were measured.
func keepOtherFigures(res *Results, path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var old Results
	if err := json.Unmarshal(data, &old); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, f := range old.Figures {
		if !slices.ContainsFunc(res.Figures, func(g Figure) bool { return g.ID == f.ID }) {
			if !slices.ContainsFunc(f.Notes, func(n string) bool { return strings.HasPrefix(n, keptNote) }) {
				f.note("%s %s, `%s`.", keptNote, old.Date, old.Command)
			}
			res.Figures = append(res.Figures, f)
		}
	}
	sort.SliceStable(res.Figures, func(i, j int) bool { return res.Figures[i].ID < res.Figures[j].ID })
	return nil
}

// Results is bench/results.json.
type Results struct {
	Date         string   `json:"date"`
	Command      string   `json:"command"`
	Runs         int      `json:"runs"`
	GraceSeconds float64  `json:"grace_seconds"`
	SuiteSeconds float64  `json:"suite_seconds"`
	Machine      Machine  `json:"machine"`
	Figures      []Figure `json:"figures"`
}

// Machine is where the figures were measured.
type Machine struct {
	CPU      string `json:"cpu"`
	NProc    int    `json:"nproc"`
	MemoryGB string `json:"memory_gib"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	Slurm    string `json:"slurm,omitempty"`
}

// Figure is one measured quantity: its samples, median, reference, ratio and target.
type Figure struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Method    string     `json:"method"`
	Unit      string     `json:"unit"`
	Median    float64    `json:"median"`
	Samples   []float64  `json:"samples,omitempty"`
	Reference *Reference `json:"reference,omitempty"`
	// Ratio is Median / Reference.Median; RatioName says what it means when it is not a plain ratio.
	Ratio     float64 `json:"ratio,omitempty"`
	RatioName string  `json:"ratio_name,omitempty"`
	Target    string  `json:"target,omitempty"`
	Met       *bool   `json:"met,omitempty"`
	// Parts are diagnostic samples (a breakdown, a floor) that explain the figure.
	Parts       map[string][]float64 `json:"parts,omitempty"`
	Notes       []string             `json:"notes,omitempty"`
	NotMeasured string               `json:"not_measured,omitempty"`
}

// Reference is what a figure is compared with, measured in the same run.
type Reference struct {
	Name    string    `json:"name"`
	Unit    string    `json:"unit"`
	Median  float64   `json:"median"`
	Samples []float64 `json:"samples"`
}

func newFigure(id, name, unit, method string, samples []float64) Figure {
	return Figure{ID: id, Name: name, Unit: unit, Method: method, Samples: samples, Median: median(samples)}
}

func (f *Figure) against(name, unit string, samples []float64) {
	f.Reference = &Reference{Name: name, Unit: unit, Samples: samples, Median: median(samples)}
	if f.Reference.Median != 0 {
		f.Ratio = f.Median / f.Reference.Median
	}
}

func (f *Figure) target(text string, met bool) {
	f.Target = text
	f.Met = &met
}

func (f *Figure) part(name string, samples []float64) {
	if f.Parts == nil {
		f.Parts = map[string][]float64{}
	}
	f.Parts[name] = samples
}

func (f *Figure) note(format string, args ...any) {
	f.Notes = append(f.Notes, fmt.Sprintf(format, args...))
}

// failed turns a figure whose runs did not all succeed into a not-measured one.
func failed(f Figure, err error) Figure {
	f.Samples, f.Median, f.Reference, f.Ratio = nil, 0, nil, 0
	f.NotMeasured = err.Error()
	return f
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func describeMachine() Machine {
	m := Machine{NProc: runtime.NumCPU(), Go: runtime.Version()}
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
