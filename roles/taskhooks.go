package roles

import (
	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

// taskSetupVar is the environment's --task-setup.
const taskSetupVar = "DISAGG_TASK_SETUP"

// taskHooks checks the task's setup file, rank-0 preparation and after commands and puts them into o:
// every command must be valid shell, as bash -c will get it in every rank, and the setup must read
// FILE[:FUNCTION], so that a typo fails here, before anything is launched, rather than in every rank.
func (b *builder) taskHooks(o *taskopts.Options) error {
	f := b.f
	setup, from := f.TaskSetup, "--task-setup"
	if setup == "" {
		setup, from = b.env(taskSetupVar), taskSetupVar
	}
	if setup != "" {
		if _, _, err := taskopts.SplitSetup(setup); err != nil {
			return inputErrorf(from, "want FILE[:FUNCTION]: %v", err)
		}
	}
	o.Setup = setup
	if f.TaskRank0 != "" {
		if err := checkShell(f.TaskRank0); err != nil {
			return inputErrorf("--task-rank0", "not valid shell: %v", err)
		}
	}
	o.Rank0 = f.TaskRank0
	for _, list := range []struct {
		input string
		cmds  []string
		to    *[]string
	}{{"--task-after", f.TaskAfter, &o.After}, {"--task-after-rank0", f.TaskAfterRank0, &o.AfterRank0}} {
		for _, c := range list.cmds {
			if c == "" {
				return inputErrorf(list.input, "empty command")
			}
			if err := checkShell(c); err != nil {
				return inputErrorf(list.input, "not valid shell: %v", err)
			}
		}
		*list.to = append([]string(nil), list.cmds...)
	}
	o.AfterTimeout, o.AfterDecides = f.TaskAfterTimeout, f.TaskAfterDecides
	if o.AfterDecides && len(o.After)+len(o.AfterRank0) == 0 {
		return inputErrorf("--task-after-decides", "no --task-after or --task-after-rank0 command to decide")
	}
	return nil
}
