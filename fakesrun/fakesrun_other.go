//go:build !linux

package fakesrun

import (
	"context"
	"fmt"
	"io"
	"os"
)

// runFakeStep refuses to run: the fake srun relies on Linux to tie the tasks' lives to its own
// (parent-death signals, child subreaping), and a fake that could leave processes behind is worse
// than none.
func runFakeStep(_ context.Context, _ *fakeStep, _, stderr io.Writer, _ <-chan os.Signal) int {
	fmt.Fprintln(stderr, "srun: error: fake srun: only supported on Linux")
	return 1
}
