package roles

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/internal/valid"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

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
	v := sharedVars{
		imex:    b.text(b.f.ImexChannels, "--imex-channels", "NVIDIA_IMEX_CHANNELS").v,
		visible: b.text(b.f.VisibleDevices, "--visible-devices", "NVIDIA_VISIBLE_DEVICES").v,
		llmSrc:  b.text(b.f.LLMSrc, "--llm-src", taskopts.LLMSrcVar).v,
	}
	if v.imex == "" {
		v.imex = "0"
	}
	if v.visible == "" {
		ids := make([]string, lay.gpusPerNode)
		for i := range ids {
			ids[i] = strconv.Itoa(i)
		}
		v.visible = strings.Join(ids, ",")
	}
	switch {
	case lay.noContext:
		v.genOnly = "1"
	case b.env(genOnlyVar) != "":
		v.genOnly = "0"
	}
	return v
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
		taskopts.RoleVar:           r.Name,
		taskopts.DefaultCommandVar: r.Command,
		"NVIDIA_IMEX_CHANNELS":     vars.imex,
		"NVIDIA_VISIBLE_DEVICES":   vars.visible,
		"TRTLLM_PERF_RUN_TOKEN":    p.RunToken,
		"jobWorkspace":             p.Workspace,
		"testOutputDir":            p.OutputDir,
		// The layout may come from a config file; harnesses read it from here.
		"numGenServers": strconv.Itoa(lay.gen.count),
		"numCtxServers": strconv.Itoa(lay.ctx.count),
	}
	if vars.llmSrc != "" {
		r.Env[taskopts.LLMSrcVar] = vars.llmSrc
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
	task.Role, task.Kind, task.CoordDir = r.Name, r.Kind, p.CoordDir
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
