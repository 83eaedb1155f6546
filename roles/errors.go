package roles

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// InputError is bad input to Build, found before anything is launched.
type InputError struct {
	// Input names what is wrong so that the user can find it: a flag ("--num-gen"), an environment
	// variable ("numGenServers"), a file and key ("config.yaml: hardware.num_gen_servers"), or several
	// of them ("jobWorkspace / --workspace") when the value could come from any.
	Input string
	// Problem says what is wrong with it and, when that is not obvious, how to fix it.
	Problem string
	// Missing tells that no source gave a required input: Input is then the input's name ("GPUs
	// per node") and Problem lists where it can be given (flag, environment variables, config key).
	Missing bool
}

// Error returns "<input>: <problem>" on one line, "missing input: <input>: <sources>" for a missing
// input. Values are quoted by whoever builds the error, but a file name or a Slurm message can
// still hold a line break; one line is what a job log's last line and a CI summary can show.
func (e *InputError) Error() string {
	if e.Missing {
		return "missing input: " + oneLine(e.Input) + ": " + oneLine(e.Problem)
	}
	return oneLine(e.Input) + ": " + oneLine(e.Problem)
}

// inputErrorf builds an *InputError with a formatted problem.
func inputErrorf(input, format string, args ...any) *InputError {
	return &InputError{Input: input, Problem: fmt.Sprintf(format, args...)}
}

// oneLine replaces line breaks and other control characters with spaces.
func oneLine(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// maxShown bounds how much of a value an error message shows: enough to recognize it, not so much
// that a runaway value buries the message.
const maxShown = 80

// clip shortens s to maxShown runes.
func clip(s string) string {
	if len(s) <= maxShown {
		return s
	}
	r := []rune(s)
	if len(r) <= maxShown {
		return s
	}
	return string(r[:maxShown]) + "..."
}

// quote shows a user's value in an error message: quoted, so that blanks and empty values are
// visible, and clipped.
func quote(s string) string {
	return strconv.Quote(clip(s))
}

// InputErrors are all the problems Build found in one pass: every missing or bad input that does
// not depend on another one that is missing or bad, so that a first plan from scratch names all
// that it needs at once rather than one input per try.
type InputErrors []*InputError

// Error returns the problems on one line, separated by "; ". A command line shows one line per
// problem (see Unwrap); a log or a JUnit message takes them as they are.
func (e InputErrors) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "; ")
}

// Unwrap returns the problems, so that errors.As finds the first *InputError and a caller can
// print each on its own line.
func (e InputErrors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, p := range e {
		errs[i] = p
	}
	return errs
}

// problems collects the input errors of one Build.
type problems struct {
	list InputErrors
}

// add records err, if any, and reports whether there was one. An *InputError or InputErrors is
// kept as it is; any other error (none is expected) becomes a problem of the plan. A problem found
// again (an input that two parts of the plan read) is recorded once.
func (p *problems) add(err error) bool {
	if err == nil {
		return false
	}
	var many InputErrors
	var one *InputError
	switch {
	case errors.As(err, &many):
	case errors.As(err, &one):
		many = InputErrors{one}
	default:
		many = InputErrors{{Input: "plan", Problem: err.Error()}}
	}
	for _, e := range many {
		if !slices.ContainsFunc(p.list, func(have *InputError) bool { return *have == *e }) {
			p.list = append(p.list, e)
		}
	}
	return true
}

// any reports whether a problem was recorded.
func (p *problems) any() bool { return len(p.list) > 0 }

// err returns nil without problems, the *InputError of a single one, else all of them.
func (p *problems) err() error {
	switch len(p.list) {
	case 0:
		return nil
	case 1:
		return p.list[0]
	}
	return p.list
}
