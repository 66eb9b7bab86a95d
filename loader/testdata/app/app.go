// Package app is a stand-in component source for the loader's tests; the
// loader only checks that a source exists.
package app

func Add2(x, y int) int { return x + y }
