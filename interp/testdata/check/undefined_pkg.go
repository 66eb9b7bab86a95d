package checks

func F(ctx context.Context, x int) int { return x }
