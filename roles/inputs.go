package roles

// Input is one input of a plan: where it can be given and what it means. Inputs lists them all,
// and both the messages about a missing input and the generated reference (docs/inputs.md) are
// made from that list, so that the two cannot disagree.
type Input struct {
	// Name is what the input is, as a message about it names it ("GPUs per node").
	Name string
	// Flag is the command-line flag that gives it; empty when only the environment or the config does.
	Flag string
	// Env are the environment variables that give it, in the order they are read.
	Env []string
	// Config is the key of the --config file that gives it, or how the config gives it.
	Config string
	// Default is what applies when no source gives it; "required" when the plan cannot do without it.
	Default string
	// Meaning says what the input does.
	Meaning string
}

// Names of the inputs that a message looks up in Inputs.
const (
	inNodelist      = "node list"
	inGPUsPerNode   = "GPUs per node"
	inTestMode      = "test mode"
	inNumGen        = "GEN servers"
	inNodesPerGen   = "nodes per GEN server"
	inNodesPerCtx   = "nodes per CTX server"
	inGPUsPerGen    = "GPUs per GEN server"
	inGPUsPerCtx    = "GPUs per CTX server"
	inWorkspace     = "workspace"
	inBaseCommand   = "base command"
	inServerPerNode = "ranks per node of the SERVER"
)

// Inputs returns every input of a plan, in the order of the reference.
func Inputs() []Input {
	return []Input{
		{Name: inNodelist, Flag: "--nodelist", Env: []string{"SLURM_JOB_NODELIST", "SLURM_NODELIST"},
			Default: "required", Meaning: "nodes of the allocation, a Slurm hostlist"},
		{Name: inGPUsPerNode, Flag: "--gpus-per-node", Env: []string{"SLURM_GPUS_ON_NODE", "SLURM_GPUS_PER_NODE", "gpusPerNode"},
			Config: "hardware.gpus_per_node", Default: "required",
			Meaning: "GPUs per node (Slurm's forms `4`, `gpu:4`, `h100:4` are read)"},
		{Name: inTestMode, Flag: "--mode", Config: "server_configs", Default: "`auto`",
			Meaning: "`disaggregated`, `aggregated`, or `auto`: aggregated when `gpusPerNodePerServer` and `totalNodes` are exported without `numGenServers`, when an aggregated flag is given, or when `--config` has `server_configs`; disaggregated when `numGenServers`, `--num-gen`, a disaggregated flag or `hardware.num_gen_servers` is given; inputs of both, or of neither, are an error"},
		{Name: inNumGen, Flag: "--num-gen", Env: []string{"numGenServers"}, Config: "hardware.num_gen_servers",
			Default: "required in a disaggregated test, at least 1", Meaning: "GEN servers"},
		{Name: inGPUsPerGen, Env: []string{"gpusPerGenServer"},
			Config:  "worker_config.gen.{tensor,pipeline,context}_parallel_size",
			Meaning: "GPUs per GEN server (from the config: the product of the parallel sizes, a missing factor being 1), to derive its nodes and ranks per node; when given it must equal nodes x ranks per node (a flag for either overrides it)"},
		{Name: inGPUsPerCtx, Env: []string{"gpusPerCtxServer"},
			Config:  "worker_config.ctx.{tensor,pipeline,context}_parallel_size",
			Meaning: "GPUs per CTX server, as for GEN"},
		{Name: inNodesPerGen, Flag: "--nodes-per-gen", Env: []string{"nodesPerGenServer"},
			Default: "ceil(GPUs per GEN server / ranks per node)", Meaning: "nodes of each GEN server"},
		{Name: inNodesPerCtx, Flag: "--nodes-per-ctx", Env: []string{"nodesPerCtxServer"},
			Default: "ceil(GPUs per CTX server / ranks per node)", Meaning: "nodes of each CTX server"},
		{Name: inServerPerNode, Flag: "--gpus-per-node-per-server", Env: []string{"gpusPerNodePerServer"},
			Default: "from `server_configs` in --config (min(GPUs, GPUs per node)), else GPUs per node",
			Meaning: "aggregated: ranks per node of the `SERVER`; also GPUs per node when Slurm, `gpusPerNode` and the config name none"},
		{Name: inWorkspace, Flag: "--workspace", Env: []string{"jobWorkspace"}, Default: "required",
			Meaning: "job workspace, an absolute path (a relative flag is made absolute)"},
		{Name: inBaseCommand, Flag: "--command", Env: []string{"pytestCommand"},
			Default: "required, unless every role command is given",
			Meaning: "base test command the role commands are derived from; an aggregated test's SERVER runs it"},
	}
}

// lookupInput returns the input called name. Every name it is asked for is a constant of this
// package, which TestInputNames checks, so a miss is a programming error.
func lookupInput(name string) Input {
	for _, in := range Inputs() {
		if in.Name == name {
			return in
		}
	}
	panic("roles: no input called " + name)
}

// sources lists where the input can be given: its flag, its environment variables and its config
// key, e.g. "--gpus-per-node, SLURM_GPUS_ON_NODE, SLURM_GPUS_PER_NODE, gpusPerNode or
// hardware.gpus_per_node".
func (in Input) sources() string {
	var list []string
	if in.Flag != "" {
		list = append(list, in.Flag)
	}
	list = append(list, in.Env...)
	if in.Config != "" {
		list = append(list, in.Config)
	}
	return orList(list)
}

// missing is the error of a required input that no source gives; more, when not empty, follows the
// list of sources (another way to give it, or what needs it).
func missing(name, more string) *InputError {
	return &InputError{Input: name, Problem: lookupInput(name).sources() + more, Missing: true}
}
