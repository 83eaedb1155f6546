package slurm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The expected names below were checked against scontrol 22.05.8.
func TestExpandHostlist(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{"", nil},
		{"  ", nil},
		{"node1", []string{"node1"}},
		{"login", []string{"login"}},
		{"node[1-3]", []string{"node1", "node2", "node3"}},
		{"node[1-3,5,07-09]", []string{"node1", "node2", "node3", "node5", "node07", "node08", "node09"}},
		{"node[001-003]", []string{"node001", "node002", "node003"}},
		{"n[1-010]", []string{"n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9", "n10"}},
		{"n[08-11]", []string{"n08", "n09", "n10", "n11"}},
		{"n[3,1,2]", []string{"n3", "n1", "n2"}},
		{"[1-3]", []string{"1", "2", "3"}},
		{"a1,b[1-2],c", []string{"a1", "b1", "b2", "c"}},
		{"a,a,a", []string{"a", "a", "a"}},
		{"a b,c\td", []string{"a", "b", "c", "d"}},
		{" a , b ", []string{"a", "b"}},
		{"rack1-node[1-2]", []string{"rack1-node1", "rack1-node2"}},
		{"a[1-2]b[3-4]", []string{"a1b3", "a1b4", "a2b3", "a2b4"}},
		{"a[1-2][3-4]", []string{"a13", "a14", "a23", "a24"}},
		{"n[1-3]x[1-2]y[7,9]", []string{
			"n1x1y7", "n1x1y9", "n2x1y7", "n2x1y9", "n3x1y7", "n3x1y9",
			"n1x2y7", "n1x2y9", "n2x2y7", "n2x2y9", "n3x2y7", "n3x2y9",
		}},
		{"x[1-2]y[3-4]z[5-6]w[7-8]", []string{
			"x1y3z5w7", "x1y3z5w8", "x2y3z5w7", "x2y3z5w8",
			"x1y4z5w7", "x1y4z5w8", "x2y4z5w7", "x2y4z5w8",
			"x1y3z6w7", "x1y3z6w8", "x2y3z6w7", "x2y3z6w8",
			"x1y4z6w7", "x1y4z6w8", "x2y4z6w7", "x2y4z6w8",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := ExpandHostlist(tt.expr)
			if err != nil {
				t.Fatalf("ExpandHostlist(%q): %v", tt.expr, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpEmptyIsNil); diff != "" {
				t.Errorf("ExpandHostlist(%q) mismatch (-want +got):\n%s", tt.expr, diff)
			}
		})
	}
}

// cmpEmptyIsNil lets a table say nil for an empty result.
var cmpEmptyIsNil = cmp.FilterValues(func(a, b []string) bool {
	return len(a) == 0 && len(b) == 0
}, cmp.Ignore())

func TestExpandHostlistErrors(t *testing.T) {
	tests := []struct {
		expr, want string
	}{
		// Rejected by Slurm too.
		{"rack1-node[1-2]-ib", `hostlist "rack1-node[1-2]-ib": text "-ib" after the last "]": Slurm allows brackets only at the end of a name`},
		{"a[1-2]b", `text "b" after the last "]"`},
		{"node[5-3]", `hostlist "node[5-3]": range "5-3": end is before start`},
		{"x[a]", `range "a": "a" is not a number`},
		{"x[1-b]", `range "1-b": "b" is not a number`},
		{"n[]", `hostlist "n[]": empty "[]"`},
		{"n[1,]", `empty range in brackets`},
		{"n[-3]", `range "-3": missing number`},
		{"n[1-2-3]", `range "1-2-3": "2-3" is not a number`},
		{"a[[1]]", `nested "[" at offset 2`},
		{"a[1-2]]", `"]" without "[" at offset 6`},
		{"n[1234567890123456789]", `has more than 18 digits`},
		{"n[0-1048576]", `expands to more than 1048576 hosts`},
		{"a[0-1023]b[0-1024]", `expands to more than 1048576 hosts`},
		{"a[0-1048575],b", `expands to more than 1048576 hosts`},
		// Mended by Slurm, rejected here.
		{"node[1-", `hostlist "node[1-": unclosed "["`},
		{"a]b", `"]" without "[" at offset 1`},
		{"a,,b", `empty element at offset 2`},
		{",a", `empty element at offset 0`},
		{"a,", `empty element at the end`},
		{"a, ,b", `empty element at offset 3`},
		{"n[1-]", `range "1-": missing number`},
		{"n[ 1-2]", `range " 1-2": " 1" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := ExpandHostlist(tt.expr)
			if err == nil {
				t.Fatalf("ExpandHostlist(%q) = %q, want an error", tt.expr, got)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ExpandHostlist(%q) error = %q, want it to contain %q", tt.expr, err, tt.want)
			}
			var he *HostlistError
			if !errors.As(err, &he) || he.Expr != tt.expr {
				t.Errorf("ExpandHostlist(%q) error %#v is not a HostlistError naming the expression", tt.expr, err)
			}
		})
	}
}

func TestCompressHostlist(t *testing.T) {
	tests := []struct {
		name  string
		hosts []string
		want  string
	}{
		{"empty", nil, ""},
		{"one", []string{"node1"}, "node1"},
		{"no number", []string{"login", "login"}, "login,login"},
		{"run", []string{"node1", "node2", "node3"}, "node[1-3]"},
		{"runs and singles", []string{"node1", "node2", "node3", "node5", "node07", "node08"}, "node[1-3,5,07-08]"},
		{"padding kept", []string{"n008", "n009", "n010"}, "n[008-010]"},
		{"growing width", []string{"n9", "n10", "n11"}, "n[9-11]"},
		{"padded then not", []string{"n09", "n10", "n9", "n10"}, "n[09-10,9-10]"},
		{"padding differs", []string{"n1", "n01", "n2"}, "n[1,01,2]"},
		{"order kept", []string{"n3", "n1", "n2"}, "n[3,1-2]"},
		{"duplicates kept", []string{"n1", "n1", "n2"}, "n[1,1-2]"},
		{"only adjacent merge", []string{"a1", "b1", "a2"}, "a1,b1,a2"},
		{"prefix with digits", []string{"rack1-node1", "rack1-node2"}, "rack1-node[1-2]"},
		{"suffix stays literal", []string{"rack1-node1-ib", "rack1-node2-ib"}, "rack1-node1-ib,rack1-node2-ib"},
		{"digits only", []string{"1", "2", "3"}, "[1-3]"},
		{"zero", []string{"n0", "n1"}, "n[0-1]"},
		{"mixed", []string{"a1", "b1", "b2", "c"}, "a1,b[1-2],c"},
		{"huge number literal", []string{"n1234567890123456789", "n1234567890123456790"}, "n1234567890123456789,n1234567890123456790"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CompressHostlist(tt.hosts)
			if got != tt.want {
				t.Errorf("CompressHostlist(%q) = %q, want %q", tt.hosts, got, tt.want)
			}
			back, err := ExpandHostlist(got)
			if err != nil {
				t.Fatalf("ExpandHostlist(%q): %v", got, err)
			}
			if diff := cmp.Diff(tt.hosts, back, cmpEmptyIsNil); diff != "" {
				t.Errorf("round trip through %q mismatch (-want +got):\n%s", got, diff)
			}
		})
	}
}

func TestHostlistRoundTripLarge(t *testing.T) {
	const expr = "node[000001-100000]"
	hosts, err := ExpandHostlist(expr)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 100000 || hosts[0] != "node000001" || hosts[99999] != "node100000" {
		t.Fatalf("ExpandHostlist(%q) gave %d hosts from %q to %q", expr, len(hosts), hosts[0], hosts[len(hosts)-1])
	}
	if got := CompressHostlist(hosts); got != expr {
		t.Errorf("CompressHostlist = %q, want %q", got, expr)
	}
}

// TestHostlistMatchesScontrol compares ExpandHostlist with the reference,
// `scontrol show hostnames`, over testdata/hostlists.txt.
func TestHostlistMatchesScontrol(t *testing.T) {
	exprs := readHostlistCorpus(t)
	if len(exprs) < 30 {
		t.Fatalf("testdata/hostlists.txt has %d expressions, want at least 30", len(exprs))
	}
	require := os.Getenv("DISAGG_REQUIRE_SLURM") == "1"
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if require {
			t.Fatalf("%s (DISAGG_REQUIRE_SLURM=1)", msg)
		}
		t.Skipf("%s; set DISAGG_REQUIRE_SLURM=1 to make this a failure", msg)
	}
	scontrol, err := exec.LookPath("scontrol")
	if err != nil {
		unavailable("scontrol is not on PATH, so hostlists are not compared with Slurm")
	}
	env, err := scontrolEnv(t, scontrol)
	if err != nil {
		unavailable("scontrol cannot expand a hostlist here: %v", err)
	}
	for _, expr := range exprs {
		t.Run(expr, func(t *testing.T) {
			want, rejected, err := scontrolHostnames(scontrol, env, expr)
			if err != nil {
				t.Fatal(err)
			}
			got, gotErr := ExpandHostlist(expr)
			switch {
			case rejected && gotErr == nil:
				t.Errorf("scontrol rejects %q but ExpandHostlist gives %q", expr, got)
			case !rejected && gotErr != nil:
				t.Errorf("scontrol expands %q to %q but ExpandHostlist fails: %v", expr, want, gotErr)
			case !rejected:
				if diff := cmp.Diff(want, got, cmpEmptyIsNil); diff != "" {
					t.Errorf("ExpandHostlist(%q) differs from scontrol (-scontrol +got):\n%s", expr, diff)
				}
				// The compressed form goes to srun -w, so Slurm must read
				// it back as the same list.
				compressed := CompressHostlist(got)
				back, rejected, err := scontrolHostnames(scontrol, env, compressed)
				if err != nil || rejected {
					t.Fatalf("scontrol cannot read CompressHostlist(%q) = %q (err %v)", got, compressed, err)
				}
				if diff := cmp.Diff(got, back, cmpEmptyIsNil); diff != "" {
					t.Errorf("scontrol reads CompressHostlist(%q) = %q differently (-want +scontrol):\n%s", got, compressed, diff)
				}
			}
		})
	}
}

func readHostlistCorpus(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "hostlists.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		exprs = append(exprs, line)
	}
	return exprs
}

// scontrolEnv returns the environment in which scontrol can expand
// hostlists. `scontrol show hostnames` needs no controller but does load a
// configuration, so where none is found a minimal one is written.
func scontrolEnv(t *testing.T, scontrol string) ([]string, error) {
	t.Helper()
	env := os.Environ()
	_, _, err := scontrolHostnames(scontrol, env, "probe[1-2]")
	if err == nil {
		return env, nil
	}
	if os.Getenv("SLURM_CONF") != "" {
		return nil, err
	}
	conf := filepath.Join(t.TempDir(), "slurm.conf")
	const minimal = "ClusterName=hostlisttest\nSlurmctldHost=localhost\n" +
		"NodeName=localhost CPUs=1 State=UNKNOWN\nPartitionName=debug Nodes=localhost Default=YES State=UP\n"
	if werr := os.WriteFile(conf, []byte(minimal), 0o644); werr != nil {
		return nil, werr
	}
	env = append(env, "SLURM_CONF="+conf)
	if _, _, err2 := scontrolHostnames(scontrol, env, "probe[1-2]"); err2 != nil {
		return nil, fmt.Errorf("%w; with a minimal SLURM_CONF: %w", err, err2)
	}
	return env, nil
}

// scontrolHostnames runs `scontrol show hostnames expr`. rejected reports
// that scontrol found the expression invalid, which it prints to stderr,
// sometimes with exit status 0; err reports that scontrol could not run.
func scontrolHostnames(scontrol string, env []string, expr string) (hosts []string, rejected bool, err error) {
	cmd := exec.Command(scontrol, "show", "hostnames", expr)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if strings.Contains(stderr.String(), "Invalid hostlist") {
		return nil, true, nil
	}
	if runErr != nil {
		return nil, false, fmt.Errorf("scontrol show hostnames %q: %w: %s", expr, runErr, strings.TrimSpace(stderr.String()))
	}
	return strings.Fields(stdout.String()), false, nil
}

func BenchmarkExpandHostlist(b *testing.B) {
	for b.Loop() {
		if _, err := ExpandHostlist("node[000001-100000]"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompressHostlist(b *testing.B) {
	hosts, err := ExpandHostlist("node[000001-100000]")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		CompressHostlist(hosts)
	}
}
