package supervisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/redact"
)

// TestTokensNeverWritten: a token that a role prints under no name we know (a value only its format
// gives away) is masked in everything the run writes about it: the log tail and first errors of the
// root cause, the liveness answers and the reason, the events, summary.json and the JUnit file.
func TestTokensNeverWritten(t *testing.T) {
	ghToken := "ghp_" + strings.Repeat("R2d", 12)
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
	written := func(t *testing.T, h *harness) string {
		t.Helper()
		var all strings.Builder
		for _, name := range []string{record.SummaryFile, record.JUnitFile, record.EventsFile} {
			data, err := os.ReadFile(filepath.Join(h.plan.Workspace, name))
			if err != nil {
				t.Fatal(err)
			}
			all.Write(data)
		}
		return all.String()
	}

	t.Run("a failing role's log", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, options{})
			defer h.drain()
			h.up()
			h.writeLog("GEN_0", "loading weights\nRuntimeError: hub refused token "+ghToken+"\n"+
				"srun: error: node1: task 1: Exited with exit code 3\n")
			h.exit("GEN_0", 1)
			h.result()
			f := h.summary().Failure
			if f == nil || len(f.FirstErrors) == 0 || len(f.LogTail) == 0 {
				t.Fatalf("failure %+v, want first errors and a log tail", f)
			}
			if want := "RuntimeError: hub refused token " + redact.Mask; !contains(f.LogTail, want) || f.FirstErrors[0].Text != want {
				t.Errorf("log tail %q, first errors %+v; want the error line with the token masked", f.LogTail, f.FirstErrors)
			}
			if strings.Contains(written(t, h), ghToken) {
				t.Error("the run's record shows the token")
			}
		})
	})

	t.Run("a liveness answer", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, options{liveness: []string{"DISAGG_SERVER=tcp:{node}:1@1s/2"}})
			defer h.drain()
			h.up()
			h.setSick("DISAGG_SERVER", errors.New("status 401: rejected bearer "+jwt))
			for range 3 {
				h.advance(time.Second)
			}
			h.result()
			f := h.summary().Failure
			if f == nil || len(f.Answers) == 0 || !strings.Contains(f.Reason, "rejected bearer "+redact.Mask) ||
				!strings.HasSuffix(f.Answers[0], "rejected bearer "+redact.Mask) {
				t.Errorf("failure %+v; want the reason and answers with the token masked", f)
			}
			if strings.Contains(written(t, h), jwt) {
				t.Error("the run's record shows the token")
			}
		})
	})
}

// TestFollowedOutputRedacted: the benchmark's output, copied live to the job's output, has its tokens
// masked, and the rest of each line kept.
func TestFollowedOutputRedacted(t *testing.T) {
	token := "sk-" + strings.Repeat("Pw7_", 8)
	path := filepath.Join(t.TempDir(), "benchmark.log")
	if err := os.WriteFile(path, []byte("request 1 ok\nusing key "+token+" for the judge\nunfinished "+token), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the step has ended: one pass over the log, then return
	var out strings.Builder
	followLog(ctx, path, 0, redactingWriter{w: &out, redact: redact.NewText(nil).String})
	want := "request 1 ok\nusing key " + redact.Mask + " for the judge\nunfinished " + redact.Mask + "\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}
