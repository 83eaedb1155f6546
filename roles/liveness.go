package roles

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Defaults of a liveness check that gives no period or failure count.
const (
	DefaultLivenessPeriod   = 10 * time.Second
	DefaultLivenessFailures = 3
)

// Liveness is a check that a role, once ready, is still well: it runs every period until the role ends
// or the teardown starts, and that many failures in a row fail the run (exit code 85).
type Liveness struct {
	// Type and Target are as a readiness probe's, placeholders expanded. For log, the check passes
	// when the log gained a matching line since the previous check: a heartbeat.
	Type   ProbeType `json:"type"`
	Target string    `json:"target"`
	// PeriodSeconds is the time between checks; Failures how many failed checks in a row make the
	// role unhealthy.
	PeriodSeconds float64 `json:"period_seconds"`
	Failures      int     `json:"failures"`
	// StatusMin and StatusMax bound the HTTP status of a passing http check (200-299 by default).
	StatusMin int `json:"status_min,omitempty"`
	StatusMax int `json:"status_max,omitempty"`
	// Body, when set, is a regular expression the HTTP answer's body must match, so that a router
	// answering 200 with no workers behind it fails.
	Body string `json:"body,omitempty"`
}

// Period is PeriodSeconds as a duration.
func (l Liveness) Period() time.Duration {
	return time.Duration(l.PeriodSeconds * float64(time.Second))
}

// String is the check as the plan table and a root cause show it.
func (l Liveness) String() string {
	s := fmt.Sprintf("%s %s", l.Type, l.Target)
	if l.Type == ProbeHTTP {
		if l.StatusMin != 200 || l.StatusMax != 299 {
			s += fmt.Sprintf(" status=%d-%d", l.StatusMin, l.StatusMax)
		}
		if l.Body != "" {
			s += " body=" + l.Body
		}
	}
	return s + fmt.Sprintf(" every %s, %d failures in a row", l.Period(), l.Failures)
}

const livenessForm = `want ROLE=TYPE:TARGET[@PERIOD[/FAILURES]], e.g. DISAGG_SERVER=http:http://{node}:8000/health status=200 body="workers":[1-9]@10s/3`

// livenessGrammar is --liveness's: ROLE=TYPE:TARGET[@PERIOD[/FAILURES]], an http TARGET with its
// status and body options.
func livenessGrammar() checkGrammar {
	return checkGrammar{
		flag: "--liveness", env: "DISAGG_LIVENESS", noun: "check", form: livenessForm, options: true,
		defaults: checkSpec{period: DefaultLivenessPeriod, failures: DefaultLivenessFailures},
		suffix: func(s *checkSpec, v string) (err error) {
			period, failures, hasFailures := strings.Cut(v, "/")
			if s.period, err = parseSuffixDuration(period, "PERIOD", "@10s"); err != nil || !hasFailures {
				return err
			}
			n, err := strconv.Atoi(failures)
			if err != nil || n < 1 || n > maxCount {
				return fmt.Errorf("failures %s: want a positive integer", quote(failures))
			}
			s.failures = n
			return nil
		},
		attach: func(r *Role, s checkSpec, expanded string) { r.Liveness = s.liveness(expanded) },
	}
}

// liveness is the check s describes, of target.
func (s checkSpec) liveness(target string) *Liveness {
	c := s.check
	return &Liveness{Type: c.Type, Target: target, PeriodSeconds: s.period.Seconds(), Failures: s.failures,
		StatusMin: c.StatusMin, StatusMax: c.StatusMax, Body: c.Body}
}

// HealthCheck is what each attempt of the liveness check tests.
func (l Liveness) HealthCheck() HealthCheck {
	return HealthCheck{Type: l.Type, Target: l.Target, StatusMin: l.StatusMin, StatusMax: l.StatusMax, Body: l.Body}
}
