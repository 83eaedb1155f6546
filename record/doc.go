// Package record is what a run leaves in its workspace and what its readers make of it: summary.json
// (Summary and its parts: roles, root cause, checks, measurement, server configurations, GPU ledger),
// the states of a run and of its steps, the event log's lines (LogEntry, ReadEvents), the JUnit
// verdicts, and the text views of a summary (the final report that `status` shows again, the roles'
// table, the root-cause block, the ledger). The supervisor writes the record; `status`, the benchmark
// tools and CI read it without the supervisor's engine.
package record
