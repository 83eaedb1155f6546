package mode

import "testing"

func TestParseAndOn(t *testing.T) {
	tests := []struct {
		in               string
		wantErr          bool
		onAuto, onNoAuto bool
	}{
		{in: "auto", onAuto: true},
		{in: "always", onAuto: true, onNoAuto: true},
		{in: "never"},
		{in: "", wantErr: true},
		{in: "yes", wantErr: true},
		{in: "Auto", wantErr: true},
	}
	for _, tt := range tests {
		m, err := Parse(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("Parse(%q) error %v, want error %v", tt.in, err, tt.wantErr)
		}
		if err != nil {
			continue
		}
		if m.String() != tt.in {
			t.Errorf("Parse(%q).String() = %q", tt.in, m)
		}
		if got := m.On(true); got != tt.onAuto {
			t.Errorf("%s.On(true) = %v, want %v", m, got, tt.onAuto)
		}
		if got := m.On(false); got != tt.onNoAuto {
			t.Errorf("%s.On(false) = %v, want %v", m, got, tt.onNoAuto)
		}
	}
	var zero Mode
	if zero.String() != "auto" || !zero.On(true) || zero.On(false) {
		t.Errorf("the zero Mode does not act as auto")
	}
	if err := zero.UnmarshalText([]byte("sometimes")); err == nil {
		t.Errorf("UnmarshalText accepted sometimes")
	}
}
