package admission_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"kmirror.dev/kmirror/internal/testing/loadgen"
	"kmirror.dev/kmirror/pkg/admission"
	"kmirror.dev/kmirror/pkg/mirrorcheck"
	"kmirror.dev/kmirror/rules"
)

// BenchmarkHandler measures the handler alone, without HTTP or TLS, on the
// reviews of the load benchmark, logging and counting as kmirror serve
// does: with --swap-policy always, and exists with every answer cached.
func BenchmarkHandler(b *testing.B) {
	b.Run("always", func(b *testing.B) { benchHandler(b, nil) })
	b.Run("exists-warm", func(b *testing.B) {
		m := admission.NewMetrics()
		checker := mirrorcheck.New(everywhere{}, mirrorcheck.Options{PresentTTL: time.Hour, Metrics: mirrorcheck.NewMetrics(m.Registry)})
		benchHandler(b, &admission.Swap{Mirror: checker})
	})
}

// everywhere holds every image.
type everywhere struct{}

func (everywhere) Head(context.Context, string) (*v1.Descriptor, error) { return &v1.Descriptor{}, nil }

func benchHandler(b *testing.B, swap *admission.Swap) {
	eng, err := rules.Load("")
	if err != nil {
		b.Fatal(err)
	}
	h := &admission.Handler{Engine: eng, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Metrics: admission.NewMetrics(), Swap: swap}
	reviews := loadgen.Reviews(100, 1)
	for _, body := range reviews {
		r := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(reviews[i%len(reviews)]))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		i++
	}
}
