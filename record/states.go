package record

// StepState is a step's state as summary.json shows it. The supervisor derives it from what its
// loop has learnt about the step, so that it cannot disagree with it.
type StepState string

// The states of a step, in summary.json's words.
const (
	StepPending  StepState = "pending"
	StepLaunched StepState = "launched"
	// StepRunning: every task has started.
	StepRunning StepState = "running"
	// StepReady: its readiness probe passed (or it has none).
	StepReady StepState = "ready"
	// StepStopping: the supervisor asked it to stop and it has not ended yet.
	StepStopping StepState = "stopping"
	// StepStopped: it ended after the supervisor asked it to, or as part of Slurm's cancellation.
	StepStopped StepState = "stopped"
	// StepFinished: a server that ended with 0 after the benchmark announced its end.
	StepFinished StepState = "finished"
	// StepExited: it ended by itself.
	StepExited StepState = "exited"
	// StepAbandoned: it had not ended when the supervisor had to exit; Slurm ends it with the job.
	StepAbandoned    StepState = "abandoned"
	StepLaunchFailed StepState = "launch-failed"
)

func (s StepState) String() string { return string(s) }

// RunState is the run's state as summary.json shows it: running until the result is decided, then
// final at once, while the teardown may still go on.
type RunState string

// The states of a run.
const (
	RunRunning   RunState = "running"
	RunSucceeded RunState = "succeeded"
	RunFailed    RunState = "failed"
	// RunInterrupted: a signal or Slurm's cancellation of the job ended the run, not a role.
	RunInterrupted RunState = "interrupted"
)

func (s RunState) String() string { return string(s) }
