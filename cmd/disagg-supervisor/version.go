package main

import (
	"fmt"
	"runtime/debug"
)

// versionLine is what --version prints: the module version and the VCS commit the binary was built
// from, and whether the tree had uncommitted changes. A binary built without module or VCS
// information (go run, -buildvcs=false, a copy of the source without .git) says so rather than
// guessing: "(devel)" is the version Go gives any build of the main module from its source.
func versionLine(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return "disagg-supervisor unknown version (no build information in the binary)"
	}
	version := info.Main.Version
	if version == "" {
		version = "unknown"
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	commit := "commit unknown (built without VCS information)"
	if rev := settings["vcs.revision"]; rev != "" {
		commit = "commit " + rev
		if t := settings["vcs.time"]; t != "" {
			commit += " of " + t
		}
		switch settings["vcs.modified"] {
		case "true":
			commit += ", with uncommitted changes"
		case "false":
			commit += ", clean tree"
		}
	}
	line := fmt.Sprintf("disagg-supervisor %s, %s", version, commit)
	if info.GoVersion != "" {
		line += ", " + info.GoVersion
	}
	return line
}
