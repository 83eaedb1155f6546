package supervisor

import (
	"fmt"

	"github.com/disagg-supervisor/disagg-supervisor/record"
)

// failureOfAggregated is the root cause an aggregated SERVER's failing end makes: it has no benchmark
// to outlive, so only its code is news.
func (r *run) failureOfAggregated(s *step) *record.Failure {
	return r.failureOf(s, s.code, fmt.Sprintf("aggregated server ended with exit code %d", s.code))
}

// followsOutput reports whether the step's output is copied to Config.BenchmarkOutput as it is
// written; the plan decides (the BENCHMARK's, and the aggregated SERVER's unless gen-only sends it to
// gen_server_0.log only).
func (r *run) followsOutput(s *step) bool {
	for _, role := range r.plan.Roles {
		if role.Name == s.name {
			return r.plan.FollowsOutput(role)
		}
	}
	return false
}
