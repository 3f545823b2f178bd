package admission

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/rules"
)

// TestMutateIgnoresTheEscapeRecordWithoutEscapes: with escaping turned
// off, the annotation would keep any image its Pod's author names in it
// unmirrored.
func TestMutateIgnoresTheEscapeRecordWithoutEscapes(t *testing.T) {
	eng, err := mirror.New(mirror.Rules{Name: "no-escapes", Mirrors: []mirror.Rule{{From: "docker.io/", To: "mirror.example.com/hub/"}}})
	if err != nil {
		t.Fatal(err)
	}
	object := podJSON(t, `{kind: Pod, metadata: {name: p, annotations: {kmirror.dev/escaped: '{"containers/a":"nginx:1"}'}},
		spec: {containers: [{name: a, image: "nginx:1"}, {name: b, image: "direct.to/nginx:1"}]}}`)
	for _, old := range [][]byte{nil, podJSON(t, `{kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: "nginx:0"}]}}`)} {
		m, err := Mutate(eng, object, old)
		if err != nil {
			t.Fatal(err)
		}
		want := `[{"op":"replace","path":"/spec/containers/0/image","value":"mirror.example.com/hub/nginx:1"}]`
		if diff := cmp.Diff(decode(t, []byte(want)), decode(t, m.Patch())); diff != "" {
			t.Errorf("old object %v: patch (-want +got):\n%s", old != nil, diff)
		}
	}
}

// containersJSON returns a Pod with n containers, each with its own image.
func containersJSON(n int, image func(i int) string) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"c%d","image":%q}`, i, image(i))
	}
	return `{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[` + b.String() + `]}}`
}

// nested returns an object with a pod spec under keys, one in another.
func nested(keys ...string) string {
	return `{"kind":"Widget",` + strings.Join(keys, ":{") + `:{"containers":[{"name":"a","image":"nginx"}]}` + strings.Repeat("}", len(keys))
}

func TestMutateLimits(t *testing.T) {
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	nginx := func(i int) string { return fmt.Sprintf("nginx:%d", i) }
	pathKey := `"` + strings.Repeat("k", MaxPathBytes-len(".containers[0].image")) + `"`
	for _, tc := range []struct {
		name        string
		object, old string
		tooLarge    bool
	}{
		{"images at the limit", containersJSON(MaxImages, nginx), "", false},
		{"one image over", containersJSON(MaxImages+1, nginx), "", true},
		{"one image over in the old object", containersJSON(1, nginx), containersJSON(MaxImages+1, nginx), true},
		{"image keys count, fields or not", strings.Replace(containersJSON(MaxImages, nginx), `"kind"`, `"x":{"image":1},"kind"`, 1), "", true},
		{"a path at the limit", nested(pathKey), "", false},
		{"a path one byte over", nested(pathKey[:1] + "k" + pathKey[1:]), "", true},
		{"a path over in the old object", nested(`"a"`), nested(pathKey[:1] + "k" + pathKey[1:]), true},
		// The object, a key and a value, a key and an array: 5 values.
		{"values at the limit", `{"kind":"Pod","x":[` + strings.Repeat("0,", MaxValues-6) + `0]}`, "", false},
		{"values over", `{"kind":"Pod","x":[` + strings.Repeat("0,", MaxValues-5) + `0]}`, "", true},
		{"depth at the limit", strings.Repeat(`{"a":`, MaxDepth-1) + "{}" + strings.Repeat("}", MaxDepth-1), "", false},
		{"depth over", strings.Repeat(`{"a":`, MaxDepth) + "{}" + strings.Repeat("}", MaxDepth), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var old []byte
			if tc.old != "" {
				old = []byte(tc.old)
			}
			_, err := Mutate(eng, []byte(tc.object), old)
			if errors.Is(err, ErrTooLarge) != tc.tooLarge || err != nil && !tc.tooLarge {
				t.Errorf("error %v, want ErrTooLarge %v", err, tc.tooLarge)
			}
		})
	}
}

// post serves a review of body, with the content length declared.
func post(h http.Handler, body io.Reader, length int64) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/mutate", body)
	r.Header.Set("Content-Type", "application/json")
	r.ContentLength = length
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// unread is a body that must not be read.
type unread struct{ t *testing.T }

func (u unread) Read([]byte) (int, error) {
	u.t.Error("the body was read")
	return 0, io.ErrUnexpectedEOF
}

// TestHandlerRefusesReviewsOverTheLimits: a Pod whose args are a million
// empty strings is 3 MiB of JSON and cost 200 MB to parse.
func TestHandlerRefusesReviewsOverTheLimits(t *testing.T) {
	h := newTestHandler(t)
	pod := func(object string) []byte {
		return reviewBody(t, "admission.k8s.io/v1", "CREATE", []byte(object), nil, nil)
	}
	emptyArgs := `{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"nginx","args":[` + strings.Repeat(`"",`, 1<<20) + `""]}]}}`
	for _, tc := range []struct {
		name    string
		body    []byte
		message string
	}{
		{"a million empty args", pod(emptyArgs), "more than 100000 JSON values"},
		{"too deep", pod(strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth)), "nested more than 32 levels deep"},
		{"too many images", pod(containersJSON(MaxImages+1, func(int) string { return "nginx" })), "the object has 1001 keys named image, more than 1000"},
		{"a path too long", pod(nested(`"` + strings.Repeat("k", MaxPathBytes) + `"`)), "an image field at a path longer than 256 bytes: kkkk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := post(h, bytes.NewReader(tc.body), int64(len(tc.body)))
			var status metav1.Status
			if err := json.Unmarshal(w.Body.Bytes(), &status); err != nil {
				t.Fatalf("%s: %v", w.Body, err)
			}
			if w.Code != http.StatusRequestEntityTooLarge || status.Code != 413 || status.Reason != metav1.StatusReasonRequestEntityTooLarge ||
				!strings.Contains(status.Message, tc.message) || w.Body.Len() > 1<<10 {
				t.Errorf("got %d %q, want 413 with %q", w.Code, w.Body, tc.message)
			}
		})
	}
	t.Run("a declared length over the limit is refused unread", func(t *testing.T) {
		w := post(h, unread{t}, MaxBodyBytes+1)
		if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), "larger than 7 MiB") {
			t.Errorf("got %d %q, want 413", w.Code, w.Body)
		}
	})
	t.Run("an over-long uid", func(t *testing.T) {
		body := reviewBody(t, "admission.k8s.io/v1", "CREATE", []byte(`{"kind":"Pod"}`), nil, map[string]any{"uid": strings.Repeat("u", 1<<20)})
		if w := post(h, bytes.NewReader(body), int64(len(body))); w.Code != http.StatusBadRequest || w.Body.Len() > 1<<10 {
			t.Errorf("got %d %.200q, want 400", w.Code, w.Body)
		}
	})
	if got := gather(t, h.Metrics)[`kmirror_admission_requests_total{result="over_budget"}`]; got != 5 {
		t.Errorf("%v reviews counted over budget, want 5", got)
	}
}

// blockingBody is a body that sends nothing until it is released.
type blockingBody struct{ release chan struct{} }

func (b blockingBody) Read(p []byte) (int, error) {
	<-b.release
	return 0, io.ErrUnexpectedEOF
}

// TestHandlerBoundsTheReviewsInFlight: eight reviews of 3 MiB at once took
// 1.6 GB. A review that finds the budget held waits, then gets 503.
func TestHandlerBoundsTheReviewsInFlight(t *testing.T) {
	h := newTestHandler(t)
	h.InFlightBytes, h.WaitTimeout = 1, 500*time.Millisecond
	small := reviewBody(t, "admission.k8s.io/v1", "CREATE", podJSON(t, samplePod), nil, nil)
	h.review(t, small)
	// A review as large as allowed, whose body is slow to come, holds the
	// whole budget.
	held := blockingBody{make(chan struct{})}
	first := make(chan int)
	go func() { first <- post(h, held, MaxBodyBytes).Code }()
	for free := int64(1); free > 0; time.Sleep(time.Millisecond) {
		h.budget.mu.Lock()
		free = h.budget.free
		h.budget.mu.Unlock()
	}
	w := post(h, bytes.NewReader(small), int64(len(small)))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "busy") {
		t.Errorf("with the budget held: %d %q, want 503", w.Code, w.Body)
	}
	// A review that comes while another waits gets its turn when the
	// budget is given back.
	second := make(chan int)
	go func() { second <- post(h, bytes.NewReader(small), int64(len(small))).Code }()
	time.Sleep(50 * time.Millisecond)
	close(held.release)
	if code := <-first; code != http.StatusBadRequest {
		t.Errorf("the held review: %d, want 400 for its cut body", code)
	}
	if code := <-second; code != http.StatusOK {
		t.Errorf("the waiting review: %d, want 200", code)
	}
	if h.budget.free != worstCost(MaxBodyBytes) {
		t.Errorf("%d bytes of the budget free after the reviews, want %d", h.budget.free, worstCost(MaxBodyBytes))
	}
}

// TestHandlerCutsEchoes: a 5 MiB invalid image came back as a 10 MiB
// answer and a 10 MiB log line.
func TestHandlerCutsEchoes(t *testing.T) {
	h := newTestHandler(t)
	huge := strings.Repeat("A", 5<<20)
	invalid := func(i int) string { return fmt.Sprintf("Invalid:%d", i) }
	for _, tc := range []struct {
		name   string
		object string
		extra  map[string]any
		// warning is a part of the first warning.
		warning string
	}{
		{"a 5 MiB invalid image", containersJSON(1, func(int) string { return huge }), nil, `"AAAAAAAA`},
		{"two 3 MiB invalid images", containersJSON(2, func(int) string { return huge[:3<<20] }), nil, `(3145728 bytes)`},
		{"a 5 MiB escaped image", containersJSON(1, func(int) string { return "direct.to/" + huge }), nil, `(5242890 bytes)`},
		{"a 1 MiB image with spaces", containersJSON(1, func(int) string { return strings.Repeat("a ", 1<<19) }), nil, `invalid image reference`},
		{"a name of 1 MiB", containersJSON(1, func(int) string { return "Invalid" }), map[string]any{"name": huge[:1<<20]}, "must be lowercase"},
		{"a thousand invalid images", containersJSON(1000, invalid), nil, "Invalid:0"},
		{"a thousand images rewritten", containersJSON(1000, func(i int) string { return fmt.Sprintf("nginx:%d", i) }), nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.logs.Reset()
			a := h.review(t, reviewBody(t, "admission.k8s.io/v1", "CREATE", []byte(tc.object), nil, tc.extra))
			answer, _ := json.Marshal(a)
			if len(answer) > 16<<10 && a.Response.Patch == nil || len(a.Response.Warnings) > maxListed+1 {
				t.Errorf("an answer of %d bytes with %d warnings", len(answer), len(a.Response.Warnings))
			}
			for _, w := range a.Response.Warnings {
				if len(w) > maxMessage+len("…") {
					t.Errorf("a warning of %d bytes: %.200q", len(w), w)
				}
			}
			if tc.warning != "" && (len(a.Response.Warnings) == 0 || !strings.Contains(a.Response.Warnings[0], tc.warning)) {
				t.Errorf("warnings %.300q, want the first with %q", a.Response.Warnings, tc.warning)
			}
			if n := h.logs.Len(); n > 8<<10 {
				t.Errorf("a log line of %d bytes: %.300s", n, h.logs)
			}
		})
	}
	t.Run("refusals", func(t *testing.T) {
		h.logs.Reset()
		for _, body := range [][]byte{
			[]byte(`{"kind":"` + huge + `","apiVersion":"` + huge + `"}`),
			reviewBody(t, "admission.k8s.io/v1", "CREATE", []byte(containersJSON(MaxImages+1, invalid)), nil, map[string]any{"name": huge, "namespace": huge}),
		} {
			if w := post(h, bytes.NewReader(body), int64(len(body))); w.Body.Len() > 1<<10 {
				t.Errorf("status %d with %d bytes: %.300q", w.Code, w.Body.Len(), w.Body)
			}
		}
		if n := h.logs.Len(); n > 4<<10 {
			t.Errorf("%d bytes of log lines: %.300s", n, h.logs)
		}
	})
}

func TestClip(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"short", "short"},
		{strings.Repeat("a", 10), strings.Repeat("a", 10)},
		{strings.Repeat("a", 11), "aaaaaaaaaa… (11 bytes)"},
		// Not in the middle of a character.
		{"aaaaaaaaaé", "aaaaaaaaa… (11 bytes)"},
	} {
		if got := clip(tc.in, 10); got != tc.want {
			t.Errorf("clip(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	msg := `invalid image reference "` + strings.Repeat("X", 1000) + `": repository name (library/` + strings.Repeat("X", 1000) + `) must be lowercase`
	want := `invalid image reference "` + strings.Repeat("X", maxEcho-1) + `… (1003 bytes) repository name (library/` + strings.Repeat("X", maxEcho-9) + `… (1010 bytes) must be lowercase`
	if got := clipMessage(msg); got != want {
		t.Errorf("clipMessage:\n got %q\nwant %q", got, want)
	}
	if got := listed([]string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"}); len(got) != maxListed+1 || got[maxListed] != "and 2 more" {
		t.Errorf("listed: %q", got)
	}
}
