package coord

import "path"

// Layout of the supervisor's state directory, <workspace>/.disagg-supervisor, which holds what one
// workspace's supervisor owns besides the coordination directories of its attempts:
//
//	bin/disagg-supervisor     the supervisor's own binary, which every step runs as `task`
//	fake-slurm/<job>/         the fake srun's state of the fake job <job>, in a local run
//	runs/<run token>/         the coordination directory of one attempt (see RunDir)
//	stale/<run token>/        what the attempt <run token> moved out of its way at start: an earlier
//	                          attempt's end markers, .done sentinels and precheck files, in the
//	                          workspace's relative layout (files of an output directory outside
//	                          the workspace under output/)
//	lock                      the workspace lock: one run per workspace; holds its holder's record
//
// The supervisor never deletes what it did not create in this attempt: it moves it here instead.
const (
	stateDirName     = ".disagg-supervisor"
	binDirName       = "bin"
	binaryName       = "disagg-supervisor"
	fakeSlurmDirName = "fake-slurm"
	runsDirName      = "runs"
	staleDirName     = "stale"
	lockFileName     = "lock"
)

// StateDir is the supervisor's state directory in workspace. Like RunDir it only joins names.
func StateDir(workspace string) string {
	return path.Join(workspace, stateDirName)
}

// TaskBinary is where the supervisor puts its own binary in workspace's state directory, for `task`
// and for commands that call the binary from inside a step. Like StateDir it only joins names, so a
// shell variable such as "$dir/ws" stays as it is for the shell to expand.
func TaskBinary(workspace string) string {
	return path.Join(StateDir(workspace), binDirName, binaryName)
}

// FakeSlurmDir is where a local run's fake srun keeps the state of its fake job jobID.
func FakeSlurmDir(workspace, jobID string) string {
	return path.Join(StateDir(workspace), fakeSlurmDirName, jobID)
}

// StaleDir is where the attempt runToken moves an earlier attempt's files that would mislead it.
func StaleDir(workspace, runToken string) string {
	return path.Join(StateDir(workspace), staleDirName, Name(runToken))
}

// StaleOutputDir is the part of a StaleDir that holds files of an output directory outside the
// workspace.
const StaleOutputDir = "output"

// LockFile is the workspace lock's file.
func LockFile(workspace string) string {
	return path.Join(StateDir(workspace), lockFileName)
}
