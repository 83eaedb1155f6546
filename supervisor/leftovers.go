package supervisor

import (
	"fmt"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/record"
)

// reportLeftovers reads, once the step s has ended, what its tasks recorded in the coordination
// directory of the processes they found still running and stopped, and reports each process not
// reported yet: one leftover event each, and the step's entry in summary.json. The tasks write their
// record before they end, so it is complete when srun has returned.
func (r *run) reportLeftovers(s *step) {
	if r.plan.CoordDir == "" {
		return
	}
	recs, err := coord.Dir(r.plan.CoordDir).RoleLeftovers(s.name)
	if err != nil {
		r.emit(Event{Name: record.EventWarning, Role: s.name, Message: fmt.Sprintf("cannot read every record of leftover processes: %v", err)})
	}
	for _, rec := range recs {
		if s.leftoversReported(rec) {
			continue
		}
		for _, p := range rec.Processes {
			s.leftovers = append(s.leftovers, record.Leftover{Name: p.Name, PID: p.PID, Node: rec.Node, Rank: rec.Rank,
				Step: rec.Step, RanSeconds: p.Ran.Seconds(), FoundAt: rec.Time.UTC()})
			r.emit(Event{Name: record.EventLeftover, Role: s.name, Nodes: rec.Node, Process: p.Name, ProcessPID: p.PID, Ran: p.Ran,
				Message: fmt.Sprintf("process %s (pid %d) of rank %d on %s outlived the role command; it had run %s; its task stopped it",
					p.Name, p.PID, rec.Rank, rec.Node, p.RanText())})
		}
	}
}

// leftoversReported tells whether the processes of rec are already among the step's leftovers: a
// role's step launched again in the same attempt reads the earlier step's records too.
func (s *step) leftoversReported(rec coord.Leftovers) bool {
	for _, l := range s.leftovers {
		if l.Step == rec.Step && l.Rank == rec.Rank && l.Node == rec.Node {
			return true
		}
	}
	return false
}
