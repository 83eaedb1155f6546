package main

import (
	"runtime/debug"
	"testing"
)

func TestVersionLine(t *testing.T) {
	vcs := func(modified string) []debug.BuildSetting {
		s := []debug.BuildSetting{{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "2310f1f4b469ee0ad97f66c72acba7a7ba8f4f34"},
			{Key: "vcs.time", Value: "2026-12-07T05:04:36Z"}}
		if modified != "" {
			s = append(s, debug.BuildSetting{Key: "vcs.modified", Value: modified})
		}
		return s
	}
	for _, tt := range []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{name: "no build information", ok: false,
			want: "disagg-supervisor unknown version (no build information in the binary)"},
		{name: "a source build without VCS stamping", ok: true,
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			want: "disagg-supervisor (devel), commit unknown (built without VCS information), go1.26.8"},
		{name: "a clean checkout", ok: true,
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs("false")},
			want: "disagg-supervisor (devel), commit 2310f1f4b469ee0ad97f66c72acba7a7ba8f4f34 of 2026-12-07T05:04:36Z, clean tree, go1.26.8"},
		{name: "a modified tree", ok: true,
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs("true")},
			want: "disagg-supervisor (devel), commit 2310f1f4b469ee0ad97f66c72acba7a7ba8f4f34 of 2026-12-07T05:04:36Z, with uncommitted changes, go1.26.8"},
		{name: "a released module, modification not recorded", ok: true,
			info: &debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}, Settings: vcs("")},
			want: "disagg-supervisor v1.2.0, commit 2310f1f4b469ee0ad97f66c72acba7a7ba8f4f34 of 2026-12-07T05:04:36Z"},
		{name: "no module version at all", ok: true, info: &debug.BuildInfo{},
			want: "disagg-supervisor unknown, commit unknown (built without VCS information)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionLine(tt.info, tt.ok); got != tt.want {
				t.Errorf("versionLine =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
