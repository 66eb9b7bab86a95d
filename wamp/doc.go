// Package wamp is the API that wamphost component scripts import.
//
// A component is a directory of plain Go files. wamphost interprets them,
// binds their exported functions to the procedures and topics named in
// components.hcl, and hands them the values defined here. Because this is an
// ordinary Go package, scripts also compile with the Go toolchain, so go vet,
// gopls and go test work on them unchanged.
//
// A handler is a plain function. Its parameters bind from the call's
// positional arguments, in the spirit of Autobahn's
//
//	def add2(x, y):
//	    return x + y
//
// which in a wamphost script reads
//
//	func Add2(x, y int) int { return x + y }
//
// A handler may instead take the whole call: func(context.Context,
// *wamp.Invocation) for procedures and func(context.Context, *wamp.Event) for
// topics. Either form may return an error; an *Error reaches the caller with
// its own URI, arguments and keyword arguments.
//
// A component may define the session lifecycle functions
//
//	func OnJoin(ctx context.Context, s wamp.Session) error
//	func OnLeave(ctx context.Context, s wamp.Session)
//
// OnJoin runs once the component's session has joined its realm, before
// its declared bindings go live (so that what it sets up is there for the
// first call); ctx ends when the component stops or reloads.
// Long-running work started from OnJoin goes through Session.Go, never a
// bare go statement: the host then recovers its panics and stops it with the
// component.
package wamp
