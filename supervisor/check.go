package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/roles"
)

// check is one attempt of a readiness probe or of a liveness check: nil when the role passes, else
// what it answered. runCheck retries a readiness probe until it passes, and runs a liveness check
// every period until it fails too often in a row.
type check func(ctx context.Context) error

// checkPurpose tells a readiness probe from a liveness check where one attempt differs.
type checkPurpose int

const (
	// forReadiness: is the role up yet? A log probe passes on any line since the step's launch; an
	// HTTP attempt is bounded by readinessAttemptTimeout and passes on a 2xx status.
	forReadiness checkPurpose = iota
	// forLiveness: is the role still well? A log check passes on a line gained since the previous
	// attempt (a heartbeat); an HTTP attempt opens a new connection (a router that accepts none any
	// more fails even if an old connection still answers), is bounded by its context, and says what
	// was wrong with a failing answer (sickAnswer) or that none came in time.
	forLiveness
)

// readinessAttemptTimeout bounds one HTTP or TCP attempt of a readiness probe.
const readinessAttemptTimeout = 2 * time.Second

// checkSpec is one probe or check as its attempts need it: what roles parsed from --probe or
// --liveness, and which of the two it is.
type checkSpec struct {
	purpose checkPurpose
	roles.HealthCheck
}

// forConfig resolves {idx} in a probe's or a check's target for server configuration index.
func forConfig(target string, index int) string {
	return strings.ReplaceAll(target, roles.PlaceholderIdx, strconv.Itoa(index))
}

// policy is how a check's attempts are run and when they end. Without failures it is until-pass (a
// readiness probe): the first attempt at once, then one every period, until one passes or the
// timeout has passed; attempts missed by a slow one are not made up, as a probe only polls. With
// failures it is every-period (a liveness check): an attempt each period on a grid from the start,
// however long each one takes, so that failures failed attempts in a row span as many periods.
type policy struct {
	period  time.Duration
	timeout time.Duration
	// failures, attempt, armed and missed are an every-period check's: attempt bounds each attempt;
	// unless armed, failures count only from the first pass or the first sick answer (a server up
	// and sick), as a check restarted while the servers reload for a later configuration does; missed
	// is told of each failed attempt short of failures in a row.
	failures int
	attempt  time.Duration
	armed    bool
	missed   func(err error, failed int)
}

// checkFailed is how a check ended that its policy failed: by the timeout, with the last answer, or
// by failures in a row, with the last answers, timed and oldest first.
type checkFailed struct {
	last    error
	answers []string
}

func (e *checkFailed) Error() string { return e.last.Error() }

// runCheck runs attempts of c on clk as p says. It returns nil once an until-pass check passes, a
// *checkFailed once p fails it, and ctx's error when ctx ends first.
func runCheck(ctx context.Context, clk clock, c check, p policy) error {
	untilPass := p.failures == 0
	var deadline <-chan time.Time
	if untilPass {
		deadline = clk.After(p.timeout)
	}
	var last error
	var answers []string
	next := clk.Now()
	for failed, first := 0, true; ; first = false {
		if !untilPass || !first {
			next = next.Add(p.period)
			if now := clk.Now(); untilPass && next.Before(now) {
				next = now
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-deadline:
				return &checkFailed{last: last}
			case <-clk.After(max(next.Sub(clk.Now()), 0)):
			}
		}
		actx, stop := ctx, context.CancelFunc(func() {})
		if p.attempt > 0 {
			actx, stop = context.WithTimeout(ctx, p.attempt)
		}
		last = c(actx)
		stop()
		if last == nil && untilPass {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if untilPass {
			continue
		}
		if last == nil {
			failed, answers, p.armed = 0, answers[:0], true
			continue
		}
		if !p.armed && errors.As(last, new(sickAnswer)) {
			// The reloaded server answers, and wrongly: it is up and sick, not still loading.
			p.armed = true
		}
		if !p.armed {
			continue
		}
		failed++
		answers = append(answers, clk.Now().UTC().Format("15:04:05.000")+" "+last.Error())
		if len(answers) > livenessAnswers {
			answers = answers[1:]
		}
		if failed >= p.failures {
			return &checkFailed{last: last, answers: answers}
		}
		p.missed(last, failed)
	}
}

// newCheck returns one attempt of spec; a log probe or check reads the step's log from logStart.
func newCheck(spec checkSpec, logPath string, logStart int64) (check, error) {
	switch spec.Type {
	case roles.ProbeHTTP:
		return newHTTPCheck(spec)
	case roles.ProbeTCP:
		dialer := net.Dialer{}
		if spec.purpose == forReadiness {
			dialer.Timeout = readinessAttemptTimeout
		}
		return func(ctx context.Context) error {
			conn, err := dialer.DialContext(ctx, "tcp", spec.Target)
			if err != nil {
				return answerErr(ctx, err)
			}
			return conn.Close()
		}, nil
	case roles.ProbeFile:
		return func(context.Context) error {
			_, err := os.Stat(spec.Target)
			return err
		}, nil
	case roles.ProbeLog:
		re, err := regexp.Compile(spec.Target)
		if err != nil {
			return nil, fmt.Errorf("log %s %q: %w", spec.noun(), spec.Target, err)
		}
		if spec.purpose == forReadiness {
			scanner := newReadinessScanner(logPath, logStart, re)
			return func(context.Context) error {
				err := scanner.check()
				if errors.Is(err, errNoHeartbeat) {
					return fmt.Errorf("no line of %s matches %q yet", logPath, re)
				}
				return err
			}, nil
		}
		scanner := newHeartbeatScanner(logPath, logStart, re)
		return func(context.Context) error {
			switch err := scanner.check(); {
			case errors.Is(err, errNoHeartbeat):
				return fmt.Errorf("no new line matches %q since the last check", spec.Target)
			case err != nil:
				return fmt.Errorf("log check: %w", err)
			}
			return nil
		}, nil
	}
	return nil, fmt.Errorf("unknown %s type %q", spec.noun(), spec.Type)
}

// noun is what a message calls the spec.
func (c checkSpec) noun() string {
	if c.purpose == forReadiness {
		return "probe"
	}
	return "check"
}

// newHTTPCheck returns one GET of an http probe or check.
func newHTTPCheck(spec checkSpec) (check, error) {
	if spec.purpose == forReadiness {
		client := &http.Client{Timeout: readinessAttemptTimeout}
		return func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, spec.Target, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode < spec.StatusMin || resp.StatusCode > spec.StatusMax {
				return fmt.Errorf("status %s", resp.Status)
			}
			return nil
		}, nil
	}
	var body *regexp.Regexp
	if spec.Body != "" {
		re, err := regexp.Compile(spec.Body)
		if err != nil {
			return nil, fmt.Errorf("body %q: %w", spec.Body, err)
		}
		body = re
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	return func(ctx context.Context) error {
		return checkHTTP(ctx, client, spec, body)
	}, nil
}
