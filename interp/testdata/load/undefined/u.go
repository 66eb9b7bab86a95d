package undefined

func F() int {
	return 1
}

func G() int {
	return notDeclared + 1
}
