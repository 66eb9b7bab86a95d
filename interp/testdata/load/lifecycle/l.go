package lifecycle

import (
	"context"
	"errors"

	"github.com/wamphost/wamphost/wamp"
)

var joined string

func OnJoin(ctx context.Context, s wamp.Session) error {
	if s == nil {
		return errors.New("no session")
	}
	joined = "yes"
	return nil
}

func OnLeave(ctx context.Context, s wamp.Session) {
	panic("leaving")
}

func Joined() string { return joined }
