package admission_test

import (
	"testing"

	"kmirror.dev/kmirror/internal/testing/loadgen"
	"kmirror.dev/kmirror/pkg/admission"
	"kmirror.dev/kmirror/rules"
)

// TestReviewCostBoundsTheMemory holds the heap that serving a review holds
// to the estimate the budget reserves for it, for the reviews of every
// hostile shape and for ordinary ones. What is measured counts garbage
// not freed yet, up to all that serving allocated: 1.25 times the
// estimate for warnings-at-limit, whose error messages are dropped at
// once, and on a busy machine the collector frees them late (13.1 MB
// held against 12.1 estimated, 7 MB on a quiet one). The bound is half
// the estimate again, as MemoryLimit, twice the budget, leaves room for
// the garbage of the reviews in flight.
func TestReviewCostBoundsTheMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds reviews of 7 MiB")
	}
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	h := &admission.Handler{Engine: eng}
	bodies := map[string][]byte{"ordinary": loadgen.Reviews(1, 1)[0]}
	for _, hr := range loadgen.HostileReviews {
		bodies[hr.Name] = hr.Review(1)
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			status, held, cost := admission.HeldBy(t, h, body)
			t.Logf("%s: status %d: held %.1f MB, estimated %.1f MB", name, status, float64(held)/1e6, float64(cost)/1e6)
			if int64(held) > cost+cost/2 {
				t.Errorf("serving a review of %d bytes held %d bytes, over the estimate of %d and half again", len(body), held, cost)
			}
		})
	}
}
