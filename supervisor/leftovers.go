package supervisor

import (
	"fmt"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
)

// Leftover is a process of a role's step that was still running when the role command and the after
// commands of its task had ended (a daemon that escaped the command, a worker whose parent died), and
// that the task stopped. summary.json lists them under roles[i].leftovers, and the event log has a
// leftover event for each one.
type Leftover struct {
	// Name is the process's command name as the kernel keeps it (at most 15 bytes).
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Node string `json:"node"`
	Rank int    `json:"rank"`
	// Step is Slurm's id of the step, when the task knew it.
	Step string `json:"step,omitempty"`
	// RanSeconds is how long it had run when its task found it; 0 when unknown.
	RanSeconds float64   `json:"ran_seconds"`
	FoundAt    time.Time `json:"found_at"`
}

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
		r.emit(Event{Name: EventWarning, Role: s.name, Message: fmt.Sprintf("cannot read every record of leftover processes: %v", err)})
	}
	for _, rec := range recs {
		if s.leftoversReported(rec) {
			continue
		}
		for _, p := range rec.Processes {
			s.leftovers = append(s.leftovers, Leftover{Name: p.Name, PID: p.PID, Node: rec.Node, Rank: rec.Rank,
				Step: rec.Step, RanSeconds: p.Ran.Seconds(), FoundAt: rec.Time.UTC()})
			ran := "an unknown time"
			if p.Ran > 0 {
				ran = p.Ran.Round(10 * time.Millisecond).String()
			}
			r.emit(Event{Name: EventLeftover, Role: s.name, Nodes: rec.Node, Process: p.Name, ProcessPID: p.PID, Ran: p.Ran,
				Message: fmt.Sprintf("process %s (pid %d) of rank %d on %s outlived the role command; it had run %s; its task stopped it",
					p.Name, p.PID, rec.Rank, rec.Node, ran)})
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
