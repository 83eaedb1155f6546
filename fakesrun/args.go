// srun's command line, read as Slurm 22.05's getopt_long reads it, and the input variables that
// fill what it leaves out.

package fakesrun

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// srunOptions is what the fake srun understood of its command line.
type srunOptions struct {
	nodes         int // 0: not given
	nodelist      string
	ntasks        int // 0: not given
	ntasksPerNode int // 0: not given
	killOnBadExit bool
	mpi           string
	gpusPerNode   int
	gpusSet       bool
	export        string
	exportSet     bool
	output        string
	errorOutput   string
	appendOutput  bool
	label         bool
	jobName       string
	chdir         string
	help          bool
	ignored       []string // container options, each named once, in order of appearance
	argv          []string
}

type argKind int

const (
	argNone argKind = iota
	argRequired
	argOptional // only as --name=value or -Xvalue, as getopt_long does
)

// srunOption is one option the fake srun accepts. name is the long name, short its letter or 0.
type srunOption struct {
	name  string
	short byte
	arg   argKind
	apply func(o *srunOptions, value string) error
}

// srunOptionTable lists the options the fake srun emulates. It is built per call so that the package
// holds no mutable state.
func srunOptionTable() []srunOption {
	return []srunOption{
		{"nodes", 'N', argRequired, func(o *srunOptions, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return &srunExitError{msg: fmt.Sprintf("srun: error: %q is not a valid node count", v), status: 255}
			}
			o.nodes = n
			return nil
		}},
		{"nodelist", 'w', argRequired, func(o *srunOptions, v string) error { o.nodelist = v; return nil }},
		{"ntasks", 'n', argRequired, func(o *srunOptions, v string) (err error) {
			o.ntasks, err = positiveOption("--ntasks", v)
			return err
		}},
		{"ntasks-per-node", 0, argRequired, func(o *srunOptions, v string) (err error) {
			o.ntasksPerNode, err = positiveOption("--ntasks-per-node", v)
			return err
		}},
		{"overlap", 0, argNone, func(*srunOptions, string) error { return nil }},
		{"kill-on-bad-exit", 'K', argOptional, func(o *srunOptions, v string) error {
			if v == "" {
				o.killOnBadExit = true
				return nil
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("srun: error: Invalid numeric value %q for --kill-on-bad-exit.", v)
			}
			o.killOnBadExit = n != 0
			return nil
		}},
		{"mpi", 0, argRequired, func(o *srunOptions, v string) error { o.mpi = v; return nil }},
		{"gpus-per-node", 0, argRequired, func(o *srunOptions, v string) error {
			n, err := slurm.ParseGPUCount(v)
			if err != nil {
				return fmt.Errorf("srun: error: Invalid --gpus-per-node specification: %v", err)
			}
			o.gpusPerNode, o.gpusSet = n, true
			return nil
		}},
		{"export", 0, argRequired, func(o *srunOptions, v string) error { o.export, o.exportSet = v, true; return nil }},
		{"output", 'o', argRequired, func(o *srunOptions, v string) error { o.output = v; return nil }},
		{"error", 'e', argRequired, func(o *srunOptions, v string) error { o.errorOutput = v; return nil }},
		{"open-mode", 0, argRequired, func(o *srunOptions, v string) error {
			// Slurm reads only the first letter.
			switch {
			case strings.HasPrefix(v, "a") || strings.HasPrefix(v, "A"):
				o.appendOutput = true
			case strings.HasPrefix(v, "t") || strings.HasPrefix(v, "T"):
				o.appendOutput = false
			default:
				return fmt.Errorf("srun: error: Invalid --open-mode argument: %s. Ignored", v)
			}
			return nil
		}},
		{"label", 'l', argNone, func(o *srunOptions, _ string) error { o.label = true; return nil }},
		{"job-name", 'J', argRequired, func(o *srunOptions, v string) error { o.jobName = v; return nil }},
		{"chdir", 'D', argRequired, func(o *srunOptions, v string) error { o.chdir = v; return nil }},
		{"unbuffered", 'u', argNone, func(*srunOptions, string) error { return nil }},
		{"help", 'h', argNone, func(o *srunOptions, _ string) error { o.help = true; return nil }},
	}
}

// containerOptionArg tells how a container option takes its value: pyxis's options with a value
// take it from the next word too ("--container-image IMG"), its switches never do. Slurm's own
// --container takes a path. Options pyxis may add later are switches unless written with "=".
func containerOptionArg(name string) (argKind, bool) {
	switch name {
	case "container", "container-image", "container-mounts", "container-workdir", "container-name",
		"container-save", "container-env":
		return argRequired, true
	}
	if strings.HasPrefix(name, "container-") || strings.HasPrefix(name, "no-container-") {
		return argNone, true
	}
	return argNone, false
}

func positiveOption(name, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("srun: error: Invalid numeric value %q for %s.", v, name)
	}
	return n, nil
}

// getoptError words a command line getopt_long rejects, followed by srun's hint.
func getoptError(format string, args ...any) error {
	return &srunExitError{msg: fmt.Sprintf("srun: "+format+"\nTry \"srun --help\" for more information", args...), status: 255}
}

// parseSrunArgs reads srun's command line as srun's getopt_long does: options stop at the first word
// that is not one (srun's option string starts with "+"), or after "--"; short options may be
// bundled ("-lK") and take their value attached or from the next word; long options take "=value",
// or the next word when the value is required. Unlike getopt_long, abbreviated long options are not
// accepted: a prefix that is unique here may be ambiguous to real srun.
func parseSrunArgs(args []string) (*srunOptions, error) {
	table := srunOptionTable()
	byName := make(map[string]*srunOption, len(table))
	byShort := make(map[byte]*srunOption, len(table))
	for i := range table {
		byName[table[i].name] = &table[i]
		if table[i].short != 0 {
			byShort[table[i].short] = &table[i]
		}
	}
	o := &srunOptions{}
	i := 0
	for ; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			i++
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			break
		}
		if strings.HasPrefix(arg, "--") {
			name, value, hasValue := strings.Cut(arg[2:], "=")
			opt := byName[name]
			kind := argNone
			if opt != nil {
				kind = opt.arg
			} else if k, ok := containerOptionArg(name); ok {
				kind = k
				if hasValue {
					kind = argRequired
				}
			} else {
				return nil, getoptError("unrecognized option '%s'", arg)
			}
			switch kind {
			case argNone:
				if hasValue {
					return nil, getoptError("option '--%s' doesn't allow an argument", name)
				}
			case argRequired:
				if !hasValue {
					if i+1 >= len(args) {
						return nil, getoptError("option '--%s' requires an argument", name)
					}
					i++
					value = args[i]
				}
			}
			if opt == nil {
				o.ignoreContainerOption("--" + name)
				continue
			}
			if err := opt.apply(o, value); err != nil {
				return nil, err
			}
			continue
		}
		for j := 1; j < len(arg); j++ {
			opt := byShort[arg[j]]
			if opt == nil {
				return nil, getoptError("invalid option -- '%c'", arg[j])
			}
			value := ""
			switch opt.arg {
			case argRequired:
				value = arg[j+1:]
				if value == "" {
					if i+1 >= len(args) {
						return nil, getoptError("option requires an argument -- '%c'", arg[j])
					}
					i++
					value = args[i]
				}
				j = len(arg)
			case argOptional:
				value = arg[j+1:]
				j = len(arg)
			}
			if err := opt.apply(o, value); err != nil {
				return nil, err
			}
		}
	}
	o.argv = args[i:]
	if len(o.argv) == 0 && !o.help {
		return nil, errors.New("srun: fatal: No command given to execute.")
	}
	return o, nil
}

func (o *srunOptions) ignoreContainerOption(name string) {
	for _, seen := range o.ignored {
		if seen == name {
			return
		}
	}
	o.ignored = append(o.ignored, name)
}

// applyInputEnv takes the step's shape from srun's input variables where the command line says
// nothing, as srun does. Inside a batch job sbatch sets them, so a step without --ntasks gets the
// job's task count (and a mismatch warning if that does not fit its nodes), as it would on a cluster.
func applyInputEnv(o *srunOptions, getenv func(string) string) error {
	for _, v := range []struct {
		names []string
		dst   *int
	}{
		{[]string{"SLURM_NTASKS", "SLURM_NPROCS"}, &o.ntasks},
		{[]string{"SLURM_NTASKS_PER_NODE"}, &o.ntasksPerNode},
		{[]string{"SLURM_NNODES"}, &o.nodes},
	} {
		if *v.dst != 0 {
			continue
		}
		for _, name := range v.names {
			value := getenv(name)
			if value == "" {
				continue
			}
			if name == "SLURM_NNODES" && o.nodelist != "" {
				// With -w, real srun would add nodes of the allocation up to this count; the fake
				// runs on the named nodes only.
				break
			}
			n, err := positiveOption(name, value)
			if err != nil {
				return err
			}
			*v.dst = n
			break
		}
	}
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// allDigits rejects what strconv.Atoi accepts but srun does not read as a task number ("+1").
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
