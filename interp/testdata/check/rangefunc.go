package check

func seq(yield func(int) bool) {
	for i := 0; i < 3; i++ {
		if !yield(i) {
			return
		}
	}
}

func Lit() (sum int) {
	for x := range func(yield func(int) bool) { yield(1) } {
		sum += x
	}
	return sum
}

func Pkg() (sum int) {
	for x := range seq {
		sum += x
	}
	return sum
}
