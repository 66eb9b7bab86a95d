package main

import "encoding/json"

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func jsonSize(v any) int { return len(jsonText(v)) }
