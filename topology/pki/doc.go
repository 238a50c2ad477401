// Package pki makes and reads the certificate material of a countermesh mesh: a
// certificate authority per mesh, one certificate per peer, the gossip encryption
// key and the bearer tokens of the HTTP API.
//
// Peers authenticate each other with mutual TLS. Every peer certificate is signed
// by the mesh's CA, is valid for both server and client authentication, and names
// the peer it was issued for in a URI subject alternative name
//
//	countermesh://<mesh>/<region>/<peer>
//
// which the transport reads back with [IdentityOf] to refuse peers of other
// meshes or of regions the topology does not list. The certificate also carries
// the peer name as its common name and as a DNS name, and the hosts of the
// peer's addresses as DNS or IP names.
//
// Keys are ECDSA P-256, stored as PKCS #8 PEM. Only the standard library is used.
package pki
