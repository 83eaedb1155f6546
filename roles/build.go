package roles

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/internal/valid"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

// Build makes the plan for one job attempt from its sources, or returns the bad inputs: an
// *InputError when there is one, InputErrors when there are more. Every missing or bad input is
// reported in one go, but for those that depend on another one that is missing or bad (a node
// count derived from an unknown GPU count). It checks everything a launch would trip over later (layout arithmetic,
// node counts, shell syntax of every command, srun arguments, probes), so that a bad input costs
// seconds of an allocation instead of a failed bring-up on all of its GPUs.
func Build(src Sources) (Plan, error) {
	b := &builder{f: src.Flags, getenv: src.Getenv, read: src.ReadFile}
	if b.getenv == nil {
		b.getenv = func(string) string { return "" }
	}
	if b.read == nil {
		b.read = func(string) ([]byte, error) {
			return nil, errors.New("no file reader given")
		}
	}
	return b.build(src.Unique)
}

// builder holds the inputs while Build resolves them, so that each step reads as one decision.
type builder struct {
	f      Flags
	getenv func(string) string
	read   func(string) ([]byte, error)
	cfg    *config // nil without --config
	// probs collects the problems found so far; Build goes on past one to find the others.
	probs problems
}

// env returns the trimmed value of an environment variable; blank counts as unset.
func (b *builder) env(name string) string {
	return strings.TrimSpace(b.getenv(name))
}

// Names of the environment variables that decide the benchmark mode and gen-only-no-context.
const (
	// benchmarkModeVar is this program's own variable; the generator exports none for the mode,
	// which it puts into the test id.
	benchmarkModeVar = "DISAGG_BENCHMARK_MODE"
	// genOnlyVar is what the generator exports for the whole job in gen_only_no_context, and what
	// the servers read.
	genOnlyVar = "TRTLLM_DISAGG_BENCHMARK_GEN_ONLY"
)

// layer is the kind of input a value came from. Precedence: a higher layer wins.
type layer int

const (
	layerNone   layer = iota // not given: a default applies
	layerConfig              // the --config file
	layerEnv                 // the environment
	layerFlag                // a command-line flag
)

// layout is the resolved shape of the job.
type layout struct {
	gpusPerNode int
	mode        BenchmarkMode
	// modeByFlag tells that --benchmark-mode changed the mode, so that the environment's ready-made
	// GEN command, derived for the mode below the flag, is stale.
	modeByFlag bool
	noContext  bool
	// noContextByFlag tells that a flag changed gen-only-no-context (--[no-]gen-only, or a --num-ctx
	// that overrode it), so that the environment's ready-made GEN and DISAGG_SERVER commands are stale.
	noContextByFlag bool
	gen, ctx        servers
	// modeKnown tells that the benchmark mode, gen-only-no-context and the CTX count are resolved;
	// genKnown and ctxKnown that the GEN and CTX servers' count and shape are. Build goes on past a
	// problem to find the others, and judges only what the known parts allow.
	modeKnown, genKnown, ctxKnown bool
}

// complete reports whether every part of the layout is resolved.
func (l layout) complete() bool {
	return l.gpusPerNode > 0 && l.modeKnown && l.genKnown && l.ctxKnown
}

// commandsKnown reports whether the role commands can be resolved: they depend on the benchmark
// mode, gen-only-no-context and whether there are CTX servers, not on the servers' shapes.
func (l layout) commandsKnown() bool {
	return l.modeKnown
}

// servers is the layout of the GEN or the CTX servers.
type servers struct {
	count       int // servers
	nodes       int // nodes of each server
	gpusPerNode int // ranks (GPUs) on each of those nodes
}

func (s servers) totalNodes() int { return s.count * s.nodes }

func (b *builder) build(unique string) (Plan, error) {
	topo, envOK := b.topology()
	cfgOK := !b.probs.add(b.loadConfig())
	var mode TestMode
	modeMissing := false
	if cfgOK {
		mode, modeMissing = b.testMode()
	}
	if mode == ModeAggregated {
		return b.buildAggregated(topo, envOK, unique)
	}
	// With a config that does not parse, what it would give is unknown, and with inputs of both
	// tests which one is meant: the layout and the commands are not judged then. A missing mode
	// (no input of either test) is reported, and the layout is judged as a disaggregated test's,
	// the one a first plan most often means, so that its other missing inputs show up at once;
	// unless an input only an aggregated test has is there, which tells the other story.
	var lay layout
	if mode == ModeDisaggregated || modeMissing && !b.aggregatedHint() {
		lay = b.layout(topo, envOK, !modeMissing)
	}
	if lay.complete() && topo.Nodes != nil {
		b.probs.add(b.checkNodes(lay, len(topo.Nodes)))
	}

	p, st, stOK := b.newPlan(Plan{Mode: ModeDisaggregated, GPUsPerNode: lay.gpusPerNode, BenchmarkMode: lay.mode,
		GenOnlyNoContext: lay.noContext}, topo, unique)

	var cmds roleCommands
	if lay.commandsKnown() {
		var err error
		cmds, err = b.commands(lay)
		b.probs.add(err)
	}
	task, err := b.taskOptions()
	b.probs.add(err)
	vars := b.roleVars(lay)
	if stOK {
		p.Install, err = b.installStep(&p, st)
		b.probs.add(err)
	}
	if !lay.complete() && !b.probs.any() {
		// Every unknown part of the layout comes with its problem; this would be a bug.
		b.probs.add(inputErrorf("layout", "incomplete, with no input to blame"))
	}
	if b.probs.any() {
		return Plan{}, b.probs.err()
	}
	p.Roles = assembleRoles(&p, lay, cmds, st, task, vars)
	if err := b.finishPlan(&p, lay, st, task, vars); err != nil {
		return Plan{}, err
	}
	return p, nil
}

// loadConfig reads and parses --config, if given.
func (b *builder) loadConfig() error {
	if b.f.Config == "" {
		return nil
	}
	data, err := b.read(b.f.Config)
	if err != nil {
		return inputErrorf("--config", "cannot read it: %v", err)
	}
	if err := checkFileSize("--config", b.f.Config, data); err != nil {
		return err
	}
	b.cfg, err = parseConfig(b.f.Config, data)
	return err
}

// checkNodes checks that a whole layout fits one plan and the allocation of nodes nodes, and agrees
// with the generator's totals.
func (b *builder) checkNodes(lay layout, nodes int) error {
	if n := lay.gen.count + lay.ctx.count; n > maxServers {
		return inputErrorf("layout", "%d GEN and CTX servers (%s): more than %d, the most one plan takes", n, describeLayout(lay), maxServers)
	}
	needed := lay.gen.totalNodes() + lay.ctx.totalNodes()
	if needed > nodes {
		return inputErrorf("layout", "needs %d nodes (%s), allocation has %d", needed, describeLayout(lay), nodes)
	}
	return b.checkTotals(lay, needed)
}

// newPlan starts a plan of either test: p says its mode and layout figures; the allocation, the run
// token, the paths and the user's srun settings are added here. Problems are recorded; stOK tells
// whether the srun settings are known, which the install step needs.
func (b *builder) newPlan(p Plan, topo slurm.Topology, unique string) (_ Plan, _ srunSettings, stOK bool) {
	p.JobID, p.RestartCount, p.Nodes = topo.JobID, topo.RestartCount, topo.Nodes
	if unique == "" {
		unique = "0"
	}
	b.probs.add(checkPathPart("run token", unique))
	p.RunToken = fmt.Sprintf("%s.%d.%s", p.JobID, p.RestartCount, unique)
	nodeTimeout, err := b.nodeTimeout()
	b.probs.add(err)
	p.NodeTimeoutSeconds = nodeTimeout.Seconds()
	if b.cfg != nil {
		p.ServerConfigs = b.cfg.agg.count
	}
	b.probs.add(b.paths(&p))
	if p.Nodes == nil {
		// The pinned node is one of the allocation's: with no node list it cannot be judged.
		return p, srunSettings{}, false
	}
	st, err := b.srunSettings(p.Nodes)
	if b.probs.add(err) {
		return p, st, false
	}
	p.SrunArgs = st.userArgs
	return p, st, true
}

// finishPlan adds to a plan whose roles are laid out what every test has on top of them: the
// pre-flight checks, the readiness probes and the liveness checks.
func (b *builder) finishPlan(p *Plan, lay layout, st srunSettings, task taskopts.Options, vars sharedVars) error {
	if err := b.checks(p, lay, st, task, vars); err != nil {
		return err
	}
	probes, err := b.probeSpecs()
	if err != nil {
		return err
	}
	if err := applyProbes(p, probes); err != nil {
		return err
	}
	liveness, err := b.livenessSpecs()
	if err != nil {
		return err
	}
	return applyLiveness(p, liveness)
}

// topology reads the allocation from Slurm's environment and applies the flag overrides. Variables
// a flag overrides are hidden from the slurm package, so that a broken value the user is working
// around with a flag does not stop the plan. Problems are recorded: the nodes are nil when the node
// list is missing or bad, and envOK is false when Slurm's environment is malformed, so that what it
// would have given (GPUs per node) is unknown rather than missing.
func (b *builder) topology() (topo slurm.Topology, envOK bool) {
	f := b.f
	hidden := func(name string) bool {
		switch name {
		case "SLURM_JOB_NODELIST", "SLURM_NODELIST", "SLURM_JOB_NUM_NODES":
			return f.Nodelist != ""
		case "SLURM_GPUS_ON_NODE", "SLURM_GPUS_PER_NODE", "gpusPerNode":
			return f.GPUsPerNode != nil
		case "SLURM_RESTART_COUNT":
			return f.RestartCount != nil
		case "SLURM_JOB_ID":
			return f.JobID != ""
		}
		return false
	}
	topo, err := slurm.TopologyFromEnv(func(name string) string {
		if hidden(name) {
			return ""
		}
		return b.getenv(name)
	})
	envOK = err == nil
	if !envOK {
		b.probs.add(&InputError{Input: "environment", Problem: strings.ReplaceAll(err.Error(), "\n", "; ")})
		topo = slurm.Topology{}
	}
	if nodes, err := b.nodes(topo.Nodes, envOK); !b.probs.add(err) {
		topo.Nodes = nodes
	} else {
		topo.Nodes = nil
	}

	if f.GPUsPerNode != nil {
		if !b.probs.add(checkRange("--gpus-per-node", *f.GPUsPerNode, 1)) {
			topo.GPUsPerNode = *f.GPUsPerNode
		}
	}

	jobFrom := "SLURM_JOB_ID"
	switch {
	case f.JobID != "":
		topo.JobID, jobFrom = strings.TrimSpace(f.JobID), "--job-id"
	case topo.JobID == "":
		topo.JobID = DefaultJobID
	}
	b.probs.add(checkPathPart(jobFrom, topo.JobID))

	if f.RestartCount != nil {
		if !b.probs.add(checkRange("--restart-count", *f.RestartCount, 0)) {
			topo.RestartCount = *f.RestartCount
		}
	}
	return topo, envOK
}

// nodes applies --nodelist to the node list Slurm's environment gave (fromEnv), and checks the
// result. envOK false means the environment's list is unknown: only the flag is judged then.
func (b *builder) nodes(fromEnv []string, envOK bool) ([]string, error) {
	f := b.f
	nodes, nodesFrom := fromEnv, "SLURM_JOB_NODELIST"
	if f.Nodelist != "" {
		nodesFrom = "--nodelist"
		// Counted first: making a million names only to refuse them would take seconds.
		n, err := slurm.CountHostlist(f.Nodelist)
		if err != nil {
			return nil, &InputError{Input: "--nodelist", Problem: err.Error()}
		}
		if n > maxNodes {
			return nil, inputErrorf(nodesFrom, "%d nodes: more than %d, the most one plan takes", n, maxNodes)
		}
		if nodes, err = slurm.ExpandHostlist(f.Nodelist); err != nil {
			return nil, &InputError{Input: "--nodelist", Problem: err.Error()}
		}
		if len(nodes) == 0 {
			return nil, inputErrorf("--nodelist", "no nodes in %s", quote(f.Nodelist))
		}
	}
	if len(nodes) == 0 {
		if !envOK {
			return nil, nil // the environment's problem is reported already
		}
		return nil, missing(inNodelist, "")
	}
	if len(nodes) > maxNodes {
		return nil, inputErrorf(nodesFrom, "%d nodes: more than %d, the most one plan takes", len(nodes), maxNodes)
	}
	// Two slices holding one node would make srun fail after the earlier roles have started.
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		if seen[n] {
			return nil, inputErrorf(nodesFrom, "node %s is listed twice", quote(n))
		}
		seen[n] = true
	}
	return nodes, nil
}

// checkFileSize refuses a file over MaxInputFile; data may be cut one byte past the bound, as
// readers stop there.
func checkFileSize(input, name string, data []byte) error {
	if len(data) > MaxInputFile {
		return inputErrorf(input, "%s is larger than %d MiB, which no config or argument file is (is it the right file?)", quote(name), MaxInputFile>>20)
	}
	return nil
}

// checkPathPart rejects a value that cannot be one part of a file name, since the job id and
// the run token name the coordination directory.
func checkPathPart(input, v string) error {
	switch {
	case v == "" || v == "." || v == "..":
		return inputErrorf(input, "%s cannot be part of a path", quote(v))
	case strings.ContainsAny(v, "/ \t\n\r\x00"):
		return inputErrorf(input, "%s cannot be part of a path: it holds a slash or a blank", quote(v))
	}
	return nil
}

// checkRange checks a count against its lower bound (0 or 1), by the rule of every count, and
// against maxCount.
func checkRange(input string, v, lowest int) error {
	zeroMeans := ""
	if lowest == 0 {
		zeroMeans = "none"
	}
	if err := valid.Count(v, zeroMeans); err != nil {
		return &InputError{Input: input, Problem: err.Error()}
	}
	if v > maxCount {
		return inputErrorf(input, "want at most %d, got %d", maxCount, v)
	}
	return nil
}

// intInput is an integer input with the name and the layer of the input that gave it.
type intInput struct {
	v     int
	from  string
	set   bool
	layer layer
}

// intFrom returns the first given value among the flag, the environment variables in order, and
// the config key.
func (b *builder) intFrom(flag *int, flagName string, envNames []string, c cfgInt) (intInput, error) {
	if flag != nil {
		return intInput{v: *flag, from: flagName, set: true, layer: layerFlag}, nil
	}
	for _, name := range envNames {
		v := b.env(name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return intInput{}, inputErrorf(name, "want an integer, got %s", quote(v))
		}
		return intInput{v: n, from: name, set: true, layer: layerEnv}, nil
	}
	if c.set {
		return intInput{v: c.v, from: b.cfg.path + ": " + c.key, set: true, layer: layerConfig}, nil
	}
	return intInput{}, nil
}

// configInt returns a value of the config, or the zero value without a config.
func (b *builder) configInt(get func(*config) cfgInt) cfgInt {
	if b.cfg == nil {
		return cfgInt{}
	}
	return get(b.cfg)
}

// layout resolves GPUs per node, the benchmark mode, gen-only-no-context and the GEN and CTX
// server shapes, recording every problem. What could not be resolved is marked unknown in the
// result (see layout.complete). envOK false means Slurm's environment is malformed, so GPUs per
// node are unknown rather than missing; modeKnown false means the test mode is missing (reported
// already), and so is the GEN count then.
func (b *builder) layout(topo slurm.Topology, envOK, modeKnown bool) layout {
	var lay layout
	lay.gpusPerNode = topo.GPUsPerNode
	if lay.gpusPerNode == 0 {
		c := b.configInt(func(c *config) cfgInt { return c.gpusPerNode })
		switch {
		case c.set:
			if !b.probs.add(checkRange(b.cfg.path+": "+c.key, c.v, 1)) {
				lay.gpusPerNode = c.v
			}
		case envOK && b.f.GPUsPerNode == nil:
			b.probs.add(missing(inGPUsPerNode, ""))
		}
	}

	numGen, err := b.intFrom(b.f.NumGen, "--num-gen", []string{"numGenServers"}, b.configInt(func(c *config) cfgInt { return c.numGen }))
	genKnown := !b.probs.add(err)
	if genKnown {
		switch {
		case !numGen.set:
			genKnown = false
			if modeKnown {
				b.probs.add(missing(inNumGen, ""))
			}
		case numGen.v < 1:
			genKnown = false
			b.probs.add(inputErrorf(numGen.from, "want at least 1 GEN server, got %d", numGen.v))
		default:
			genKnown = !b.probs.add(checkRange(numGen.from, numGen.v, 1))
		}
	}
	if !genKnown {
		// The GEN servers' own inputs are judged all the same: they do not depend on how many there are.
		numGen.v = 1
	}

	lay.modeKnown = b.resolveModes(&lay)

	var gpusGen, gpusCtx int
	var cfgGen, cfgCtx string
	// An aggregated test's config has no worker sizes: its missing worker_config must not read as
	// 1-GPU servers when --mode disaggregated is forced on it.
	if b.cfg != nil && !b.cfg.agg.present {
		gpusGen, gpusCtx = b.cfg.gpusPerGen, b.cfg.gpusPerCtx
		if b.cfg.genSized {
			cfgGen = b.cfg.path + ": worker_config.gen parallel sizes"
		}
		if b.cfg.ctxSized {
			cfgCtx = b.cfg.path + ": worker_config.ctx parallel sizes"
		}
	}
	lay.gen, err = b.servers(lay.gpusPerNode, numGen.v, serverInputs{
		kind: "GEN", gpus: gpusGen, gpusCfg: cfgGen, gpusEnv: "gpusPerGenServer",
		nodesFlag: b.f.NodesPerGen, nodesFlagName: "--nodes-per-gen", nodesEnv: "nodesPerGenServer",
		gpnFlag: b.f.GPUsPerNodePerGen, gpnFlagName: "--gpus-per-node-per-gen",
		gpnEnv:     []string{"gpusPerNodePerGenServer", "gpusPerfNodePerfGenServer"},
		nodesInput: inNodesPerGen, gpusInput: inGPUsPerGen,
	})
	lay.genKnown = !b.probs.add(err) && genKnown
	if !lay.modeKnown {
		return lay
	}
	lay.ctx, err = b.servers(lay.gpusPerNode, lay.ctx.count, serverInputs{
		kind: "CTX", gpus: gpusCtx, gpusCfg: cfgCtx, gpusEnv: "gpusPerCtxServer",
		nodesFlag: b.f.NodesPerCtx, nodesFlagName: "--nodes-per-ctx", nodesEnv: "nodesPerCtxServer",
		gpnFlag: b.f.GPUsPerNodePerCtx, gpnFlagName: "--gpus-per-node-per-ctx",
		gpnEnv:     []string{"gpusPerNodePerCtxServer", "gpusPerfNodePerfCtxServer"},
		nodesInput: inNodesPerCtx, gpusInput: inGPUsPerCtx,
	})
	lay.ctxKnown = !b.probs.add(err)
	return lay
}

// resolveModes resolves gen-only-no-context, the CTX count and the benchmark mode into lay, and
// reports whether they are known.
func (b *builder) resolveModes(lay *layout) bool {
	noContext, numCtx, err := b.contextServers(b.f.GenOnly, b.f.NumCtx)
	if b.probs.add(err) {
		return false
	}
	lay.noContext, lay.ctx.count = noContext.on, numCtx.v
	if b.f.GenOnly != nil || b.f.NumCtx != nil {
		// A flag that only repeats what the environment and the config say leaves their
		// ready-made commands valid; one that changes the outcome (or hides a bad value below it)
		// makes them stale.
		below, _, err := b.contextServers(nil, nil)
		lay.noContextByFlag = err != nil || below.on != lay.noContext
	}
	if lay.mode, err = b.benchmarkMode(b.f.BenchmarkMode, lay.noContext); b.probs.add(err) {
		return false
	}
	if b.f.BenchmarkMode != "" {
		below, err := b.benchmarkMode("", lay.noContext)
		lay.modeByFlag = err != nil || below != lay.mode
	}
	return true
}

// boolInput is a switch with the name and the layer of the input that set it.
type boolInput struct {
	on    bool
	from  string
	layer layer
}

// contextServers resolves gen-only-no-context and the CTX count, which contradict each other when
// both ask for something: the input from the higher layer wins (flags > environment > config);
// within one layer gen-only-no-context wins, as the generator exports the configured count next
// to it and its launch skips those servers; two flags are an error. The flags are parameters so
// that layout can tell what the layers below the flags say.
func (b *builder) contextServers(genOnlyFlag *bool, numCtxFlag *int) (boolInput, intInput, error) {
	noContext, err := b.noContext(genOnlyFlag)
	if err != nil {
		return noContext, intInput{}, err
	}
	numCtx, err := b.intFrom(numCtxFlag, "--num-ctx", []string{"numCtxServers"}, b.configInt(func(c *config) cfgInt { return c.numCtx }))
	if err != nil {
		return noContext, numCtx, err
	}
	if err := checkRange(numCtx.from, numCtx.v, 0); err != nil {
		return noContext, numCtx, err
	}
	if !noContext.on || numCtx.v == 0 {
		return noContext, numCtx, nil
	}
	switch {
	case numCtx.layer == layerFlag && noContext.layer == layerFlag:
		// Two flags that contradict each other: no precedence can tell which one was meant.
		return noContext, numCtx, inputErrorf(numCtx.from, "%d conflicts with gen-only-no-context mode (from %s), which runs no CTX servers", numCtx.v, noContext.from)
	case numCtx.layer > noContext.layer:
		// The mode cannot hold with CTX servers running, so the count overrides it.
		noContext = boolInput{on: false, from: numCtx.from, layer: numCtx.layer}
	default:
		numCtx.v = 0
	}
	return noContext, numCtx, nil
}

// noContext resolves gen-only-no-context: --[no-]gen-only (flag), else TRTLLM_DISAGG_BENCHMARK_GEN_ONLY
// (what the generator exports for the job), else a config benchmark.mode holding
// gen_only_no_context.
func (b *builder) noContext(flag *bool) (boolInput, error) {
	if flag != nil {
		if *flag {
			return boolInput{on: true, from: "--gen-only", layer: layerFlag}, nil
		}
		return boolInput{on: false, from: "--no-gen-only", layer: layerFlag}, nil
	}
	if v := b.env(genOnlyVar); v != "" {
		on, err := valid.Bool(v)
		if err != nil {
			return boolInput{}, &InputError{Input: genOnlyVar, Problem: err.Error()}
		}
		return boolInput{on: on, from: genOnlyVar, layer: layerEnv}, nil
	}
	if b.cfg.noContext() {
		return boolInput{on: true, from: b.cfg.path + ": " + b.cfg.mode.key, layer: layerConfig}, nil
	}
	return boolInput{}, nil
}

// benchmarkMode resolves the benchmark mode: --benchmark-mode, else DISAGG_BENCHMARK_MODE, else the
// MODE of the test id in the base command (--command, else pytestCommand), which is where the
// newest generator takes it from. Without any of them, gen-only-no-context means gen_only, as the
// older generator's gen-only gave the GEN workers the gen_only settings too; otherwise e2e. The
// config's benchmark.mode is not among the sources: the newest generator ignores it but for
// gen_only_no_context. flag is the value of --benchmark-mode, a parameter so that layout can tell
// what the layers below it say.
func (b *builder) benchmarkMode(flag string, noContext bool) (BenchmarkMode, error) {
	if v := strings.TrimSpace(flag); v != "" {
		return parseBenchmarkMode("--benchmark-mode", v)
	}
	if v := b.env(benchmarkModeVar); v != "" {
		return parseBenchmarkMode(benchmarkModeVar, v)
	}
	base := b.f.Command
	if base == "" {
		base = b.getenv("pytestCommand")
	}
	if mode, ok := testIDMode(base); ok {
		return mode, nil
	}
	if noContext {
		return BenchmarkGenOnly, nil
	}
	return BenchmarkE2E, nil
}

// parseBenchmarkMode checks a benchmark mode given by the input named input.
func parseBenchmarkMode(input, v string) (BenchmarkMode, error) {
	switch mode := BenchmarkMode(v); mode {
	case BenchmarkE2E, BenchmarkGenOnly:
		return mode, nil
	}
	if v == noContextMode {
		// The config's spelling of the switch that drops the CTX servers, not a mode of the test id.
		return "", inputErrorf(input, "want e2e or gen_only, got %s: gen-only without CTX servers is --gen-only or %s=1", quote(v), genOnlyVar)
	}
	return "", inputErrorf(input, "want e2e or gen_only, got %s", quote(v))
}

// testIDMode finds the benchmark mode in the first test id of cmd that has the newest generator's
// shape, MODULE::FUNCTION[PREFIX-MODE[-MODIFIER]-CONFIG] with MODE e2e or gen_only, e.g.
// perf/test_perf_sanity.py::test_e2e[disagg_upload-gen_only-deepseek-r1-fp4_1k1k_ctx1_gen2_tep8] or
// ...[disagg_upload-e2e-time_breakdown-gb300_...] (see parseTestID). Older ids,
// MODULE::FUNCTION[PREFIX-CONFIG], have no mode there, and aggregated ids such as
// aggr_upload-gen_only_no_context-CONFIG name no benchmark mode of a disaggregated test.
func testIDMode(cmd string) (BenchmarkMode, bool) {
	rest := cmd
	for {
		i := strings.Index(rest, "::")
		if i < 0 {
			return "", false
		}
		rest = rest[i+2:]
		open := strings.IndexByte(rest, '[')
		if open < 0 || !isName(rest[:open]) {
			continue
		}
		end := strings.IndexByte(rest[open:], ']')
		if end < 0 {
			continue
		}
		id, ok := parseTestID(rest[open+1 : open+end])
		if !ok {
			continue
		}
		switch mode := BenchmarkMode(id.mode); mode {
		case BenchmarkE2E, BenchmarkGenOnly:
			return mode, true
		}
	}
}

// testIDModifierTimeBreakdown is the one modifier the newest generator puts between a test id's MODE
// and CONFIG so far.
const testIDModifierTimeBreakdown = "time_breakdown"

// testID is the bracketed part of a test id of the newest generator's shape,
// PREFIX-MODE[-MODIFIER]-CONFIG[-SERVER_CONFIG].
type testID struct {
	prefix, mode, modifier string
	// config is the config name with the server configuration's name, if any: both may hold dashes,
	// so where one ends and the other starts cannot be told from the id.
	config string
}

// parseTestID splits the bracketed part of a test id: PREFIX is one word, MODE the next field, then
// an optional modifier (a known word followed by a non-empty rest), and the rest is the config name,
// which may hold dashes. ok is false when a field is empty. It does not judge MODE: in an older id,
// PREFIX-CONFIG, it holds the first field of the config name.
func parseTestID(s string) (id testID, ok bool) {
	prefix, rest, found := strings.Cut(s, "-")
	if !found || prefix == "" {
		return testID{}, false
	}
	mode, config, found := strings.Cut(rest, "-")
	if !found || mode == "" || config == "" {
		return testID{}, false
	}
	id = testID{prefix: prefix, mode: mode, config: config}
	if modifier, after, found := strings.Cut(config, "-"); found && after != "" && modifier == testIDModifierTimeBreakdown {
		id.modifier, id.config = modifier, after
	}
	return id, true
}

// serverInputs names where the shape of one kind of server can come from.
type serverInputs struct {
	kind          string
	gpus          int    // GPUs per server from the config; 0 without one
	gpusCfg       string // the config keys that gave gpus
	gpusEnv       string // gpusPer<Kind>Server
	nodesFlag     *int
	nodesFlagName string
	nodesEnv      string
	gpnFlag       *int
	gpnFlagName   string
	gpnEnv        []string // the contract's name first, then the spelling one generator version wrote
	// nodesInput and gpusInput name the nodes per server and the GPUs per server in Inputs.
	nodesInput, gpusInput string
}

// servers resolves nodes and ranks per node of count servers of one kind, the way today's generator
// derives them from GPUs per server when they are not given: nodes = ceil(gpus / gpus per node),
// ranks per node = min(gpus, gpus per node). gpn 0 means GPUs per node are unknown: only what does
// not depend on them is judged.
func (b *builder) servers(gpn, count int, in serverInputs) (servers, error) {
	s := servers{count: count}
	if count == 0 {
		return s, nil
	}
	gpus, gpusFrom := in.gpus, in.gpusCfg
	if v := b.env(in.gpusEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return s, inputErrorf(in.gpusEnv, "want an integer, got %s", quote(v))
		}
		if err := checkRange(in.gpusEnv, n, 1); err != nil {
			return s, err
		}
		gpus, gpusFrom = n, in.gpusEnv
	}

	nodes, err := b.intFrom(in.nodesFlag, in.nodesFlagName, []string{in.nodesEnv}, cfgInt{})
	if err != nil {
		return s, err
	}
	switch {
	case nodes.set:
		if err := checkRange(nodes.from, nodes.v, 1); err != nil {
			return s, err
		}
		s.nodes = nodes.v
	case gpus > 0:
		if gpn > 0 {
			s.nodes = (gpus + gpn - 1) / gpn
		}
	default:
		return s, missing(in.nodesInput, "; or "+in.gpusInput+" to derive it from: "+lookupInput(in.gpusInput).sources())
	}

	perNode, err := b.intFrom(in.gpnFlag, in.gpnFlagName, in.gpnEnv, cfgInt{})
	if err != nil {
		return s, err
	}
	if gpn == 0 {
		// GPUs per node are missing or bad, which is reported already: what depends on them is
		// not judged.
		return s, nil
	}
	if perNode.set && !nodes.set && gpus > 0 && perNode.v >= 1 {
		// Ranks per node given, nodes not: as many nodes as those ranks need, not as many as
		// whole nodes would.
		s.nodes = (gpus + perNode.v - 1) / perNode.v
	}
	switch {
	case perNode.set:
		if err := checkRange(perNode.from, perNode.v, 1); err != nil {
			return s, err
		}
		if perNode.v > gpn {
			return s, inputErrorf(perNode.from, "%d GPUs per node for each %s server, but nodes have %d", perNode.v, in.kind, gpn)
		}
		s.gpusPerNode = perNode.v
	case gpus > 0:
		s.gpusPerNode = min(gpus, gpn)
	default:
		// Only the node count is known: a server spread over whole nodes uses all their GPUs.
		s.gpusPerNode = gpn
	}
	if s.count*s.nodes > maxCount {
		return s, inputErrorf("layout", "%d %s servers x %d nodes is more than %d nodes", s.count, in.kind, s.nodes, maxCount)
	}
	// A given total must be what the server gets. A flag for nodes or ranks per node changes the
	// layout on purpose, and the lower layers' total is then stale by design (as for totalNodes).
	if gpus > 0 && gpusFrom != "" && nodes.layer != layerFlag && perNode.layer != layerFlag && s.nodes*s.gpusPerNode != gpus {
		source := func(in intInput) string {
			if in.set {
				return in.from
			}
			return "derived"
		}
		inputs := []string{gpusFrom}
		for _, in := range []intInput{nodes, perNode} {
			if in.set {
				inputs = append(inputs, in.from)
			}
		}
		return s, inputErrorf(strings.Join(inputs, " / "), "%d GPUs per %s server (%s) disagree with %d nodes (%s) x %d GPUs per node (%s) = %d",
			gpus, in.kind, gpusFrom, s.nodes, source(nodes), s.gpusPerNode, source(perNode), s.nodes*s.gpusPerNode)
	}
	return s, nil
}

// describeLayout explains a node count, e.g. "2 GEN x 2 + 1 CTX x 1".
func describeLayout(lay layout) string {
	s := fmt.Sprintf("%d GEN x %d", lay.gen.count, lay.gen.nodes)
	if lay.ctx.count > 0 {
		s += fmt.Sprintf(" + %d CTX x %d", lay.ctx.count, lay.ctx.nodes)
	}
	return s
}

// checkTotals compares the generator's totalNodes and totalGpus with the layout. They are
// redundant, so a mismatch means the exports come from different layouts. When a layout flag is
// given the user is deliberately changing the layout and the totals are stale by design.
func (b *builder) checkTotals(lay layout, needed int) error {
	f := b.f
	if f.GPUsPerNode != nil || f.NumGen != nil || f.NumCtx != nil || f.NodesPerGen != nil || f.NodesPerCtx != nil ||
		f.GPUsPerNodePerGen != nil || f.GPUsPerNodePerCtx != nil || f.GenOnly != nil {
		return nil
	}
	if v := b.env("totalNodes"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return inputErrorf("totalNodes", "want an integer, got %s", quote(v))
		}
		if n != needed {
			return inputErrorf("totalNodes", "%d conflicts with the layout, which needs %d nodes (%s)", n, needed, describeLayout(lay))
		}
	}
	if v := b.env("totalGpus"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return inputErrorf("totalGpus", "want an integer, got %s", quote(v))
		}
		// The generator counts whole nodes: total_nodes * gpus_per_node.
		if want := needed * lay.gpusPerNode; n != want {
			return inputErrorf("totalGpus", "%d conflicts with the layout, which needs %d nodes x %d GPUs = %d", n, needed, lay.gpusPerNode, want)
		}
	}
	return nil
}

// paths resolves the workspace, output directory and the supervisor's own paths in it.
func (b *builder) paths(p *Plan) error {
	var probs problems
	ws, wsFrom := b.f.Workspace, "--workspace"
	if ws == "" {
		ws, wsFrom = b.env("jobWorkspace"), "jobWorkspace"
	}
	switch {
	case ws == "":
		probs.add(missing(inWorkspace, ""))
	case !path.IsAbs(ws):
		// Steps may start in another directory (a container's workdir), so a relative path would
		// name a different place there.
		probs.add(inputErrorf(wsFrom, "%s is not an absolute path", quote(ws)))
	default:
		p.Workspace = path.Clean(ws)
	}

	out, outFrom := b.f.OutputDir, "--output-dir"
	if out == "" {
		out, outFrom = b.env("testOutputDir"), "testOutputDir"
	}
	switch {
	case out == "":
		p.OutputDir = p.Workspace
	case !path.IsAbs(out):
		probs.add(inputErrorf(outFrom, "%s is not an absolute path", quote(out)))
	default:
		p.OutputDir = path.Clean(out)
	}
	if probs.any() {
		return probs.err()
	}
	p.TaskBinary = TaskBinaryPath(p.Workspace)
	p.CoordDir = coord.RunDir(p.Workspace, p.RunToken)
	return nil
}

// srunSettings are the srun choices shared by all steps.
type srunSettings struct {
	userArgs   []string
	mpi        string // "" for no --mpi
	pin        string
	forwardEnv bool
}

func (b *builder) srunSettings(nodes []string) (srunSettings, error) {
	var st srunSettings
	if name := b.f.SrunArgsFile; name != "" {
		input := "--srun-args-file " + name
		data, err := b.read(name)
		if err != nil {
			return st, inputErrorf("--srun-args-file", "cannot read it: %v", err)
		}
		if err := checkFileSize("--srun-args-file", name, data); err != nil {
			return st, err
		}
		words, err := splitWords(string(data))
		if err != nil {
			return st, &InputError{Input: input, Problem: err.Error()}
		}
		// `printf '%q\n' "${srunArgs[@]}"` of an empty array writes one empty word (''): that is
		// no arguments, not an empty program name for srun.
		if len(words) == 1 && words[0] == "" {
			words = nil
		}
		if err := checkUserArgs(input, words); err != nil {
			return st, err
		}
		st.userArgs = words
	}
	if err := checkUserArgs("--srun-arg", b.f.SrunArgs); err != nil {
		return st, err
	}
	st.userArgs = append(st.userArgs, b.f.SrunArgs...)

	switch b.f.MPI {
	case "":
		st.mpi = DefaultMPI
	case "none":
	default:
		if strings.ContainsAny(b.f.MPI, " \t\n=") {
			return st, inputErrorf("--mpi", "%s is not an MPI type", quote(b.f.MPI))
		}
		st.mpi = b.f.MPI
	}

	st.pin = nodes[0]
	if b.f.PinNode != "" {
		if !slices.Contains(nodes, b.f.PinNode) {
			return st, inputErrorf("--pin-node", "%s is not in the allocation (%s)", quote(b.f.PinNode), clip(slurm.CompressHostlist(nodes)))
		}
		st.pin = b.f.PinNode
	}

	if f := b.f.ForwardContainerEnv; f != "" && !f.Valid() {
		return st, inputErrorf("--forward-container-env", "want auto, always or never, got %s", quote(string(f)))
	}
	// pyxis needs --container-env to let the plan's values through; plain Slurm rejects it.
	st.forwardEnv = b.f.ForwardContainerEnv.On(
		slices.ContainsFunc(st.userArgs, func(a string) bool { return strings.HasPrefix(a, "--container-") }))
	return st, nil
}

// checkUserArgs rejects the srun options every step of the plan sets itself: a user's copy would
// silently reshape the steps.
func checkUserArgs(input string, args []string) error {
	for _, a := range args {
		if a == "" {
			// srun would take an empty word for the program to run, and every step would fail.
			return inputErrorf(input, "an empty argument: srun would run it as the program")
		}
		if opt, owner, ok := plannedOption(a); ok {
			return inputErrorf(input, "%s sets %s, which %s", quote(a), opt, owner)
		}
	}
	return nil
}

// Who sets the srun options that a user's srun argument must not: srun takes the last of two
// copies, and the plan's come after the user's, so a user's copy would be silently overridden.
const (
	shapeOwner = "the plan sets for every step (-N, -w, --ntasks, --ntasks-per-node)"
	mpiOwner   = "the plan sets for the worker steps: use the --mpi flag (--mpi none leaves it out)"
	killOwner  = "the plan sets for every step (--kill-on-bad-exit=1: a failing rank ends its step at once)"
)

// plannedOption reports whether the srun argument a is one of the options the plan sets, and
// says who sets it.
func plannedOption(a string) (opt, owner string, ok bool) {
	if strings.HasPrefix(a, "--") {
		name, _, _ := strings.Cut(a[2:], "=")
		switch name {
		case "nodes", "nodelist", "ntasks", "ntasks-per-node":
			return "--" + name, shapeOwner, true
		case "mpi":
			return "--mpi", mpiOwner, true
		case "kill-on-bad-exit":
			return "--kill-on-bad-exit", killOwner, true
		}
		return "", "", false
	}
	if len(a) >= 2 && a[0] == '-' {
		switch a[1] {
		case 'N', 'w', 'n':
			return a[:2], shapeOwner, true
		case 'K':
			return "-K (--kill-on-bad-exit)", killOwner, true
		}
	}
	return "", "", false
}

// taskOptions checks the task runner options of the flags and returns them; role, kind and
// coordination directory are filled per role. Options.Args renders only what differs from the task's
// defaults, so the srun argv shows only choices someone made.
func (b *builder) taskOptions() (taskopts.Options, error) {
	f := b.f
	for _, d := range []struct {
		input string
		v     time.Duration
	}{
		{"--task-install-timeout", f.TaskInstallTimeout},
		{"--task-barrier-timeout", f.TaskBarrierTimeout},
		{"--task-after-timeout", f.TaskAfterTimeout},
		{"--probe-timeout", f.ProbeTimeout},
	} {
		// Zero is "not given" in a Flags built in Go (the CLI refuses a zero it parsed).
		if err := valid.Duration(d.v, "the default"); err != nil {
			return taskopts.Options{}, &InputError{Input: d.input, Problem: err.Error()}
		}
	}
	// Zero timeouts and an empty mode stay zero: they mean the task's defaults.
	o := taskopts.Defaults()
	o.InstallCommand, o.InstallTimeout = f.TaskInstall, f.TaskInstallTimeout
	o.BarrierTimeout = f.TaskBarrierTimeout
	o.UnsetSlurm = f.UnsetSlurm
	nodeTimeout, err := b.nodeTimeout()
	if err != nil {
		return taskopts.Options{}, err
	}
	// The tasks keep their nodes' heartbeats for the supervisor's node watch.
	o.NodeHeartbeat = taskopts.NodeHeartbeat(nodeTimeout)
	if err := b.taskHooks(&o); err != nil {
		return taskopts.Options{}, err
	}
	if f.TaskInstall != "" {
		if err := checkShell(f.TaskInstall); err != nil {
			return taskopts.Options{}, inputErrorf("--task-install", "not valid shell: %v", err)
		}
	}
	if o.UnsetSlurm != "" && !o.UnsetSlurm.Valid() {
		return taskopts.Options{}, inputErrorf("--task-unset-slurm", "want auto, always or never, got %s", quote(string(f.UnsetSlurm)))
	}
	for _, flag := range []struct {
		given *bool
		opt   *bool
	}{{f.TaskBarrier, &o.Barrier}, {f.EnvDump, &o.EnvDump}, {f.LLMSrcSetup, &o.LLMSrcSetup}, {f.LDLibraryPath, &o.LDLibraryPath}} {
		if flag.given != nil {
			*flag.opt = *flag.given
		}
	}
	return o, nil
}

// sharedVars are the values every role's environment carries.
type sharedVars struct {
	imex, visible, llmSrc string
	// genOnly is TRTLLM_DISAGG_BENCHMARK_GEN_ONLY for every role: "1" in gen-only-no-context, as
	// the generator exports it for the whole job; "0" when a flag turned the mode off while the job
	// still exports the variable, since steps inherit the job's environment; else unset.
	genOnly string
}

func (b *builder) roleVars(lay layout) sharedVars {
	v := sharedVars{imex: b.f.ImexChannels, visible: b.f.VisibleDevices, llmSrc: b.f.LLMSrc}
	if v.imex == "" {
		v.imex = b.env("NVIDIA_IMEX_CHANNELS")
	}
	if v.imex == "" {
		v.imex = "0"
	}
	if v.visible == "" {
		v.visible = b.env("NVIDIA_VISIBLE_DEVICES")
	}
	if v.visible == "" {
		ids := make([]string, lay.gpusPerNode)
		for i := range ids {
			ids[i] = strconv.Itoa(i)
		}
		v.visible = strings.Join(ids, ",")
	}
	if v.llmSrc == "" {
		v.llmSrc = b.env("llmSrcNode")
	}
	switch {
	case lay.noContext:
		v.genOnly = "1"
	case b.env(genOnlyVar) != "":
		v.genOnly = "0"
	}
	return v
}

// installStep plans the install script. By default it runs as today's launch draft runs it: srun
// with no node or task options, so that every task of the job runs it (the install script
// serialises per node itself); --install-per-node runs it on one task per node of the plan. The
// log goes to the workspace, where the draft writes it.
func (b *builder) installStep(p *Plan, st srunSettings) (*Step, error) {
	script, from := b.f.InstallScript, "--install-script"
	if script == "" {
		script, from = b.env("installScript"), "installScript"
	}
	if script == "" {
		return nil, nil
	}
	argv, err := splitWords(script)
	if err != nil {
		return nil, &InputError{Input: from, Problem: err.Error()}
	}
	// An empty first word would be srun's program name, and every task would fail to start it.
	if len(argv) == 0 || argv[0] == "" {
		return nil, inputErrorf(from, "no command in %s", quote(script))
	}
	step := &Step{Command: script, Log: path.Join(p.Workspace, "install.log"), PerNode: b.f.InstallPerNode}
	spec := slurm.StepSpec{Srun: "srun", UserArgs: st.userArgs, Command: argv}
	if step.PerNode {
		spec.Nodes, spec.NTasks, spec.NTasksPerNode = p.Nodes, len(p.Nodes), 1
		step.NTasks = len(p.Nodes)
	} else if step.NTasks, err = b.jobTasks(); err != nil {
		return nil, err
	}
	step.Srun = spec.Argv()
	return step, nil
}

// jobTasks is the number of tasks srun starts in this job when the step names none, as srun reads
// it from the job's environment: SLURM_NTASKS (SLURM_NPROCS on old setups), else
// SLURM_NTASKS_PER_NODE on each of SLURM_JOB_NUM_NODES nodes. 0 means the environment does not
// say (no allocation, or a job without a task count, where srun starts one task per node).
func (b *builder) jobTasks() (int, error) {
	positive := func(name string) (int, bool, error) {
		v := b.env(name)
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, false, inputErrorf(name, "want an integer, got %s", quote(v))
		}
		if err := checkRange(name, n, 1); err != nil {
			return 0, false, err
		}
		return n, true, nil
	}
	for _, name := range []string{"SLURM_NTASKS", "SLURM_NPROCS"} {
		if n, ok, err := positive(name); err != nil || ok {
			return n, err
		}
	}
	perNode, ok, err := positive("SLURM_NTASKS_PER_NODE")
	if err != nil || !ok {
		return 0, err
	}
	for _, name := range []string{"SLURM_JOB_NUM_NODES", "SLURM_NNODES"} {
		if nodes, ok, err := positive(name); err != nil || ok {
			return nodes * perNode, err
		}
	}
	return 0, nil
}

// assembleRoles lays the roles out on the nodes: GEN slices from the start of the node list, then
// CTX slices, then DISAGG_SERVER and BENCHMARK overlapping the pinned node.
func assembleRoles(p *Plan, lay layout, cmds roleCommands, st srunSettings, task taskopts.Options, vars sharedVars) []Role {
	roles := make([]Role, 0, lay.gen.count+lay.ctx.count+2)
	next := 0
	for _, w := range []struct {
		s    servers
		kind Kind
		name string
		log  string
		cmd  string
	}{
		{lay.gen, KindGen, "GEN", "gen_server", cmds.gen},
		{lay.ctx, KindCtx, "CTX", "ctx_server", cmds.ctx},
	} {
		for i := 0; i < w.s.count; i++ {
			r := Role{
				Name:          fmt.Sprintf("%s_%d", w.name, i),
				Kind:          w.kind,
				Index:         i,
				Nodes:         slices.Clone(p.Nodes[next : next+w.s.nodes]),
				NTasks:        w.s.nodes * w.s.gpusPerNode,
				NTasksPerNode: w.s.gpusPerNode,
				Command:       w.cmd,
				Log:           path.Join(p.OutputDir, fmt.Sprintf("%s_%d.log", w.log, i)),
			}
			next += w.s.nodes
			roles = append(roles, finishRole(p, r, lay, st, task, vars, st.mpi))
		}
	}
	for _, s := range []struct {
		kind Kind
		name string
		log  string
		cmd  string
	}{
		{KindServer, "DISAGG_SERVER", "disagg_server.log", cmds.server},
		{KindBenchmark, "BENCHMARK", "benchmark.log", cmds.benchmark},
	} {
		r := Role{
			Name:          s.name,
			Kind:          s.kind,
			Nodes:         []string{st.pin},
			NTasks:        1,
			NTasksPerNode: 1,
			Command:       s.cmd,
			Log:           path.Join(p.OutputDir, s.log),
		}
		roles = append(roles, finishRole(p, r, lay, st, task, vars, ""))
	}
	return roles
}

// finishRole fills a role's environment and srun argv.
func finishRole(p *Plan, r Role, lay layout, st srunSettings, task taskopts.Options, vars sharedVars, mpi string) Role {
	r.Env = map[string]string{
		"DISAGG_SERVING_TYPE":    r.Name,
		"pytestCommand":          r.Command,
		"NVIDIA_IMEX_CHANNELS":   vars.imex,
		"NVIDIA_VISIBLE_DEVICES": vars.visible,
		"TRTLLM_PERF_RUN_TOKEN":  p.RunToken,
		"jobWorkspace":           p.Workspace,
		"testOutputDir":          p.OutputDir,
		// The layout may come from a config file; harnesses read it from here.
		"numGenServers": strconv.Itoa(lay.gen.count),
		"numCtxServers": strconv.Itoa(lay.ctx.count),
	}
	if vars.llmSrc != "" {
		r.Env["llmSrcNode"] = vars.llmSrc
	}
	if vars.genOnly != "" {
		r.Env[genOnlyVar] = vars.genOnly
	}
	var forward []string
	if st.forwardEnv {
		// Argv sorts them, so that map order never reaches the argv.
		forward = make([]string, 0, len(r.Env))
		for name := range r.Env {
			forward = append(forward, name)
		}
	}
	task.Role, task.Kind, task.CoordDir = r.Name, string(r.Kind), p.CoordDir
	r.Task = task.WithDefaults()
	cmd := append([]string{p.TaskBinary, "task"}, task.Args()...)
	spec := slurm.StepSpec{
		Srun:          "srun",
		UserArgs:      st.userArgs,
		MPI:           mpi,
		KillOnBadExit: true,
		Overlap:       !r.IsWorker(),
		Nodes:         r.Nodes,
		NTasks:        r.NTasks,
		NTasksPerNode: r.NTasksPerNode,
		ContainerEnv:  forward,
		Command:       cmd,
	}
	r.Srun = spec.Argv()
	return r
}
