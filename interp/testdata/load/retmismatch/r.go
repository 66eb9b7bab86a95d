package retmismatch

func F() int {
	var f float64 = 1
	return f
}
