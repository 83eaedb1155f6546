package record

import (
	"strings"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// TestJudge: what `status` concludes from a summary, as seen from one host at one moment.
func TestJudge(t *testing.T) {
	now := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	here := func(alive bool) Observer {
		return Observer{Host: "gpu-a01", BootID: "b1", Now: now, Alive: func(pid int) bool { return alive && pid == 4242 }}
	}
	code := func(c int) *int { return &c }
	heard := func(ago time.Duration) *time.Time { t := now.Add(-ago); return &t }
	sup := func(host, boot string) *SupervisorInfo {
		return &SupervisorInfo{Host: host, PID: 4242, BootID: boot, StartedAt: now.Add(-time.Hour)}
	}
	for _, tt := range []struct {
		name     string
		obs      Observer
		summary  Summary
		want     int
		gone     bool
		wantLine string
	}{
		{name: "succeeded", obs: here(false), want: verdict.ExitOK,
			summary: Summary{State: RunSucceeded, ExitCode: code(0), Supervisor: sup("gpu-a01", "b1"), UpdatedAt: heard(time.Hour)}},
		{name: "failed with the role's code", obs: here(false), want: 3,
			summary: Summary{State: RunFailed, ExitCode: code(3), Supervisor: sup("gpu-a01", "b1"), UpdatedAt: heard(time.Hour)}},
		{name: "interrupted", obs: here(true), want: 143,
			summary: Summary{State: RunInterrupted, ExitCode: code(143)}},
		{name: "failed without a code is never success", obs: here(true), want: verdict.ExitInternal,
			summary: Summary{State: RunFailed}},
		{name: "running here, alive", obs: here(true), want: verdict.ExitStatusRunning, wantLine: "supervisor running (pid 4242 on gpu-a01, last heard 2026-11-30T04:59:58Z, 2s ago)",
			summary: Summary{State: RunRunning, Supervisor: sup("gpu-a01", "b1"), UpdatedAt: heard(2 * time.Second)}},
		{name: "running here, pid gone", obs: here(false), want: verdict.ExitStatusGone, gone: true,
			wantLine: "supervisor gone (last heard 2026-11-30T04:59:58Z, 2s ago): pid 4242 no longer runs on gpu-a01",
			summary:  Summary{State: RunRunning, Supervisor: sup("gpu-a01", "b1"), UpdatedAt: heard(2 * time.Second)}},
		{name: "same host name, another boot: the pid says nothing", obs: here(false), want: verdict.ExitStatusRunning,
			summary: Summary{State: RunRunning, Supervisor: sup("gpu-a01", "b0"), UpdatedAt: heard(2 * time.Second)}},
		{name: "another host, fresh heartbeat", obs: here(false), want: verdict.ExitStatusRunning,
			summary: Summary{State: RunRunning, Supervisor: sup("gpu-b07", "b9"), UpdatedAt: heard(HeartbeatStale)}},
		{name: "another host, stale heartbeat", obs: here(false), want: verdict.ExitStatusGone, gone: true,
			wantLine: "supervisor gone (last heard 2026-11-30T04:59:44Z, 16s ago): pid 4242 on gpu-b07 has not written its heartbeat for longer than 15s",
			summary:  Summary{State: RunRunning, Supervisor: sup("gpu-b07", "b9"), UpdatedAt: heard(HeartbeatStale + time.Second)}},
		{name: "here and alive, but silent: a reused pid", obs: here(true), want: verdict.ExitStatusGone, gone: true,
			summary: Summary{State: RunRunning, Supervisor: sup("gpu-a01", "b1"), UpdatedAt: heard(time.Minute)}},
		{name: "no heartbeat recorded", obs: here(false), want: verdict.ExitStatusRunning, wantLine: "supervisor unknown",
			summary: Summary{State: RunRunning}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.obs.Judge(tt.summary)
			if v.Code != tt.want || v.Gone != tt.gone || !strings.HasPrefix(v.Line, tt.wantLine) {
				t.Errorf("Judge = %+v, want code %d, gone %v, line starting %q", v, tt.want, tt.gone, tt.wantLine)
			}
		})
	}
}
