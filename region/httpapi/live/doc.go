// Package live fans the live state of items out to Server-Sent-Events subscribers:
// think 10,000 readers of one article watching its claps arrive.
//
// A Hub keeps, per item, the set of its subscribers. Writers (local requests and
// the sync exchange applying remote changes) call Notify with the items they
// changed; Notify only marks them dirty. The hub's one goroutine, Run, wakes every
// Config.Interval and, for each dirty item that has subscribers, calls
// Config.Encode once, frames the JSON as one SSE event and hands the same bytes to
// every subscriber of that item.
//
// Each Subscription has a one-slot mailbox holding the latest undelivered event. A
// delivery replaces an event the subscriber has not taken yet, so a slow
// subscriber skips intermediate states and always reads the newest one; it never
// blocks the hub or the other subscribers. A new subscriber gets the item's
// current state first, promptly: from the state last encoded if no change has
// been notified since, otherwise from an Encode that Run performs as soon as it
// can, shared by every subscriber that arrived meanwhile.
//
// Goroutines: Run is the only goroutine the package starts, and the caller owns
// it. Notify, Subscribe, Subscribers and Subscription.Close may be called from any
// goroutine, before, during or after Run; Notify never blocks. Encode is called
// only from Run's goroutine, one call at a time.
package live
