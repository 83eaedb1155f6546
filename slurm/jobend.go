package slurm

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// JobEndEnv is the batch environment's variable with the job's projected end (its time limit), as a
// Unix time in seconds.
const JobEndEnv = "SLURM_JOB_END_TIME"

// ParseJobEndEnv reads SLURM_JOB_END_TIME; ok is false when it is unset or not a positive Unix time.
func ParseJobEndEnv(value string) (time.Time, bool) {
	sec, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}

// ParseSqueueTime reads a time as squeue prints it (2026-12-01T23:00:00, in the cluster's local
// time zone, loc). "N/A", "Unknown" and an empty answer (no limit, or not known yet) are errors.
func ParseSqueueTime(out string, loc *time.Location) (time.Time, error) {
	s := strings.TrimSpace(out)
	t, err := time.ParseInLocation("2006-01-02T15:04:05", s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("job end time %q: not a time squeue prints", s)
	}
	return t, nil
}
