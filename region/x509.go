package region

import "crypto/x509"

// x509Pool returns a pool holding only ca.
func x509Pool(ca *x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}
