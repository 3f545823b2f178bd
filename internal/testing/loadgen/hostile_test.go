package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The shape of the hostile load: as many reviews at once as the issue
// says, and the peak RSS it sets for kmirror serve (whose Deployment has a
// limit of 256Mi).
const (
	hostileConcurrency = 8
	// hostileRounds of 8 reviews of each kind; 100 of invalid-images, as
	// in the issue.
	hostileRounds     = 3
	invalidImageCount = 100
	peakRSSTargetMB   = 200
	// ordinaryConcurrency is enough for 100 ordinary reviews a second
	// answered in up to 160ms each.
	ordinaryConcurrency = 16
)

// BenchmarkServeHostile sends kmirror serve, as a process of its own, the
// hostile reviews of HostileReviews up to the body limit, 8 at once: each
// kind alone, then all kinds mixed, while ordinary reviews keep coming at
// 100 a second. It checks every answer's status (413 for reviews over the
// limits, 200 for the others, 503 counted when the memory budget is full),
// prints the peak RSS beside the target, and fails over it.
func BenchmarkServeHostile(b *testing.B) {
	dir, bundle := serverFiles(b)
	kmirror := startKmirror(b, dir)
	client, err := NewClient(bundle.CA, hostileConcurrency+ordinaryConcurrency)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("RSS at start: %.1f MB", kmirror.rss(b))

	ordinary := Reviews(100, 3)
	ctx, stop := context.WithCancel(context.Background())
	ordinaryDone := make(chan *Result)
	go func() {
		// 100 a second for up to ten minutes, until stopped.
		ordinaryDone <- Run(ctx, Config{URL: kmirror.url, Client: client, Bodies: ordinary,
			Requests: 60_000, Concurrency: ordinaryConcurrency, Rate: 100, Check: kmirrorCheck(b, ordinary)})
	}()

	var mixed []hostileBody
	for _, h := range HostileReviews {
		n := hostileConcurrency * hostileRounds
		if h.Name == "invalid-images" {
			n = invalidImageCount
		}
		bodies := make([]hostileBody, n)
		for i := range bodies {
			bodies[i] = hostileBody{h, h.Review(i)}
		}
		mixed = append(mixed, bodies[:hostileConcurrency]...)
		counts := sendHostile(b, client, kmirror.url, bodies)
		b.Logf("%-18s %3d reviews of up to %.1f MB: %s; RSS now %.1f MB, peak %.1f MB",
			h.Name, n, float64(len(bodies[0].body))/1e6, counts, kmirror.rss(b), kmirror.peakRSS(b))
	}
	// Every kind, shuffled the same way each run.
	for i := range mixed {
		j := (i * 7919) % len(mixed)
		mixed[i], mixed[j] = mixed[j], mixed[i]
	}
	for range hostileRounds {
		counts := sendHostile(b, client, kmirror.url, mixed)
		b.Logf("%-18s %3d reviews: %s; RSS now %.1f MB, peak %.1f MB", "mixed", len(mixed), counts, kmirror.rss(b), kmirror.peakRSS(b))
	}
	stop()
	r := <-ordinaryDone
	peak := kmirror.peakRSS(b)
	b.Logf("ordinary reviews meanwhile: %d answered, %d failed (first: %v), p50 %.2f ms, p99 %.2f ms",
		len(r.Latencies), r.Errors, r.FirstError, ms(r.Percentile(0.5)), ms(r.Percentile(0.99)))
	b.Logf("peak RSS of kmirror serve: %.1f MB; target: under %d MB", peak, peakRSSTargetMB)
	b.ReportMetric(peak, "peak-rss-MB")
	b.ReportMetric(peakRSSTargetMB, "target-MB")
	b.ReportMetric(float64(r.Errors), "ordinary-errors")
	if peak >= peakRSSTargetMB {
		b.Errorf("peak RSS %.1f MB, over the target of %d MB", peak, peakRSSTargetMB)
	}
	if r.Errors > 0 {
		b.Errorf("%d ordinary reviews failed during the hostile load; first: %v", r.Errors, r.FirstError)
	}
}

type hostileBody struct {
	kind Hostile
	body []byte
}

// statusCounts counts answers by status.
type statusCounts map[int]int

func (c statusCounts) String() string {
	var codes []int
	for code := range c {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	var parts []string
	for _, code := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", c[code], code))
	}
	return strings.Join(parts, " ")
}

// sendHostile sends bodies, hostileConcurrency at once, and counts the
// answers by status. A status other than the kind's, or 503, fails b.
func sendHostile(b *testing.B, client *http.Client, url string, bodies []hostileBody) statusCounts {
	counts := statusCounts{}
	var mu sync.Mutex
	next := make(chan hostileBody)
	var wg sync.WaitGroup
	for range hostileConcurrency {
		wg.Go(func() {
			for hb := range next {
				code, answer := postReview(client, url, hb.body)
				mu.Lock()
				counts[code]++
				mu.Unlock()
				want := http.StatusOK
				if hb.kind.Over {
					want = http.StatusRequestEntityTooLarge
				}
				if code != want && code != http.StatusServiceUnavailable {
					b.Errorf("%s: status %d, want %d: %.300s", hb.kind.Name, code, want, answer)
				}
				// A patch has an operation for each of up to 1,000
				// images; anything else is a few hundred bytes.
				if limit := 1 << 10; code == http.StatusOK && len(answer) > 2<<20 || code != http.StatusOK && len(answer) > limit {
					b.Errorf("%s: an answer of %d bytes with status %d", hb.kind.Name, len(answer), code)
				}
			}
		})
	}
	for _, hb := range bodies {
		next <- hb
	}
	close(next)
	wg.Wait()
	return counts
}

// postReview posts body and returns the status, or 0 when the request
// failed, and the answer.
func postReview(client *http.Client, url string, body []byte) (int, []byte) {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, []byte(err.Error())
	}
	return resp.StatusCode, answer
}

// peakRSS returns the process's peak resident set, in MB (10^6 bytes).
func (s *server) peakRSS(b *testing.B) float64 {
	return s.status(b, "VmHWM:")
}

// status returns a field in kB of /proc/pid/status, in MB (10^6 bytes).
func (s *server) status(b *testing.B, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) * 1024 / 1e6
		}
	}
	b.Fatalf("no %s in /proc/pid/status", field)
	return 0
}
