package wamp

import "time"

// CallOptions tune Session.CallWith, after Autobahn's CallOptions.
type CallOptions struct {
	// Timeout asks the router to cancel the call after this long; the
	// caller then gets ErrTimeout. Zero means the context's deadline only.
	Timeout time.Duration
	// DiscloseMe asks the router to reveal this session to the callee.
	DiscloseMe bool
	// OnProgress, when set, receives progressive results before the final
	// result is returned.
	OnProgress func(*Result)
}

// PublishOptions tune Session.PublishWith, after Autobahn's PublishOptions.
type PublishOptions struct {
	// Acknowledge waits for the router to confirm the publication.
	Acknowledge bool `json:"acknowledge"`
	// IncludeMe delivers the event to this session too, if it subscribes.
	IncludeMe bool `json:"include_me"`
	// DiscloseMe reveals this session to subscribers.
	DiscloseMe bool `json:"disclose_me"`
	// Exclude and Eligible filter receivers by session ID.
	Exclude  []uint64 `json:"exclude"`
	Eligible []uint64 `json:"eligible"`
	// ExcludeAuthID, EligibleAuthID, ExcludeAuthRole and EligibleAuthRole
	// filter receivers by authentication ID and role.
	ExcludeAuthID    []string `json:"exclude_authid"`
	EligibleAuthID   []string `json:"eligible_authid"`
	ExcludeAuthRole  []string `json:"exclude_authrole"`
	EligibleAuthRole []string `json:"eligible_authrole"`
	// Retain asks the router to keep the event for late subscribers. The
	// embedded nexus router (v3.3.0) does not implement retained events and
	// ignores it; an external router may honour it.
	Retain bool `json:"retain"`
}

// RegisterOptions tune Session.Register. The same options exist as
// attributes of a register block in components.hcl.
type RegisterOptions struct {
	// Match is "exact" (default), "prefix" or "wildcard".
	Match string
	// Invoke is the shared-registration policy: "single" (default),
	// "roundrobin", "random", "first" or "last".
	Invoke string
	// DiscloseCaller asks the router to reveal callers to the handler.
	DiscloseCaller bool
}

// SubscribeOptions tune Session.Subscribe.
type SubscribeOptions struct {
	// Match is "exact" (default), "prefix" or "wildcard".
	Match string
	// GetRetained asks the router for the topic's retained event (ignored
	// by the embedded nexus router, which retains nothing).
	GetRetained bool
}
