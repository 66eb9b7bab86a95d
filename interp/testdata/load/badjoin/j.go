package badjoin

import "github.com/wamphost/wamphost/wamp"

func OnJoin(s wamp.Session) error { return nil }
