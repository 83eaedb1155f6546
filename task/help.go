package task

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
	"time"

	"github.com/alecthomas/kong"

	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

// helpDescription says what the task runner does, for its help.
const helpDescription = `The per-rank runner: srun starts it on every task of every step the supervisor launches. It
announces the task, takes part in the per-node install gate, sources the setup file, waits for rank
0's preparation and, in a step of more than one task, for every rank at the barrier, prepares the
environment, runs the role command (bash -c "$pytestCommand", see --command-var) as its child, passes
its signals on to it, runs the after commands and stops what the command left behind.

It ends with the command's status: its exit code, or the signal that ended it. Its own failures
have codes of the supervisor's band: 81 bad options, environment or setup, 83 a wait for other
ranks ran out, 80 the coordination files could not be written; each is one line starting
"task: error:" on stderr.`

// writeHelp writes the task's help in the style of every other command's (kong's), from the flag
// definitions taskopts parses with: a struct type made at run time holds one field per flag, its
// name, help and default in kong's tags, for kong to render and nothing else. The parsing itself stays
// taskopts': the planner renders the flags in the form it parses, and that round trip is its contract.
func writeHelp(w io.Writer) error {
	var fields []reflect.StructField
	for i, f := range taskopts.Help() {
		typ := reflect.TypeFor[string]()
		switch {
		case f.Bool:
			typ = reflect.TypeFor[bool]()
		case f.Duration:
			typ = reflect.TypeFor[time.Duration]()
		}
		tag := fmt.Sprintf("name:%s help:%s", strconv.Quote(f.Name), strconv.Quote(f.Help))
		switch {
		case f.Bool:
		case f.Default != "":
			// kong shows a default in place of the value's name: --install-timeout=30m0s.
			tag += " default:" + strconv.Quote(f.Default)
		default:
			tag += " placeholder:" + strconv.Quote(f.Placeholder)
		}
		fields = append(fields, reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: typ, Tag: reflect.StructTag(tag)})
	}
	model := reflect.New(reflect.StructOf(fields)).Interface()
	exited := false
	parser, err := kong.New(model,
		kong.Name("disagg-supervisor task"),
		kong.Description(helpDescription),
		kong.Writers(w, io.Discard),
		kong.Exit(func(int) { exited = true }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, WrapUpperBound: 110}),
	)
	if err != nil {
		return fmt.Errorf("task help: %w", err)
	}
	if _, err := parser.Parse([]string{"--help"}); !exited && err != nil {
		return fmt.Errorf("task help: %w", err)
	}
	return nil
}
