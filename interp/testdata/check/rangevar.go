package check

func Five() (sum int) {
	n := 5
	for i := range n {
		sum += i
	}
	return sum
}

func Param(count int) (sum int) {
	for i := range count {
		sum += i
	}
	return sum
}

func Declared() (sum int) {
	var k int64 = 4
	for i := range k {
		sum += int(i)
	}
	return sum
}
