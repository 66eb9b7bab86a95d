package single

func Other() int { return undefinedHere }
