package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// livenessCheckTimeout bounds one attempt: half the period, and never more than 750 ms, so that a
// role that keeps its port and stops answering is found within PERIOD x FAILURES + 1 s of its last
// good answer. A /health endpoint that needs longer than that is itself a sign of trouble.
func livenessCheckTimeout(period time.Duration) time.Duration {
	return min(period/2, 750*time.Millisecond)
}

// livenessAnswers is how many of a role's last failed answers its root cause shows.
const livenessAnswers = 5

// startLiveness starts the role's liveness check once it is ready, and again at each server
// configuration's start after the first (its target's {idx} resolved for it; the check it replaces
// is stopped). It runs outside the loop until the step ends or the teardown starts, and reports
// FAILURES failed attempts in a row as livenessFailed. A check restarted for a later configuration
// counts failures only from its first passing attempt, or its first HTTP answer that fails it (a
// server up and sick): the servers reload inside their steps meanwhile, refusing connections or not
// answering, and --config-timeout and the stall watch bound that wait (and the role's readiness
// probe, when its target names the configuration: its pass arms the check, see probeConfig).
func (r *run) startLiveness(s *step) {
	r.startLivenessArmed(s, r.configs.currentIndex() == 0)
}

// startLivenessArmed starts the role's liveness check, counting failures from its first attempt when
// armed, else as a check restarted for a later configuration does.
func (r *run) startLivenessArmed(s *step, armed bool) {
	if s.liveness == nil || r.decided || s.watch == nil {
		return
	}
	l := *s.liveness
	l.Target = forConfig(l.Target, r.configs.currentIndex())
	build := r.cfg.newCheck
	c := &r.configs
	if c.liveGen == nil {
		c.liveGen, c.liveStop = map[string]int{}, map[string]context.CancelFunc{}
	}
	if stop := c.liveStop[s.name]; stop != nil {
		stop()
	}
	c.liveGen[s.name]++
	gen := c.liveGen[s.name]
	check, err := build(checkSpec{forLiveness, l.HealthCheck()}, s.log, s.logStart)
	if err != nil {
		r.warn(s.name, fmt.Sprintf("liveness check not started: %v", err))
		return
	}
	ctx, cancel := context.WithCancel(s.watch)
	r.hang.stopChecks = append(r.hang.stopChecks, cancel)
	c.liveStop[s.name] = cancel
	name, clk, period := s.name, r.cfg.clock, l.Period()
	p := policy{period: period, failures: l.Failures, attempt: livenessCheckTimeout(period), armed: armed,
		missed: func(err error, failed int) {
			// Not sick yet, but worth a line in the measurement window's disturbances.
			r.send(livenessMissed{name: name, gen: gen, failed: failed, of: l.Failures, answer: err.Error()})
		}}
	r.group.Go(func() error {
		if f := (*checkFailed)(nil); errors.As(runCheck(ctx, clk, check, p), &f) {
			r.send(livenessFailed{name: name, gen: gen, check: l.String(), answers: f.answers})
		}
		return nil
	})
}

// onLivenessFailed fails the run for a role that failed its liveness check, unless the run is decided,
// the step is ending anyway, the check was replaced, or the benchmark has announced the end of its
// last configuration (servers stop answering then, as the harness has them do). Between two
// configurations' markers a failure fails the run as before the first.
func (r *run) onLivenessFailed(m livenessFailed) {
	s := r.byName[m.name]
	if r.decided || !s.alive() || s.stopRequested || !r.currentCheck(m.name, m.gen) {
		return
	}
	if r.benchmarkAnnouncedEnd() {
		r.warn(s.name, fmt.Sprintf("liveness check failed after the benchmark announced its end (ignored): %s; last answer: %s",
			m.check, m.answers[len(m.answers)-1]))
		return
	}
	if !r.currentCheck(m.name, m.gen) {
		// A marker seen just now started the next configuration and replaced the check.
		return
	}
	reason := fmt.Sprintf("unhealthy: its liveness check failed %d times in a row (%s); last answer: %s",
		s.liveness.Failures, m.check, m.answers[len(m.answers)-1])
	r.decideHung(s, reason, m.check, m.answers)
}

// checkHTTP is one GET of an http liveness check: the status must be in range and the body, when
// asked, must match.
func checkHTTP(ctx context.Context, client *http.Client, l checkSpec, body *regexp.Regexp) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.Target, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return answerErr(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("status %s, body unreadable: %w", resp.Status, answerErr(ctx, err))
	}
	if resp.StatusCode < l.StatusMin || resp.StatusCode > l.StatusMax {
		return sickAnswer(fmt.Sprintf("status %s (want %d-%d): %s", resp.Status, l.StatusMin, l.StatusMax, snippet(data)))
	}
	if body != nil && !body.Match(data) {
		return sickAnswer(fmt.Sprintf("status %s, body does not match %q: %s", resp.Status, l.Body, snippet(data)))
	}
	return nil
}

// sickAnswer is an HTTP answer that fails the check: the server is up, and not well. Unlike a refused
// connection or no answer, it is no sign of a server reloading for the next configuration.
type sickAnswer string

func (e sickAnswer) Error() string { return string(e) }

// answerErr names a timed-out attempt as what it is: no answer.
func answerErr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within the check's timeout: %w", err)
	}
	return err
}

// snippet is the start of an answer's body on one line.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}
