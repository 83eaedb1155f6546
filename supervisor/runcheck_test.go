package supervisor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// scripted is a check that gives the answers in order, the last one again once they run out, and
// notes the time of each attempt from start.
func scripted(start time.Time, at *[]time.Duration, answers ...error) check {
	return func(context.Context) error {
		*at = append(*at, time.Since(start))
		err := answers[0]
		if len(answers) > 1 {
			answers = answers[1:]
		}
		return err
	}
}

// TestRunCheckUntilPass: a readiness probe's policy tries at once and then every period, until a
// pass, or until its timeout with the last answer.
func TestRunCheckUntilPass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := errors.New("connection refused")
		var at []time.Duration
		c := scripted(time.Now(), &at, refused, refused, nil)
		if err := runCheck(t.Context(), realClock{}, c, policy{period: time.Second, timeout: time.Minute}); err != nil {
			t.Fatalf("a check that passes on its third attempt: %v", err)
		}
		if want := []time.Duration{0, time.Second, 2 * time.Second}; fmt.Sprint(at) != fmt.Sprint(want) {
			t.Errorf("attempts at %v, want %v", at, want)
		}

		at = nil
		err := runCheck(t.Context(), realClock{}, scripted(time.Now(), &at, refused), policy{period: time.Second, timeout: 2500 * time.Millisecond})
		if f := (*checkFailed)(nil); !errors.As(err, &f) || f.last != refused {
			t.Fatalf("a check that never passes: %v, want its last answer at the timeout", err)
		}
		if len(at) != 3 {
			t.Errorf("attempts at %v, want 3 within the timeout", at)
		}
	})
}

// TestRunCheckEveryPeriod: a liveness check's policy tries every period from the start; not armed,
// it counts failures from its first sick answer; a pass resets the count, and failures in a row end
// it with the last answers, each failure short of that told as missed.
func TestRunCheckEveryPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused, sick, down := errors.New("refused"), sickAnswer("status 503"), errors.New("down")
		var at []time.Duration
		var missed []string
		c := scripted(time.Now(), &at, refused, refused, sick, nil, down, down, down)
		p := policy{period: time.Second, failures: 3, attempt: time.Second / 2,
			missed: func(err error, failed int) { missed = append(missed, fmt.Sprintf("%d %v", failed, err)) }}
		err := runCheck(t.Context(), realClock{}, c, p)
		f := (*checkFailed)(nil)
		if !errors.As(err, &f) || len(f.answers) != 3 || !strings.HasSuffix(f.answers[2], " down") {
			t.Fatalf("a check failing 3 times in a row: %v, want its 3 last answers", err)
		}
		if want := "[1 status 503 1 down 2 down]"; fmt.Sprint(missed) != want {
			t.Errorf("missed %v, want %s", missed, want)
		}
		if len(at) != 7 || at[0] != time.Second || at[6] != 7*time.Second {
			t.Errorf("attempts at %v, want one a second from 1s to 7s", at)
		}

		ctx, cancel := context.WithCancel(t.Context())
		at = nil
		go func() {
			time.Sleep(2500 * time.Millisecond)
			cancel()
		}()
		if err := runCheck(ctx, realClock{}, scripted(time.Now(), &at, down), p); !errors.Is(err, context.Canceled) || len(at) != 2 {
			t.Errorf("a check stopped after 2 attempts: %v after %d, want context.Canceled after 2", err, len(at))
		}
	})
}
