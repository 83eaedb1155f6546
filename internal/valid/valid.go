// Package valid holds the rules that every input of the supervisor follows, whichever command, flag,
// environment variable or config key carries it: one grammar for switches, one rule for durations
// and counts. Each function returns the problem alone ("want a positive duration, got 0s"); the
// caller names the input, so that the message reads "INPUT: PROBLEM".
package valid

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// BoolWords lists the words Bool accepts, as messages and help texts show them.
const BoolWords = "1/0, true/false, yes/no or on/off"

// Bool parses a switch: 1/0, true/false, yes/no or on/off, in any case, blanks around it ignored.
// One grammar for every switch, so that a value accepted by one variable is never refused by
// another.
func Bool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("want %s, got %s", BoolWords, strconv.Quote(v))
}

// Duration checks a duration: positive, or zero too when zeroMeans is not empty (what a zero
// turns off, as the help text says, e.g. "off"). A zero timeout that silently means a default,
// or a negative one, is never what the user meant.
func Duration(d time.Duration, zeroMeans string) error {
	switch {
	case d > 0, d == 0 && zeroMeans != "":
		return nil
	case zeroMeans != "":
		return fmt.Errorf("want a positive duration or 0 (%s), got %s", zeroMeans, d)
	}
	return fmt.Errorf("want a positive duration, got %s", d)
}

// Count checks a count by the same rule as Duration.
func Count(n int, zeroMeans string) error {
	switch {
	case n > 0, n == 0 && zeroMeans != "":
		return nil
	case zeroMeans != "":
		return fmt.Errorf("want a non-negative integer, got %d", n)
	}
	return fmt.Errorf("want a positive integer, got %d", n)
}
