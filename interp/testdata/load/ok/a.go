// Package ok is a well-formed component split over two files.
package ok

import "strings"

// Add2 is the guide's first procedure.
func Add2(x, y int) int { return x + y }

// Shout uses a helper from the other file.
func Shout(s string) string { return strings.ToUpper(s) + bang() }
