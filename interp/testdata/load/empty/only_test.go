package empty

func Test() {}
