package roles

import (
	"strings"
	"time"
)

// probeGrammar is --probe's: ROLE=TYPE:TARGET[@TIMEOUT], TIMEOUT a Go duration with a unit ("90s",
// "5m"), def when none is given.
func probeGrammar(def time.Duration) checkGrammar {
	return checkGrammar{
		flag: "--probe", env: "DISAGG_PROBES", noun: "probe",
		form:     "want ROLE=TYPE:TARGET[@TIMEOUT], e.g. GEN_*=http:http://{node}:8000/health@20m",
		defaults: checkSpec{timeout: def},
		suffix: func(s *checkSpec, v string) (err error) {
			s.timeout, err = parseSuffixDuration(v, "TIMEOUT", "@20m")
			return err
		},
		attach: func(r *Role, s checkSpec, expanded string) {
			// At the launch the probe is of the first server configuration; a target that names
			// the configuration is kept as well, to be awaited again at each later one's start.
			target := strings.ReplaceAll(expanded, PlaceholderIdx, "0")
			r.Probe = &Probe{Type: s.check.Type, Target: target, TimeoutSeconds: s.timeout.Seconds()}
			if expanded != target {
				r.Probe.ConfigTarget = expanded
			}
		},
	}
}

// HealthCheck is what each attempt of the probe tests: a passing HTTP answer has a 2xx status.
func (p Probe) HealthCheck() HealthCheck {
	return HealthCheck{Type: p.Type, Target: p.Target, StatusMin: 200, StatusMax: 299}
}
