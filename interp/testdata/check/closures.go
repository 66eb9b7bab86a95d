package check

func Captures() (out []func() int) {
	for i := 0; i < 3; i++ {
		out = append(out, func() int { return i })
	}
	for _, v := range []int{1, 2} {
		out = append(out, func() int { return v * v })
	}
	return out
}

func Copies() (out []func() int) {
	for i := 0; i < 3; i++ {
		i := i
		out = append(out, func() int { return i })
	}
	for _, v := range []int{1, 2} {
		w := v
		out = append(out, func() int { return w })
	}
	return out
}
