package record

// BadNodesFile is written in the workspace when an infrastructure failure names nodes: one host a line,
// ready for `sbatch --exclude=$(paste -sd, bad-nodes.txt)`.
const BadNodesFile = "bad-nodes.txt"

// Files of the pre-flight phase's JUnit verdicts, in the workspace where CI collects results*.xml.
const (
	// PrecheckJUnitFile is today's name for the precheck's JUnit file.
	PrecheckJUnitFile  = "results-ct-precheck.xml"
	PreflightJUnitFile = "results-preflight.xml"
)

// Files the run writes under the workspace.
const (
	EventsFile  = "supervisor.events.jsonl"
	SummaryFile = "summary.json"
	// JUnitFile matches the results*.xml pattern CI collects from the workspace.
	JUnitFile = "results-disagg-supervisor.xml"
)
