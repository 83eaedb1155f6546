package supervisor

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/disagg-supervisor/disagg-supervisor/roles"
)

// TestNewCheck: one constructor builds the attempts of readiness probes and liveness checks alike,
// each with its purpose's rules: the status a probe wants is 2xx, a liveness check's its own range and
// body, told as a sick answer; a log probe passes on any line since the launch, an unfinished one
// too, a log liveness check on a complete line gained since its previous attempt.
func TestNewCheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte(`{"workers":0}`))
	}))
	defer srv.Close()
	ctx := context.Background()
	attempt := func(spec checkSpec, log string) error {
		t.Helper()
		c, err := newCheck(spec, log, 0)
		if err != nil {
			t.Fatalf("newCheck(%+v): %v", spec, err)
		}
		return c(ctx)
	}

	probe := checkSpec{forReadiness, roles.Probe{Type: roles.ProbeHTTP, Target: srv.URL}.HealthCheck()}
	if err := attempt(probe, ""); err != nil {
		t.Errorf("http probe of a 200: %v", err)
	}
	live := checkSpec{forLiveness, roles.Liveness{Type: roles.ProbeHTTP, Target: srv.URL, StatusMin: 200, StatusMax: 299, Body: `"workers":[1-9]`}.HealthCheck()}
	if err := attempt(live, ""); !errors.As(err, new(sickAnswer)) || !strings.Contains(err.Error(), "body does not match") {
		t.Errorf("http liveness check of a 200 without workers: %v, want a sick answer about the body", err)
	}
	status = http.StatusServiceUnavailable
	if err := attempt(probe, ""); err == nil || err.Error() != "status 503 Service Unavailable" {
		t.Errorf("http probe of a 503: %v", err)
	}

	log := filepath.Join(t.TempDir(), "role.log")
	if err := os.WriteFile(log, []byte("loading\nserver up"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := attempt(checkSpec{forReadiness, roles.Probe{Type: roles.ProbeLog, Target: "server up"}.HealthCheck()}, log); err != nil {
		t.Errorf("log probe of an unfinished matching line: %v", err)
	}
	if err := attempt(checkSpec{forLiveness, roles.Liveness{Type: roles.ProbeLog, Target: "server up"}.HealthCheck()}, log); err == nil ||
		!strings.Contains(err.Error(), "since the last check") {
		t.Errorf("log liveness check of an unfinished line: %v, want no heartbeat", err)
	}
	// An anchored pattern matches a complete line, not only one seen before its newline arrived.
	done := filepath.Join(t.TempDir(), "done.log")
	if err := os.WriteFile(done, []byte("loading\nserver up\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := attempt(checkSpec{forReadiness, roles.Probe{Type: roles.ProbeLog, Target: "^server up$"}.HealthCheck()}, done); err != nil {
		t.Errorf("log probe ^server up$ of a complete line: %v", err)
	}
	for _, spec := range []checkSpec{checkSpec{forReadiness, roles.Probe{Type: "smoke"}.HealthCheck()}, checkSpec{forLiveness, roles.Liveness{Type: "smoke"}.HealthCheck()}} {
		if _, err := newCheck(spec, "", 0); err == nil || !strings.Contains(err.Error(), `unknown `+spec.noun()+` type "smoke"`) {
			t.Errorf("newCheck of type smoke: %v", err)
		}
	}
}

// TestLogProbeAfterTruncation: a log probe whose log is truncated and written again (a role that
// starts its log afresh) passes on what the log holds now. Its collector used to go on reading from
// its old offset, past the end of the shorter file, and the probe could only time out.
func TestLogProbeAfterTruncation(t *testing.T) {
	log := filepath.Join(t.TempDir(), "role.log")
	if err := os.WriteFile(log, []byte("loading weights: a long line of progress output\nstill loading\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := newCheck(checkSpec{forReadiness, roles.Probe{Type: roles.ProbeLog, Target: "server up"}.HealthCheck()}, log, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c(context.Background()); err == nil || !strings.Contains(err.Error(), "matches") {
		t.Fatalf("log probe before the line: %v, want no match yet", err)
	}
	if err := os.WriteFile(log, []byte("server up\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c(context.Background()); err != nil {
		t.Errorf("log probe after the log was truncated and the line written: %v", err)
	}
}
