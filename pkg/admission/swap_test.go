package admission

import (
	"kmirror.dev/kmirror/internal/testing/jsonpatch"

	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"kmirror.dev/kmirror/pkg/mirrorcheck"
	"kmirror.dev/kmirror/pkg/mirrorsync"
	"kmirror.dev/kmirror/pkg/registry"
)

// fakeMirror answers from a table: present, failed with a reason, or
// missing. With hold set, it knows nothing, and its wait lasts until hold
// is closed or the context ends.
type fakeMirror struct {
	present map[string]bool
	failed  map[string]string
	hold    chan struct{}
	// waiting is closed when a wait starts.
	waiting chan struct{}
	mu      sync.Mutex
	asked   [][]string
}

func (f *fakeMirror) answer(img string) mirrorcheck.Result {
	switch {
	case f.present[img]:
		return mirrorcheck.Result{State: mirrorcheck.Present}
	case f.failed[img] != "":
		return mirrorcheck.Result{State: mirrorcheck.Failed, Reason: f.failed[img]}
	}
	return mirrorcheck.Result{State: mirrorcheck.Missing}
}

func (f *fakeMirror) Check(images []string, out []mirrorcheck.Result) func(context.Context) {
	f.mu.Lock()
	f.asked = append(f.asked, append([]string(nil), images...))
	f.mu.Unlock()
	if f.hold == nil {
		for i, img := range images {
			out[i] = f.answer(img)
		}
		return nil
	}
	return func(ctx context.Context) {
		if f.waiting != nil {
			close(f.waiting)
		}
		select {
		case <-f.hold:
			for i, img := range images {
				out[i] = f.answer(img)
			}
		case <-ctx.Done():
			for i := range out {
				out[i] = mirrorcheck.Result{State: mirrorcheck.Failed, Reason: "no answer within the review's time budget"}
			}
		}
	}
}

// fakeCopies records the pairs queued.
type fakeCopies struct {
	mu    sync.Mutex
	pairs []mirrorsync.Pair
}

func (f *fakeCopies) Enqueue(p mirrorsync.Pair) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pairs = append(f.pairs, p)
	return true
}

const (
	coredns = M + "gcr/google_containers/coredns:1.3.1"
	busybox = M + "quay/prometheus/busybox:1.36"
	data    = M + "dockerhub/library/data:1"
)

// images returns the images of the Pod of samplePod after the answer's
// patch.
func patchedImages(t *testing.T, pod []byte, a reviewAnswer) []string {
	t.Helper()
	out := pod
	if a.Response.Patch != nil {
		out = jsonpatch.Apply(t, pod, a.Response.Patch)
	}
	var p struct {
		Spec struct {
			InitContainers, Containers []struct{ Image string }
			Volumes                    []struct{ Image struct{ Reference string } }
		}
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return []string{p.Spec.InitContainers[0].Image, p.Spec.Containers[0].Image, p.Spec.Containers[1].Image, p.Spec.Volumes[0].Image.Reference}
}

func TestSwapExists(t *testing.T) {
	pod := podJSON(t, samplePod)
	mirror := &fakeMirror{present: map[string]bool{coredns: true}, failed: map[string]string{busybox: "no answer from the registry within 1s"}}
	missing := "kmirror: " + data + " is not in the mirror yet; docker.io/library/data:1 is pulled from its source"
	for _, tc := range []struct {
		name     string
		onError  OnCheckError
		dryRun   bool
		images   []string
		warnings []string
		copies   []mirrorsync.Pair
	}{
		{
			name:   "failed checks go to the source",
			images: []string{"quay.io/prometheus/busybox:1.36", coredns, "busybox:latest", "docker.io/library/data:1"},
			warnings: []string{
				"kmirror: cannot check that " + busybox + " is in the mirror (no answer from the registry within 1s); quay.io/prometheus/busybox:1.36 is pulled from its source (--on-check-error=source)",
				missing,
			},
			copies: []mirrorsync.Pair{{Source: "docker.io/library/data:1", Target: data}},
		},
		{
			name:    "failed checks go to the mirror",
			onError: ToMirror,
			images:  []string{busybox, coredns, "busybox:latest", "docker.io/library/data:1"},
			warnings: []string{
				"kmirror: cannot check that " + busybox + " is in the mirror (no answer from the registry within 1s); it is pulled from the mirror all the same (--on-check-error=mirror)",
				missing,
			},
			copies: []mirrorsync.Pair{{Source: "docker.io/library/data:1", Target: data}},
		},
		{
			name:     "a dry run copies nothing",
			dryRun:   true,
			images:   []string{"quay.io/prometheus/busybox:1.36", coredns, "busybox:latest", "docker.io/library/data:1"},
			warnings: []string{"kmirror: cannot check that " + busybox + " is in the mirror (no answer from the registry within 1s); quay.io/prometheus/busybox:1.36 is pulled from its source (--on-check-error=source)", missing},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHandler(t)
			copies := &fakeCopies{}
			h.Swap = &Swap{Mirror: mirror, Copies: copies, OnError: tc.onError}
			extra := map[string]any{}
			if tc.dryRun {
				extra["dryRun"] = true
			}
			a := h.review(t, reviewBody(t, "admission.k8s.io/v1", "CREATE", pod, nil, extra))
			if diff := cmp.Diff(tc.images, patchedImages(t, pod, a)); diff != "" {
				t.Errorf("images (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.warnings, a.Response.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.copies, copies.pairs); diff != "" {
				t.Errorf("copies (-want +got):\n%s", diff)
			}
			metrics := gather(t, h.Metrics)
			dry := `dry_run="` + map[bool]string{false: "false", true: "true"}[tc.dryRun] + `"`
			if got := metrics[`kmirror_admission_images_from_source_total{`+dry+`,reason="missing"}`]; got != 1 {
				t.Errorf("from source, missing: %v", got)
			}
			if !strings.Contains(h.logs.String(), `"spec.volumes[0].image.reference: docker.io/library/data:1 (`+data+`: not in the mirror)"`) {
				t.Errorf("the log does not say which image stayed at its source:\n%s", h.logs)
			}
		})
	}
	// Only the images the engine mirrors are asked about.
	want := [][]string{{coredns, busybox, data}, {coredns, busybox, data}, {coredns, busybox, data}}
	if diff := cmp.Diff(want, mirror.asked); diff != "" {
		t.Errorf("asked about (-want +got):\n%s", diff)
	}
}

// TestSwapEachImageOnce: the same missing image in two containers gives
// one warning.
func TestSwapEachImageOnce(t *testing.T) {
	h := newTestHandler(t)
	h.Swap = &Swap{Mirror: &fakeMirror{}}
	pod := podJSON(t, `{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: nginx:1.27}, {name: b, image: nginx:1.27}]}}`)
	a := h.review(t, reviewBody(t, "admission.k8s.io/v1", "CREATE", pod, nil, nil))
	if len(a.Response.Warnings) != 1 || a.Response.Patch != nil {
		t.Errorf("warnings %q, patch %s", a.Response.Warnings, a.Response.Patch)
	}
}

// TestSwapWithinTheBudget: a mirror that never answers; the review is
// answered at its budget, each image from its source, and while it waited
// it held only what its answer needs of the memory budget.
func TestSwapWithinTheBudget(t *testing.T) {
	h := newTestHandler(t)
	mirror := &fakeMirror{hold: make(chan struct{}), waiting: make(chan struct{})}
	h.Swap = &Swap{Mirror: mirror, Budget: 200 * time.Millisecond}
	pod := podJSON(t, samplePod)
	body := reviewBody(t, "admission.k8s.io/v1", "CREATE", pod, nil, nil)
	done := make(chan reviewAnswer)
	start := time.Now()
	go func() { done <- h.review(t, body) }()
	<-mirror.waiting
	h.budget.mu.Lock()
	total := newBudget(0, 0).free
	held := total - h.budget.free
	h.budget.mu.Unlock()
	a := <-done
	took := time.Since(start)
	if held <= 0 || held > 64<<10 {
		t.Errorf("while waiting the review held %d bytes of the budget; want what its answer needs, at most 64 KiB (it reserves %d to decide)", held, costOf(body))
	}
	if took < 200*time.Millisecond || took > 5*time.Second {
		t.Errorf("answered after %s, want at the budget of 200ms", took)
	}
	if diff := cmp.Diff([]string{"quay.io/prometheus/busybox:1.36", "k8s.gcr.io/coredns:1.3.1", "busybox:latest", "docker.io/library/data:1"}, patchedImages(t, pod, a)); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
	if len(a.Response.Warnings) != 3 || !strings.Contains(a.Response.Warnings[0], "(no answer within the review's time budget)") {
		t.Errorf("warnings %q", a.Response.Warnings)
	}
}

// blockedCopier copies nothing, ever: a registry that hangs.
type blockedCopier struct{}

func (blockedCopier) Check(ctx context.Context, _, _ string, _ []v1.Platform) (registry.State, error) {
	<-ctx.Done()
	return registry.State{}, ctx.Err()
}

func (b blockedCopier) Copy(ctx context.Context, src, dst string, _ registry.CopyOptions) (registry.CopyResult, error) {
	_, err := b.Check(ctx, src, dst, nil)
	return registry.CopyResult{}, err
}

func (blockedCopier) Head(ctx context.Context, _ string) (*v1.Descriptor, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestCopiesTakeNoTimeFromReviews: with the copies stuck and the queue
// full, reviews with new missing images are answered as before.
func TestCopiesTakeNoTimeFromReviews(t *testing.T) {
	h := newTestHandler(t)
	q := mirrorsync.NewQueue(blockedCopier{}, mirrorsync.QueueOptions{Size: 2, Workers: 1})
	defer q.Close()
	h.Swap = &Swap{Mirror: &fakeMirror{}, Copies: q}
	for i := range 20 {
		pod := podJSON(t, `{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: "nginx:1.`+string(rune('a'+i))+`"}]}}`)
		a := h.review(t, reviewBody(t, "admission.k8s.io/v1", "CREATE", pod, nil, nil))
		if len(a.Response.Warnings) != 1 || !strings.Contains(a.Response.Warnings[0], "is not in the mirror yet") {
			t.Fatalf("review %d: warnings %q", i, a.Response.Warnings)
		}
	}
}
