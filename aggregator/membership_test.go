package aggregator

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/edgepulse/edgepulse/ring"
)

func validAssignment(t testing.TB) []byte {
	t.Helper()
	members := []string{"agg-0", "agg-1", "agg-2"}
	r, err := ring.Rebalance(ring.Options{Partitions: 64}, nil,
		[]ring.Member{{ID: "agg-0"}, {ID: "agg-1"}, {ID: "agg-2"}})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(assignment{Epoch: 1, Partitions: 64, Members: members, Owners: r.Assignment(), By: "agg-0"})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestParseAssignment checks that a stored assignment is used only when it
// matches the partition count and every owner is one of its members.
func TestParseAssignment(t *testing.T) {
	good := validAssignment(t)
	edit := func(f func(*assignment)) []byte {
		var as assignment
		if err := json.Unmarshal(good, &as); err != nil {
			t.Fatal(err)
		}
		f(&as)
		data, _ := json.Marshal(as)
		return data
	}
	for _, tc := range []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"valid", good, ""},
		{"not json", []byte("{"), "assignment: unexpected end"},
		{"other partition count", edit(func(as *assignment) { as.Partitions = 32; as.Owners = as.Owners[:32] }), "32 partitions, configured 64"},
		{"owners short", edit(func(as *assignment) { as.Owners = as.Owners[:63] }), "partition counts differ"},
		{"owner not a member", edit(func(as *assignment) { as.Owners[7] = "agg-9" }), `partition 7 owned by "agg-9"`},
		{"members unsorted", edit(func(as *assignment) { as.Members[0], as.Members[1] = as.Members[1], as.Members[0] }), "not sorted"},
		{"duplicate member", edit(func(as *assignment) { as.Members[1] = "agg-0" }), "duplicate"},
		{"empty member", edit(func(as *assignment) { as.Members = append([]string{""}, as.Members...) }), "empty ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as, err := parseAssignment(tc.data, 64)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := as.ring.Partitions("agg-1"); len(got) < 21 || len(got) > 22 {
					t.Fatalf("agg-1 assigned %v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// FuzzParseAssignment: any stored value is rejected with an error or gives
// an assignment whose owners are all members.
func FuzzParseAssignment(f *testing.F) {
	f.Add(validAssignment(f))
	f.Add([]byte(`{"partitions":64,"members":["a"],"owners":[]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		as, err := parseAssignment(data, 64)
		if err != nil {
			return
		}
		for p, o := range as.ring.Assignment() {
			if o != "" && !slices.Contains(as.Members, o) {
				t.Fatalf("partition %d owned by non-member %q", p, o)
			}
		}
	})
}
