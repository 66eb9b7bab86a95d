// This file would break the load if it were read (another package, an
// undefined name): _test.go files are skipped.
package ok_test

func Broken() int { return undefinedInTest }
