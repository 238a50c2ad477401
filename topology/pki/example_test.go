package pki_test

import (
	"crypto/x509"
	"fmt"

	"github.com/countermesh/countermesh/topology/pki"
)

func ExampleCA_Issue() {
	ca, err := pki.NewCA("demo")
	if err != nil {
		fmt.Println(err)
		return
	}
	certPEM, _, err := ca.Issue(pki.PeerIdentity{Mesh: "demo", Region: "eu-west", Name: "eu-west-1", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	cert, err := pki.ParseCertificatePEM(certPEM)
	if err != nil {
		fmt.Println(err)
		return
	}
	id, err := pki.VerifyPeer(cert, ca.Pool(), x509.ExtKeyUsageClientAuth)
	fmt.Println(id, id.Hosts, err)
	// Output: countermesh://demo/eu-west/eu-west-1 [127.0.0.1] <nil>
}
