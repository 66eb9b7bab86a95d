package check

// Fine under Go 1.21: ranges over slices, maps, strings and channels,
// including through variables, and a variable named like a builtin.
func Fine(xs []int, m map[string]int) (n int) {
	ys := xs
	for i := range ys {
		n += i
	}
	for k := range m {
		n += len(k)
	}
	for _, r := range "héllo" {
		n += int(r)
	}
	ch := make(chan int, 1)
	ch <- 1
	close(ch)
	for v := range ch {
		n += v
	}
	max := func(a, b int) int {
		if a > b {
			return a
		}
		return b
	}
	return max(n, 0)
}
