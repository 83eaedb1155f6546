package valid

import (
	"testing"
	"time"
)

func TestBool(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
		err  string
	}{
		{"1", true, ""}, {"0", false, ""}, {"true", true, ""}, {"FALSE", false, ""}, {"Yes", true, ""},
		{"no", false, ""}, {"on", true, ""}, {" off ", false, ""},
		{"", false, `want 1/0, true/false, yes/no or on/off, got ""`},
		{"maybe", false, `want 1/0, true/false, yes/no or on/off, got "maybe"`},
		{"2", false, `want 1/0, true/false, yes/no or on/off, got "2"`},
	} {
		got, err := Bool(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Bool(%q) error = %v, want %s", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Bool(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestDurationAndCount(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{Duration(time.Second, ""), ""},
		{Duration(0, ""), "want a positive duration, got 0s"},
		{Duration(-time.Second, ""), "want a positive duration, got -1s"},
		{Duration(0, "off"), ""},
		{Duration(-time.Second, "off"), "want a positive duration or 0 (off), got -1s"},
		{Count(1, ""), ""},
		{Count(0, ""), "want a positive integer, got 0"},
		{Count(0, "none"), ""},
		{Count(-5, "none"), "want a non-negative integer, got -5"},
	} {
		got := ""
		if tt.err != nil {
			got = tt.err.Error()
		}
		if got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
