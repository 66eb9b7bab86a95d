package initpanic

func boom() int {
	panic("config missing")
}

var x = boom()

func F() int { return x }
