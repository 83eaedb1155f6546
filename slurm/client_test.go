package slurm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// busyThenAnswer writes a stand-in command that fails with msg on stderr for its first `busy` runs,
// then prints answer, counting its runs in a file of dir.
func busyThenAnswer(t *testing.T, dir, name string, busy int, msg, answer string) string {
	t.Helper()
	count := filepath.Join(dir, name+".count")
	return writeScript(t, dir, name, `n=$(cat `+count+` 2>/dev/null || echo 0); n=$((n+1)); echo $n > `+count+`
if [ $n -le `+strconv.Itoa(busy)+` ]; then echo "`+msg+`" >&2; exit 1; fi
echo "`+answer+`"`)
}

// fastRetries is a Client whose backoff does not slow the tests.
func fastRetries() *Client {
	return &Client{RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond}
}

// TestRetryWhileBusy: a controller that does not answer three times, then does, gives the caller the
// answer, and the count says four calls, three of them retries. Each of Slurm's busy wordings is
// retried.
func TestRetryWhileBusy(t *testing.T) {
	for _, msg := range []string{
		"slurm_load_jobs error: Socket timed out on send/recv operation",
		"slurm_load_jobs error: Unable to contact slurm controller (connect failure)",
		"slurm_load_jobs error: Rate limit exceeded, please retry momentarily",
		"slurm_load_jobs error: Resource temporarily unavailable",
	} {
		t.Run(msg, func(t *testing.T) {
			c := fastRetries()
			c.Scontrol = busyThenAnswer(t, t.TempDir(), "scontrol", 3, msg, "JobId=12 JobName=x JobState=RUNNING Reason=None")
			st, err := c.JobState(context.Background(), "12")
			if err != nil || st != (JobStatus{State: "RUNNING"}) {
				t.Fatalf("JobState = %+v, %v; want RUNNING", st, err)
			}
			if diff := cmp.Diff(map[string]int{CallShowJob: 4}, c.Calls()); diff != "" {
				t.Errorf("Calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]int{CallShowJob: 3}, c.Retries()); diff != "" {
				t.Errorf("Retries (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNoRetryOnAnswer: Slurm's definitive answer is the caller's at once, with what Slurm said.
func TestNoRetryOnAnswer(t *testing.T) {
	c := fastRetries()
	c.Scontrol = busyThenAnswer(t, t.TempDir(), "scontrol", 9, "slurm_load_jobs error: Invalid job id specified", "")
	_, err := c.JobState(context.Background(), "12")
	if err == nil || !strings.HasSuffix(err.Error(), "show job --oneliner 12: exit status 1: slurm_load_jobs error: Invalid job id specified") {
		t.Errorf("JobState error = %v, want scontrol's refusal", err)
	}
	if diff := cmp.Diff(map[string]int{CallShowJob: 1}, c.Calls()); diff != "" {
		t.Errorf("Calls (-want +got):\n%s", diff)
	}
	if c.Retries() != nil {
		t.Errorf("Retries = %v, want none", c.Retries())
	}
}

// TestRetryBoundedByContext: a controller that never answers is asked until the caller's context
// ends, and the error is the last answer.
func TestRetryBoundedByContext(t *testing.T) {
	c := fastRetries()
	c.Sinfo = busyThenAnswer(t, t.TempDir(), "sinfo", 1000000, "sinfo: error: Unable to contact slurm controller (connect failure)", "")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.NodeStates(ctx, []string{"n1", "n2"})
	if err == nil || !strings.Contains(err.Error(), "connect failure") {
		t.Errorf("NodeStates error = %v, want the controller's silence", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("NodeStates took %s, past its context's 150ms", took)
	}
	if n := c.Calls()[CallSinfo]; n < 2 {
		t.Errorf("sinfo ran %d times, want retries (%v)", n, err)
	}
}

// TestRetryCutShort: when the caller's context ends while a retry is still waiting for the
// controller, the error is the answer of the attempt before it, and says the context ended.
func TestRetryCutShort(t *testing.T) {
	c := fastRetries()
	dir := t.TempDir()
	count := filepath.Join(dir, "sinfo.count")
	c.Sinfo = writeScript(t, dir, "sinfo", `n=$(cat `+count+` 2>/dev/null || echo 0); n=$((n+1)); echo $n > `+count+`
if [ $n -le 1 ]; then echo "sinfo: error: Unable to contact slurm controller (connect failure)" >&2; exit 1; fi
exec sleep 30`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// The second attempt has begun once the count file says 2.
		for ctx.Err() == nil {
			if b, _ := os.ReadFile(count); strings.TrimSpace(string(b)) == "2" {
				cancel()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	_, err := c.NodeStates(ctx, []string{"n1"})
	if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "connect failure") {
		t.Errorf("NodeStates error = %v, want the first attempt's answer and the context's end", err)
	}
}

// TestNoCommand: a missing command fails the call without running anything.
func TestNoCommand(t *testing.T) {
	c := &Client{}
	if _, err := c.KillWait(context.Background()); err == nil || !strings.Contains(err.Error(), "scontrol show config: command not installed") {
		t.Errorf("KillWait error = %v", err)
	}
	if err := c.CancelStep(context.Background(), "1", "2", 0); err == nil {
		t.Error("CancelStep without scancel: no error")
	}
	if c.Calls() != nil {
		t.Errorf("Calls = %v, want none", c.Calls())
	}
}

// TestJobStateShared: questions about the job asked while one is under way share its scontrol.
func TestJobStateShared(t *testing.T) {
	dir := t.TempDir()
	started, release := filepath.Join(dir, "started"), filepath.Join(dir, "release")
	c := &Client{Scontrol: writeScript(t, dir, "scontrol", `touch `+started+`; while [ ! -e `+release+` ]; do sleep 0.01; done
echo "JobId=12 JobState=COMPLETING Reason=None"`)}
	const askers = 5
	var wg sync.WaitGroup
	answers := make([]JobStatus, askers)
	errs := make([]error, askers)
	ask := func(i int) {
		defer wg.Done()
		answers[i], errs[i] = c.JobState(context.Background(), "12")
	}
	wg.Add(askers)
	go ask(0)
	waitFile(t, started, func(string) bool { return true })
	for i := 1; i < askers; i++ {
		go ask(i)
	}
	time.Sleep(100 * time.Millisecond) // the askers join the query under way
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i := range askers {
		if errs[i] != nil || answers[i].State != "COMPLETING" {
			t.Errorf("asker %d: %+v, %v", i, answers[i], errs[i])
		}
	}
	if n := c.Calls()[CallShowJob]; n != 1 {
		t.Errorf("scontrol show job ran %d times for %d concurrent askers, want 1", n, askers)
	}
	// Once answered, the next question asks again.
	if _, err := c.JobState(context.Background(), "12"); err != nil || c.Calls()[CallShowJob] != 2 {
		t.Errorf("a later question: %v, %d calls; want a second call", err, c.Calls()[CallShowJob])
	}
}

// recordingScancel is a stand-in scancel that appends its arguments, one run a line, to a file; it
// refuses the steps named in refuse as Slurm refuses a step that already ended.
func recordingScancel(t *testing.T, dir string, refuse ...string) (path, record string) {
	t.Helper()
	record = filepath.Join(dir, "calls")
	script := `echo "$*" >> ` + record + `
rc=0
for a; do case " ` + strings.Join(refuse, " ") + ` " in *" $a "*) echo "scancel: error: Kill job error on job step id $a: Job/step already completing or completed" >&2; rc=1;; esac; done
exit $rc`
	return writeScript(t, dir, "scancel", script), record
}

// TestCancelStepsBatched: step signals asked for together go in one scancel, each caller gets its
// own step's answer, and a different signal is a call of its own.
func TestCancelStepsBatched(t *testing.T) {
	dir := t.TempDir()
	scancel, record := recordingScancel(t, dir, "12.3")
	c := &Client{Scancel: scancel, BatchWindow: 100 * time.Millisecond}
	steps := []string{"1", "2", "3", "4", "5"}
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	for i, step := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.CancelStep(context.Background(), "12", step, syscall.SIGTERM)
		}()
	}
	wg.Wait()
	for i, step := range steps {
		if step == "3" {
			if want := "12.3: Job/step already completing or completed"; errs[i] == nil || !strings.HasSuffix(errs[i].Error(), want) {
				t.Errorf("step 3: %v, want scancel's refusal of it", errs[i])
			}
		} else if errs[i] != nil {
			t.Errorf("step %s: %v, want none (scancel refused only 12.3)", step, errs[i])
		}
	}
	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	calls := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(calls) != 1 {
		t.Fatalf("scancel ran %d times: %q; want once for the 5 steps", len(calls), calls)
	}
	args := strings.Fields(calls[0])
	slices.Sort(args[2:])
	if diff := cmp.Diff([]string{"--ctld", "--signal=TERM", "12.1", "12.2", "12.3", "12.4", "12.5"}, args); diff != "" {
		t.Errorf("scancel's arguments (-want +got):\n%s", diff)
	}
	if err := c.CancelStep(context.Background(), "12", "1", 0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{CallSignal: 1, CallScancel: 1}, c.Calls()); diff != "" {
		t.Errorf("Calls (-want +got):\n%s", diff)
	}
}

// TestCancelStepRetries: a step signal is sent again when the controller refused it for load, but not
// after a reply that was lost (the tasks would get it twice); a cancellation is sent again either way.
func TestCancelStepRetries(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signal syscall.Signal
		msg    string
		calls  map[string]int
		ok     bool
	}{
		{"signal after a rate limit", syscall.SIGTERM, "scancel: error: Kill job error on job step id 12.3: Rate limit exceeded, please retry momentarily",
			map[string]int{CallSignal: 4}, true},
		{"signal after a lost reply", syscall.SIGTERM, "scancel: error: Kill job error on job step id 12.3: Socket timed out on send/recv operation",
			map[string]int{CallSignal: 1}, false},
		{"cancel after a lost reply", 0, "scancel: error: Kill job error on job step id 12.3: Socket timed out on send/recv operation",
			map[string]int{CallScancel: 4}, true},
		{"refused", 0, "scancel: error: Kill job error on job step id 12.3: Invalid job id specified",
			map[string]int{CallScancel: 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fastRetries()
			c.Scancel = busyThenAnswer(t, t.TempDir(), "scancel", 3, tc.msg, "")
			err := c.CancelStep(context.Background(), "12", "3", tc.signal)
			if (err == nil) != tc.ok {
				t.Errorf("CancelStep = %v, want success %v", err, tc.ok)
			}
			if diff := cmp.Diff(tc.calls, c.Calls()); diff != "" {
				t.Errorf("Calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStepMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want map[string]string
	}{
		{"one step refused", "scancel: error: Kill job error on job step id 7.3: Job/step already completing or completed\n",
			map[string]string{"3": "scancel: error: Kill job error on job step id 7.3: Job/step already completing or completed"}},
		{"nothing said: all failed", "", map[string]string{"3": "", "30": ""}},
		{"a line for no step is everyone's", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n",
			map[string]string{"3": "slurm_load_jobs error: Unable to contact slurm controller (connect failure)",
				"30": "slurm_load_jobs error: Unable to contact slurm controller (connect failure)"}},
		// 7.30 does not name 7.3.
		{"whole ids only", "scancel: error: Kill job error on job id 7.30: Invalid job id specified",
			map[string]string{"30": "scancel: error: Kill job error on job id 7.30: Invalid job id specified"}},
	} {
		got := stepMessages("7", []string{"3", "30"}, tc.text, true)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	if got := stepMessages("7", []string{"3"}, "a warning", false); got != nil {
		t.Errorf("a successful scancel: %v, want no failure", got)
	}
}

// TestRefusedAsEnding: scancel's refusals of a step Slurm is ending or has ended, as it prints them,
// and not a failure to reach the controller or a refusal for another reason.
func TestRefusedAsEnding(t *testing.T) {
	for text, want := range map[string]bool{
		"scancel: error: Kill job error on job step id 12.3: Job/step already completing or completed": true,
		"scancel: error: Kill job error on job step id 12.3: Invalid job id specified":                 true,
		"scancel: error: Kill job error on job step id 12.3: Access/permission denied":                 false,
		"scancel: error: Socket timed out on send/recv operation":                                      false,
	} {
		if got := RefusedAsEnding(text); got != want {
			t.Errorf("RefusedAsEnding(%q) = %v, want %v", text, got, want)
		}
	}
}
