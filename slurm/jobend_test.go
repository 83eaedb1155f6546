package slurm

import (
	"testing"
	"time"
)

func TestParseJobEnd(t *testing.T) {
	if got, ok := ParseJobEndEnv("1796166000"); !ok || !got.Equal(time.Unix(1796166000, 0)) {
		t.Errorf("ParseJobEndEnv = %v, %v", got, ok)
	}
	for _, bad := range []string{"", "0", "soon", "-5"} {
		if _, ok := ParseJobEndEnv(bad); ok {
			t.Errorf("ParseJobEndEnv(%q) ok, want not", bad)
		}
	}
	utc := time.UTC
	if got, err := ParseSqueueTime("2026-12-01T23:00:00\n", utc); err != nil || !got.Equal(time.Date(2026, 12, 1, 23, 0, 0, 0, utc)) {
		t.Errorf("ParseSqueueTime = %v, %v", got, err)
	}
	for _, bad := range []string{"N/A", "Unknown", ""} {
		if _, err := ParseSqueueTime(bad, utc); err == nil {
			t.Errorf("ParseSqueueTime(%q) gave no error", bad)
		}
	}
}
