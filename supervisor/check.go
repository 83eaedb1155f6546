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
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/roles"
)

// check is one attempt of a readiness probe or of a liveness check: nil when the role passes, else
// what it answered. waitProbe retries a readiness probe until it passes; startLiveness runs a
// liveness check every period until it fails too often in a row.
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

// checkSpec is one probe or check as its attempts need it, whichever grammar of roles it came from
// (--probe or --liveness).
type checkSpec struct {
	purpose checkPurpose
	Type    roles.ProbeType
	// Target is the URL, host:port, path or regular expression.
	Target string
	// StatusMin and StatusMax bound a passing HTTP status; Body, when set, is what the answer's body
	// must match.
	StatusMin, StatusMax int
	Body                 string
}

// readinessSpec is a readiness probe's spec.
func readinessSpec(p roles.Probe) checkSpec {
	return checkSpec{purpose: forReadiness, Type: p.Type, Target: p.Target, StatusMin: 200, StatusMax: 299}
}

// livenessSpec is a liveness check's spec.
func livenessSpec(l roles.Liveness) checkSpec {
	return checkSpec{purpose: forLiveness, Type: l.Type, Target: l.Target, StatusMin: l.StatusMin, StatusMax: l.StatusMax, Body: l.Body}
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
