package admission

import (
	"kmirror.dev/kmirror/internal/testing/jsonpatch"

	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"kmirror.dev/kmirror/rules"
)

// rulesTo are rules that send k8s.gcr.io to mirror.
func rulesTo(mirror string) string {
	return fmt.Sprintf(`apiVersion: kmirror.dev/v1alpha1
kind: MirrorRules
metadata:
  name: %s
spec:
  mirrors:
  - from: k8s.gcr.io/
    to: %s/
`, mirror, mirror)
}

// configMapDir lays out a directory as the kubelet mounts a ConfigMap:
// rules.yaml -> ..data/rules.yaml, ..data -> a directory named by the
// time of the update. update swaps ..data atomically to a new such
// directory, as the kubelet does, and removes the old one.
type configMapDir struct {
	t       *testing.T
	dir     string
	current string
	n       int
}

func newConfigMapDir(t *testing.T, content string) *configMapDir {
	d := &configMapDir{t: t, dir: t.TempDir()}
	d.update(content)
	if err := os.Symlink(filepath.Join("..data", "rules.yaml"), d.file()); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *configMapDir) file() string { return filepath.Join(d.dir, "rules.yaml") }

func (d *configMapDir) update(content string) {
	d.n++
	name := fmt.Sprintf("..2026_01_01_00_00_%02d.%09d", d.n, d.n)
	if err := os.Mkdir(filepath.Join(d.dir, name), 0o755); err != nil {
		d.t.Fatal(err)
	}
	writeFile(d.t, filepath.Join(d.dir, name, "rules.yaml"), []byte(content))
	tmp := filepath.Join(d.dir, "..data_tmp")
	if err := os.Symlink(name, tmp); err != nil {
		d.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, "..data")); err != nil {
		d.t.Fatal(err)
	}
	if d.current != "" {
		if err := os.RemoveAll(filepath.Join(d.dir, d.current)); err != nil {
			d.t.Fatal(err)
		}
	}
	d.current = name
}

// lockedBuffer is a buffer that a watcher writes to while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// mirrorOf returns the image the handler gives k8s.gcr.io/coredns:1.3.1.
func mirrorOf(t *testing.T, h testHandler) string {
	t.Helper()
	pod := podJSON(t, `{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: "k8s.gcr.io/coredns:1.3.1"}]}}`)
	a := h.review(t, reviewBody(t, "admission.k8s.io/v1", "CREATE", pod, nil, nil))
	out := jsonpatch.Apply(t, pod, a.Response.Patch)
	_, after, _ := strings.Cut(string(out), `"image":"`)
	img, _, _ := strings.Cut(after, `"`)
	return strings.TrimSuffix(img, "/coredns:1.3.1")
}

func TestRulesWatcherFollowsAConfigMapMount(t *testing.T) {
	d := newConfigMapDir(t, rulesTo("one.example.com"))
	logs := &lockedBuffer{}
	h := testHandler{&Handler{Metrics: NewMetrics()}, &bytes.Buffer{}}
	w, err := NewRulesWatcher(d.file(), h.Handler, slog.New(slog.NewJSONHandler(logs, nil)), h.Metrics)
	if err != nil {
		t.Fatal(err)
	}
	if got := mirrorOf(t, h); got != "one.example.com" {
		t.Fatalf("first rules: %s", got)
	}
	d.update(rulesTo("two.example.com"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Watch(ctx, 5*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for mirrorOf(t, h) != "two.example.com" {
		if time.Now().After(deadline) {
			t.Fatal("the new rules were not picked up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `"msg":"loaded rules","file":"`+d.file()+`","name":"two.example.com"`) {
		t.Errorf("no log of the reload:\n%s", logs)
	}
}

func TestRulesWatcherKeepsTheRulesWhenTheFileIsBad(t *testing.T) {
	d := newConfigMapDir(t, rulesTo("one.example.com"))
	logs := &bytes.Buffer{}
	h := testHandler{&Handler{Metrics: NewMetrics()}, logs}
	w, err := NewRulesWatcher(d.file(), h.Handler, slog.New(slog.NewJSONHandler(logs, nil)), h.Metrics)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, content, want string
	}{
		{"not rules", "apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nspec:\n  mirrors:\n  - form: x/\n", d.file() + ":5: "},
		{"half written", rulesTo("two.example.com")[:40], d.file() + ":"},
		{"empty", "", "empty rules file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d.update(tc.content)
			for range 2 {
				changed, err := w.Reload()
				if changed || err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Reload: changed %v, error %v; want an error with %q", changed, err, tc.want)
				}
			}
			if got := mirrorOf(t, h); got != "one.example.com" {
				t.Errorf("the rules in use changed to %s", got)
			}
		})
	}
	if got := gather(t, h.Metrics)["kmirror_rules_reload_failures_total"]; got != 3 {
		t.Errorf("%v failed reloads counted, want 3: once for each bad content", got)
	}
	if n := strings.Count(logs.String(), "keeping the rules in use"); n != 3 {
		t.Errorf("%d lines say the rules are kept, want 3:\n%s", n, logs)
	}
	if _, err := NewRulesWatcher(d.file(), &Handler{}, nil, nil); err == nil {
		t.Error("NewRulesWatcher of a bad file: no error")
	}
}

// TestRulesWatcherRefusesALargeFile: a rules file over 1 MiB, the most a
// ConfigMap holds, is refused without being read whole or kept, and the
// rules in use stay.
func TestRulesWatcherRefusesALargeFile(t *testing.T) {
	d := newConfigMapDir(t, rulesTo("one.example.com"))
	h := testHandler{&Handler{Metrics: NewMetrics()}, &bytes.Buffer{}}
	w, err := NewRulesWatcher(d.file(), h.Handler, nil, h.Metrics)
	if err != nil {
		t.Fatal(err)
	}
	// Valid rules, then zeros up to 100 MB: a sparse file, which takes no
	// room on the disk.
	d.update(rulesTo("two.example.com"))
	if err := os.Truncate(d.file(), 100<<20); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	changed, err := w.Reload()
	runtime.ReadMemStats(&after)
	if changed || !errors.Is(err, rules.ErrTooLarge) || !strings.HasPrefix(err.Error(), d.file()+": ") {
		t.Errorf("Reload of a file of 100 MB: changed %v, %v; want ErrTooLarge naming the file", changed, err)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 4<<20 {
		t.Errorf("Reload of a file of 100 MB allocated %d MB", allocated>>20)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if held := int64(after.HeapAlloc) - int64(before.HeapAlloc); held > 4<<20 {
		t.Errorf("the watcher holds %d MB after refusing a file of 100 MB", held>>20)
	}
	runtime.KeepAlive(w)
	if got := mirrorOf(t, h); got != "one.example.com" {
		t.Errorf("the rules in use changed to %s", got)
	}
}

// TestReviewsFinishWithTheirRules: rules that change while a review waits
// for the mirror do not change its answer.
func TestReviewsFinishWithTheirRules(t *testing.T) {
	h := newTestHandler(t)
	mirror := &fakeMirror{hold: make(chan struct{}), waiting: make(chan struct{}),
		present: map[string]bool{coredns: true, "new.example.com/coredns:1.3.1": true}}
	h.Swap = &Swap{Mirror: mirror}
	done := make(chan string)
	go func() { done <- mirrorOf(t, h) }()
	<-mirror.waiting
	eng, err := rules.Parse("new.yaml", []byte(rulesTo("new.example.com")))
	if err != nil {
		t.Fatal(err)
	}
	h.SetEngine(eng)
	close(mirror.hold)
	if got := <-done; got != strings.TrimSuffix(M, "/")+"/gcr/google_containers" {
		t.Errorf("the review in flight answered with %s", got)
	}
	mirror.hold = nil
	if got := mirrorOf(t, h); got != "new.example.com" {
		t.Errorf("the next review answered with %s", got)
	}
}
