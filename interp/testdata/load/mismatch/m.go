package mismatch

func F() string {
	var n int = 2
	var s string = n
	return s
}
