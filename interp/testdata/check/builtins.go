package check

func Builtins(a, b int, m map[string]int) int {
	lo := min(a, b)
	hi := max(a, b, 3)
	clear(m)
	return hi - lo
}
