package check

func Ten() (n int) {
	for i := range 10 {
		n += i
	}
	for range 3 {
		n++
	}
	return n
}
