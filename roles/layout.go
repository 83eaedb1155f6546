package roles

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/disagg-supervisor/disagg-supervisor/internal/valid"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// Names of the environment variables that decide the benchmark mode and gen-only-no-context.
const (
	// benchmarkModeVar is this program's own variable; the generator exports none for the mode,
	// which it puts into the test id.
	benchmarkModeVar = "DISAGG_BENCHMARK_MODE"
	// genOnlyVar is what the generator exports for the whole job in gen_only_no_context, and what
	// the servers read.
	genOnlyVar = "TRTLLM_DISAGG_BENCHMARK_GEN_ONLY"
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
		case !numGen.set():
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
	lay.noContext, lay.ctx.count = noContext.v, numCtx.v
	if b.f.GenOnly != nil || b.f.NumCtx != nil {
		// A flag that only repeats what the environment and the config say leaves their
		// ready-made commands valid; one that changes the outcome (or hides a bad value below it)
		// makes them stale.
		below, _, err := b.contextServers(nil, nil)
		lay.noContextByFlag = err != nil || below.v != lay.noContext
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
	if !noContext.v || numCtx.v == 0 {
		return noContext, numCtx, nil
	}
	switch {
	case numCtx.layer == layerFlag && noContext.layer == layerFlag:
		// Two flags that contradict each other: no precedence can tell which one was meant.
		return noContext, numCtx, inputErrorf(numCtx.from, "%d conflicts with gen-only-no-context mode (from %s), which runs no CTX servers", numCtx.v, noContext.from)
	case numCtx.layer > noContext.layer:
		// The mode cannot hold with CTX servers running, so the count overrides it.
		noContext = boolInput{v: false, from: numCtx.from, layer: numCtx.layer}
	default:
		numCtx.v = 0
	}
	return noContext, numCtx, nil
}

// noContext resolves gen-only-no-context: --[no-]gen-only (flag), else TRTLLM_DISAGG_BENCHMARK_GEN_ONLY
// (what the generator exports for the job), else a config benchmark.mode holding
// gen_only_no_context.
func (b *builder) noContext(flag *bool) (boolInput, error) {
	flagName := "--gen-only"
	if flag != nil && !*flag {
		flagName = "--no-gen-only"
	}
	var cfg *bool
	var cfgFrom string
	if b.cfg.noContext() {
		on := true
		cfg, cfgFrom = &on, b.cfg.path+": "+b.cfg.mode.key
	}
	return resolveInput(b, flag, flagName, []string{genOnlyVar}, valid.Bool, cfg, cfgFrom)
}

// benchmarkMode resolves the benchmark mode: --benchmark-mode, else DISAGG_BENCHMARK_MODE, else the
// MODE of the test id in the base command (--command, else pytestCommand), which is where the
// newest generator takes it from. Without any of them, gen-only-no-context means gen_only, as the
// older generator's gen-only gave the GEN workers the gen_only settings too; otherwise e2e. The
// config's benchmark.mode is not among the sources: the newest generator ignores it but for
// gen_only_no_context. flag is the value of --benchmark-mode, a parameter so that layout can tell
// what the layers below it say.
func (b *builder) benchmarkMode(flag string, noContext bool) (BenchmarkMode, error) {
	if mode := b.text(strings.TrimSpace(flag), "--benchmark-mode", benchmarkModeVar); mode.set() {
		return parseBenchmarkMode(mode.from, mode.v)
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
	var cfgGPUs *int
	if in.gpus > 0 {
		cfgGPUs = &in.gpus
	}
	total, err := resolveInput(b, nil, "", []string{in.gpusEnv}, parseInt, cfgGPUs, in.gpusCfg)
	if err != nil {
		return s, err
	}
	if total.layer == layerEnv {
		if err := checkRange(in.gpusEnv, total.v, 1); err != nil {
			return s, err
		}
	}
	gpus, gpusFrom := total.v, total.from

	nodes, err := b.intFrom(in.nodesFlag, in.nodesFlagName, []string{in.nodesEnv}, cfgInt{})
	if err != nil {
		return s, err
	}
	switch {
	case nodes.set():
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
	if perNode.set() && !nodes.set() && gpus > 0 && perNode.v >= 1 {
		// Ranks per node given, nodes not: as many nodes as those ranks need, not as many as
		// whole nodes would.
		s.nodes = (gpus + perNode.v - 1) / perNode.v
	}
	switch {
	case perNode.set():
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
	if gpus > 0 && gpusFrom != "" && nodes.layer != layerFlag && perNode.layer != layerFlag {
		return s, checkServerGPUs(s, in.kind, total, nodes, perNode)
	}
	return s, nil
}

// checkServerGPUs checks that the GPUs per server given by total agree with the server's nodes x
// ranks per node, given (nodes, perNode) or derived.
func checkServerGPUs(s servers, kind string, total, nodes, perNode intInput) error {
	if s.nodes*s.gpusPerNode == total.v {
		return nil
	}
	source := func(in intInput) string {
		if in.set() {
			return in.from
		}
		return "derived"
	}
	inputs := []string{total.from}
	for _, in := range []intInput{nodes, perNode} {
		if in.set() {
			inputs = append(inputs, in.from)
		}
	}
	return inputErrorf(strings.Join(inputs, " / "), "%d GPUs per %s server (%s) disagree with %d nodes (%s) x %d GPUs per node (%s) = %d",
		total.v, kind, total.from, s.nodes, source(nodes), s.gpusPerNode, source(perNode), s.nodes*s.gpusPerNode)
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
