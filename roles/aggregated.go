package roles

import (
	"cmp"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

// TestMode is the shape of the test a plan runs. Its string form is --mode's word and the plan
// JSON's "mode".
type TestMode string

// The test modes.
const (
	// ModeAuto takes the mode from the shape of the inputs (see AggregatedFlags.Mode).
	ModeAuto TestMode = "auto"
	// ModeDisaggregated runs GEN_i and CTX_i servers, the DISAGG_SERVER router and the BENCHMARK.
	ModeDisaggregated TestMode = "disaggregated"
	// ModeAggregated runs one multi-rank SERVER over the allocation, whose test command serves and
	// measures by itself; no router, no separate benchmark.
	ModeAggregated TestMode = "aggregated"
)

// KindAggregated is the kind of the SERVER role of an aggregated test. It is not KindServer, which is
// the DISAGG_SERVER router: the SERVER is a multi-rank MPI world like a GEN server, and its end
// decides the run as the BENCHMARK's does.
const KindAggregated = taskopts.KindAggregated

// AggregatedRole is the name of the one role of an aggregated test.
const AggregatedRole = "SERVER"

// Names of the aggregated contract's environment variables, as today's generator exports them.
const (
	aggGPUsPerNodeVar = "gpusPerNodePerServer"
	aggNodesVar       = "totalNodes"
	aggWorldSizeVar   = "world_size"
	numGenVar         = "numGenServers"
)

// aggregatedLog is the SERVER's log when its output does not go to gen_server_0.log (gen-only).
const aggregatedLog = "aggregated_server.log"

// AggregatedFlags are the command-line inputs that choose the test mode and shape an aggregated test.
// Flags embeds them, so the CLI binds them with the rest.
type AggregatedFlags struct {
	Mode                 TestMode `name:"mode" default:"auto" placeholder:"MODE" group:"Layout" help:"Test mode: disaggregated (GEN, CTX, DISAGG_SERVER, BENCHMARK), aggregated (one multi-rank SERVER over the allocation), or auto: aggregated when gpusPerNodePerServer and totalNodes are exported without numGenServers or --config has server_configs, disaggregated when numGenServers (--num-gen, hardware.num_gen_servers) is given; inputs of both or neither are an error (default: ${default})."`
	TotalNodes           *int     `name:"total-nodes" placeholder:"N" group:"Layout" help:"Aggregated: nodes of the SERVER (env totalNodes; else from --config's server_configs; else the whole allocation)."`
	GPUsPerNodePerServer *int     `name:"gpus-per-node-per-server" placeholder:"N" group:"Layout" help:"Aggregated: ranks (GPUs) per node of the SERVER (env gpusPerNodePerServer; else from --config; else GPUs per node)."`
	WorldSize            *int     `name:"world-size" placeholder:"N" group:"Layout" help:"Aggregated: ranks of the SERVER (env world_size; else from --config; else total nodes x ranks per node)."`
}

// given reports whether any aggregated layout flag was given, and names the first.
func (f AggregatedFlags) given() (string, bool) {
	switch {
	case f.TotalNodes != nil:
		return "--total-nodes", true
	case f.GPUsPerNodePerServer != nil:
		return "--gpus-per-node-per-server", true
	case f.WorldSize != nil:
		return "--world-size", true
	}
	return "", false
}

// disaggregatedFlag names the first given flag that only a disaggregated test reads.
func (f Flags) disaggregatedFlag() (string, bool) {
	for _, in := range []struct {
		name  string
		given bool
	}{
		{"--num-gen", f.NumGen != nil},
		{"--num-ctx", f.NumCtx != nil},
		{"--nodes-per-gen", f.NodesPerGen != nil},
		{"--nodes-per-ctx", f.NodesPerCtx != nil},
		{"--gpus-per-node-per-gen", f.GPUsPerNodePerGen != nil},
		{"--gpus-per-node-per-ctx", f.GPUsPerNodePerCtx != nil},
		{"--gen-command", f.GenCommand != ""},
		{"--ctx-command", f.CtxCommand != ""},
		{"--server-command", f.ServerCommand != ""},
		{"--benchmark-command", f.BenchmarkCommand != ""},
	} {
		if in.given {
			return in.name, true
		}
	}
	return "", false
}

// aggConfig is what a config of the aggregated shape contributes: its server_configs.
type aggConfig struct {
	// present is set when the file has a server_configs list: the shape of an aggregated test.
	present bool
	key     string
	// gpus is the largest world of the server configurations (world_size, else tensor x pipeline x
	// context parallel size), since they run one after another in the same step; 0 when none says.
	gpus int
	// count is how many server configurations the list holds.
	count int
}

// serverConfigs reads server_configs, the list of server configurations of an aggregated test.
func (p *configParser) serverConfigs(root *yaml.Node) aggConfig {
	const name = "server_configs"
	c := aggConfig{key: name}
	n := lookup(root, name)
	if n == nil {
		return c
	}
	if n.Kind != yaml.SequenceNode {
		p.fail(name, "want a list of server configurations, got %s", describe(n))
		return c
	}
	c.present = true
	c.count = len(n.Content)
	for i, item := range n.Content {
		item = resolve(item)
		key := fmt.Sprintf("%s[%d]", name, i)
		if item == nil || item.Kind != yaml.MappingNode {
			p.fail(key, "want a mapping, got %s", describeOrNil(item))
			return c
		}
		p.checkKeys(item, key, serverKeys, nearMisses)
		gpus := 0
		if ws := p.integer(item, key, "world_size"); ws.set {
			if ws.v < 1 || ws.v > maxCount {
				p.fail(ws.key, "want a positive integer, got %d", ws.v)
				return c
			}
			gpus = ws.v
		} else if hasParallelism(item) {
			gpus = p.parallelism(item, key)
		}
		c.gpus = max(c.gpus, gpus)
	}
	return c
}

// hasParallelism reports whether a server configuration names any parallel size.
func hasParallelism(m *yaml.Node) bool {
	for _, key := range []string{"tensor_parallel_size", "pipeline_parallel_size", "context_parallel_size"} {
		if lookup(m, key) != nil {
			return true
		}
	}
	return false
}

func describeOrNil(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	return describe(n)
}

// evidence is one input that tells which test the inputs describe.
type evidence struct {
	mode TestMode
	from string
}

// testMode resolves the test mode: --mode when it names one; else the shape of the inputs. A
// disaggregated test is described by numGenServers (--num-gen, hardware.num_gen_servers), an
// aggregated one by gpusPerNodePerServer and totalNodes exported without numGenServers (the
// generator's aggregated exports), by the aggregated flags, or by a --config with server_configs.
// Inputs of both shapes, or of neither, are an error that names them: guessing would run a
// layout nobody asked for on every GPU of the allocation (a --num-gen 1 next to an aggregated
// config once planned a 1-GPU GEN server). A problem is recorded, and the mode is then ""; missing
// tells that no input of either test was given, rather than a bad or contradicting one.
func (b *builder) testMode() (mode TestMode, missing bool) {
	mode, err := b.resolveTestMode()
	if b.probs.add(err) {
		var ie *InputError
		return "", errors.As(err, &ie) && ie.Missing
	}
	return mode, false
}

// resolveTestMode is testMode's decision.
func (b *builder) resolveTestMode() (TestMode, error) {
	f := b.f
	switch f.Mode {
	case "", ModeAuto:
	case ModeAggregated:
		if name, ok := f.disaggregatedFlag(); ok {
			return "", inputErrorf(name, "a disaggregated input, but --mode aggregated runs one SERVER")
		}
		return ModeAggregated, nil
	case ModeDisaggregated:
		if name, ok := f.AggregatedFlags.given(); ok {
			return "", inputErrorf(name, "an aggregated input, but --mode disaggregated runs GEN and CTX servers")
		}
		return ModeDisaggregated, nil
	default:
		return "", inputErrorf("--mode", "want auto, disaggregated or aggregated, got %s", quote(string(f.Mode)))
	}

	// Every layer counts: inputs of both shapes contradict each other whatever their precedence,
	// and only the user can say which test was meant.
	var found []evidence
	if name, ok := f.disaggregatedFlag(); ok {
		found = append(found, evidence{ModeDisaggregated, name})
	}
	if name, ok := f.AggregatedFlags.given(); ok {
		found = append(found, evidence{ModeAggregated, name})
	}
	// In the environment numGenServers decides, as the aggregated contract has none; totalNodes
	// alone says nothing, since the disaggregated contract exports it too.
	switch {
	case b.env(numGenVar) != "":
		found = append(found, evidence{ModeDisaggregated, numGenVar})
	case b.env(aggGPUsPerNodeVar) != "" && b.env(aggNodesVar) != "":
		found = append(found, evidence{ModeAggregated, aggGPUsPerNodeVar + " and " + aggNodesVar})
	}
	if b.cfg != nil {
		if b.cfg.agg.present {
			found = append(found, evidence{ModeAggregated, b.cfg.path + ": " + b.cfg.agg.key})
		}
		if b.cfg.numGen.set {
			found = append(found, evidence{ModeDisaggregated, b.cfg.path + ": " + b.cfg.numGen.key})
		}
	}

	var agg, disagg *evidence
	for i := range found {
		switch found[i].mode {
		case ModeAggregated:
			agg = cmp.Or(agg, &found[i])
		case ModeDisaggregated:
			disagg = cmp.Or(disagg, &found[i])
		}
	}
	switch {
	case agg != nil && disagg != nil:
		return "", inputErrorf(disagg.from+" / "+agg.from, "inputs of a disaggregated test (%s) and of an aggregated one (%s): give --mode, or drop the ones of the other test", disagg.from, agg.from)
	case agg != nil:
		return ModeAggregated, nil
	case disagg != nil:
		return ModeDisaggregated, nil
	}
	return "", &InputError{Input: inTestMode, Missing: true, Problem: lookupInput(inTestMode).Flag +
		", or the inputs of one test: " + lookupInput(inNumGen).sources() + " (disaggregated); " +
		aggGPUsPerNodeVar + " and " + aggNodesVar + ", or server_configs in --config (aggregated)"}
}

// aggregatedHint reports whether the environment holds a variable only the aggregated contract
// exports (totalNodes is in both).
func (b *builder) aggregatedHint() bool {
	return b.env(aggGPUsPerNodeVar) != "" || b.env(aggWorldSizeVar) != ""
}

// aggLayout is the resolved shape of an aggregated test.
type aggLayout struct {
	gpusPerNode int // of the allocation's nodes
	nodes       int // nodes of the SERVER, the first of the allocation
	perNode     int // ranks on each of them
	worldSize   int // ranks in all
	noContext   bool
	mode        BenchmarkMode
}

// aggregatedLayout resolves the aggregated SERVER's shape and the benchmark mode, recording every
// problem; ok tells that all of it is known. envOK false means Slurm's environment is malformed, so
// that GPUs per node are unknown rather than missing.
func (b *builder) aggregatedLayout(topo slurm.Topology, envOK bool) (lay aggLayout, ok bool) {
	lay, err := b.aggregatedShape(topo, envOK)
	ok = !b.probs.add(err)
	noContext, err := b.noContext(b.f.GenOnly)
	if b.probs.add(err) {
		return lay, false
	}
	lay.noContext = noContext.v
	if lay.mode, err = b.benchmarkMode(b.f.BenchmarkMode, lay.noContext); b.probs.add(err) {
		return lay, false
	}
	return lay, ok
}

// aggregatedShape resolves the aggregated SERVER's shape, each value from its flag, else the
// generator's export, else the config's server_configs (GPUs as the generator derives them: nodes =
// ceil(GPUs / ranks per node), ranks per node = min(GPUs, GPUs per node)), else the whole allocation.
// Each value depends on the one before, so the first problem ends it.
func (b *builder) aggregatedShape(topo slurm.Topology, envOK bool) (aggLayout, error) {
	var lay aggLayout
	var cfgGPUs int
	if b.cfg != nil {
		cfgGPUs = b.cfg.agg.gpus
	}

	perNode, err := b.intFrom(b.f.GPUsPerNodePerServer, "--gpus-per-node-per-server", []string{aggGPUsPerNodeVar}, cfgInt{})
	if err != nil {
		return lay, err
	}
	if perNode.set() {
		if err := checkRange(perNode.from, perNode.v, 1); err != nil {
			return lay, err
		}
	}

	lay.gpusPerNode = topo.GPUsPerNode
	if lay.gpusPerNode == 0 {
		switch c := b.configInt(func(c *config) cfgInt { return c.gpusPerNode }); {
		case c.set:
			if err := checkRange(b.cfg.path+": "+c.key, c.v, 1); err != nil {
				return lay, err
			}
			lay.gpusPerNode = c.v
		case perNode.set():
			// The aggregated exports name no GPUs per node; the SERVER's ranks per node are what
			// the nodes must hold.
			lay.gpusPerNode = perNode.v
		case envOK && b.f.GPUsPerNode == nil:
			return lay, missing(inGPUsPerNode, "; or "+lookupInput(inServerPerNode).sources())
		default:
			return lay, nil // the environment's or the flag's problem is reported already
		}
	}
	switch {
	case perNode.set():
		if perNode.v > lay.gpusPerNode {
			return lay, inputErrorf(perNode.from, "%d ranks per node for the SERVER, but nodes have %d GPUs", perNode.v, lay.gpusPerNode)
		}
		lay.perNode = perNode.v
	case cfgGPUs > 0:
		lay.perNode = min(cfgGPUs, lay.gpusPerNode)
	default:
		lay.perNode = lay.gpusPerNode
	}

	nodes, err := b.intFrom(b.f.TotalNodes, "--total-nodes", []string{aggNodesVar}, cfgInt{})
	if err != nil {
		return lay, err
	}
	switch {
	case nodes.set():
		if err := checkRange(nodes.from, nodes.v, 1); err != nil {
			return lay, err
		}
		lay.nodes = nodes.v
	case cfgGPUs > 0:
		lay.nodes = (cfgGPUs + lay.perNode - 1) / lay.perNode
	default:
		lay.nodes = len(topo.Nodes)
	}
	if topo.Nodes == nil {
		return lay, nil // the node list's problem is reported already
	}
	if lay.nodes > len(topo.Nodes) {
		return lay, inputErrorf("layout", "needs %d nodes (aggregated SERVER of %d nodes x %d ranks), allocation has %d",
			lay.nodes, lay.nodes, lay.perNode, len(topo.Nodes))
	}

	ws, err := b.intFrom(b.f.WorldSize, "--world-size", []string{aggWorldSizeVar}, cfgInt{})
	if err != nil {
		return lay, err
	}
	capacity := lay.nodes * lay.perNode
	from := ws.from
	switch {
	case ws.set():
		if err := checkRange(ws.from, ws.v, 1); err != nil {
			return lay, err
		}
		lay.worldSize = ws.v
	case cfgGPUs > 0:
		// The config's world, checked below against the nodes the exports or flags give it.
		lay.worldSize, from = cfgGPUs, b.cfg.path+": "+b.cfg.agg.key
	default:
		lay.worldSize, from = capacity, "layout"
	}
	switch {
	case lay.worldSize > capacity:
		return lay, inputErrorf(from, "%d ranks do not fit on %d nodes x %d ranks per node", lay.worldSize, lay.nodes, lay.perNode)
	case lay.worldSize < lay.nodes:
		// srun would shrink the step to fewer nodes than the plan shows, with only a warning.
		return lay, inputErrorf(from, "%d ranks cannot cover %d nodes: every node of the SERVER needs a rank", lay.worldSize, lay.nodes)
	}
	return lay, nil
}

// buildAggregated makes the plan of an aggregated test: the install step (as for a disaggregated
// test), then one role, SERVER, over the first nodes of the allocation, shaped as today's aggregated
// launch draft shapes its step: srun --mpi=pmix --kill-on-bad-exit=1 -N totalNodes
// --ntasks=world_size --ntasks-per-node=gpusPerNodePerServer, running the base test command through
// the per-rank task runner.
func (b *builder) buildAggregated(topo slurm.Topology, envOK bool, unique string) (Plan, error) {
	lay, layOK := b.aggregatedLayout(topo, envOK)
	p, st, stOK := b.newPlan(Plan{Mode: ModeAggregated, GPUsPerNode: lay.gpusPerNode, BenchmarkMode: lay.mode,
		GenOnlyNoContext: lay.noContext}, topo, unique)

	cmd := commandSource{b.f.Command, "--command"}
	if cmd.v == "" {
		cmd = commandSource{b.getenv("pytestCommand"), "pytestCommand"}
	}
	cmd.v = trimBlanks(cmd.v)
	if cmd.v == "" {
		b.probs.add(missing(inBaseCommand, ", the aggregated SERVER's command"))
	} else if !b.probs.add(checkCommand(cmd.from, cmd.v)) {
		wrapper := cmp.Or(b.f.Wrapper, DefaultWrapper)
		b.probs.add(checkNotOnlyWrapper(cmd, wrapper, "the SERVER would launch nothing"))
	}
	task, err := b.taskOptions()
	b.probs.add(err)
	shared := layout{gpusPerNode: lay.gpusPerNode, noContext: lay.noContext}
	vars := b.roleVars(shared)
	if stOK {
		p.Install, err = b.installStep(&p, st)
		b.probs.add(err)
	}
	if !layOK && !b.probs.any() {
		// Every unknown part of the layout comes with its problem; this would be a bug.
		b.probs.add(inputErrorf("layout", "incomplete, with no input to blame"))
	}
	if b.probs.any() {
		return Plan{}, b.probs.err()
	}
	p.Roles = []Role{aggregatedRole(&p, lay, cmd.v, st, task, vars)}
	// The --preflight checks run as for any test; the cache-transceiver precheck mirrors GEN and CTX
	// servers, of which there are none, so it plans no step.
	if err := b.finishPlan(&p, shared, st, task, vars); err != nil {
		return Plan{}, err
	}
	return p, nil
}

// aggregatedRole lays the SERVER out on the first nodes of the allocation. Its environment is every
// role's but for numGenServers and numCtxServers, which today's aggregated launch does not export and
// which a harness could take for a disaggregated layout. In gen-only-no-context its output goes to
// gen_server_0.log, where today's draft appends it and the harness looks for it.
func aggregatedRole(p *Plan, lay aggLayout, cmd string, st srunSettings, task taskopts.Options, vars sharedVars) Role {
	log := aggregatedLog
	if lay.noContext {
		log = "gen_server_0.log"
	}
	r := Role{
		Name:          AggregatedRole,
		Kind:          KindAggregated,
		Nodes:         slices.Clone(p.Nodes[:lay.nodes]),
		NTasks:        lay.worldSize,
		NTasksPerNode: lay.perNode,
		Command:       cmd,
		Log:           path.Join(p.OutputDir, log),
		Env: map[string]string{
			taskopts.RoleVar:           AggregatedRole,
			taskopts.DefaultCommandVar: cmd,
			"NVIDIA_IMEX_CHANNELS":     vars.imex,
			"NVIDIA_VISIBLE_DEVICES":   vars.visible,
			"TRTLLM_PERF_RUN_TOKEN":    p.RunToken,
			"jobWorkspace":             p.Workspace,
			"testOutputDir":            p.OutputDir,
			aggWorldSizeVar:            strconv.Itoa(lay.worldSize),
		},
	}
	if vars.llmSrc != "" {
		r.Env[taskopts.LLMSrcVar] = vars.llmSrc
	}
	if vars.genOnly != "" {
		r.Env[genOnlyVar] = vars.genOnly
	}
	var forward []string
	if st.forwardEnv {
		for name := range r.Env {
			forward = append(forward, name)
		}
	}
	task.Role, task.Kind, task.CoordDir = r.Name, r.Kind, p.CoordDir
	spec := slurm.StepSpec{
		Srun:          "srun",
		UserArgs:      st.userArgs,
		MPI:           st.mpi,
		KillOnBadExit: true,
		Nodes:         r.Nodes,
		NTasks:        r.NTasks,
		NTasksPerNode: r.NTasksPerNode,
		ContainerEnv:  forward,
		Command:       append([]string{p.TaskBinary, "task"}, task.Args()...),
	}
	r.Srun = spec.Argv()
	return r
}

// FollowsOutput reports whether the role's output is copied to the supervisor's stdout (the job's
// output file) as it is written, as today's launch draft shows it: the BENCHMARK's, and the aggregated
// SERVER's unless gen-only-no-context sends it to gen_server_0.log instead.
func (p Plan) FollowsOutput(r Role) bool {
	switch r.Kind {
	case KindBenchmark:
		return true
	case KindAggregated:
		return !p.GenOnlyNoContext
	}
	return false
}

// aggregatedLine is the plan table's line about an aggregated test: where the SERVER's output goes.
func aggregatedLine(p Plan) string {
	for _, r := range p.Roles {
		if r.Kind != KindAggregated {
			continue
		}
		out := "the supervisor's stdout and " + r.Log
		if !p.FollowsOutput(r) {
			out = r.Log + " only (gen_only_no_context)"
		}
		return fmt.Sprintf("mode aggregated: one %s of %d ranks (world_size) on %d nodes, output to %s", r.Name, r.NTasks, len(r.Nodes), out)
	}
	return "mode aggregated"
}
