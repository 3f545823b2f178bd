package loadgen

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"time"
)

// CeilingAnswer is the ceiling server's answer to every review: allowed,
// with a one-operation patch, about the size of kmirror's answers.
var CeilingAnswer = []byte(`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"00000000-0000-4000-8000-000000000000","allowed":true,"patch":"W3sib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii9zcGVjL2NvbnRhaW5lcnMvMC9pbWFnZSIsInZhbHVlIjoiMDQ4OTEyMDYwOTEwLmRrci5lY3IuY24tbm9ydGh3ZXN0LTEuYW1hem9uYXdzLmNvbS5jbi9nY3IvZ29vZ2xlX2NvbnRhaW5lcnMvY29yZWRuczoxLjMuMSJ9XQ==","patchType":"JSONPatch"}}`)

// ServeCeiling serves the ceiling on ln until it fails: a TLS server, set up
// as kmirror serve's is, that reads each request and writes CeilingAnswer.
// No webhook can be faster on the same machine.
func ServeCeiling(ln net.Listener, cert tls.Certificate) error {
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(CeilingAnswer)
		}),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	return srv.ServeTLS(ln, "", "")
}
