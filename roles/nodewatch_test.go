package roles

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestNodeTimeout: --node-timeout beats DISAGG_NODE_TIMEOUT beats the default; the plan carries it,
// and every step's task (pre-flight checks included) refreshes its node's heartbeat a sixth as often,
// which argv shows only when it is not the default.
func TestNodeTimeout(t *testing.T) {
	d := func(v time.Duration) *time.Duration { return &v }
	for _, tt := range []struct {
		name      string
		flag      *time.Duration
		env       string
		timeout   time.Duration
		heartbeat time.Duration
		argv      []string
	}{
		{name: "default", timeout: time.Minute, heartbeat: 10 * time.Second},
		{name: "flag", flag: d(3 * time.Second), env: "90", timeout: 3 * time.Second, heartbeat: 500 * time.Millisecond,
			argv: []string{"--node-heartbeat", "500ms"}},
		{name: "environment, in seconds", env: "300", timeout: 300 * time.Second, heartbeat: 50 * time.Second,
			argv: []string{"--node-heartbeat", "50s"}},
		{name: "environment, a duration", env: "2m", timeout: 2 * time.Minute, heartbeat: 20 * time.Second,
			argv: []string{"--node-heartbeat", "20s"}},
		{name: "off by the flag", flag: d(0), env: "60", timeout: 0, heartbeat: 0, argv: []string{"--node-heartbeat", "0s"}},
		{name: "off by the environment", env: "0", timeout: 0, heartbeat: 0, argv: []string{"--node-heartbeat", "0s"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := nodeWatchFlags()
			f.NodeTimeout = tt.flag
			p, err := Build(Sources{Flags: f, Getenv: envOf(map[string]string{nodeTimeoutVar: tt.env}), ReadFile: os.ReadFile})
			if err != nil {
				t.Fatal(err)
			}
			if p.NodeTimeout() != tt.timeout {
				t.Errorf("node timeout %s, want %s", p.NodeTimeout(), tt.timeout)
			}
			for _, r := range append(p.CheckRoles(), p.Roles...) {
				if r.Task.NodeHeartbeat != tt.heartbeat {
					t.Errorf("%s: heartbeat %s, want %s", r.Name, r.Task.NodeHeartbeat, tt.heartbeat)
				}
				i := slices.Index(r.Srun, "--node-heartbeat")
				switch {
				case tt.argv == nil && i >= 0:
					t.Errorf("%s: argv has %q for the default", r.Name, r.Srun[i:])
				case tt.argv != nil && (i < 0 || !slices.Equal(r.Srun[i:i+2], tt.argv)):
					t.Errorf("%s: argv %q, want %q", r.Name, r.Srun, tt.argv)
				}
			}
		})
	}
}

func TestNodeTimeoutErrors(t *testing.T) {
	neg := -time.Second
	for _, tt := range []struct {
		flag *time.Duration
		env  string
		want string
	}{
		{flag: &neg, want: "--node-timeout: want a positive duration or 0 (off), got -1s"},
		{env: "soon", want: `DISAGG_NODE_TIMEOUT: want a duration such as 60s, a number of seconds, or 0 (off), got "soon"`},
		{env: "-5", want: `DISAGG_NODE_TIMEOUT: want a duration such as 60s, a number of seconds, or 0 (off), got "-5"`},
		{env: "-1m", want: `DISAGG_NODE_TIMEOUT: want a duration such as 60s, a number of seconds, or 0 (off), got "-1m"`},
	} {
		f := nodeWatchFlags()
		f.NodeTimeout = tt.flag
		_, err := Build(Sources{Flags: f, Getenv: envOf(map[string]string{nodeTimeoutVar: tt.env}), ReadFile: os.ReadFile})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("flag %v, env %q: %v, want %q", tt.flag, tt.env, err, tt.want)
		}
	}
}

// nodeWatchFlags is a small plan with a pre-flight check, so that every kind of task step is there.
func nodeWatchFlags() Flags {
	two, one := 2, 1
	return Flags{Nodelist: "node[1-2]", GPUsPerNode: &two, JobID: "9", NumGen: &one, NodesPerGen: &one,
		GPUsPerNodePerGen: &two, Command: "pytest x", Workspace: "/ws", Preflight: []string{"disk=true"}}
}

func envOf(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}
