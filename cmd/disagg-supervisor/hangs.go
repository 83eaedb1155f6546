package main

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/disagg-supervisor/disagg-supervisor/internal/valid"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/supervisor"
)

// hangFlags are how a run finds hangs besides crashes (liveness checks are plan flags: --liveness).
type hangFlags struct {
	StallTimeout     time.Duration `name:"stall-timeout" zero:"off" placeholder:"DURATION" help:"While the benchmark runs, if no role's log and no file under the output directory has grown for this long, the run is hung: exit code 85, naming the logs that stopped first (default 0: off; e.g. 15m in CI)."`
	Stall            []string      `name:"stall" sep:"none" placeholder:"ROLE=DURATION" help:"A role (name or glob) whose own log has not grown for DURATION while the benchmark runs is hung, whatever the other logs do (repeatable)."`
	BenchmarkTimeout time.Duration `name:"benchmark-timeout" zero:"none" placeholder:"DURATION" help:"The benchmark still running this long after its launch fails the run with exit code 85, naming what still runs (default 0: none)."`
	ConfigTimeout    time.Duration `name:"config-timeout" zero:"none" placeholder:"DURATION" help:"A server configuration still running this long after its start (the benchmark's launch, or the previous configuration's end marker) without its end marker fails the run with exit code 85, naming the configuration (env DISAGG_CONFIG_TIMEOUT, a duration or seconds; default 0: none)."`
	DumpSignal       string        `name:"dump-signal" placeholder:"SIGNAL" help:"Signal sent to every live step before the teardown of a hung run (exit 85), e.g. USR1 for processes that print their stacks on it, so that the logs hold them (default: none)."`
	DumpWait         time.Duration `name:"dump-wait" default:"${dump_wait}" placeholder:"DURATION" help:"Time the steps get after --dump-signal, before SIGTERM (default: ${default})."`
	SrunExitWait     time.Duration `name:"srun-exit-wait" zero:"auto" placeholder:"DURATION" help:"How long a step's srun may outlive the line by which it says one of its tasks failed (srun: error: NODE: task N: Exited with exit code C) before the run is decided on that line and the srun is killed (default 0: Slurm's KillWait + 5s, 30s when KillWait is unknown)."`
}

// settings checks the hang flags against the plan and fills in the job's end time: from
// SLURM_JOB_END_TIME, else from squeue, on a cluster (client set; nil in local mode).
func (h hangFlags) settings(plan roles.Plan, client *slurm.Client, getenv func(string) string) (supervisor.HangSettings, error) {
	s := supervisor.HangSettings{StallTimeout: h.StallTimeout, BenchmarkTimeout: h.BenchmarkTimeout, DumpWait: h.DumpWait,
		SrunExitWait: h.SrunExitWait, ConfigTimeout: h.ConfigTimeout}
	if h.ConfigTimeout == 0 {
		if v := strings.TrimSpace(getenv("DISAGG_CONFIG_TIMEOUT")); v != "" {
			d, err := parseSeconds(v)
			if err != nil {
				return s, fmt.Errorf("DISAGG_CONFIG_TIMEOUT: %w", err)
			}
			s.ConfigTimeout = d
		}
	}
	// The CLI checked the flags it parsed (checkNumbers); a caller in Go gets the same rule here.
	for _, d := range []struct {
		flag      string
		v         time.Duration
		zeroMeans string
	}{{"--stall-timeout", h.StallTimeout, "off"}, {"--benchmark-timeout", h.BenchmarkTimeout, "none"}, {"--dump-wait", h.DumpWait, "none"},
		{"--srun-exit-wait", h.SrunExitWait, "auto"}, {"--config-timeout", s.ConfigTimeout, "none"}} {
		if err := valid.Duration(d.v, d.zeroMeans); err != nil {
			return s, fmt.Errorf("%s: %w", d.flag, err)
		}
	}
	for _, spec := range h.Stall {
		pattern, value, ok := strings.Cut(spec, "=")
		d, err := time.ParseDuration(value)
		if !ok || pattern == "" || err != nil || valid.Duration(d, "") != nil {
			return s, fmt.Errorf("--stall %q: want ROLE=DURATION with a positive duration, e.g. GEN_0=10m", spec)
		}
		if _, err := path.Match(pattern, ""); err != nil {
			return s, fmt.Errorf("--stall %q: role pattern %q: %v", spec, pattern, err)
		}
		matched := false
		for _, role := range plan.Roles {
			if ok, _ := path.Match(pattern, role.Name); ok {
				if s.StallRoles == nil {
					s.StallRoles = map[string]time.Duration{}
				}
				s.StallRoles[role.Name], matched = d, true
			}
		}
		if !matched && !strings.ContainsAny(pattern, "*?[") {
			return s, fmt.Errorf("--stall %q: role pattern %q matches no role of this plan", spec, pattern)
		}
	}
	if h.DumpSignal != "" {
		sig, err := signalByName(h.DumpSignal)
		if err != nil {
			return s, fmt.Errorf("--dump-signal: %w", err)
		}
		s.DumpSignal = sig
	}
	if client != nil {
		s.JobEnd = jobEnd(client, plan.JobID, getenv)
	}
	return s, nil
}

// signalByName reads a signal as sbatch --signal and scancel --signal write it: USR1, SIGUSR1 or a
// number.
func signalByName(name string) (syscall.Signal, error) {
	if sig := unix.SignalNum("SIG" + strings.TrimPrefix(strings.ToUpper(name), "SIG")); sig != 0 {
		return sig, nil
	}
	if num, err := strconv.Atoi(name); err == nil && num > 0 && num < 65 {
		return syscall.Signal(num), nil
	}
	return 0, fmt.Errorf("%q is not a signal name like USR1", name)
}

// jobEnd is the job's end (time limit), zero when Slurm does not say.
func jobEnd(client *slurm.Client, jobID string, getenv func(string) string) time.Time {
	if t, ok := slurm.ParseJobEndEnv(getenv(slurm.JobEndEnv)); ok {
		return t
	}
	if client.Squeue == "" {
		return time.Time{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t, err := client.JobEndTime(ctx, jobID)
	if err != nil {
		return time.Time{}
	}
	return t
}

// parseSeconds reads a duration (10m) or a number of seconds (600), as the environment gives them.
func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q: want a duration such as 30m, or seconds", v)
	}
	return d, nil
}

// maxServerConfigs bounds --server-configs far above any real job, so that a runaway value does not
// list millions of configurations not started.
const maxServerConfigs = 1024

// serverConfigs is the number of server configurations: --server-configs, else DISAGG_SERVER_CONFIGS;
// 0 leaves it to the config's server_configs, else unknown.
func serverConfigs(flag int, getenv func(string) string) (int, error) {
	if flag > maxServerConfigs {
		return 0, fmt.Errorf("--server-configs: %d: at most %d", flag, maxServerConfigs)
	}
	if flag != 0 {
		return flag, nil
	}
	v := strings.TrimSpace(getenv("DISAGG_SERVER_CONFIGS"))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || valid.Count(n, "unknown") != nil || n > maxServerConfigs {
		return 0, fmt.Errorf("DISAGG_SERVER_CONFIGS: %q: want a count of server configurations", v)
	}
	return n, nil
}
