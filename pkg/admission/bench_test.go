package admission_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"kmirror.dev/kmirror/pkg/admission"
	"kmirror.dev/kmirror/pkg/loadgen"
	"kmirror.dev/kmirror/rules"
)

// BenchmarkHandler measures the handler alone, without HTTP or TLS, on the
// reviews of the load benchmark, logging and counting as kmirror serve
// does.
func BenchmarkHandler(b *testing.B) {
	eng, err := rules.Load("")
	if err != nil {
		b.Fatal(err)
	}
	h := &admission.Handler{Engine: eng, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Metrics: admission.NewMetrics()}
	reviews := loadgen.Reviews(100, 1)
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
