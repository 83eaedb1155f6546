package record

import "time"

// ConfigVerdict is a server configuration's verdict in summary.json's server_configs.
type ConfigVerdict string

// The verdicts of a server configuration.
const (
	// ConfigCompleted: the benchmark wrote its end marker (whose first line is the status).
	ConfigCompleted ConfigVerdict = "completed"
	// ConfigFailed: the run failed while it was in progress, or its status says FAILED, or the
	// benchmark ended without its end marker.
	ConfigFailed ConfigVerdict = "failed"
	// ConfigHung: the run was found hung (exit 85) while it was in progress.
	ConfigHung ConfigVerdict = "hung"
	// ConfigInterrupted: a signal or Slurm ended the run while it was in progress.
	ConfigInterrupted ConfigVerdict = "interrupted"
	// ConfigRunning: in progress.
	ConfigRunning ConfigVerdict = "running"
	// ConfigNotStarted: the run ended before it (the number of configurations is known).
	ConfigNotStarted ConfigVerdict = "not started"
)

// ServerConfig is one server configuration in summary.json's server_configs.
type ServerConfig struct {
	Index     int        `json:"index"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	// DurationSeconds is from its start to its end (or to the summary's writing while it runs);
	// GPUSeconds the serving GPU-seconds of the steps within it (the ledger's serving_by_config).
	DurationSeconds float64 `json:"duration_seconds"`
	GPUSeconds      float64 `json:"gpu_seconds"`
	// StatusFile and Status are its end marker and the marker's first line.
	StatusFile string `json:"status_file,omitempty"`
	Status     string `json:"status,omitempty"`
	// Disturbances are what happened within it that may have bent its figures (as the measurement
	// window's).
	Disturbances []string      `json:"disturbances,omitempty"`
	Verdict      ConfigVerdict `json:"verdict"`
	// Reason says why a configuration did not complete.
	Reason string `json:"reason,omitempty"`
}
