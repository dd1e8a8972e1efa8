package security

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// PKI is a set of PEM files made by MakePKI: the trusted CA with a hub
// server certificate and a site leaf client certificate, and a rogue CA
// with a leaf certificate the hub must refuse.
type PKI struct {
	CA, HubCert, HubKey, LeafCert, LeafKey string
	RogueCA, RogueLeafCert, RogueLeafKey   string
}

type issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// MakePKI writes the PKI into dir with crypto/x509 (no openssl needed).
func MakePKI(dir string) (PKI, error) {
	p := PKI{
		CA: filepath.Join(dir, "ca.pem"), HubCert: filepath.Join(dir, "hub.pem"), HubKey: filepath.Join(dir, "hub-key.pem"),
		LeafCert: filepath.Join(dir, "leaf.pem"), LeafKey: filepath.Join(dir, "leaf-key.pem"),
		RogueCA: filepath.Join(dir, "rogue-ca.pem"), RogueLeafCert: filepath.Join(dir, "rogue-leaf.pem"), RogueLeafKey: filepath.Join(dir, "rogue-leaf-key.pem"),
	}
	ca, err := newCA("Edgepulse test CA", p.CA)
	if err != nil {
		return p, err
	}
	rogue, err := newCA("Rogue CA", p.RogueCA)
	if err != nil {
		return p, err
	}
	server := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if err := ca.issue("hub", server, p.HubCert, p.HubKey); err != nil {
		return p, err
	}
	if err := ca.issue("edgepulse-leaf", client, p.LeafCert, p.LeafKey); err != nil {
		return p, err
	}
	if err := rogue.issue("edgepulse-leaf", client, p.RogueLeafCert, p.RogueLeafKey); err != nil {
		return p, err
	}
	return p, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func newCA(cn, certPath string) (*issuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("security: CA %s: %w", cn, err)
	}
	cert, _ := x509.ParseCertificate(der)
	if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	return &issuer{cert: cert, key: key}, nil
}

func (ca *issuer) issue(cn string, eku []x509.ExtKeyUsage, certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: eku,
		DNSNames: []string{cn, "localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return fmt.Errorf("security: certificate %s: %w", cn, err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
		return err
	}
	return writePEM(keyPath, "EC PRIVATE KEY", kder)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
