// Package work is the "real work" handler of workload 5. The same file is
// compiled into the baseline and interpreted by wamphost, so the two sides
// run identical source.
package work

import (
	"encoding/json"
	"sort"
	"strings"
)

// Transform takes an order document (a dict, about 10 KB as the benchmark
// sends it) and returns a summary: the lines priced and sorted by total,
// names normalised, lines without quantity dropped, and totals per category.
// The walk happens in script code, so this is the interpreter's worst case.
func Transform(doc map[string]any) map[string]any {
	items, _ := doc["items"].([]any)
	lines := make([]map[string]any, 0, len(items))
	byCat := map[string]float64{}
	total := 0.0
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		qty := num(m["qty"])
		if qty <= 0 {
			continue
		}
		price := num(m["price"])
		sum := qty * price
		cat, _ := m["category"].(string)
		name, _ := m["name"].(string)
		tags, _ := m["tags"].([]any)
		ts := make([]string, 0, len(tags))
		for _, t := range tags {
			if s, ok := t.(string); ok {
				ts = append(ts, strings.ToLower(s))
			}
		}
		byCat[cat] += sum
		total += sum
		lines = append(lines, map[string]any{
			"sku":   strings.ToUpper(str(m["sku"])),
			"name":  strings.TrimSpace(name),
			"total": sum,
			"tags":  strings.Join(ts, ","),
		})
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i]["total"].(float64) > lines[j]["total"].(float64) })
	out := make([]any, len(lines))
	for i, l := range lines {
		out[i] = l
	}
	cats := map[string]any{}
	for k, v := range byCat {
		cats[k] = v
	}
	return map[string]any{"id": doc["id"], "customer": doc["customer"], "lines": out, "categories": cats, "total": total}
}

// TransformJSON does the same on a JSON text, leaving decoding and
// encoding to encoding/json: in a script those calls run as compiled code.
func TransformJSON(doc string) (string, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		return "", err
	}
	b, err := json.Marshal(Transform(m))
	return string(b), err
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case int:
		return float64(x)
	}
	return 0
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
