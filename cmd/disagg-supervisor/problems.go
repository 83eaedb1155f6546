package main

import (
	"os"
	"strings"

	"github.com/disagg-supervisor/disagg-supervisor/redact"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
)

// progName starts every line of stderr that reports an error.
const progName = "disagg-supervisor"

// problemLines is err for stderr, secrets masked: one line per problem when err is the several
// problems of a plan (roles.InputErrors), joined so that the caller's "disagg-supervisor: " prefix
// starts every one of them; any other error is one line, as always.
func problemLines(err error) string {
	list, ok := err.(roles.InputErrors)
	if !ok {
		return maskedLine(err)
	}
	lines := make([]string, len(list))
	for i, p := range list {
		lines[i] = maskedLine(p)
	}
	return strings.Join(lines, "\n"+progName+": ")
}

// maskedLine is one error as one line of stderr, secrets masked: a bad input is quoted back, and a
// URL or a command in it can hold a token.
func maskedLine(err error) string {
	return redact.NewText(os.Environ()).String(oneLine(err.Error()))
}
