package main

import (
	"io"
	"os"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/disagg-supervisor/disagg-supervisor/supervisor"
)

// TestFlagDefaultsAreTheLibrarys: what run takes when no flag is given is the supervisor's own
// defaults, which its tags read as kong variables: a stale literal in a tag would differ.
func TestFlagDefaultsAreTheLibrarys(t *testing.T) {
	var c cli
	parser, err := kong.New(&c, kong.Vars(flagVars()), kong.Writers(io.Discard, io.Discard),
		kong.Bind(env{stdout: io.Discard, stderr: io.Discard, getenv: os.Getenv, environ: os.Environ}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse([]string{"run"}); err != nil {
		t.Fatal(err)
	}
	r := c.Run
	drain, err := parseSignal(r.DrainSignal)
	if err != nil {
		t.Fatal(err)
	}
	if r.Grace != supervisor.DefaultGrace || r.LaunchGate != supervisor.DefaultLaunchGate ||
		r.LaunchGateTimeout != supervisor.DefaultLaunchGateTimeout || drain != supervisor.DefaultDrainSignal ||
		r.TailLines != supervisor.DefaultTailLines || len(r.EndMarkers) != 1 || r.EndMarkers[0] != supervisor.DefaultEndMarker ||
		r.DumpWait != supervisor.DefaultDumpWait || r.Nodes != defaultLocalNodes {
		t.Errorf("run's defaults %+v %+v differ from the supervisor's", r.superviseFlags, r.localFlags)
	}
}
