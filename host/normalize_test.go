package host

import (
	"reflect"
	"testing"

	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

// TestNormalize: a script's payload leaves as plain WAMP values in a copy
// of its own, both on the scalar fast path and through ToWAMP.
func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []any
		want nxwamp.List
	}{
		{"scalars", []any{int64(1), "two", 3.5, true, nil, uint64(4)}, nxwamp.List{int64(1), "two", 3.5, true, nil, uint64(4)}},
		{"int widened", []any{1, int32(2)}, nxwamp.List{int64(1), int64(2)}},
		{"bytes marked binary", []any{"x", []byte{1, 2}}, nxwamp.List{"x", serialize.BinaryData{1, 2}}},
		{"nested", []any{[]any{int64(1)}, map[string]any{"k": 2}}, nxwamp.List{[]any{int64(1)}, map[string]any{"k": int64(2)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]any(nil), tc.in...)
			got, _, err := normalize(in, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("normalize(%#v) = %#v; want %#v", tc.in, got, tc.want)
			}
			// The script may change its slice once Publish returns.
			in[0] = "changed"
			if reflect.DeepEqual(got[0], "changed") {
				t.Fatal("normalize returned the script's own slice")
			}
		})
	}
}
