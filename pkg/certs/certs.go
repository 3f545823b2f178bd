// Package certs makes the certificates a webhook needs: a private CA, and a
// serving certificate it signs for the webhook's host names. The API server
// trusts the CA through the caBundle of the webhook configuration; the
// webhook serves the certificate and its key.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Bundle holds PEM-encoded certificates and the serving key. The CA's key
// is not kept: nothing is signed after Generate returns, so a leaked
// manifest cannot mint certificates the cluster trusts.
type Bundle struct {
	// CA is the certificate that signed Cert.
	CA []byte
	// Cert and Key are the serving certificate and its private key.
	Cert, Key []byte
}

// Generate makes a CA and a serving certificate for hosts, each a DNS name
// or an IP address, valid from now for validity. The first host is also
// the certificate's common name.
func Generate(hosts []string, now time.Time, validity time.Duration) (*Bundle, error) {
	if len(hosts) == 0 {
		return nil, errors.New("generating certificates: no host names")
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the CA key: %w", err)
	}
	// Backdated a little, for API servers whose clock runs behind.
	notBefore, notAfter := now.Add(-time.Hour), now.Add(validity)
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "kmirror webhook CA"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, ca, err := create(caTmpl, caTmpl, caKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("signing the CA certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the serving key: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, _, err := create(tmpl, ca, key, caKey)
	if err != nil {
		return nil, fmt.Errorf("signing the serving certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the serving key: %w", err)
	}
	return &Bundle{
		CA:   pemBlock("CERTIFICATE", caDER),
		Cert: pemBlock("CERTIFICATE", der),
		Key:  pemBlock("PRIVATE KEY", keyDER),
	}, nil
}

// create signs tmpl with signerKey as parent and returns it in DER and
// parsed forms.
func create(tmpl, parent *x509.Certificate, key, signerKey *ecdsa.PrivateKey) ([]byte, *x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signerKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return der, cert, err
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
