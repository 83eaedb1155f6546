package supervisor

import (
	"os"
	"os/signal"
	"syscall"
)

// NotifySignals catches, for this process, the signals a run answers to (see Config.Signals):
// SIGTERM, SIGINT, SIGHUP, SIGQUIT and drain. It returns the channel for Config.Signals and stop,
// which releases them; call it once the run is over. A program that runs a supervisor calls it
// before anything else: Slurm may send the drain signal seconds after the job starts, and until
// then the signal's default action would end the program without a summary. SIGQUIT is caught too,
// as Go's default (a goroutine dump on stderr, exit 2) would leave the record saying running; the
// run writes the dump to a file and ends as for any signal.
func NotifySignals(drain syscall.Signal) (signals <-chan os.Signal, stop func()) {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, drain)
	return ch, func() { signal.Stop(ch) }
}
