package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config says what load to send.
type Config struct {
	// URL is where the reviews are POSTed.
	URL string
	// Client sends them; see NewClient.
	Client *http.Client
	// Bodies are sent in turn.
	Bodies [][]byte
	// Requests is how many to send in all, Concurrency how many at once.
	Requests, Concurrency int
	// Rate, when positive, sends request i at i/Rate seconds after the
	// start, and measures its latency from then, so that a slow answer is
	// not hidden by the requests it delays. Zero sends as fast as the
	// server answers.
	Rate float64
	// Check, when set, checks the answer to Bodies[i].
	Check func(i int, answer []byte) error
}

// Result is what a run measured.
type Result struct {
	Requests, Errors int
	// FirstError is the first error met, if any.
	FirstError error
	Elapsed    time.Duration
	// Latencies of the successful requests, sorted.
	Latencies []time.Duration
}

// Add merges the measures of another run into r.
func (r *Result) Add(o *Result) {
	if r.FirstError == nil {
		r.FirstError = o.FirstError
	}
	r.Requests += o.Requests
	r.Errors += o.Errors
	r.Elapsed += o.Elapsed
	r.Latencies = append(r.Latencies, o.Latencies...)
	slices.Sort(r.Latencies)
}

// Throughput is the rate of successful requests per second.
func (r *Result) Throughput() float64 {
	return float64(len(r.Latencies)) / r.Elapsed.Seconds()
}

// Percentile returns the latency below which a fraction p of the
// successful requests fall.
func (r *Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(p * float64(len(r.Latencies)))
	return r.Latencies[min(i, len(r.Latencies)-1)]
}

// NewClient returns a client that keeps up to conns HTTP/1.1 connections
// alive to a server whose certificate caPEM signed.
func NewClient(caPEM []byte, conns int) (*http.Client, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no certificate in the CA file")
	}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
			// HTTP/1.1, one request per connection at a time.
			TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
		},
	}, nil
}

// Run sends the load and waits for every answer. When ctx is done, it
// stops sending; the requests it cuts are neither answered nor failed.
func Run(ctx context.Context, c Config) *Result {
	lat := make([]time.Duration, c.Requests)
	ok := make([]bool, c.Requests)
	var next atomic.Int64
	var errs atomic.Int64
	var firstErr error
	var once sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for range c.Concurrency {
		wg.Go(func() {
			buf := &bytes.Buffer{}
			for {
				i := int(next.Add(1) - 1)
				if i >= c.Requests || ctx.Err() != nil {
					return
				}
				sent := time.Now()
				if c.Rate > 0 {
					sent = start.Add(time.Duration(float64(i) / c.Rate * float64(time.Second)))
					time.Sleep(time.Until(sent))
				}
				if err := c.send(ctx, i, buf); err != nil {
					if ctx.Err() != nil {
						// Cut by the caller, not failed.
						return
					}
					errs.Add(1)
					once.Do(func() { firstErr = err })
					continue
				}
				lat[i], ok[i] = time.Since(sent), true
			}
		})
	}
	wg.Wait()
	r := &Result{Requests: c.Requests, Errors: int(errs.Load()), FirstError: firstErr, Elapsed: time.Since(start)}
	for i, d := range lat {
		if ok[i] {
			r.Latencies = append(r.Latencies, d)
		}
	}
	slices.Sort(r.Latencies)
	return r
}

func (c *Config) send(ctx context.Context, i int, buf *bytes.Buffer) error {
	body := c.Bodies[i%len(c.Bodies)]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := io.Copy(buf, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("request %d: %s: %s", i, resp.Status, bytes.TrimSpace(buf.Bytes()))
	}
	if c.Check != nil {
		if err := c.Check(i%len(c.Bodies), buf.Bytes()); err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
	}
	return nil
}
