package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/sys/unix"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/fakesrun"
	"github.com/disagg-supervisor/disagg-supervisor/internal/valid"
	"github.com/disagg-supervisor/disagg-supervisor/logscan"
	"github.com/disagg-supervisor/disagg-supervisor/mode"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/supervisor"
	"github.com/disagg-supervisor/disagg-supervisor/task"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

const description = `Plans, launches and watches the roles of a disaggregated LLM-serving job (GEN and CTX
workers, the DISAGG_SERVER router, the BENCHMARK client) inside one Slurm allocation: one srun step per
role, fail fast on the first failure, one exit code, and a readable story of the run.

An aggregated test (one multi-rank SERVER that serves and measures itself) runs the same way, one step
for the allocation: see --mode.

Inputs come from flags, then the environment (the names today's generator exports), then --config.
Run "disagg-supervisor demo" to see a whole run on this machine, without Slurm.`

// exitError carries an exit code from a command to the process.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		// The run already told its story; only the code is left to pass on.
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}

// cli is the command line. Each command's Run does the work; kong binds flags to fields.
type cli struct {
	Version kong.VersionFlag `help:"Print the build's version and commit, and exit."`

	Plan   planCmd   `cmd:"" help:"Print what would be launched: roles, nodes, tasks, commands, srun argv (--local: for a local run)."`
	Run    runCmd    `cmd:"" help:"Launch and supervise the plan (inside an sbatch job, or --local with a fake srun)."`
	Demo   demoCmd   `cmd:"" help:"Run a toy disaggregated stack in local mode: the whole flow in under 30 s (--aggregated: an aggregated test)."`
	Status statusCmd `cmd:"" help:"Show the state of a run (finished or in progress) from its workspace."`
	Task   taskCmd   `cmd:"" passthrough:"" help:"Per-rank runner that srun starts on every task (install gate, setup, rank-0 preparation, barrier, environment, the role command as its child, after commands). See 'task --help'."`
	Srun   srunCmd   `cmd:"" passthrough:"" help:"Fake srun: runs a step's tasks as local processes, as srun would."`
	Toy    toyCmd    `cmd:"" passthrough:"" hidden:"" help:"One rank of the toy stack used by the demo and the tests."`
	Help   helpCmd   `cmd:"" help:"Show this help, or a command's: 'help run' is 'run --help'."`
}

// env is what commands need from the process, so tests can run them in-process.
type env struct {
	stdout, stderr io.Writer
	// getenv is where the inputs' variables are read; environ is what every step starts from.
	getenv  func(string) string
	environ func() []string
}

// run parses args and runs the command; it returns the process's exit code.
func run(args []string, stdout, stderr io.Writer) int {
	// Invoked as "srun" (a symlink or copy named srun), the binary is the fake srun.
	if filepath.Base(args[0]) == "srun" {
		return fakesrun.Main(args[1:])
	}
	// The per-rank runner and the fake srun parse their own arguments, and start once per task and
	// once per step: hundreds of times in a wide job. Building the parser of the whole command line
	// cost each of them more CPU than all its own work (BENCHMARKS.md, 5d), so they skip it.
	if len(args) > 1 {
		switch args[1] {
		case "task":
			return task.Main(args[2:])
		case "srun":
			return fakesrun.Main(args[2:])
		}
	}
	var c cli
	exitCode := -1
	vars := flagVars()
	vars["version"] = versionLine(debug.ReadBuildInfo())
	// help [COMMAND...] is COMMAND... --help, parsed afresh (a passthrough command prints its own).
	help := showHelp(func(words []string) int {
		return run(append(append([]string{args[0]}, words...), "--help"), stdout, stderr)
	})
	parser, err := kong.New(&c,
		kong.Name("disagg-supervisor"),
		kong.Description(description),
		kong.Vars(vars),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exitCode = code }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, WrapUpperBound: 110}),
		kong.Bind(env{stdout: stdout, stderr: stderr, getenv: os.Getenv, environ: os.Environ}, help),
	)
	if err != nil {
		fmt.Fprintf(stderr, "disagg-supervisor: %v\n", err)
		return verdict.ExitInternal
	}
	ctx, err := parser.Parse(args[1:])
	if exitCode >= 0 {
		// --help printed the usage and asked to exit.
		return exitCode
	}
	if err != nil {
		fmt.Fprintf(stderr, "disagg-supervisor: %s\n", errorLine(err))
		return verdict.ExitBadInput
	}
	if err := checkNumbers(ctx); err != nil {
		fmt.Fprintf(stderr, "disagg-supervisor: %s\n", oneLine(err.Error()))
		return verdict.ExitBadInput
	}
	if err := ctx.Run(); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.err != nil {
				fmt.Fprintf(stderr, "disagg-supervisor: %s\n", errorLine(ee.err))
			}
			return ee.code
		}
		fmt.Fprintf(stderr, "disagg-supervisor: %s\n", errorLine(err))
		return verdict.ExitInternal
	}
	return 0
}

// flagVars are the kong variables the flags' tags interpolate (default:"${grace}"): every default
// the command line shows and takes is stated once, by the package that owns the value, and a changed
// default cannot leave a stale one in a tag.
func flagVars() kong.Vars {
	vars := kong.Vars(roles.FlagVars())
	for name, value := range map[string]string{
		"grace":               roles.ShortDuration(supervisor.DefaultGrace),
		"launch_gate":         string(supervisor.DefaultLaunchGate),
		"launch_gate_timeout": roles.ShortDuration(supervisor.DefaultLaunchGateTimeout),
		"drain_signal":        signalName(supervisor.DefaultDrainSignal),
		"tail_lines":          strconv.Itoa(supervisor.DefaultTailLines),
		"end_marker":          supervisor.DefaultEndMarker,
		"dump_wait":           roles.ShortDuration(supervisor.DefaultDumpWait),
		"local_nodes":         strconv.Itoa(defaultLocalNodes),
		"local_gpus_per_node": strconv.Itoa(defaultLocalGPUsPerNode),
	} {
		vars[name] = value
	}
	return vars
}

// signalName is a signal as --drain-signal and sbatch --signal write it: USR1.
func signalName(sig syscall.Signal) string {
	return strings.TrimPrefix(unix.SignalName(sig), "SIG")
}

// errorLine is err for stderr, secrets masked: one line, or one line per problem (problemLines).
func errorLine(err error) string {
	return problemLines(err)
}

// durationType is the type of the duration flags.
var durationType = reflect.TypeFor[time.Duration]()

// checkNumbers applies the one rule of durations and counts (package valid) to every duration and
// integer flag of the command that a default or the user set: positive, or also 0 where the flag's
// `zero` tag says what 0 means. Zero must not silently mean a default (--probe-timeout 0 was 30
// minutes), and a negative grace or tail means nothing at all.
func checkNumbers(ctx *kong.Context) error {
	for _, f := range ctx.Flags() {
		v := f.Target
		if !f.Set || !v.IsValid() {
			continue
		}
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				continue
			}
			v = v.Elem()
		}
		zeroMeans := f.Tag.Get("zero")
		var err error
		switch {
		case v.Type() == durationType:
			err = valid.Duration(time.Duration(v.Int()), zeroMeans)
		case v.Kind() == reflect.Int:
			err = valid.Count(int(v.Int()), zeroMeans)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("--%s: %w", f.Name, err)
		}
	}
	return nil
}

// oneLine folds an error's lines and runs of white space into one line of stderr: all of it stays,
// unlike the bench's firstLine.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// badInput turns a planning error into the bad-input exit code.
func badInput(err error) error {
	return &exitError{code: verdict.ExitBadInput, err: err}
}

type planCmd struct {
	roles.Flags
	JSON bool `name:"json" help:"Print the plan as one JSON object (schema: docs/outputs.md)."`
	localFlags
}

// Run prints the plan; with --local, the plan of run --local with the same flags, on its fake
// allocation, launching nothing.
func (p *planCmd) Run(e env) error {
	if err := absolutePaths(&p.Flags); err != nil {
		return badInput(err)
	}
	getenv, err := p.localFlags.allocation(&p.Flags, e.getenv)
	if err != nil {
		return badInput(err)
	}
	plan, err := roles.Build(roles.Sources{Flags: p.Flags, Getenv: getenv, ReadFile: readInput,
		Unique: strconv.Itoa(os.Getpid())})
	if err != nil {
		return badInput(err)
	}
	if p.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(plan.Redacted())
	}
	return roles.WriteTable(e.stdout, plan) // which redacts it
}

// superviseFlags are the run loop's own settings.
type superviseFlags struct {
	Grace             time.Duration `default:"${grace}" help:"Time between SIGTERM and SIGKILL when steps are stopped."`
	LaunchGate        mode.Mode     `default:"${launch_gate}" enum:"auto,always,never" help:"Serialise launches of steps that share a node until the earlier one has all tasks started: auto (when srun args use containers), always, never."`
	LaunchGateTimeout time.Duration `default:"${launch_gate_timeout}" help:"Longest wait at the launch gate before launching anyway."`
	DrainSignal       string        `default:"${drain_signal}" help:"Pre-timeout signal (sbatch --signal=B:USR1@N) that drains the run gracefully."`
	TailLines         int           `default:"${tail_lines}" help:"Lines of the failing role's log shown in the root-cause report."`
	EndMarkers        []string      `name:"end-marker" default:"${end_marker}" sep:"none" placeholder:"PATTERN" help:"File pattern by which the benchmark announces its end (repeatable; {out} {workspace} {job} {token} as in probes; it must lie under {out} or {workspace}). A server ending with status 0 once a regular file matches has finished; before, it is an early exit (exit 84). Files that match when the run starts are an earlier attempt's: they are moved, never deleted, into WORKSPACE/.disagg-supervisor/stale/RUN_TOKEN/. Default: ${default}."`
	ServerConfigs     int           `name:"server-configs" zero:"unknown" placeholder:"N" help:"Server configurations the benchmark runs one after another in the same steps, each ending with its end marker benchmark_status.<k>.txt: servers have finished only after the last one's, and every check holds within each (env DISAGG_SERVER_CONFIGS; default 0: the config's server_configs count, else unknown, when every marker starts the next until the steps end)."`
	JUnit             string        `name:"junit" placeholder:"PATH" help:"Where the supervisor's JUnit verdict goes (default: WORKSPACE/results-disagg-supervisor.xml, which CI's results*.xml pattern collects)."`
	ErrorPatterns     []string      `name:"error-pattern" sep:"none" placeholder:"REGEXP" help:"One more pattern (Go regexp) of the error-shaped lines a root cause shows first, besides tracebacks, MPI, CUDA, NCCL, UCX and srun errors (repeatable)."`
	ResultRequire     []string      `name:"result-require" sep:"none" placeholder:"REGEXP" help:"A pattern (Go regexp) the benchmark's output must contain when it ends with 0, e.g. 'Total generated tokens:\\s*[1-9]'; else its result is invalid: exit 86 (repeatable; env DISAGG_RESULT_REQUIRE, one pattern a line)."`
	ResultReject      []string      `name:"result-reject" sep:"none" placeholder:"REGEXP" help:"A pattern (Go regexp) the benchmark's output must not contain when it ends with 0, e.g. '!FAILED REQUESTS!'; else its result is invalid: exit 86 (repeatable; env DISAGG_RESULT_REJECT, one pattern a line)."`
	Requeue           string        `name:"requeue" enum:"allow,refuse," default:"" placeholder:"allow|refuse" help:"What a requeued attempt (SLURM_RESTART_COUNT > 0) does: allow (run it, the default) or refuse (exit 87 at once, before any step, for CI that submits with --no-requeue and retries itself; env DISAGG_REQUEUE)."`
	hangFlags
}

type localFlags struct {
	Local bool `help:"Without Slurm: a fake allocation of --nodes nodes (node1, node2, ...) with --gpus-per-node GPUs each (default ${local_gpus_per_node}), and the built-in fake srun; SLURM_* variables of the shell are ignored."`
	Nodes int  `default:"${local_nodes}" help:"Nodes of the fake allocation (with --local)."`
}

// Defaults of the fake allocation of a local run.
const (
	defaultLocalNodes       = 4
	defaultLocalGPUsPerNode = 4
)

// allocation fills in the allocation a local run fakes (with --local; else it changes nothing):
// --nodes nodes named node1 to nodeN, this process's pid as the job id, defaultLocalGPUsPerNode GPUs
// per node unless flags say otherwise. It returns where the plan reads its variables: with --local
// without the SLURM_* ones, which describe a real allocation, if any, not the fake one.
func (lf localFlags) allocation(flags *roles.Flags, getenv func(string) string) (func(string) string, error) {
	if !lf.Local {
		return getenv, nil
	}
	if err := valid.Count(lf.Nodes, ""); err != nil {
		return nil, fmt.Errorf("--nodes: %w", err)
	}
	if flags.Nodelist == "" {
		flags.Nodelist = fmt.Sprintf("node[1-%d]", lf.Nodes)
	}
	if flags.JobID == "" {
		flags.JobID = strconv.Itoa(os.Getpid())
	}
	if flags.GPUsPerNode == nil {
		gpus := defaultLocalGPUsPerNode
		flags.GPUsPerNode = &gpus
	}
	return func(name string) string {
		if strings.HasPrefix(name, "SLURM_") {
			return ""
		}
		return getenv(name)
	}, nil
}

type runCmd struct {
	roles.Flags
	superviseFlags
	localFlags
}

func (r *runCmd) Run(e env) error {
	return supervise(e, r.Flags, r.superviseFlags, r.localFlags)
}

// supervise builds the plan and runs it; local mode fakes the allocation and srun.
func supervise(e env, flags roles.Flags, sf superviseFlags, lf localFlags) error {
	cfg, stop, err := prepareRun(e, flags, sf, lf)
	defer stop()
	if err != nil {
		return err
	}
	return runPrepared(cfg)
}

// runPrepared runs what prepareRun checked and passes its exit code on.
func runPrepared(cfg supervisor.Config) error {
	result := supervisor.Run(context.Background(), cfg)
	if result.Code != 0 {
		return &exitError{code: result.Code}
	}
	return nil
}

// prepareRun checks every input and builds the run's configuration, launching nothing. stop releases
// the signals it catches; call it once the run is over, also after an error.
func prepareRun(e env, flags roles.Flags, sf superviseFlags, lf localFlags) (cfg supervisor.Config, stop func(), err error) {
	stop = func() {}
	drain, err := verdict.ParseSignal(sf.DrainSignal)
	if err != nil {
		return cfg, stop, badInput(fmt.Errorf("--drain-signal: %w", err))
	}
	// The command line owns the process's signals, and catches them before anything else (see
	// NotifySignals); the run gets them through its Config.
	signals, stopSignals := supervisor.NotifySignals(drain)
	// A console piped into a pager that quits must not kill the supervisor mid-run: catching SIGPIPE
	// (ignoring it would pass SIG_IGN on to every step) turns such writes into errors.
	pipe := make(chan os.Signal, 1)
	signal.Notify(pipe, syscall.SIGPIPE)
	stop = func() {
		stopSignals()
		signal.Stop(pipe)
	}
	if err := absolutePaths(&flags); err != nil {
		return cfg, stop, badInput(err)
	}
	self, err := os.Executable()
	if err != nil {
		return cfg, stop, &exitError{code: verdict.ExitInternal, err: fmt.Errorf("find own binary: %w", err)}
	}
	baseEnv := e.environ()
	launcher := []string{"srun"}
	getenv, err := lf.allocation(&flags, e.getenv)
	if err != nil {
		return cfg, stop, badInput(err)
	}
	if lf.Local {
		launcher = []string{self, "srun"}
	}
	plan, err := roles.Build(roles.Sources{Flags: flags, Getenv: getenv, ReadFile: readInput,
		Unique: strconv.Itoa(os.Getpid())})
	if err != nil {
		return cfg, stop, badInput(err)
	}
	markers, err := plan.EndMarkers("--end-marker", sf.EndMarkers)
	if err != nil {
		return cfg, stop, badInput(err)
	}
	junit := sf.JUnit
	if junit != "" {
		if junit, err = filepath.Abs(junit); err != nil {
			return cfg, stop, badInput(fmt.Errorf("--junit: %w", err))
		}
	}
	errorLines, err := logscan.NewMatcher(sf.ErrorPatterns)
	if err != nil {
		return cfg, stop, badInput(fmt.Errorf("--error-pattern: %w", err))
	}
	// One client for every Slurm command of the run, so that summary.json counts them all.
	var client *slurm.Client
	if !lf.Local {
		client = slurm.LookPath()
	}
	hangs, err := sf.hangFlags.settings(plan, client, e.getenv)
	if err != nil {
		return cfg, stop, badInput(err)
	}
	configs, err := serverConfigs(sf.ServerConfigs, e.getenv)
	if err != nil {
		return cfg, stop, badInput(err)
	}
	rules, err := resultRules(sf, e.getenv)
	if err != nil {
		return cfg, stop, badInput(err)
	}
	requeue := cmp.Or(sf.Requeue, e.getenv("DISAGG_REQUEUE"), "allow")
	if requeue != "allow" && requeue != "refuse" {
		return cfg, stop, badInput(fmt.Errorf("DISAGG_REQUEUE: want allow or refuse, got %q", requeue))
	}
	cfg = supervisor.Config{
		HangSettings:      hangs,
		Plan:              plan,
		Launcher:          launcher,
		Env:               baseEnv,
		Executable:        self,
		Grace:             sf.Grace,
		LaunchGate:        sf.LaunchGate,
		LaunchGateTimeout: sf.LaunchGateTimeout,
		DrainSignal:       drain,
		Console:           e.stderr,
		TailLines:         sf.TailLines,
		EndMarkers:        markers,
		ServerConfigs:     configs,
		JUnitPath:         junit,
		BenchmarkOutput:   e.stdout,
		ErrorLines:        errorLines,
		Signals:           signals,
		ResultRules:       rules,
		RefuseRequeue:     requeue == "refuse",
	}
	if lf.Local {
		cfg.Env = fakesrun.AllocationEnv(baseEnv, plan.JobID, plan.Nodes, plan.GPUsPerNode,
			filepath.FromSlash(coord.FakeSlurmDir(plan.Workspace, plan.JobID)))
	} else {
		clusterSettings(&cfg, client, plan.JobID, e.stderr)
	}
	return cfg, stop, nil
}

// clusterSettings fills in how the supervisor works with a real Slurm, through client: scancel to stop
// steps, the cluster's KillWait to fit the teardown in, and the job's state to tell a cancellation
// from a failure.
func clusterSettings(cfg *supervisor.Config, client *slurm.Client, jobID string, stderr io.Writer) {
	// Without scancel steps are still stopped, through srun, only less gently.
	cfg.Slurm = client
	if client.Scontrol == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if cfg.KillWait, err = client.KillWait(ctx); err != nil {
		cfg.KillWait = slurm.DefaultKillWait
		fmt.Fprintf(stderr, "disagg-supervisor: %v; assuming Slurm's default KillWait of %s\n", err, cfg.KillWait)
	}
	cfg.JobState = func(ctx context.Context) (slurm.JobStatus, error) { return client.JobState(ctx, jobID) }
	if client.Sinfo != "" {
		cfg.NodeStates = client.NodeStates
	}
}

// readInput reads a config or srun-arguments file, at most one byte past roles.MaxInputFile, so that
// /dev/zero or an endless pipe ends as bad input (roles refuses the oversized data) instead of
// growing without bound.
func readInput(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, roles.MaxInputFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return data, nil
}

// absolutePaths makes the directory flags absolute: steps may start in another working directory (a
// container's workdir), where a relative path would name another place.
func absolutePaths(f *roles.Flags) error {
	for _, p := range []struct {
		flag string
		dir  *string
	}{{"--workspace", &f.Workspace}, {"--output-dir", &f.OutputDir}} {
		if *p.dir == "" || filepath.IsAbs(*p.dir) {
			continue
		}
		abs, err := filepath.Abs(*p.dir)
		if err != nil {
			return fmt.Errorf("%s: %w", p.flag, err)
		}
		*p.dir = abs
	}
	return nil
}

type statusCmd struct {
	Dir string `arg:"" help:"The run's workspace (where summary.json is)."`
}

// Help is status's exit codes, for its --help: what a script waiting on a run tests.
func (statusCmd) Help() string {
	rows := []struct {
		code  string
		lines []string
	}{
		{strconv.Itoa(verdict.ExitOK), []string{"the run succeeded"}},
		{"1-255", []string{"the run failed or was interrupted: the code run exited with,",
			"a role's own, 128+N for signal N, or a verdict of the supervisor's:"}},
		{fmt.Sprintf("%d-%d", verdict.ExitInternal, verdict.ExitInfrastructure), []string{
			fmt.Sprintf("%d internal, %d bad input, %d preflight, %d not ready,",
				verdict.ExitInternal, verdict.ExitBadInput, verdict.ExitPreflight, verdict.ExitNotReady),
			fmt.Sprintf("%d early exit, %d hung, %d invalid result, %d infrastructure",
				verdict.ExitEarlyExit, verdict.ExitHung, verdict.ExitInvalid, verdict.ExitInfrastructure)}},
		{strconv.Itoa(verdict.ExitStatusRunning), []string{"not decided yet, its supervisor running (or, without a heartbeat",
			"in the summary, not known to be gone)"}},
		{strconv.Itoa(verdict.ExitStatusGone), []string{"not decided, its supervisor gone (killed, its node lost): it never will"}},
		{strconv.Itoa(verdict.ExitBadInput), []string{"also when DIR holds no readable summary.json"}},
	}
	var b strings.Builder
	b.WriteString("Prints the run's table, as run prints it at its end, and exits with what it says about the run, so that a script can wait on it:\n\n")
	for _, r := range rows {
		for i, line := range r.lines {
			code := r.code
			if i > 0 {
				code = ""
			}
			fmt.Fprintf(&b, "    %-6s %s\n", code, line)
		}
	}
	return b.String()
}

// Run shows the run and ends with what it says about it, so that a script can wait on it: the run's
// own exit code once decided, else whether its supervisor is still at work or gone.
func (s *statusCmd) Run(e env) error {
	summary, err := record.ReadSummary(s.Dir)
	if err != nil {
		return badInput(fmt.Errorf("status %s: %w", s.Dir, err))
	}
	record.WriteStatus(e.stdout, summary)
	v := record.LocalObserver().Judge(summary)
	if v.Line != "" {
		fmt.Fprintln(e.stdout, v.Line)
	}
	return exitCode(v.Code)
}

// showHelp prints the help of the command the words name (all of them: the program's) and returns
// the exit code.
type showHelp func(words []string) int

type helpCmd struct {
	Command []string `arg:"" optional:"" help:"The command to show the help of, e.g. run."`
}

func (h *helpCmd) Run(show showHelp) error { return exitCode(show(h.Command)) }

// passArgs are the arguments of a command with flags of its own, handed to it unparsed.
type passArgs struct {
	Args []string `arg:"" optional:""`
}

type taskCmd struct{ passArgs }

func (c *taskCmd) Run() error { return exitCode(task.Main(c.Args)) }

type srunCmd struct{ passArgs }

func (c *srunCmd) Run() error { return exitCode(fakesrun.Main(c.Args)) }

type toyCmd struct{ passArgs }

func (c *toyCmd) Run(e env) error { return exitCode(toyMain(c.Args, e)) }

// exitCode passes a command's own exit code on to the process.
func exitCode(code int) error {
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// resultRules compiles --result-require and --result-reject, or their variables (one pattern a line)
// when the flags are not given.
func resultRules(sf superviseFlags, getenv func(string) string) ([]record.ResultRule, error) {
	var rules []record.ResultRule
	for _, src := range []struct {
		flag, env string
		given     []string
		require   bool
	}{
		{"--result-require", "DISAGG_RESULT_REQUIRE", sf.ResultRequire, true},
		{"--result-reject", "DISAGG_RESULT_REJECT", sf.ResultReject, false},
	} {
		input, patterns := src.flag, src.given
		if len(patterns) == 0 && getenv(src.env) != "" {
			input, patterns = src.env, strings.Split(strings.TrimRight(getenv(src.env), "\n"), "\n")
		}
		for _, p := range patterns {
			if strings.TrimSpace(p) == "" {
				return nil, fmt.Errorf("%s: an empty pattern would match any output", input)
			}
			re, err := regexp.Compile(p)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", input, p, err)
			}
			rules = append(rules, record.ResultRule{Require: src.require, Pattern: re})
		}
	}
	return rules, nil
}
