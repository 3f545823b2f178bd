package mirrorsync

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/registry"
)

// attaching is a fakeRegistry whose images each have two artifacts
// attached, copied with the image when Referrers asks for them.
type attaching struct {
	*fakeRegistry
	mu    sync.Mutex
	asked []bool
	held  map[string]bool
}

func (a *attaching) Copy(ctx context.Context, src, dst string, o registry.CopyOptions) (registry.CopyResult, error) {
	res, err := a.fakeRegistry.Copy(ctx, src, dst, o)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, o.Referrers)
	if err != nil || !o.Referrers {
		return res, err
	}
	if a.held[dst] {
		res.Referrers = registry.ReferrerCount{Present: 2}
	} else {
		a.held[dst] = true
		res.Referrers = registry.ReferrerCount{Copied: 2}
	}
	return res, err
}

func TestRunReferrers(t *testing.T) {
	f := &attaching{fakeRegistry: &fakeRegistry{images: map[string]string{"a:1": d1, "b:1": d2}}, held: map[string]bool{}}
	pairs := []Pair{{"a:1", "m/a:1"}, {"b:1", "m/b:1"}}

	s := Summarize(Run(context.Background(), f, pairs, Options{}))
	if s.Referrers != (registry.ReferrerCount{}) || f.asked[0] || f.asked[1] {
		t.Errorf("without Referrers: asked %v, summary %+v", f.asked, s)
	}
	s = Summarize(Run(context.Background(), f, pairs, Options{Referrers: true}))
	if diff := cmp.Diff(Summary{Present: 2, Referrers: registry.ReferrerCount{Copied: 4}}, s); diff != "" {
		t.Errorf("referrers copied with present images (-want +got):\n%s", diff)
	}
	s = Summarize(Run(context.Background(), f, pairs, Options{Referrers: true}))
	if diff := cmp.Diff(Summary{Present: 2, Referrers: registry.ReferrerCount{Present: 4}}, s); diff != "" {
		t.Errorf("again (-want +got):\n%s", diff)
	}
}

// TestQueueCopiesReferrers: the webhook's copies bring what is attached
// to the image too.
func TestQueueCopiesReferrers(t *testing.T) {
	f := &attaching{fakeRegistry: &fakeRegistry{images: map[string]string{"a:1": d1}}, held: map[string]bool{}}
	done := newDoneLog()
	q := NewQueue(f, QueueOptions{Done: done.done})
	defer q.Close()
	q.Enqueue(Pair{"a:1", "m/a:1"})
	if r := done.next(t); r.Status != Copied || r.Referrers != (registry.ReferrerCount{Copied: 2}) {
		t.Errorf("done %+v, want the image and its referrers copied", r)
	}
}

// signatures is a SignatureChecker that knows what each mirror image lacks.
type signatures struct {
	mu      sync.Mutex
	missing map[signatureAsk][]string
	errs    map[string]error
	asked   map[signatureAsk]int
}

func (s *signatures) MissingSignatures(ctx context.Context, src, dst, digest string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := signatureAsk{src, dst, digest}
	s.asked[a]++
	if err := s.errs[src]; err != nil {
		return nil, err
	}
	return s.missing[a], nil
}

func TestVerifySigned(t *testing.T) {
	eng := engine(t)
	f := &fakeRegistry{images: map[string]string{
		"mirror.example.com/hub/nginx:1.25": d1,
		"mirror.example.com/hub/redis:7":    d2,
		"mirror.example.com/quay/app:1":     d1,
		"mirror.example.com/k8s/pause:3.9":  d1,
	}}
	sigs := &signatures{
		missing: map[signatureAsk][]string{
			{"redis:7", "mirror.example.com/hub/redis:7", d2}: {"sha256-2222.sig"},
		},
		errs:  map[string]error{"quay.io/app:1": errors.New("quay.io denied access"), "k8s.gcr.io/pause:3.9": errors.New("gone")},
		asked: map[signatureAsk]int{},
	}
	var fields []manifest.Image
	for i, img := range []string{
		"nginx:1.25",                       // signed in both
		"nginx:1.25",                       // asked once
		"redis:7",                          // the copy lacks the .sig
		"quay.io/app:1",                    // the source cannot be asked
		"mirror.example.com/k8s/pause:3.9", // two sources; one answers
		"docker.io/library/gone:1",         // missing: nothing to ask
	} {
		fields = append(fields, manifest.Image{Location: manifest.Location{File: "a.yaml", Line: i + 1}, Decision: eng.Decide(img)})
	}
	checks := Verify(context.Background(), f, fields, eng, VerifyOptions{Signatures: sigs, Timeout: 10 * time.Second})
	var got []string
	for _, c := range checks {
		got = append(got, string(c.Verdict)+": "+c.Error)
	}
	want := []string{
		"present: ",
		"present: ",
		"signature missing: mirror.example.com/hub/redis:7 lacks signatures of redis:7: sha256-2222.sig",
		"error: comparing the signatures with the source: quay.io denied access",
		"present: ",
		"missing: checking mirror.example.com/hub/library/gone:1: not found in r",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	for a, n := range sigs.asked {
		if n != 1 {
			t.Errorf("%v asked %d times", a, n)
		}
	}
	if len(sigs.asked) != 5 {
		t.Errorf("asked %v, want nginx, redis, app and pause's two sources", sigs.asked)
	}
	if s := SummarizeChecks(checks); s.Unsigned != 1 || s.Present != 3 || s.Errors != 1 {
		t.Errorf("summary %+v", s)
	}
}
