package registry

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"kmirror.dev/kmirror/internal/testing/registrytest"
)

// memHost is the registry of memTransport.
const memHost = "registry.test"

// memTransport serves requests from go-containerregistry's registry in
// process, without a network, so that a copy's own work is what counts.
type memTransport struct{ h http.Handler }

func newMemTransport() memTransport {
	return memTransport{ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))}
}

func (m memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil { // as a server sees it
		req = req.Clone(req.Context())
		req.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	m.h.ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// pushWideIndex writes to repo of m an index of n images that share
// their config and layer, and differ by an annotation.
func pushWideIndex(tb testing.TB, m memTransport, repo string, n int) string {
	tb.Helper()
	_, img, err := registrytest.Make(registrytest.Spec{Platforms: []string{"linux/amd64"}, Single: true, Layers: 1, LayerSize: 100, Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	adds := make([]mutate.IndexAddendum, n)
	for i := range adds {
		child := mutate.Annotations(img, map[string]string{"n": strconv.Itoa(i)}).(v1.Image)
		adds[i] = mutate.IndexAddendum{Add: child, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}}
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	ref, err := name.ParseReference(memHost+"/"+repo+":1", name.Insecure)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx, remote.WithTransport(m)); err != nil {
		tb.Fatal(err)
	}
	return ref.String()
}

// memClient is a Client of the registry of m.
func memClient(tb testing.TB, m memTransport) *Client {
	tb.Helper()
	c, err := New(Options{PlainHTTP: []string{memHost}, Keychain: authn.NewMultiKeychain(), Transport: m})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// copyAllocs is the bytes allocated by a copy of src to dst.
func copyAllocs(tb testing.TB, c *Client, src, dst string) uint64 {
	tb.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := c.Copy(context.Background(), src, dst, CopyOptions{}); err != nil {
		tb.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestCopyIndexLinear: the work of copying an index grows as its entries,
// measured by the bytes allocated, which depend on the work done and not
// on the machine. go-containerregistry's remote index parses the whole
// index again for each child it hands out, which made the work grow as
// the square of the entries.
func TestCopyIndexLinear(t *testing.T) {
	m := newMemTransport()
	c := memClient(t, m)
	perEntry := map[int]float64{}
	for _, n := range []int{500, 2000} {
		src := pushWideIndex(t, m, fmt.Sprintf("src/wide%d", n), n)
		perEntry[n] = float64(copyAllocs(t, c, src, fmt.Sprintf("%s/mirror/wide%d:1", memHost, n))) / float64(n)
	}
	ratio := perEntry[2000] / perEntry[500]
	t.Logf("bytes allocated per entry: %.0f at 500 entries, %.0f at 2,000: ratio %.2f", perEntry[500], perEntry[2000], ratio)
	if ratio > 1.5 {
		t.Errorf("an index of 2,000 entries allocates %.2f times as much per entry as one of 500; want about 1", ratio)
	}
}

// BenchmarkCopyIndex copies indexes of 1,000 to 8,000 entries between
// repositories of a registry in process, and reports the time per entry
// of each and the ratio of the largest to the smallest: about 1 when the
// time of a copy is linear in its entries.
func BenchmarkCopyIndex(b *testing.B) {
	sizes := []int{1000, 2000, 4000, 8000}
	perEntry := map[int]time.Duration{}
	m := newMemTransport()
	c := memClient(b, m)
	for _, n := range sizes {
		src := pushWideIndex(b, m, fmt.Sprintf("src/wide%d", n), n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				if _, err := c.Copy(context.Background(), src, fmt.Sprintf("%s/mirror/wide%d-%d:1", memHost, n, i), CopyOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			perEntry[n] = b.Elapsed() / time.Duration(b.N*n)
			b.ReportMetric(float64(perEntry[n].Nanoseconds()), "ns/entry")
		})
	}
	first, last := sizes[0], sizes[len(sizes)-1]
	fmt.Printf("\nkmirror's copy of an index, registry in process (%s):\n", runtime.GOARCH)
	for _, n := range sizes {
		fmt.Printf("  %5d entries: %6.1f µs per entry\n", n, float64(perEntry[n].Nanoseconds())/1e3)
	}
	fmt.Printf("  time per entry at %d / at %d: %.2f (target: about 1, linear)\n\n", last, first, float64(perEntry[last])/float64(perEntry[first]))
}
