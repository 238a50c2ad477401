package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/countermesh/countermesh/region/httpapi/client"
)

// A frontend claps for an article at its region's peers, falling back to
// another region, and follows the article's live counts.
func Example() {
	c, err := client.New(client.Config{
		Peers: []string{"http://eu-west-1.internal:7301", "http://eu-west-2.internal:7301", "http://us-east-1.internal:7301"},
		Token: "the frontend's API token",
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	s := c.Session() // one per user session: it carries the causal token
	it, err := s.Add(ctx, "article:hello", "claps", 1)
	switch {
	case errors.Is(err, client.ErrRateLimited):
		log.Print("slow down")
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println(it.Counters["claps"])
	_ = s.Follow(ctx, "article:hello", func(it client.Item) error {
		fmt.Println("claps now", it.Counters["claps"])
		return nil
	})
}
