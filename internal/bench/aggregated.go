package bench

import (
	"path/filepath"
	"time"
)

// aggregatedFault is the failure the aggregated group measures: rank 3 of the aggregated SERVER, the
// second task of the second node, exits 7 two seconds after the SERVER is ready.
var aggregatedFault = fault{role: "SERVER", spec: "SERVER:3:7:2s", rank: 3, code: 7, localID: "3g"}

const aggregatedFailureMethod = "`disagg-supervisor demo --aggregated --fail SERVER:3:7:2s --grace 1s --requests 100000` " +
	"(one SERVER of 2 nodes × 2 ranks of the toy's aggregated test on a fake 2-node allocation). As for 3a: the failing rank writes " +
	"the Unix time in ns just before it exits; the figure is the instant this program's wait on the supervisor process returned " +
	"(or, if later, the instant no live process carrying the run token was left) minus that time. " +
	"Reference: one bare step of the fake srun, `disagg-supervisor srun -N1 -n1 true`."

// measureAggregated is the aggregated group: failure detection of an aggregated test in local mode,
// with the same target as the disaggregated roles' (3a-3c).
func measureAggregated(o Options, work string) []figure {
	l := &local{bin: o.Bin, work: filepath.Join(work, "aggregated"), runs: o.Runs}
	f := aggregatedFault
	refs, err := l.fakeSrunSteps()
	if err != nil {
		return []figure{failed(fig(f.localID, nil), err)}
	}
	var latency []float64
	parts := map[string][]float64{}
	for i := 0; i < l.runs; i++ {
		logf("local failure detection, aggregated %s, run %d/%d", f.spec, i+1, l.runs)
		s, err := l.failureRun(f, "--aggregated")
		if err != nil {
			return []figure{failed(fig(f.localID, nil), err)}
		}
		latency = append(latency, s.latency)
		s.addParts(parts)
	}
	fg := failureFigure(f.localID, latency, parts, "fake srun: disagg-supervisor srun -N1 -n1 true", refs, 500*time.Millisecond)
	fg.note("srun's --kill-on-bad-exit ends the SERVER's other ranks itself, so the one step ends with the failing rank and there is nothing else to stop.")
	return []figure{fg}
}
