package slurm

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzHostlist checks that no input panics and that compression is exact:
// an expanded list survives CompressHostlist and ExpandHostlist unchanged,
// and so does any list of names a hostlist can carry.
func FuzzHostlist(f *testing.F) {
	for _, seed := range []string{
		"node[1-3,5,07-09]",
		"a[1-2]b[3-4],c",
		"x[1-2]y[3-4]z[5-6]w[7-8]",
		"n9,n10,n010,n[098-101]",
		"rack1-node1-ib rack1-node2-ib",
		"node[1-",
		"a,,b",
		"[0-3]",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		hosts, err := ExpandHostlist(expr)
		// CountHostlist agrees with the expansion, errors included.
		if n, cerr := CountHostlist(expr); (cerr == nil) != (err == nil) || err == nil && n != len(hosts) {
			t.Fatalf("CountHostlist(%q) = %d, %v; ExpandHostlist gives %d names, %v", expr, n, cerr, len(hosts), err)
		}
		// Huge lists add nothing but time per input; TestHostlistRoundTripLarge
		// covers their size.
		if err == nil && len(hosts) <= 1<<14 {
			roundTrip(t, hosts)
		}
		// Read the input as a plain list of names too, which reaches
		// orders and paddings that expansion never produces.
		roundTrip(t, strings.FieldsFunc(expr, func(r rune) bool {
			return strings.ContainsRune("[], \t\n\r", r)
		}))
	})
}

func roundTrip(t *testing.T, hosts []string) {
	t.Helper()
	compressed := CompressHostlist(hosts)
	back, err := ExpandHostlist(compressed)
	if err != nil {
		t.Fatalf("ExpandHostlist(CompressHostlist(%q) = %q): %v", hosts, compressed, err)
	}
	if slices.Equal(hosts, back) {
		return
	}
	if diff := cmp.Diff(hosts, back, cmpEmptyIsNil); diff != "" {
		t.Fatalf("round trip of %q through %q mismatch (-want +got):\n%s", hosts, compressed, diff)
	}
}
