package supervisor

import (
	"fmt"

	"github.com/disagg-supervisor/disagg-supervisor/roles"
)

// decidesRun reports whether a step's own end decides the run: the BENCHMARK's in a disaggregated
// test, and the SERVER's in an aggregated one, whose test command serves and measures by itself. Its
// status 0 is success without any end marker; a non-zero status is the run's root cause.
func decidesRun(k roles.Kind) bool {
	return k == roles.KindBenchmark || k == roles.KindAggregated
}

// failureOfAggregated is the root cause an aggregated SERVER's failing end makes: it has no benchmark
// to outlive, so only its code is news.
func (r *run) failureOfAggregated(s *step) *Failure {
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
