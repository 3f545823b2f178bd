// Package loadgen measures an admission webhook under load: a client with
// keep-alive connections sends AdmissionReviews of realistic Pods over TLS,
// as many at once as asked, either as fast as the server answers or at a
// fixed rate, and records each latency.
//
// Its benchmarks, run by `make bench-serve`, start `kmirror serve` and a
// minimal TLS server that answers every review with the same fixed
// response, the ceiling any webhook could reach on the machine, and compare
// the two. They listen on 127.0.0.1 only.
package loadgen
