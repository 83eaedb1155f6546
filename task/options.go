package task

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// Defaults of the task flags. Zero values in an Options built by hand mean these too, except for the
// booleans, whose zero value is a real choice.
const (
	defaultInstallTimeout = 30 * time.Minute
	defaultBarrierTimeout = 10 * time.Minute
	defaultUnsetSlurm     = unsetAuto
	defaultCommandVar     = "pytestCommand"
)

// The kinds of role, as --kind spells them. They are the strings of roles.Kind, repeated rather than
// imported so that the per-rank runner, which runs inside every container, depends on nothing but the
// redaction rules.
const (
	kindGen       = "gen"
	kindCtx       = "ctx"
	kindServer    = "server"
	kindBenchmark = "benchmark"
)

// The values of --unset-slurm.
const (
	// unsetAuto unsets for DISAGG_SERVER and BENCHMARK, which must not join an MPI world, and on
	// single-node jobs, as the run script always did.
	unsetAuto = "auto"
	// unsetAlways unsets for every role.
	unsetAlways = "always"
	// unsetNever keeps the Slurm and MPI variables.
	unsetNever = "never"
)

// validKind and validUnsetMode are switches rather than lookup tables so the package keeps no
// package-level variables.
func validKind(v string) bool {
	switch v {
	case kindGen, kindCtx, kindServer, kindBenchmark:
		return true
	}
	return false
}

func validUnsetMode(v string) bool {
	switch v {
	case unsetAuto, unsetAlways, unsetNever:
		return true
	}
	return false
}

// Options is the task runner's configuration, from its flags.
type Options struct {
	// Role is the role name, e.g. GEN_0 (--role; DISAGG_SERVING_TYPE when the flag is empty).
	Role string
	// Kind is gen, ctx, server or benchmark (--kind); inferred from Role when empty.
	Kind string
	// CoordDir is this run attempt's shared coordination directory (--coord-dir). The supervisor keys
	// it by run token, so files of an older attempt are never seen.
	CoordDir string
	// InstallCommand is run with bash -c once per node before the role command (--install-command);
	// empty means no install gate.
	InstallCommand string
	// InstallTimeout bounds how long a task waits for another task's install on its node.
	InstallTimeout time.Duration
	// Barrier makes every rank of the step wait, after install, until all ranks got there.
	Barrier bool
	// BarrierTimeout bounds the barrier wait.
	BarrierTimeout time.Duration
	// UnsetSlurm is auto, always or never: when to remove the PMI/PMIX/MPI/OMPI/SLURM variables.
	UnsetSlurm string
	// EnvDump prints the final, redacted environment to stdout.
	EnvDump bool
	// LLMSrcSetup makes $llmSrcNode's trtllm-llmapi-launch executable and starts the command in
	// $llmSrcNode/tests/integration/defs, when those exist.
	LLMSrcSetup bool
	// LDLibraryPath prepends the installed tensorrt_llm package's libs directory to LD_LIBRARY_PATH
	// when python3 can import it.
	LDLibraryPath bool
	// CommandVar names the environment variable that holds the role command.
	CommandVar string
}

// ParseArgs parses the task's flags (the words after `task`). Errors name the flag.
func ParseArgs(args []string) (Options, error) {
	var opts Options
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
	return opts, nil
}

// newFlagSet defines the task flags on opts, with their defaults, so that ParseArgs and the usage text
// cannot drift apart.
func newFlagSet(opts *Options, output io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("task", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&opts.Role, "role", "", "role name, e.g. GEN_0 (default $DISAGG_SERVING_TYPE)")
	fs.Func("kind", "role kind: gen|ctx|server|benchmark (default: from the role name)", func(v string) error {
		if !validKind(v) {
			return errors.New("must be one of gen, ctx, server, benchmark")
		}
		opts.Kind = v
		return nil
	})
	fs.StringVar(&opts.CoordDir, "coord-dir", "", "shared coordination directory of this run attempt (required)")
	fs.StringVar(&opts.InstallCommand, "install-command", "", "shell command run once per node before the role command; empty: no install gate")
	opts.InstallTimeout = defaultInstallTimeout
	fs.Var(positiveDuration{&opts.InstallTimeout}, "install-timeout", "how long to wait for another task's install on this node")
	fs.BoolVar(&opts.Barrier, "barrier", false, "after install, wait until every rank of this step got there")
	opts.BarrierTimeout = defaultBarrierTimeout
	fs.Var(positiveDuration{&opts.BarrierTimeout}, "barrier-timeout", "how long to wait at the barrier")
	opts.UnsetSlurm = defaultUnsetSlurm
	fs.Func("unset-slurm", "when to unset PMI*/PMIX*/MPI*/OMPI*/SLURM* except SLURM_PROCID: auto|always|never (default auto)", func(v string) error {
		if !validUnsetMode(v) {
			return errors.New("must be one of auto, always, never")
		}
		opts.UnsetSlurm = v
		return nil
	})
	fs.BoolVar(&opts.EnvDump, "env-dump", true, "print the final environment, secrets redacted")
	fs.BoolVar(&opts.LLMSrcSetup, "llmsrc-setup", true, "make $llmSrcNode's trtllm-llmapi-launch executable and cd to its tests/integration/defs")
	fs.BoolVar(&opts.LDLibraryPath, "ld-library-path", true, "when $llmSrcNode is set, prepend the installed tensorrt_llm/libs to LD_LIBRARY_PATH")
	fs.StringVar(&opts.CommandVar, "command-var", defaultCommandVar, "environment variable that holds the role command")
	return fs
}

// positiveDuration is a duration flag that refuses zero and negative values: a zero timeout would make
// every waiter fail at once, which is never what a caller means.
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
	if d <= 0 {
		return errors.New("must be positive")
	}
	*p.d = d
	return nil
}

// withDefaults fills the zero values of an Options built by hand.
func (o Options) withDefaults() Options {
	if o.InstallTimeout <= 0 {
		o.InstallTimeout = defaultInstallTimeout
	}
	if o.BarrierTimeout <= 0 {
		o.BarrierTimeout = defaultBarrierTimeout
	}
	if o.UnsetSlurm == "" {
		o.UnsetSlurm = defaultUnsetSlurm
	}
	if o.CommandVar == "" {
		o.CommandVar = defaultCommandVar
	}
	return o
}

// inferKind maps the supervisor's role names to their kind, so --kind may be left out.
func inferKind(role string) string {
	switch {
	case strings.HasPrefix(role, "GEN_"):
		return kindGen
	case strings.HasPrefix(role, "CTX_"):
		return kindCtx
	case role == "DISAGG_SERVER":
		return kindServer
	case role == "BENCHMARK":
		return kindBenchmark
	}
	return ""
}
