package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
)

func TestGenerateVerifiesForEachHost(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	hosts := []string{"kmirror.kmirror-system.svc", "kmirror.kmirror-system.svc.cluster.local", "127.0.0.1", "::1"}
	b, err := Generate(hosts, now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(b.Cert, b.Key)
	if err != nil {
		t.Fatalf("certificate and key do not match: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(b.CA) {
		t.Fatal("CA is not PEM")
	}
	for _, h := range hosts {
		opts := x509.VerifyOptions{DNSName: h, Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := pair.Leaf.Verify(opts); err != nil {
			t.Errorf("verifying for %s: %v", h, err)
		}
	}
	opts := x509.VerifyOptions{DNSName: "other.example.com", Roots: roots, CurrentTime: now}
	if _, err := pair.Leaf.Verify(opts); err == nil {
		t.Error("certificate verifies for a host it was not made for")
	}
	opts = x509.VerifyOptions{DNSName: hosts[0], Roots: roots, CurrentTime: now.Add(25 * time.Hour)}
	if _, err := pair.Leaf.Verify(opts); err == nil {
		t.Error("certificate verifies after its validity")
	}
}

func TestGenerateMakesADistinctCAEachTime(t *testing.T) {
	now := time.Now()
	a, err := Generate([]string{"a"}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate([]string{"a"}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(a.CA)
	block, _ := pem.Decode(b.Cert)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "a", Roots: roots}); err == nil {
		t.Error("a certificate verifies against another run's CA")
	}
}

func TestGenerateNeedsAHost(t *testing.T) {
	if _, err := Generate(nil, time.Now(), time.Hour); err == nil {
		t.Error("no error for no hosts")
	}
}
