package roles

import (
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxCount bounds every count and size of a layout. Real layouts are far smaller; the bound keeps
// products such as tp*pp*cp or servers*nodes from overflowing into nonsense.
const maxCount = 1 << 20

// Bounds of what one plan holds, far above any real job, so that a runaway input is refused in
// milliseconds instead of planned for minutes in gigabytes (a 2^20-node list with as many GEN
// servers took 5 GB and over a minute): each role carries its node list, environment and argv.
const (
	// MaxInputFile bounds the config and srun-arguments files: a config is a few KB, and a
	// larger file (/dev/zero, a runaway pipe) is a mistake. Readers read at most one byte more.
	MaxInputFile = 4 << 20
	// maxNodes bounds the allocation's nodes.
	maxNodes = 16384
	// maxServers bounds the GEN and CTX servers of a plan together: the 1,024 of each that
	// BenchmarkBuild plans in milliseconds, far above any real job.
	maxServers = 2048
	// maxChecks bounds the --preflight checks, each of which is a step on every node.
	maxChecks = 64
)

// config is what a TensorRT-LLM disaggregated test config contributes to a plan. Only the keys
// today's generator reads are looked at; other tools' sections and settings are left alone, but
// a key given twice or a near miss of a key read is refused (checkKeys).
type config struct {
	path string // as given to --config, for error messages

	gpusPerNode, numGen, numCtx cfgInt
	// gpusPerGen and gpusPerCtx are tp*pp*cp of worker_config.{gen,ctx}, a missing factor being 1
	// as in the generator, so they are always known when a config is given.
	gpusPerGen, gpusPerCtx int
	// genSized and ctxSized tell that worker_config.gen or .ctx names a parallel size: only then is
	// its GPU count an input that the layout must agree with.
	genSized, ctxSized bool

	workerEnv, genEnv, ctxEnv, serverEnv, benchmarkEnv cfgString
	mode                                               cfgString
	// concurrency is benchmark.concurrency_list; nil when absent.
	concurrency []int
	// agg is server_configs, the shape of an aggregated test's config.
	agg aggConfig
}

// cfgInt is an integer key of the config; key names it for error messages.
type cfgInt struct {
	v   int
	set bool
	key string
}

// cfgString is a string key of the config.
type cfgString struct {
	v   string
	set bool
	key string
}

// noContextMode is the benchmark.mode text that drops the CTX servers.
const noContextMode = "gen_only_no_context"

// noContext reports whether benchmark.mode asks for gen-only without context servers, as the newest
// generator decides it: the mode holds gen_only_no_context.
//
// Any other mode, a plain gen_only included, changes nothing: the newest generator takes the
// benchmark mode from the test id and no longer drops the CTX servers for gen_only, so a config
// written for it runs its CTX servers. (The older generator dropped them for any mode holding
// gen_only; its jobs exported TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1, which still does.)
func (c *config) noContext() bool {
	return c != nil && strings.Contains(c.mode.v, noContextMode)
}

// queueSize is the TLLM_BENCHMARK_REQ_QUEUES_SIZE of GEN workers in gen_only mode: the largest
// concurrency, because a queue sized for the largest level holds every smaller one, and 1 when the
// config has no concurrency_list, as in today's generator.
func (c *config) queueSize() int {
	size := 1
	for i, n := range c.concurrency {
		if i == 0 || n > size {
			size = n
		}
	}
	return size
}

// parseConfig reads the config YAML in data. Errors name the file as given and, for a bad value,
// the dotted key.
func parseConfig(path string, data []byte) (*config, error) {
	c := &config{path: path, gpusPerGen: 1, gpusPerCtx: 1}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &InputError{Input: path, Problem: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return c, nil // an empty file: nothing to contribute
	}
	root := resolve(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return c, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, &InputError{Input: path, Problem: "want a mapping at the top level, got " + describe(root)}
	}
	p := configParser{path: path}
	p.checkKeys(root, "", topKeys, ownKeysOnly)

	hardware := p.section(root, "hardware")
	p.checkKeys(hardware, "hardware", hardwareKeys, allKeys)
	c.gpusPerNode = p.integer(hardware, "hardware", "gpus_per_node")
	c.numGen = p.integer(hardware, "hardware", "num_gen_servers")
	c.numCtx = p.integer(hardware, "hardware", "num_ctx_servers")

	workers := p.section(root, "worker_config")
	p.checkKeys(workers, "worker_config", workerKeys, nearMisses)
	gen, ctx := p.workerSection(workers, "worker_config.gen"), p.workerSection(workers, "worker_config.ctx")
	c.gpusPerGen, c.genSized = p.parallelism(gen, "worker_config.gen"), hasParallelism(gen)
	c.gpusPerCtx, c.ctxSized = p.parallelism(ctx, "worker_config.ctx"), hasParallelism(ctx)

	env := p.section(root, "environment")
	p.checkKeys(env, "environment", environmentKeys, nearMisses)
	c.workerEnv = p.str(env, "environment", "worker_env_var")
	c.genEnv = p.str(env, "environment", "gen_worker_env_var")
	c.ctxEnv = p.str(env, "environment", "ctx_worker_env_var")
	c.serverEnv = p.str(env, "environment", "server_env_var")
	c.benchmarkEnv = p.str(env, "environment", "benchmark_env_var")

	bench := p.section(root, "benchmark")
	p.checkKeys(bench, "benchmark", benchmarkKeys, nearMisses)
	c.mode = p.str(bench, "benchmark", "mode")
	c.concurrency = p.concurrency(bench)

	c.agg = p.serverConfigs(root)

	if p.err != nil {
		return nil, p.err
	}
	return c, nil
}

// configParser walks the YAML tree and keeps the first error, so that the parse reads as a list
// of keys rather than a ladder of checks.
type configParser struct {
	path string
	err  *InputError
}

func (p *configParser) fail(key, format string, args ...any) {
	if p.err == nil {
		p.err = inputErrorf(p.path+": "+key, format, args...)
	}
}

// section returns the mapping named by the dotted name (its last part is the key in m), or nil
// when it is absent or null.
func (p *configParser) section(m *yaml.Node, name string) *yaml.Node {
	n := lookup(m, name[strings.LastIndexByte(name, '.')+1:])
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.fail(name, "want a mapping, got %s", describe(n))
		return nil
	}
	return n
}

// workerSection returns worker_config.gen or .ctx, its keys checked.
func (p *configParser) workerSection(workers *yaml.Node, name string) *yaml.Node {
	m := p.section(workers, name)
	p.checkKeys(m, name, parallelKeys, nearMisses)
	return m
}

// The keys the supervisor reads in each section of the config.
var (
	topKeys         = []string{"hardware", "worker_config", "environment", "benchmark", "server_configs"}
	hardwareKeys    = []string{"gpus_per_node", "num_gen_servers", "num_ctx_servers"}
	workerKeys      = []string{"gen", "ctx"}
	parallelKeys    = []string{"tensor_parallel_size", "pipeline_parallel_size", "context_parallel_size"}
	environmentKeys = []string{"worker_env_var", "gen_worker_env_var", "ctx_worker_env_var", "server_env_var", "benchmark_env_var"}
	benchmarkKeys   = []string{"mode", "concurrency_list"}
	serverKeys      = append([]string{"world_size"}, parallelKeys...)
)

// unknownKeys says which unknown keys of a section are bad input.
type unknownKeys int

const (
	// nearMisses: the section is shared with other tools (a worker's model settings, the
	// benchmark's options), so an unknown key is refused only when it is a near miss of a key the
	// supervisor reads: that is a typo that would silently change the layout or a command.
	nearMisses unknownKeys = iota
	// allKeys: the section is the supervisor's alone (hardware): every unknown key is refused.
	allKeys
	// ownKeysOnly: the top level, whose other sections belong to other tools and are left alone
	// entirely: only a section the supervisor reads is checked, for being given twice.
	ownKeysOnly
)

// checkKeys refuses a key given twice in mapping m (YAML would silently keep the last) and the
// unknown keys that rule refuses, with the closest known key when there is a close one. Only m's
// own keys are checked: merged mappings ("<<") are checked where they are read, if at all.
func (p *configParser) checkKeys(m *yaml.Node, name string, known []string, rule unknownKeys) {
	if m == nil || m.Kind != yaml.MappingNode || p.err != nil {
		return
	}
	dotted := func(key string) string {
		if name == "" {
			return key
		}
		return name + "." + key
	}
	lines := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := resolve(m.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode || k.Tag == "!!merge" || rule == ownKeysOnly && !slices.Contains(known, k.Value) {
			continue
		}
		if first, ok := lines[k.Value]; ok {
			p.fail(dotted(k.Value), "given twice, at lines %d and %d (YAML would keep the last one): remove one", first, k.Line)
			return
		}
		lines[k.Value] = k.Line
	}
	for i := 0; i+1 < len(m.Content) && rule != ownKeysOnly; i += 2 {
		k := resolve(m.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode || k.Tag == "!!merge" || slices.Contains(known, k.Value) {
			continue
		}
		if near, ok := closestKey(k.Value, known); ok {
			p.fail(dotted(k.Value), "unknown key; did you mean %s?", near)
			return
		}
		if rule == allKeys {
			p.fail(dotted(k.Value), "unknown key: want %s", orList(known))
			return
		}
	}
}

// closestKey returns the known key nearest to key when it is close enough to be a typo of it:
// a different case, or at most two edits (one for keys of up to four letters, and then no insertion
// or deletion, so that "model" is not taken for "mode"). A transposition is one edit.
func closestKey(key string, known []string) (string, bool) {
	best, bestDist := "", -1
	for _, k := range known {
		d := editDistance(strings.ToLower(key), strings.ToLower(k))
		limit := 2
		if len(k) <= 4 {
			limit = 1
			if len(key) != len(k) {
				continue
			}
		}
		if d <= limit && (bestDist < 0 || d < bestDist) {
			best, bestDist = k, d
		}
	}
	return best, bestDist >= 0
}

// editDistance is the optimal string alignment distance of a and b: insertions, deletions,
// substitutions and transpositions of adjacent bytes, each one edit.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// orList writes "a, b or c".
func orList(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// integer reads an integer key of section m (named parent).
func (p *configParser) integer(m *yaml.Node, parent, key string) cfgInt {
	name := parent + "." + key
	n := lookup(m, key)
	if n == nil {
		return cfgInt{key: name}
	}
	v, ok := intValue(n)
	if !ok {
		p.fail(name, "want an integer, got %s", describe(n))
		return cfgInt{key: name}
	}
	return cfgInt{v: v, set: true, key: name}
}

// str reads a scalar key as text, as the generator pastes it into commands.
func (p *configParser) str(m *yaml.Node, parent, key string) cfgString {
	name := parent + "." + key
	n := lookup(m, key)
	if n == nil {
		return cfgString{key: name}
	}
	if n.Kind != yaml.ScalarNode {
		p.fail(name, "want a string, got %s", describe(n))
		return cfgString{key: name}
	}
	return cfgString{v: n.Value, set: true, key: name}
}

// parallelism returns tp*pp*cp of a worker_config section, a missing factor being 1.
func (p *configParser) parallelism(m *yaml.Node, name string) int {
	gpus := 1
	for _, key := range []string{"tensor_parallel_size", "pipeline_parallel_size", "context_parallel_size"} {
		f := p.integer(m, name, key)
		if !f.set {
			continue
		}
		if f.v < 1 || f.v > maxCount {
			p.fail(f.key, "want a positive integer, got %d", f.v)
			return 1
		}
		gpus *= f.v
		if gpus > maxCount {
			p.fail(name, "tensor x pipeline x context parallel size is more than %d GPUs", maxCount)
			return 1
		}
	}
	return gpus
}

// concurrency reads benchmark.concurrency_list: a list of integers, an integer, or a string of
// integers separated by spaces (or commas).
func (p *configParser) concurrency(bench *yaml.Node) []int {
	const name = "benchmark.concurrency_list"
	n := lookup(bench, "concurrency_list")
	if n == nil {
		return nil
	}
	var items []*yaml.Node
	switch {
	case n.Kind == yaml.SequenceNode:
		items = n.Content
	case n.Kind == yaml.ScalarNode && n.Tag == "!!str":
		var out []int
		for _, f := range strings.FieldsFunc(n.Value, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			v, err := strconv.Atoi(f)
			if err != nil || v < 1 || v > maxCount {
				p.fail(name, "want positive integers, got %s", quote(n.Value))
				return nil
			}
			out = append(out, v)
		}
		return out
	default:
		items = []*yaml.Node{n}
	}
	var out []int
	for _, item := range items {
		item = resolve(item)
		v, ok := intValue(item)
		if !ok || v < 1 || v > maxCount {
			p.fail(name, "want positive integers, got %s", describe(item))
			return nil
		}
		out = append(out, v)
	}
	return out
}

// lookup returns the value of key in mapping m, following aliases and "<<" merge keys as
// PyYAML's safe_load does. The last occurrence of a key wins, as in PyYAML (checkKeys refuses a key
// given twice in the sections read). A null value counts as absent, since the generator's dict.get
// treats it so.
func lookup(m *yaml.Node, key string) *yaml.Node {
	// Aliases let a small file merge the same mapping exponentially often; each mapping is
	// searched once.
	found := lookupIn(m, key, map[*yaml.Node]bool{})
	if found == nil || (found.Kind == yaml.ScalarNode && found.Tag == "!!null") {
		return nil
	}
	return found
}

func lookupIn(m *yaml.Node, key string, seen map[*yaml.Node]bool) *yaml.Node {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode || seen[m] {
		return nil
	}
	seen[m] = true
	var found *yaml.Node
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := resolve(m.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			continue
		}
		switch {
		case k.Value == key:
			found = m.Content[i+1]
		case k.Tag == "!!merge":
			merges = append(merges, m.Content[i+1])
		}
	}
	if found != nil {
		return resolve(found)
	}
	// Keys of the mapping itself win over merged ones; among merged mappings the first wins.
	for _, merge := range merges {
		merge = resolve(merge)
		if merge == nil {
			continue
		}
		sources := []*yaml.Node{merge}
		if merge.Kind == yaml.SequenceNode {
			sources = merge.Content
		}
		for _, src := range sources {
			if v := lookupIn(src, key, seen); v != nil {
				return v
			}
		}
	}
	return nil
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

// intValue decodes an integer scalar, in any notation YAML allows for one.
func intValue(n *yaml.Node) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, false
	}
	var v int
	if err := n.Decode(&v); err != nil {
		return 0, false
	}
	return v, true
}

// describe shows a YAML value in an error message.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!str" {
			return quote(n.Value)
		}
		return clip(n.Value)
	}
	return "an unknown node"
}
