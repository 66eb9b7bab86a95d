// Package vals carries every kind of value across the boundary between
// WAMP and interpreted code, in calls and in events, both directions.
package vals

import (
	"context"
	"sync"
	"time"

	"github.com/wamphost/wamphost/wamp"
)

var session wamp.Session

func OnJoin(ctx context.Context, s wamp.Session) error {
	session = s
	return nil
}

type Inner struct {
	Name string    `json:"name"`
	When time.Time `json:"when"`
	Ptr  *int      `json:"ptr"`
	Tags []string  `json:"tags,omitempty"`
}

// All has a field of every kind a handler may meet.
type All struct {
	Nil    any                `json:"nil"`
	B      bool               `json:"b"`
	I      int                `json:"i"`
	I8     int8               `json:"i8"`
	I16    int16              `json:"i16"`
	I32    int32              `json:"i32"`
	I64    int64              `json:"i64"`
	U      uint               `json:"u"`
	U8     uint8              `json:"u8"`
	U16    uint16             `json:"u16"`
	U32    uint32             `json:"u32"`
	U64    uint64             `json:"u64"`
	F32    float32            `json:"f32"`
	F64    float64            `json:"f64"`
	S      string             `json:"s"`
	Bytes  []byte             `json:"bytes"`
	List   []int              `json:"list"`
	Map    map[string]float64 `json:"map"`
	Inner  Inner              `json:"inner"`
	PInner *Inner             `json:"pinner"`
	PNil   *Inner             `json:"pnil"`
	T      time.Time          `json:"t"`
	hidden string
}

// Roundtrip returns its argument: inbound conversion, then outbound.
func Roundtrip(v All) All {
	v.hidden = "never sent"
	return v
}

// Positional takes and returns one value of each kind as positional
// arguments and results.
func Positional(n any, b bool, i8 int8, i16 int16, i32 int32, i64 int64, u8 uint8, u16 uint16, u32 uint32, u64 uint64, f32 float32, f64 float64, s string, bs []byte, t time.Time, p *int, xs []string, m map[string]int) (any, bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64, string, []byte, time.Time, *int, []string, map[string]int) {
	return n, b, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, s, bs, t, p, xs, m
}

var (
	mu   sync.Mutex
	last []All
)

// OnValues receives an event whose one argument is an All.
func OnValues(v All) {
	mu.Lock()
	defer mu.Unlock()
	last = append(last, v)
}

// Received returns the All values received as events, as the script typed them.
func Received() []All {
	mu.Lock()
	defer mu.Unlock()
	out := last
	last = nil
	if out == nil {
		out = []All{}
	}
	return out
}

// Emit publishes v back, as an event argument, next to typed scalars.
func Emit(ctx context.Context, v All) error {
	seven := 7
	var nilPtr *int
	return session.PublishWith(ctx, "com.vals.out", []any{v, int8(-8), uint64(18446744073709551615), float32(1.5), []byte{0, 1, 255}, v.T, nilPtr, &seven, nil},
		map[string]any{"all": v, "when": v.T}, wamp.PublishOptions{Acknowledge: true})
}
