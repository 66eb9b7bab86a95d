// Package add2 is the Autobahn guide's first procedure as a wamphost
// component:
//
//	def add2(x, y):
//	    return x + y
//
//	self.register(add2, 'com.myapp.add2')
//
// components.hcl binds Add2 to com.myapp.add2; the parameters bind from the
// call's positional arguments.
package add2

// Add2 returns the sum of its two arguments.
func Add2(x, y int) int {
	return x + y
}
