package live_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/countermesh/countermesh/region/httpapi/live"
)

// A hub serves the live state of items; each subscriber (an SSE handler) writes
// what it receives to its response.
func ExampleHub() {
	var mu sync.Mutex
	claps := map[string]int{"article:1": 156}
	hub := live.NewHub(live.Config{
		Encode: func(item string) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			return json.Marshal(map[string]any{"item": item, "counters": map[string]int{"claps": claps[item]}})
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = hub.Run(ctx) })

	sub, err := hub.Subscribe("article:1")
	if err != nil {
		panic(err)
	}
	// A handler writes each event to its response; it also gives up when the
	// client goes (r.Context().Done()), here when no event comes in a minute.
	next := func() {
		select {
		case ev := <-sub.C():
			fmt.Printf("%s", ev)
		case <-time.After(time.Minute):
			fmt.Println("no event")
		}
	}
	next() // the current state first

	mu.Lock()
	claps["article:1"]++
	mu.Unlock()
	hub.Notify("article:1") // after every write, local or remote
	next()

	sub.Close() // the client went away
	cancel()
	wg.Wait()
	// Output:
	// event: item
	// data: {"counters":{"claps":156},"item":"article:1"}
	//
	// event: item
	// data: {"counters":{"claps":157},"item":"article:1"}
}
