package roles

import (
	"fmt"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// roleCommands are the shell commands of the four kinds of role.
type roleCommands struct {
	gen, ctx, server, benchmark string
}

// commandSource is a command or env string with the input it came from.
type commandSource struct {
	v    string
	from string
}

// derivation holds what role commands are derived from when they are not given, following
// today's generator:
//
//	GEN:           unset <list> && [gen-only extras] <GEN env> <base>
//	CTX:           unset <list> && <CTX env> <base>
//	DISAGG_SERVER: [TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1] <server env> <base without the wrapper>
//	BENCHMARK:     <benchmark env> <base without the wrapper>
//
// The GEN extras are TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1 in gen-only-no-context, then, in the
// gen_only benchmark mode, TRTLLM_DISABLE_KV_CACHE_TRANSFER_OVERLAP=1 and
// TLLM_BENCHMARK_REQ_QUEUES_SIZE. They follow the unset because assignments before a builtin such
// as unset would not reach the test command.
type derivation struct {
	base      commandSource // the test command; may keep the wrapper, which workers need
	noWrapper commandSource // the base without the wrapper when given ready-made
	wrapper   string
	unset     []string
	genEnv    commandSource
	ctxEnv    commandSource
	serverEnv commandSource
	benchEnv  commandSource
	mode      BenchmarkMode
	noContext bool
	queueSize int // TLLM_BENCHMARK_REQ_QUEUES_SIZE of GEN workers in gen_only mode; 0 leaves it out
}

// commands resolves the command of every kind of role the layout has. A role command is used as
// given from its flag, else from its environment variable, else derived. The environment's role
// commands were derived by the generator from the environment's inputs, so a flag that changes
// one of those inputs (--command, --wrapper, --unset, an env string, the benchmark mode or
// gen-only-no-context) makes Build derive the command again rather than run a stale one.
func (b *builder) commands(lay layout) (roleCommands, error) {
	f := b.f
	d, err := b.derivation(lay)
	if err != nil {
		return roleCommands{}, err
	}
	workerFlags := f.Command != "" || f.Unset != nil || f.WorkerEnv != ""
	plainFlags := f.Command != "" || f.Wrapper != ""
	type role struct {
		name    string
		flag    commandSource
		envs    []string
		flagged bool // a flag changed what the environment's command was derived from
		plain   bool // runs without the wrapper
		derive  func(derivation) string
		out     *string
	}
	var cmds roleCommands
	list := []role{{
		name: "GEN", flag: commandSource{f.GenCommand, "--gen-command"},
		envs:    []string{"pytestCommandGENWorker", "pytestCommandWorker"},
		flagged: workerFlags || f.GenEnv != "" || lay.modeByFlag || lay.noContextByFlag, derive: deriveGen, out: &cmds.gen,
	}}
	if lay.ctx.count > 0 {
		list = append(list, role{
			name: "CTX", flag: commandSource{f.CtxCommand, "--ctx-command"},
			envs:    []string{"pytestCommandCTXWorker", "pytestCommandWorker"},
			flagged: workerFlags || f.CtxEnv != "", derive: deriveCtx, out: &cmds.ctx,
		})
	}
	list = append(list, role{
		name: "DISAGG_SERVER", flag: commandSource{f.ServerCommand, "--server-command"},
		envs:    []string{"pytestCommandDisaggServer"},
		flagged: plainFlags || f.ServerEnv != "" || lay.noContextByFlag, plain: true, derive: deriveServer, out: &cmds.server,
	}, role{
		name: "BENCHMARK", flag: commandSource{f.BenchmarkCommand, "--benchmark-command"},
		envs:    []string{"pytestCommandBenchmark"},
		flagged: plainFlags || f.BenchmarkEnv != "", plain: true, derive: deriveBenchmark, out: &cmds.benchmark,
	})

	var toDerive []role
	for _, r := range list {
		given := r.flag
		if given.v == "" && !r.flagged {
			for _, name := range r.envs {
				if v := b.getenv(name); strings.TrimSpace(v) != "" {
					given = commandSource{v, name}
					break
				}
			}
		}
		if given.v == "" {
			toDerive = append(toDerive, r)
			continue
		}
		cmd := trimBlanks(given.v)
		if err := checkCommand(given.from, cmd); err != nil {
			return cmds, err
		}
		*r.out = cmd
	}
	if len(toDerive) == 0 {
		return cmds, nil
	}

	if d.base.v == "" {
		names := make([]string, len(toDerive))
		for i, r := range toDerive {
			names[i] = r.name
		}
		list := names[0] + " command"
		if n := len(names); n > 1 {
			list = strings.Join(names[:n-1], ", ") + " and " + names[n-1] + " commands"
		}
		return cmds, missing(inBaseCommand, ", to derive the "+list+" from (or give the role commands)")
	}
	if err := checkCommand(d.base.from, d.base.v); err != nil {
		return cmds, err
	}
	if err := checkNotOnlyWrapper(d.base, d.wrapper, `the DISAGG_SERVER and BENCHMARK commands derived without it would be ":" and succeed at once`); err != nil {
		return cmds, err
	}
	for _, r := range toDerive {
		if r.plain && d.noWrapper.v == "" {
			v, err := removeWrapper(d.base.v, d.wrapper)
			if err != nil {
				return cmds, inputErrorf(d.base.from, "cannot remove %s from it: %v", d.wrapper, err)
			}
			d.noWrapper = commandSource{v, d.base.from + " without " + d.wrapper}
		}
		cmd := r.derive(d)
		if err := checkShell(cmd); err != nil {
			return cmds, inputErrorf(r.name+" command derived from "+d.base.from, "not valid shell: %v", err)
		}
		*r.out = cmd
	}
	return cmds, nil
}

// checkCommand rejects a command that is not valid shell or that runs nothing. The second is how
// today's wrapper-removal defect shows: the server command becomes its env string alone.
func checkCommand(input, cmd string) error {
	f, err := parseShell(cmd)
	if err != nil {
		return inputErrorf(input, "not valid shell: %v", err)
	}
	if runsNothing(f) {
		return inputErrorf(input, "%s runs no command, only assignments (is the variable it was built from empty?)", quote(cmd))
	}
	return nil
}

// checkNotOnlyWrapper rejects a base command that is the wrapper alone (with assignments at most):
// the workers would start the wrapper with nothing to launch, and the server and benchmark
// commands derived without it would be ":", which succeeds at once and makes a run that tested
// nothing look like a success.
func checkNotOnlyWrapper(base commandSource, wrapper, consequence string) error {
	out, err := removeWrapper(base.v, wrapper)
	if err != nil || out == base.v {
		return nil // no wrapper in it; a removal error is reported where the result is needed
	}
	f, err := parseShell(out)
	if err != nil || !runsOnlyNoOps(f) {
		return nil
	}
	return inputErrorf(base.from, "%s is only the wrapper %s, with no command after it: %s", quote(base.v), wrapper, consequence)
}

// runsOnlyNoOps reports whether every statement of f is a bare assignment or ":", what removeWrapper
// leaves of a command that was only the wrapper.
func runsOnlyNoOps(f *syntax.File) bool {
	for _, st := range f.Stmts {
		call, ok := st.Cmd.(*syntax.CallExpr)
		if !ok || len(st.Redirs) > 0 || len(call.Args) > 1 {
			return false
		}
		if len(call.Args) == 1 {
			if v, ok := literal(call.Args[0]); !ok || v != ":" {
				return false
			}
		}
	}
	return true
}

// runsNothing reports whether every statement of f is a bare assignment.
func runsNothing(f *syntax.File) bool {
	for _, st := range f.Stmts {
		call, ok := st.Cmd.(*syntax.CallExpr)
		if !ok || len(call.Args) > 0 || len(st.Redirs) > 0 {
			return false
		}
	}
	return true
}

// derivation collects the derivation inputs, checking each on its own so that an error names it.
func (b *builder) derivation(lay layout) (derivation, error) {
	f := b.f
	d := derivation{mode: lay.mode, noContext: lay.noContext}

	d.base = commandSource{f.Command, "--command"}
	if d.base.v == "" {
		d.base = commandSource{b.getenv("pytestCommand"), "pytestCommand"}
	}
	d.base.v = trimBlanks(d.base.v)
	// The generator's ready-made base without the wrapper describes the environment's
	// pytestCommand and wrapper; a flag that changes either makes it stale.
	if f.Command == "" && f.Wrapper == "" {
		if v := trimBlanks(b.getenv("pytestCommandNoLLMAPILaunch")); v != "" {
			if err := checkCommand("pytestCommandNoLLMAPILaunch", v); err != nil {
				return d, err
			}
			d.noWrapper = commandSource{v, "pytestCommandNoLLMAPILaunch"}
		}
	}

	d.wrapper = DefaultWrapper
	if f.Wrapper != "" {
		if strings.ContainsAny(f.Wrapper, " \t\n") || strings.HasSuffix(f.Wrapper, "/") {
			return d, inputErrorf("--wrapper", "%s is not a command name", quote(f.Wrapper))
		}
		d.wrapper = f.Wrapper
	}

	unset := DefaultUnset
	if f.Unset != nil {
		unset = *f.Unset
	}
	d.unset = strings.Fields(unset)
	for _, name := range d.unset {
		if !isName(name) {
			return d, inputErrorf("--unset", "%s is not a variable name", quote(name))
		}
	}

	workerCfg := func(c *config) cfgString { return c.workerEnv }
	var err error
	if d.genEnv, err = b.envString(
		commandSource{f.GenEnv, "--gen-env"}, commandSource{f.WorkerEnv, "--worker-env"},
		b.configString(func(c *config) cfgString { return c.genEnv }), b.configString(workerCfg),
	); err != nil {
		return d, err
	}
	if d.ctxEnv, err = b.envString(
		commandSource{f.CtxEnv, "--ctx-env"}, commandSource{f.WorkerEnv, "--worker-env"},
		b.configString(func(c *config) cfgString { return c.ctxEnv }), b.configString(workerCfg),
	); err != nil {
		return d, err
	}
	if d.serverEnv, err = b.envString(
		commandSource{f.ServerEnv, "--server-env"}, b.configString(func(c *config) cfgString { return c.serverEnv }),
	); err != nil {
		return d, err
	}
	if d.benchEnv, err = b.envString(
		commandSource{f.BenchmarkEnv, "--benchmark-env"}, b.configString(func(c *config) cfgString { return c.benchmarkEnv }),
	); err != nil {
		return d, err
	}

	// Without a config the benchmark's concurrency is unknown; the worker then keeps its own
	// default queue size rather than one we would have to guess.
	if lay.mode == BenchmarkGenOnly && b.cfg != nil {
		d.queueSize = b.cfg.queueSize()
	}
	return d, nil
}

// configString returns a string key of the config with its name, or nothing without a config or
// without the key.
func (b *builder) configString(get func(*config) cfgString) commandSource {
	if b.cfg == nil {
		return commandSource{}
	}
	c := get(b.cfg)
	if !c.set {
		return commandSource{}
	}
	return commandSource{c.v, b.cfg.path + ": " + c.key}
}

// envString resolves an env string from its sources, highest precedence first, and checks that it
// is valid shell on its own. A blank value counts as not given, so that the next source applies,
// as the generator falls back from a blank per-kind string to the shared worker one. Callers list
// flags before config keys whatever their scope: --worker-env beats a config's per-kind string,
// since flags beat the config; within one layer the per-kind value comes first.
func (b *builder) envString(sources ...commandSource) (commandSource, error) {
	for _, s := range sources {
		if strings.TrimSpace(s.v) == "" {
			continue
		}
		if err := checkAssignments(s.v); err != nil {
			return s, &InputError{Input: s.from, Problem: err.Error()}
		}
		return s, nil
	}
	return commandSource{}, nil
}

// checkAssignments checks an env string: NAME=VALUE words only, in one simple command. It is put
// before a command, so any other word would become the command itself ("notanassignment pytest
// ...") and a ';' or '&&' would split it off the command it is meant for.
func checkAssignments(v string) error {
	f, err := parseShell(v)
	if err != nil {
		return fmt.Errorf("not valid shell: %v", err)
	}
	for _, st := range f.Stmts {
		call, ok := st.Cmd.(*syntax.CallExpr)
		if !ok || len(f.Stmts) > 1 || len(st.Redirs) > 0 || st.Background || st.Negated {
			return fmt.Errorf("%s: want NAME=VALUE words only, which go before the command", quote(v))
		}
		if len(call.Args) > 0 {
			word := v[call.Args[0].Pos().Offset():call.Args[0].End().Offset()]
			return fmt.Errorf("%s is not NAME=VALUE: the words go before the command as its environment", quote(word))
		}
	}
	return nil
}

// isName reports whether s is a shell variable name.
func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return s != ""
}

func unsetPrefix(d derivation) string {
	if len(d.unset) == 0 {
		return ""
	}
	return "unset " + strings.Join(d.unset, " ") + " &&"
}

func deriveGen(d derivation) string {
	var extras []string
	if d.noContext {
		extras = append(extras, genOnlyVar+"=1")
	}
	if d.mode == BenchmarkGenOnly {
		extras = append(extras, "TRTLLM_DISABLE_KV_CACHE_TRANSFER_OVERLAP=1")
		if d.queueSize > 0 {
			extras = append(extras, "TLLM_BENCHMARK_REQ_QUEUES_SIZE="+strconv.Itoa(d.queueSize))
		}
	}
	return joinCommand(unsetPrefix(d), strings.Join(extras, " "), d.genEnv.v, d.base.v)
}

func deriveCtx(d derivation) string {
	return joinCommand(unsetPrefix(d), d.ctxEnv.v, d.base.v)
}

func deriveServer(d derivation) string {
	var extras string
	if d.noContext {
		extras = genOnlyVar + "=1"
	}
	return joinCommand(extras, d.serverEnv.v, d.noWrapper.v)
}

func deriveBenchmark(d derivation) string {
	return joinCommand(d.benchEnv.v, d.noWrapper.v)
}
