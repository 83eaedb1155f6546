package roles

import (
	"fmt"
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
}

// Error returns "<input>: <problem>" on one line. Values are quoted by whoever builds the error,
// but a file name or a Slurm message can still hold a line break; one line is what a job log's last
// line and a CI summary can show.
func (e *InputError) Error() string {
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
