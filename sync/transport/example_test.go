package transport_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"net"

	"github.com/countermesh/countermesh/sync/transport"
	"github.com/countermesh/countermesh/topology/pki"
)

// peer makes the configuration of a peer with a certificate from ca.
func peer(ca *pki.CA, region, name string) transport.Config {
	id := pki.PeerIdentity{Mesh: "demo", Region: region, Name: name}
	certPEM, keyPEM, err := ca.Issue(id)
	if err != nil {
		log.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		log.Fatal(err)
	}
	return transport.Config{
		Identity:    id,
		Certificate: cert,
		CA:          ca.Pool(),
		Authorize: func(p pki.PeerIdentity) error {
			if p.Region != "eu" && p.Region != "us" {
				return fmt.Errorf("region %q is not in the topology", p.Region)
			}
			return nil
		},
	}
}

func Example() {
	ca, err := pki.NewCA("demo")
	if err != nil {
		log.Fatal(err)
	}
	// Each peer has its own socket and Transport; the sockets stay the caller's.
	connEU, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer connEU.Close()
	connUS, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer connUS.Close()
	eu, err := transport.Listen(connEU, peer(ca, "eu", "eu-1"))
	if err != nil {
		log.Fatal(err)
	}
	defer eu.Close()
	us, err := transport.Listen(connUS, peer(ca, "us", "us-1"))
	if err != nil {
		log.Fatal(err)
	}
	defer us.Close()

	ctx := context.Background()
	accepted := make(chan *transport.Link)
	go func() {
		l, err := us.Accept(ctx)
		if err != nil {
			log.Fatal(err)
		}
		accepted <- l
	}()
	link, err := eu.Dial(ctx, us.Addr(), "us-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("eu-1 linked to", link.Peer())

	s, _ := link.OpenStream(ctx)
	s.WriteFrame([]byte("delta batch #1"))
	s.Close()

	remote := <-accepted
	in, _ := remote.AcceptStream(ctx)
	frame, _ := in.ReadFrame()
	fmt.Printf("us-1 got %q from %s\n", frame, remote.Peer().Name)

	link.Close("example done")
	<-remote.Done()
	fmt.Println("us-1 sees:", remote.Err())
	// Output:
	// eu-1 linked to countermesh://demo/us/us-1
	// us-1 got "delta batch #1" from eu-1
	// us-1 sees: transport: link closed by eu-1: example done
}
