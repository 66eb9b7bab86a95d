// Package values returns values of script-defined types, for the tests of
// what crosses the interpreter boundary.
package values

import "time"

type Base struct {
	ID      int       `json:"id"`
	Created time.Time `json:"created"`
}

type Inner struct {
	Deep string `json:"deep"`
}

type Item struct {
	Base
	Name   string `json:"name"`
	Title  string `json:"title_text"`
	Note   string `json:"note,omitempty"`
	Secret string `json:"-"`
	label  string
	Xray   int
	Count  uint8
	Ratio  float32          `json:"ratio"`
	Tags   []string         `json:"tags"`
	Attrs  map[string]int   `json:"attrs"`
	Inner  *Inner           `json:"inner,omitempty"`
	Data   []byte           `json:"data"`
	Wait   time.Duration    `json:"wait"`
	Any    any              `json:"any"`
	Nested map[string]Inner `json:"nested"`
}

type OnlyEmbed struct {
	Inner
}

type Celsius float64

type Names []string

func MakeItem() Item {
	return Item{
		Base:   Base{ID: 7, Created: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		Name:   "widget",
		Title:  "The Widget",
		Secret: "hidden",
		label:  "private",
		Xray:   9,
		Count:  3,
		Ratio:  0.5,
		Tags:   []string{"a", "b"},
		Attrs:  map[string]int{"x": 1},
		Inner:  &Inner{Deep: "down"},
		Data:   []byte{1, 2, 3},
		Wait:   1500 * time.Millisecond,
		Any:    []any{1, "two"},
		Nested: map[string]Inner{"k": {Deep: "v"}},
	}
}

func MakeItemPtr() *Item { it := MakeItem(); return &it }

func NilItem() *Item { return nil }

func Embedded() OnlyEmbed { return OnlyEmbed{Inner{Deep: "e"}} }

func Temp() Celsius { return 21.5 }

func List() Names { return Names{"x", "y"} }

// Echo takes a script struct from keyword arguments and sends it back.
func Echo(it Item) Item { return it }

// Describe shows what arrived in each field.
func Describe(it *Item) string {
	in := ""
	if it.Inner != nil {
		in = it.Inner.Deep
	}
	return it.Name + "|" + it.Title + "|" + it.Secret + "|" + it.Created.Format(time.RFC3339) + "|" + it.Wait.String() + "|" + in
}
