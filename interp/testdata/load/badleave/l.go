package badleave

import (
	"context"

	"github.com/wamphost/wamphost/wamp"
)

func OnLeave(ctx context.Context, s wamp.Session) int { return 0 }
