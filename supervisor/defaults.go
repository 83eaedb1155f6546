package supervisor

import (
	"syscall"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/logscan"
	"github.com/disagg-supervisor/disagg-supervisor/mode"
)

// Defaults of a run's settings. They are stated here only: the command line's flags show and take
// them (as kong variables), and withDefaults gives them to a Config whose field is zero.
const (
	// DefaultGrace is how long stopped steps get between SIGTERM and SIGKILL.
	DefaultGrace = 10 * time.Second
	// DefaultLaunchGate serialises launches on shared nodes only when srun arguments use containers.
	DefaultLaunchGate = mode.Auto
	// DefaultLaunchGateTimeout bounds each wait at the launch gate.
	DefaultLaunchGateTimeout = 60 * time.Second
	// DefaultTailLines is how many lines of the failing role's log the report shows.
	DefaultTailLines = 30
	// DefaultDrainSignal is the pre-timeout signal sbatch --signal=B:USR1@N sends.
	DefaultDrainSignal = syscall.SIGUSR1
	// DefaultEndMarker is the pattern of the files by which the benchmark announces its end, as
	// --end-marker writes it ({out}: the output directory): the harness's benchmark_status.<idx>.txt.
	DefaultEndMarker = "{out}/benchmark_status*"
)

// withDefaults fills every zero setting of a Config built by hand, the test seams included.
func (cfg Config) withDefaults() Config {
	if cfg.clock == nil {
		cfg.clock = realClock{}
	}
	if cfg.waitProbe == nil {
		cfg.waitProbe = waitProbe
	}
	if cfg.newCheck == nil {
		cfg.newCheck = newCheck
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.LaunchGate == "" {
		cfg.LaunchGate = DefaultLaunchGate
	}
	if cfg.LaunchGateTimeout <= 0 {
		cfg.LaunchGateTimeout = DefaultLaunchGateTimeout
	}
	if cfg.TailLines <= 0 {
		cfg.TailLines = DefaultTailLines
	}
	if cfg.DrainSignal == 0 {
		cfg.DrainSignal = DefaultDrainSignal
	}
	if cfg.CancelHold <= 0 {
		cfg.CancelHold = DefaultCancelHold
	}
	if cfg.DumpWait <= 0 {
		cfg.DumpWait = DefaultDumpWait
	}
	if cfg.ErrorLines == nil {
		cfg.ErrorLines, _ = logscan.NewMatcher(nil) // the default patterns always compile
	}
	if len(cfg.Launcher) == 0 {
		cfg.Launcher = []string{"srun"}
	}
	if cfg.launcher == nil {
		cfg.launcher = &execLauncher{prefix: cfg.Launcher, env: cfg.Env, slurm: cfg.Slurm,
			jobID: cfg.Plan.JobID, coord: coord.Dir(cfg.Plan.CoordDir)}
	}
	return cfg
}
