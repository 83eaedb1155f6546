package supervisor

import (
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
)

// ledger is the run's ledger as of now.
func (r *run) ledger(s record.Summary, now time.Time) *record.Ledger {
	in := record.Ledger{AllocationGPUs: len(r.plan.Nodes) * r.plan.GPUsPerNode, JobEndAt: timePtr(r.cfg.JobEnd)}
	for _, role := range r.plan.Roles {
		if st := r.byName[role.Name]; st != nil && st.launched() &&
			(in.FirstRoleLaunchAt == nil || st.launchedAt.Before(*in.FirstRoleLaunchAt)) {
			in.FirstRoleLaunchAt = timePtr(st.launchedAt)
		}
	}
	s.Ledger = &in
	l := record.ComputeLedger(s, now)
	return &l
}
