package check

func Indexes(xs []string) (out []int) {
	for i := range len(xs) {
		out = append(out, i)
	}
	return out
}
