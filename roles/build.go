package roles

import (
	"errors"
	"fmt"
	"path"
	"strings"

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
	def := b.f.ProbeTimeout
	if def == 0 {
		def = DefaultProbeTimeout
	}
	// The probes are applied before the liveness checks are parsed, so that a probe's error comes
	// first.
	for _, c := range []struct {
		grammar checkGrammar
		flags   []string
	}{{probeGrammar(def), b.f.Probes}, {livenessGrammar(), b.f.Liveness}} {
		specs, err := b.checkSpecs(c.grammar, c.flags)
		if err != nil {
			return err
		}
		if err := c.grammar.apply(p, specs); err != nil {
			return err
		}
	}
	return nil
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

// paths resolves the workspace, output directory and the supervisor's own paths in it.
func (b *builder) paths(p *Plan) error {
	var probs problems
	ws := b.text(b.f.Workspace, "--workspace", "jobWorkspace")
	switch {
	case !ws.set():
		probs.add(missing(inWorkspace, ""))
	case !path.IsAbs(ws.v):
		// Steps may start in another directory (a container's workdir), so a relative path would
		// name a different place there.
		probs.add(inputErrorf(ws.from, "%s is not an absolute path", quote(ws.v)))
	default:
		p.Workspace = path.Clean(ws.v)
	}

	out := b.text(b.f.OutputDir, "--output-dir", "testOutputDir")
	switch {
	case !out.set():
		p.OutputDir = p.Workspace
	case !path.IsAbs(out.v):
		probs.add(inputErrorf(out.from, "%s is not an absolute path", quote(out.v)))
	default:
		p.OutputDir = path.Clean(out.v)
	}
	if probs.any() {
		return probs.err()
	}
	p.TaskBinary = coord.TaskBinary(p.Workspace)
	p.CoordDir = coord.RunDir(p.Workspace, p.RunToken)
	return nil
}
