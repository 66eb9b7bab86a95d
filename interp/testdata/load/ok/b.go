package ok

func bang() string { return "!" }

// OnCounter is an event handler.
func OnCounter(i int) {}
