package taskopts

import (
	"encoding/json"
	"fmt"
	"time"
)

// optionsJSON is how `plan --json` shows a role's task options: every option with its effective
// value, durations as Go writes them (e.g. "1h0m0s"), so that a reader sees the defaults too.
type optionsJSON struct {
	Role           string   `json:"role"`
	Kind           Kind     `json:"kind"`
	CoordDir       string   `json:"coord_dir"`
	InstallCommand string   `json:"install_command,omitempty"`
	InstallTimeout string   `json:"install_timeout"`
	Barrier        bool     `json:"barrier"`
	BarrierTimeout string   `json:"barrier_timeout"`
	Setup          string   `json:"setup,omitempty"`
	Rank0          string   `json:"rank0,omitempty"`
	After          []string `json:"after,omitempty"`
	AfterRank0     []string `json:"after_rank0,omitempty"`
	AfterTimeout   string   `json:"after_timeout"`
	AfterDecides   bool     `json:"after_decides"`
	UnsetSlurm     string   `json:"unset_slurm"`
	EnvDump        bool     `json:"env_dump"`
	LLMSrcSetup    bool     `json:"llmsrc_setup"`
	LDLibraryPath  bool     `json:"ld_library_path"`
	CommandVar     string   `json:"command_var"`
	NodeHeartbeat  string   `json:"node_heartbeat"`
}

// MarshalJSON writes the options with their defaults filled in.
func (o Options) MarshalJSON() ([]byte, error) {
	o = o.WithDefaults()
	return json.Marshal(optionsJSON{
		Role: o.Role, Kind: o.Kind, CoordDir: o.CoordDir,
		InstallCommand: o.InstallCommand, InstallTimeout: o.InstallTimeout.String(),
		Barrier: o.Barrier, BarrierTimeout: o.BarrierTimeout.String(),
		Setup: o.Setup, Rank0: o.Rank0, After: o.After, AfterRank0: o.AfterRank0,
		AfterTimeout: o.AfterTimeout.String(), AfterDecides: o.AfterDecides,
		UnsetSlurm: string(o.UnsetSlurm), EnvDump: o.EnvDump, LLMSrcSetup: o.LLMSrcSetup,
		LDLibraryPath: o.LDLibraryPath, CommandVar: o.CommandVar, NodeHeartbeat: o.NodeHeartbeat.String(),
	})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (o *Options) UnmarshalJSON(data []byte) error {
	var j optionsJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	out := Options{
		Role: j.Role, Kind: j.Kind, CoordDir: j.CoordDir, InstallCommand: j.InstallCommand,
		Barrier: j.Barrier, Setup: j.Setup, Rank0: j.Rank0, After: j.After, AfterRank0: j.AfterRank0,
		AfterDecides: j.AfterDecides, UnsetSlurm: UnsetMode(j.UnsetSlurm), EnvDump: j.EnvDump,
		LLMSrcSetup: j.LLMSrcSetup, LDLibraryPath: j.LDLibraryPath, CommandVar: j.CommandVar,
		// A plan written before the heartbeat existed has none: its tasks ran with the default.
		NodeHeartbeat: DefaultNodeHeartbeat,
	}
	for _, d := range []struct {
		name string
		v    string
		to   *time.Duration
	}{
		{"install_timeout", j.InstallTimeout, &out.InstallTimeout},
		{"barrier_timeout", j.BarrierTimeout, &out.BarrierTimeout},
		{"after_timeout", j.AfterTimeout, &out.AfterTimeout},
		{"node_heartbeat", j.NodeHeartbeat, &out.NodeHeartbeat},
	} {
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		*d.to = v
	}
	*o = out.WithDefaults()
	return nil
}
