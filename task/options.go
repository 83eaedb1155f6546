package task

import (
	"strings"

	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

// Options is the task runner's configuration. Its flags, their defaults and their argv form belong to
// taskopts, which the planner renders them with; the runner only reads them.
type Options = taskopts.Options

// ParseArgs parses the task's flags (the words after `task`). Errors name the flag.
func ParseArgs(args []string) (Options, error) {
	return taskopts.Parse(args)
}

// inferKind maps the supervisor's role names to their kind, so --kind may be left out.
func inferKind(role string) taskopts.Kind {
	switch {
	case strings.HasPrefix(role, "GEN_"):
		return taskopts.KindGen
	case strings.HasPrefix(role, "CTX_"):
		return taskopts.KindCtx
	case role == "DISAGG_SERVER":
		return taskopts.KindServer
	case role == "BENCHMARK":
		return taskopts.KindBenchmark
	case role == "SERVER":
		return taskopts.KindAggregated
	}
	return ""
}
