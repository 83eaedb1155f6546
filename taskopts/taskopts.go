// Package taskopts owns the flags of `disagg-supervisor task`: the Options type, its defaults, and the
// one pair of functions that renders them into a step's argv (the planner) and parses them back (the
// task runner). It does no I/O, so the pure planner can import it.
package taskopts

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/internal/valid"
	"github.com/disagg-supervisor/disagg-supervisor/mode"
)

// Defaults of the task flags. Args leaves out a value equal to its default, so these are the only
// place a default is stated: the planner's help text and the task's parser both read them.
const (
	DefaultInstallTimeout = 30 * time.Minute
	// DefaultBarrierTimeout is longer than DefaultInstallTimeout: a rank may wait at the barrier for a
	// whole install on another node, and must not give up before that install's own waiters do.
	// Today's run script waits 3600 s.
	DefaultBarrierTimeout = time.Hour
	// DefaultBarrier fences every multi-rank step: the framework's first import enters an MPI
	// collective with a 300 s timeout, and ranks skewed by per-node installs abort together.
	DefaultBarrier = true
	// DefaultAfterTimeout bounds each after hook.
	DefaultAfterTimeout  = 5 * time.Minute
	DefaultUnsetSlurm    = UnsetAuto
	DefaultCommandVar    = "pytestCommand"
	DefaultEnvDump       = true
	DefaultLLMSrcSetup   = true
	DefaultLDLibraryPath = true
)

// The variables of a step's environment that the task runner reads besides the one CommandVar names:
// the planner sets them in every step, under the names today's scripts give them.
const (
	// RoleVar names the role the task runs; --role falls back to it, and the task sets it from
	// --role when it is missing, because the role command reads it.
	RoleVar = "DISAGG_SERVING_TYPE"
	// LLMSrcVar is the TensorRT-LLM source tree on the nodes (LLMSrcSetup, LDLibraryPath).
	LLMSrcVar = "llmSrcNode"
)

// The node heartbeat (see coord.Heartbeat): the supervisor judges a node whose heartbeat has not
// changed for its node timeout failed, so the tasks refresh it several times per timeout, and a
// node is not judged on one late write of a loaded node or a slow file system.
const (
	// DefaultNodeTimeout is the supervisor's default --node-timeout: far below Slurm's SlurmdTimeout
	// (300 s by default), far above a write's delay on a loaded shared file system.
	DefaultNodeTimeout = 60 * time.Second
	// HeartbeatsPerTimeout is how many times the heartbeat is refreshed within one node timeout.
	HeartbeatsPerTimeout = 6
	// DefaultNodeHeartbeat is the heartbeat's period for DefaultNodeTimeout.
	DefaultNodeHeartbeat = DefaultNodeTimeout / HeartbeatsPerTimeout
	// minNodeHeartbeat bounds the period from below, whatever the timeout, to keep the writes cheap.
	minNodeHeartbeat = 100 * time.Millisecond
)

// NodeHeartbeat is the heartbeat's period for a node timeout: a sixth of it, at least 100 ms; 0 (no
// node watch) for 0.
func NodeHeartbeat(nodeTimeout time.Duration) time.Duration {
	if nodeTimeout <= 0 {
		return 0
	}
	return max(nodeTimeout/HeartbeatsPerTimeout, minNodeHeartbeat)
}

// Kind is the kind of a role, as --kind spells it. This package owns the type because both the
// planner (package roles, whose Kind it is) and the task runner need it, and roles imports this
// package; its string form is part of the plan JSON schema.
type Kind string

// The kinds of role that run the task runner.
const (
	KindGen       Kind = "gen"
	KindCtx       Kind = "ctx"
	KindServer    Kind = "server"
	KindBenchmark Kind = "benchmark"
	// KindAggregated is the one multi-rank SERVER of an aggregated test.
	KindAggregated Kind = "aggregated"
)

// UnsetMode is when the task removes the launcher's variables (PMI*, PMIX*, MPI*, OMPI*, SLURM* but
// SLURM_PROCID) before the command: the shared auto/always/never switch.
type UnsetMode = mode.Mode

// The values of --unset-slurm.
const (
	// UnsetAuto unsets for DISAGG_SERVER and BENCHMARK, which must not join an MPI world, and on
	// single-node jobs, as the run script always did.
	UnsetAuto = mode.Auto
	// UnsetAlways unsets for every role.
	UnsetAlways = mode.Always
	// UnsetNever keeps the Slurm and MPI variables.
	UnsetNever = mode.Never
)

// UnsetModes lists the valid UnsetMode values, comma-separated, as kong's enum tag and messages want
// them.
const UnsetModes = mode.Names

// ValidKind reports whether k is one of the kinds.
func ValidKind(k Kind) bool {
	switch k {
	case KindGen, KindCtx, KindServer, KindBenchmark, KindAggregated:
		return true
	}
	return false
}

// Options is the task runner's configuration, as its flags carry it from the planner.
type Options struct {
	// Role is the role name, e.g. GEN_0 (--role; the task falls back to DISAGG_SERVING_TYPE when it is
	// empty).
	Role string
	// Kind is gen, ctx, server, benchmark or aggregated (--kind); the task infers it from Role when empty.
	Kind Kind
	// CoordDir is this run attempt's shared coordination directory (--coord-dir). The supervisor keys
	// it by run token, so files of an older attempt are never seen.
	CoordDir string
	// InstallCommand is run with bash -c once per node before the role command (--install-command);
	// empty means no install gate.
	InstallCommand string
	// InstallTimeout bounds how long a task waits for another task's install on its node; zero means
	// the default.
	InstallTimeout time.Duration
	// Barrier makes every rank of a step with more than one task wait, after install, setup and rank
	// 0's preparation, until all ranks got there (on by default).
	Barrier bool
	// BarrierTimeout bounds the barrier wait, and the wait for rank 0's preparation; zero means the
	// default.
	BarrierTimeout time.Duration
	// Setup is FILE[:FUNCTION]: a bash file every rank sources (and the function it then calls)
	// before the environment dump and the command, whose resulting environment both see; empty
	// means none.
	Setup string
	// Rank0 is a command rank 0 runs before the barrier while the other ranks wait for it; empty
	// means none.
	Rank0 string
	// After are commands every rank runs after the role command, best effort and bounded.
	After []string
	// AfterRank0 are after commands only rank 0 runs, after those of After.
	AfterRank0 []string
	// AfterTimeout bounds each after command; zero means the default.
	AfterTimeout time.Duration
	// AfterDecides makes the first failing after command's exit code the task's when the role
	// command passed (today's rank-0 perf check).
	AfterDecides bool
	// UnsetSlurm is when to remove the PMI/PMIX/MPI/OMPI/SLURM variables; empty means the default.
	UnsetSlurm UnsetMode
	// EnvDump prints the final, redacted environment to stdout.
	EnvDump bool
	// LLMSrcSetup makes $llmSrcNode's trtllm-llmapi-launch executable and starts the command in
	// $llmSrcNode/tests/integration/defs, when those exist.
	LLMSrcSetup bool
	// LDLibraryPath prepends the installed tensorrt_llm package's libs directory to LD_LIBRARY_PATH
	// when python3 can import it.
	LDLibraryPath bool
	// CommandVar names the environment variable that holds the role command; empty means the default.
	CommandVar string
	// NodeHeartbeat is how often local rank 0 of the step rewrites its node's heartbeat file in the
	// coordination directory, from its start to its end (--node-heartbeat). Unlike the timeouts, zero
	// is a choice of its own: no heartbeat (the supervisor's node watch is off).
	NodeHeartbeat time.Duration
}

// Defaults is what Parse gives for no flags at all. The booleans are true there, and their zero value
// is a real choice, as is a zero NodeHeartbeat (none); a zero timeout, mode or command variable means
// the default (WithDefaults).
func Defaults() Options {
	return Options{
		InstallTimeout: DefaultInstallTimeout,
		Barrier:        DefaultBarrier,
		BarrierTimeout: DefaultBarrierTimeout,
		AfterTimeout:   DefaultAfterTimeout,
		UnsetSlurm:     DefaultUnsetSlurm,
		EnvDump:        DefaultEnvDump,
		LLMSrcSetup:    DefaultLLMSrcSetup,
		LDLibraryPath:  DefaultLDLibraryPath,
		CommandVar:     DefaultCommandVar,
		NodeHeartbeat:  DefaultNodeHeartbeat,
	}
}

// WithDefaults fills the zero timeouts, mode and command variable of an Options built by hand.
func (o Options) WithDefaults() Options {
	d := Defaults()
	if o.InstallTimeout <= 0 {
		o.InstallTimeout = d.InstallTimeout
	}
	if o.BarrierTimeout <= 0 {
		o.BarrierTimeout = d.BarrierTimeout
	}
	if o.AfterTimeout <= 0 {
		o.AfterTimeout = d.AfterTimeout
	}
	if o.UnsetSlurm == "" {
		o.UnsetSlurm = d.UnsetSlurm
	}
	if o.CommandVar == "" {
		o.CommandVar = d.CommandVar
	}
	return o
}

// Args renders o as the task's flags, leaving out every value equal to its default (and empty role,
// kind and coordination directory), so that a step's argv shows only choices someone made. Parse
// gives back o.WithDefaults(). Values are separate words, never quoted: argv goes to exec as it is.
func (o Options) Args() []string {
	o = o.WithDefaults()
	d := Defaults()
	var out []string
	for _, f := range []struct{ name, value string }{
		{"--role", o.Role}, {"--kind", string(o.Kind)}, {"--coord-dir", o.CoordDir}, {"--install-command", o.InstallCommand},
	} {
		if f.value != "" {
			out = append(out, f.name, f.value)
		}
	}
	if o.InstallTimeout != d.InstallTimeout {
		out = append(out, "--install-timeout", o.InstallTimeout.String())
	}
	if o.BarrierTimeout != d.BarrierTimeout {
		out = append(out, "--barrier-timeout", o.BarrierTimeout.String())
	}
	for _, f := range []struct{ name, value string }{{"--setup", o.Setup}, {"--rank0", o.Rank0}} {
		if f.value != "" {
			out = append(out, f.name, f.value)
		}
	}
	for _, c := range o.After {
		out = append(out, "--after", c)
	}
	for _, c := range o.AfterRank0 {
		out = append(out, "--after-rank0", c)
	}
	if o.AfterTimeout != d.AfterTimeout {
		out = append(out, "--after-timeout", o.AfterTimeout.String())
	}
	if o.AfterDecides {
		out = append(out, "--after-decides")
	}
	if o.UnsetSlurm != d.UnsetSlurm {
		out = append(out, "--unset-slurm", string(o.UnsetSlurm))
	}
	// Booleans whose default is true are turned off with the =false form: `--env-dump false` would
	// leave "false" as an argument.
	for _, f := range []struct {
		name      string
		value, is bool
	}{
		{"--barrier", o.Barrier, d.Barrier}, {"--env-dump", o.EnvDump, d.EnvDump}, {"--llmsrc-setup", o.LLMSrcSetup, d.LLMSrcSetup}, {"--ld-library-path", o.LDLibraryPath, d.LDLibraryPath},
	} {
		if f.value != f.is {
			out = append(out, f.name+"="+strconv.FormatBool(f.value))
		}
	}
	if o.CommandVar != d.CommandVar {
		out = append(out, "--command-var", o.CommandVar)
	}
	if o.NodeHeartbeat != d.NodeHeartbeat {
		out = append(out, "--node-heartbeat", o.NodeHeartbeat.String())
	}
	return out
}

// Parse parses the task's flags (the words after `task`); it returns flag.ErrHelp for -h and --help.
// Errors name the flag.
func Parse(args []string) (Options, error) {
	opts := Defaults()
	fs := newFlagSet(&opts, io.Discard)
	if err := fs.Parse(args); err != nil {
		return Options{}, err
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("unexpected argument %q: the role command comes from $%s, not from arguments", fs.Arg(0), opts.CommandVar)
	}
	if opts.CommandVar == "" {
		return Options{}, errors.New("flag --command-var must not be empty")
	}
	if opts.Setup != "" {
		if _, _, err := SplitSetup(opts.Setup); err != nil {
			return Options{}, fmt.Errorf("flag --setup: %w", err)
		}
	}
	return opts, nil
}

// FlagHelp is one task flag as the task's help shows it, from the definitions Parse uses.
type FlagHelp struct {
	Name string
	// Help is the flag's help sentence; Placeholder names its value (empty for a boolean).
	Help, Placeholder string
	// Default is the value a flag that is not given has, as it would be written ("" for none).
	Default string
	// Bool and Duration tell the kind of value.
	Bool, Duration bool
}

// Help lists the task's flags in the order the help shows them, with their help and defaults: the
// very definitions Parse parses with, so that the help cannot drift from the parser.
func Help() []FlagHelp {
	opts := Defaults()
	fs, order := defineFlags(&opts, io.Discard)
	var out []FlagHelp
	for _, name := range order {
		f := fs.Lookup(name)
		placeholder, help := flag.UnquoteUsage(f)
		h := FlagHelp{Name: name, Help: help, Default: f.DefValue}
		switch v := f.Value.(type) {
		case positiveDuration, offDuration:
			h.Duration, h.Placeholder = true, "DURATION"
		case interface{ IsBoolFlag() bool }:
			h.Bool = v.IsBoolFlag()
		}
		if !h.Bool && h.Placeholder == "" {
			h.Placeholder = strings.ToUpper(placeholder)
		}
		out = append(out, h)
	}
	return out
}

// newFlagSet defines the task flags on opts, whose values are the defaults shown in the help, so
// that Parse and the help text cannot drift apart.
func newFlagSet(opts *Options, output io.Writer) *flag.FlagSet {
	fs, _ := defineFlags(opts, output)
	return fs
}

// defineFlags defines the task flags on opts and returns them with their names in the order of
// definition, which the help keeps (a FlagSet sorts them by name). A backquoted word in a usage
// names the flag's value in the help (flag.UnquoteUsage).
func defineFlags(opts *Options, output io.Writer) (*flag.FlagSet, []string) {
	fs := flag.NewFlagSet("task", flag.ContinueOnError)
	fs.SetOutput(output)
	var order []string
	def := func(name string) string {
		order = append(order, name)
		return name
	}
	fs.StringVar(&opts.Role, def("role"), opts.Role, "The `ROLE` this task runs, e.g. GEN_0 (default: $DISAGG_SERVING_TYPE).")
	fs.Func(def("kind"), "The `KIND` of the role: gen, ctx, server, benchmark or aggregated (default: from the role name).", func(v string) error {
		if !ValidKind(Kind(v)) {
			return errors.New("must be one of gen, ctx, server, benchmark, aggregated")
		}
		opts.Kind = Kind(v)
		return nil
	})
	fs.StringVar(&opts.CoordDir, def("coord-dir"), opts.CoordDir, "The coordination directory `DIR` this run attempt shares (required).")
	fs.StringVar(&opts.InstallCommand, def("install-command"), opts.InstallCommand, "Shell `COMMAND` run once per node before the role command (default: none, no install gate).")
	fs.Var(positiveDuration{&opts.InstallTimeout}, def("install-timeout"), "How long to wait for another task's install on this node.")
	fs.BoolVar(&opts.Barrier, def("barrier"), opts.Barrier, "In a step of more than one task, wait until every rank got here before the command (default: on; --barrier=false turns it off).")
	fs.Var(positiveDuration{&opts.BarrierTimeout}, def("barrier-timeout"), "How long to wait at the barrier, and for rank 0's preparation.")
	fs.StringVar(&opts.Setup, def("setup"), opts.Setup, "`FILE[:FUNCTION]`: a bash file every rank sources (and a function it then calls) before the environment dump and the command, which see the environment it builds.")
	fs.StringVar(&opts.Rank0, def("rank0"), opts.Rank0, "Shell `COMMAND` rank 0 runs before the barrier; the other ranks wait for it, and its failure fails them all.")
	fs.Func(def("after"), "Shell `COMMAND` every rank runs after the role command, best effort (repeatable).", func(v string) error {
		opts.After = append(opts.After, v)
		return nil
	})
	fs.Func(def("after-rank0"), "Shell `COMMAND` rank 0 runs after the role command, after the --after ones (repeatable).", func(v string) error {
		opts.AfterRank0 = append(opts.AfterRank0, v)
		return nil
	})
	fs.Var(positiveDuration{&opts.AfterTimeout}, def("after-timeout"), "Bound of each after command.")
	fs.BoolVar(&opts.AfterDecides, def("after-decides"), opts.AfterDecides, "A failing after command's exit code becomes the task's when the role command passed.")
	fs.Var(unsetValue{&opts.UnsetSlurm}, def("unset-slurm"), "When to unset PMI*, PMIX*, MPI*, OMPI* and SLURM* but SLURM_PROCID before the command: auto (DISAGG_SERVER, BENCHMARK and single-node jobs), always or never.")
	fs.BoolVar(&opts.EnvDump, def("env-dump"), opts.EnvDump, "Print the final environment, secrets redacted (default: on; --env-dump=false turns it off).")
	fs.BoolVar(&opts.LLMSrcSetup, def("llmsrc-setup"), opts.LLMSrcSetup, "Make $llmSrcNode's trtllm-llmapi-launch executable and start the command in its tests/integration/defs (default: on; --llmsrc-setup=false turns it off).")
	fs.BoolVar(&opts.LDLibraryPath, def("ld-library-path"), opts.LDLibraryPath, "When $llmSrcNode is set, prepend the installed tensorrt_llm/libs to LD_LIBRARY_PATH (default: on; --ld-library-path=false turns it off).")
	fs.StringVar(&opts.CommandVar, def("command-var"), opts.CommandVar, "Environment variable that holds the role command.")
	fs.Var(offDuration{&opts.NodeHeartbeat}, def("node-heartbeat"), "How often local rank 0 of the step rewrites its node's heartbeat file in the coordination directory (0: never).")
	return fs, order
}

// unsetValue is the --unset-slurm flag: one of the modes, the default shown in the help.
type unsetValue struct{ m *UnsetMode }

func (u unsetValue) String() string {
	if u.m == nil {
		return ""
	}
	return string(*u.m)
}

func (u unsetValue) Set(v string) error {
	if !UnsetMode(v).Valid() {
		return errors.New("must be one of auto, always, never")
	}
	*u.m = UnsetMode(v)
	return nil
}

// SplitSetup splits a --setup value FILE[:FUNCTION] into the file and the function (empty when none).
// The function, when given, must be a bash function name; the last colon separates it, so a file
// name may hold colons.
func SplitSetup(v string) (file, function string, err error) {
	file = v
	if i := strings.LastIndexByte(v, ':'); i >= 0 {
		file, function = v[:i], v[i+1:]
		if !validFunctionName(function) {
			return "", "", fmt.Errorf("%q: %q after the last colon is not a function name", v, function)
		}
	}
	if file == "" {
		return "", "", fmt.Errorf("%q: no file", v)
	}
	return file, function, nil
}

// validFunctionName accepts the names a bash function can be called by without quoting.
func validFunctionName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// offDuration is a duration flag for which 0 means off, and that refuses negative values.
type offDuration struct{ d *time.Duration }

func (p offDuration) String() string { return positiveDuration(p).String() }

func (p offDuration) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("not a duration (e.g. 10s, 500ms)")
	}
	if err := valid.Duration(d, "off"); err != nil {
		return err
	}
	*p.d = d
	return nil
}

// positiveDuration is a duration flag that refuses zero and negative values by the rule of every
// duration (package valid): a zero timeout would make every waiter fail at once, which is never what
// a caller means.
type positiveDuration struct{ d *time.Duration }

func (p positiveDuration) String() string {
	if p.d == nil {
		return ""
	}
	return p.d.String()
}

func (p positiveDuration) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("not a duration (e.g. 30m, 90s)")
	}
	if err := valid.Duration(d, ""); err != nil {
		return err
	}
	*p.d = d
	return nil
}
