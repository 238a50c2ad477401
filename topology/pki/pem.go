package pki

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// PEM block types.
const (
	pemCertificate  = "CERTIFICATE"
	pemPrivateKey   = "PRIVATE KEY"    // PKCS #8
	pemECPrivateKey = "EC PRIVATE KEY" // SEC 1
)

// ErrNoPEM is returned for data holding no PEM block of the wanted type.
var ErrNoPEM = errors.New("pki: no PEM block")

// ParseCertificatePEM returns the first certificate of PEM data.
func ParseCertificatePEM(data []byte) (*x509.Certificate, error) {
	block := findBlock(data, pemCertificate)
	if block == nil {
		return nil, fmt.Errorf("%w of type %s", ErrNoPEM, pemCertificate)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: parse certificate: %w", err)
	}
	return cert, nil
}

// ParseKeyPEM returns the first ECDSA private key of PEM data, PKCS #8 or SEC 1.
func ParseKeyPEM(data []byte) (*ecdsa.PrivateKey, error) {
	if block := findBlock(data, pemPrivateKey); block != nil {
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pki: parse private key: %w", err)
		}
		ec, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("pki: parse private key: %T is not an ECDSA key", k)
		}
		return ec, nil
	}
	if block := findBlock(data, pemECPrivateKey); block != nil {
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pki: parse private key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w of type %s or %s", ErrNoPEM, pemPrivateKey, pemECPrivateKey)
}

// findBlock returns the first PEM block of a type in data, or nil.
func findBlock(data []byte, typ string) *pem.Block {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil
		}
		if block.Type == typ {
			return block
		}
	}
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
}
