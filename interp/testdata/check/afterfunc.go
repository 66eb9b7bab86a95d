package checks

import "time"

func F() { time.AfterFunc(time.Second, func() { panic("x") }) }
