package admission

import (
	"kmirror.dev/kmirror/internal/testing/jsonpatch"

	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/rules"
)

// reviewBody returns an AdmissionReview request for a Pod.
func reviewBody(t *testing.T, apiVersion, op string, object, old []byte, extra map[string]any) []byte {
	t.Helper()
	req := map[string]any{
		"uid":       "705ab4f5-6393-11e8-b7cc-42010a800002",
		"kind":      map[string]string{"group": "", "version": "v1", "kind": "Pod"},
		"resource":  map[string]string{"group": "", "version": "v1", "resource": "pods"},
		"namespace": "shop",
		"name":      "web",
		"operation": op,
		"userInfo":  map[string]any{"username": "admin", "groups": []string{"system:masters"}},
	}
	if object != nil {
		req["object"] = json.RawMessage(object)
	}
	if old != nil {
		req["oldObject"] = json.RawMessage(old)
	}
	for k, v := range extra {
		req[k] = v
	}
	b, err := json.Marshal(map[string]any{"apiVersion": apiVersion, "kind": "AdmissionReview", "request": req})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reviewAnswer is an AdmissionReview response as the API server reads it.
type reviewAnswer struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Request    json.RawMessage `json:"request"`
	Response   struct {
		UID       string   `json:"uid"`
		Allowed   bool     `json:"allowed"`
		Patch     []byte   `json:"patch"`
		PatchType *string  `json:"patchType"`
		Warnings  []string `json:"warnings"`
	} `json:"response"`
}

type testHandler struct {
	*Handler
	logs *bytes.Buffer
}

func newTestHandler(t *testing.T) testHandler {
	t.Helper()
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	return testHandler{&Handler{Engine: eng, Log: slog.New(slog.NewJSONHandler(logs, nil)), Metrics: NewMetrics()}, logs}
}

func (h testHandler) post(t *testing.T, body []byte, contentType string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func (h testHandler) review(t *testing.T, body []byte) reviewAnswer {
	t.Helper()
	w := h.post(t, body, "application/json")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var a reviewAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Fatalf("%s: %v", w.Body, err)
	}
	return a
}

func TestHandlerAnswersInTheVersionAsked(t *testing.T) {
	h := newTestHandler(t)
	object := podJSON(t, samplePod)
	want, err := Mutate(h.Engine, object, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, version := range []string{"admission.k8s.io/v1", "admission.k8s.io/v1beta1"} {
		t.Run(version, func(t *testing.T) {
			a := h.review(t, reviewBody(t, version, "CREATE", object, nil, nil))
			if a.APIVersion != version || a.Kind != "AdmissionReview" || a.Request != nil {
				t.Errorf("answer is kind %q of %q with request %s", a.Kind, a.APIVersion, a.Request)
			}
			r := a.Response
			if r.UID != "705ab4f5-6393-11e8-b7cc-42010a800002" || !r.Allowed || r.PatchType == nil || *r.PatchType != "JSONPatch" {
				t.Errorf("response uid %q allowed %v patchType %v", r.UID, r.Allowed, r.PatchType)
			}
			if diff := cmp.Diff(decode(t, want.Patch()), decode(t, r.Patch)); diff != "" {
				t.Errorf("patch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHandlerAllowsWithoutPatch(t *testing.T) {
	h := newTestHandler(t)
	pod := podJSON(t, samplePod)
	mirrored := jsonpatch.Apply(t, pod, mustMutate(t, h.Handler, pod, nil).Patch())
	// Nothing is an image field: an OS image's name, a field not named
	// image.
	widget := podJSON(t, `{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, spec: {image: ubuntu-22.04, dnsImage: k8s.gcr.io/coredns:1.3.1}}`)
	for _, tc := range []struct {
		name        string
		op          string
		object, old []byte
	}{
		{"images already mirrored", "CREATE", mirrored, nil},
		{"an update that changes no image", "UPDATE", mirrored, mirrored},
		{"an unknown kind", "CREATE", widget, nil},
		{"a delete", "DELETE", nil, pod},
		{"a connect", "CONNECT", pod, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := h.review(t, reviewBody(t, "admission.k8s.io/v1", tc.op, tc.object, tc.old, nil))
			if r := a.Response; !r.Allowed || r.Patch != nil || r.PatchType != nil {
				t.Errorf("allowed %v, patch %s, patchType %v; want allowed without a patch", r.Allowed, r.Patch, r.PatchType)
			}
		})
	}
}

func TestHandlerGivesDryRunTheSameAnswer(t *testing.T) {
	h := newTestHandler(t)
	pod := podJSON(t, samplePod)
	wet := h.review(t, reviewBody(t, "admission.k8s.io/v1", "CREATE", pod, nil, nil))
	dry := h.review(t, reviewBody(t, "admission.k8s.io/v1", "CREATE", pod, nil, map[string]any{"dryRun": true}))
	if diff := cmp.Diff(wet, dry); diff != "" {
		t.Errorf("dry run answer (-wet +dry):\n%s", diff)
	}
}

func TestHandlerMutatesTheEphemeralContainersSubresource(t *testing.T) {
	h := newTestHandler(t)
	old := podJSON(t, `{kind: Pod, metadata: {name: web}, spec: {containers: [{name: a, image: busybox:latest}]}}`)
	pod := podJSON(t, `{kind: Pod, metadata: {name: web}, spec: {containers: [{name: a, image: busybox:latest}], ephemeralContainers: [{name: debugger, image: busybox:1.36}]}}`)
	a := h.review(t, reviewBody(t, "admission.k8s.io/v1", "UPDATE", pod, old, map[string]any{"subResource": "ephemeralcontainers"}))
	want := `[{"op":"replace","path":"/spec/ephemeralContainers/0/image","value":"` + M + `dockerhub/busybox:1.36"}]`
	if diff := cmp.Diff(decode(t, []byte(want)), decode(t, a.Response.Patch)); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}
}

func TestHandlerRefusesBadRequests(t *testing.T) {
	h := newTestHandler(t)
	pod := podJSON(t, samplePod)
	good := reviewBody(t, "admission.k8s.io/v1", "CREATE", pod, nil, nil)
	tests := []struct {
		name        string
		method      string
		contentType string
		body        []byte
		status      int
		message     string
	}{
		{"GET", http.MethodGet, "application/json", nil, http.StatusMethodNotAllowed, "POST"},
		{"a text body", http.MethodPost, "text/plain", good, http.StatusUnsupportedMediaType, "application/json"},
		{"no content type", http.MethodPost, "", good, http.StatusUnsupportedMediaType, "application/json"},
		{"a body over the limit", http.MethodPost, "application/json", bytes.Repeat([]byte(" "), MaxBodyBytes+1), http.StatusRequestEntityTooLarge, "7 MiB"},
		{"malformed JSON", http.MethodPost, "application/json", good[:len(good)/2], http.StatusBadRequest, "malformed JSON"},
		{"not a review", http.MethodPost, "application/json", []byte(`{"kind":"Pod","apiVersion":"v1"}`), http.StatusBadRequest, "want kind AdmissionReview"},
		{"an unknown version", http.MethodPost, "application/json", bytes.Replace(good, []byte("admission.k8s.io/v1"), []byte("admission.k8s.io/v2"), 1), http.StatusBadRequest, "admission.k8s.io/v2"},
		{"no request", http.MethodPost, "application/json", []byte(`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}`), http.StatusBadRequest, "no request"},
		{"a null request", http.MethodPost, "application/json", []byte(`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":null}`), http.StatusBadRequest, "no request"},
		{"a repeated key", http.MethodPost, "application/json", []byte(`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u","operation":"CREATE","object":{},"object":{}}}`), http.StatusBadRequest, "request.object: the key appears twice"},
		{"a request that is not an object", http.MethodPost, "application/json", []byte(`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":[]}`), http.StatusBadRequest, "request: want an object"},
		{"no uid", http.MethodPost, "application/json", reviewBody(t, "admission.k8s.io/v1", "CREATE", pod, nil, map[string]any{"uid": ""}), http.StatusBadRequest, "uid"},
		{"an object that is not an object", http.MethodPost, "application/json", reviewBody(t, "admission.k8s.io/v1", "CREATE", []byte(`"pod"`), nil, nil), http.StatusBadRequest, "request.object: want an object"},
		{"a field of the wrong type", http.MethodPost, "application/json", reviewBody(t, "admission.k8s.io/v1", "CREATE", pod, nil, map[string]any{"dryRun": "yes"}), http.StatusBadRequest, "request.dryRun: want true or false"},
		{"a kind of the wrong type", http.MethodPost, "application/json", reviewBody(t, "admission.k8s.io/v1", "CREATE", pod, nil, map[string]any{"kind": map[string]any{"kind": 1}}), http.StatusBadRequest, "request.kind.kind: want a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/mutate", bytes.NewReader(tc.body))
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.message) {
				t.Errorf("got %d %q, want %d with %q", w.Code, w.Body, tc.status, tc.message)
			}
		})
	}
	if w := h.post(t, good, "application/json; charset=utf-8"); w.Code != http.StatusOK {
		t.Errorf("application/json with a charset: status %d", w.Code)
	}
}

func TestHandlerLogsOneLinePerRequestWithoutTheObject(t *testing.T) {
	h := newTestHandler(t)
	pod := podJSON(t, samplePod)
	h.review(t, reviewBody(t, "admission.k8s.io/v1", "CREATE", pod, nil, map[string]any{"dryRun": true}))
	h.post(t, []byte("{"), "application/json")
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(h.logs.Bytes()))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %s: %v", sc.Bytes(), err)
		}
		delete(line, "time")
		delete(line, "took")
		lines = append(lines, line)
	}
	want := []map[string]any{{
		"level": "INFO", "msg": "review", "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
		"kind": "Pod", "namespace": "shop", "name": "web", "operation": "CREATE", "dryRun": true, "result": "patched",
		"rewritten": []any{
			"spec.containers[0].image: k8s.gcr.io/coredns:1.3.1 -> " + M + "gcr/google_containers/coredns:1.3.1",
			"spec.containers[1].image: direct.to/busybox:latest -> busybox:latest",
			"spec.initContainers[0].image: quay.io/prometheus/busybox:1.36 -> " + M + "quay/prometheus/busybox:1.36",
			"spec.volumes[0].image.reference: docker.io/library/data:1 -> " + M + "dockerhub/library/data:1",
		},
	}, {
		"level": "WARN", "msg": "request refused", "status": float64(400), "remote": "192.0.2.1:1234",
		"error": "bad AdmissionReview: malformed JSON: unexpected end of JSON input",
	}}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
	if strings.Contains(h.logs.String(), "s3cr3t") {
		t.Errorf("the logs hold a value of the object:\n%s", h.logs)
	}
}

func TestHandlerCountsRequests(t *testing.T) {
	h := newTestHandler(t)
	pod := podJSON(t, samplePod)
	h.review(t, reviewBody(t, "admission.k8s.io/v1", "CREATE", pod, nil, nil))
	h.review(t, reviewBody(t, "admission.k8s.io/v1", "UPDATE", pod, pod, nil))
	h.review(t, reviewBody(t, "admission.k8s.io/v1", "CREATE", podJSON(t, `{kind: Pod, metadata: {name: dry}, spec: {containers: [{name: a, image: nginx}]}}`), nil, map[string]any{"dryRun": true}))
	h.post(t, []byte("{"), "application/json")
	h.post(t, []byte("["+strings.Repeat("0,", MaxValues)+"0]"), "application/json")
	want := map[string]float64{
		`kmirror_admission_requests_total{result="patched"}`:                          2,
		`kmirror_admission_requests_total{result="unchanged"}`:                        1,
		`kmirror_admission_requests_total{result="bad_request"}`:                      1,
		`kmirror_admission_requests_total{result="over_budget"}`:                      1,
		`kmirror_admission_requests_total{result="error"}`:                            0,
		`kmirror_admission_images_rewritten_total{action="mirrored",dry_run="false"}`: 3,
		`kmirror_admission_images_rewritten_total{action="escaped",dry_run="false"}`:  1,
		`kmirror_admission_images_rewritten_total{action="mirrored",dry_run="true"}`:  1,
		`kmirror_admission_images_rewritten_total{action="escaped",dry_run="true"}`:   0,
		`kmirror_admission_request_duration_seconds_count`:                            5,
		`kmirror_tls_certificate_expiry_timestamp_seconds`:                            0,
		`kmirror_tls_certificate_reload_failures_total`:                               0,
		`kmirror_tls_handshake_errors_total`:                                          0,
	}
	got := gather(t, h.Metrics)
	for k := range got {
		if _, ok := want[k]; !ok {
			delete(got, k)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

// gather returns the kmirror metrics by name and labels, as Prometheus
// writes them; a histogram by its count.
func gather(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			var labels []string
			for _, l := range metric.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			name := f.GetName()
			if labels != nil {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case metric.GetCounter() != nil:
				out[name] = metric.GetCounter().GetValue()
			case metric.GetGauge() != nil:
				out[name] = metric.GetGauge().GetValue()
			case metric.GetHistogram() != nil:
				out[name+"_count"] = float64(metric.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func mustMutate(t *testing.T, h *Handler, object, old []byte) *Mutation {
	t.Helper()
	m, err := Mutate(h.Engine, object, old)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// FuzzHandler sends arbitrary bodies: the handler never panics, answers
// 200, 400 or 413, repeats no more than a few hundred bytes of what it was
// sent, and a patch it gives applies to the object it was given.
func FuzzHandler(f *testing.F) {
	t := &testing.T{}
	pod := podJSON(t, samplePod)
	f.Add(reviewBody(t, "admission.k8s.io/v1", "CREATE", pod, nil, nil))
	f.Add(reviewBody(t, "admission.k8s.io/v1beta1", "UPDATE", pod, podJSON(t, `{kind: Pod, spec: {containers: [{name: app, image: nginx}]}}`), nil))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":{"items":[{"spec":{"containers":[{"image":"direct.to/a"}]}}],"kind":"List"}}}`))
	f.Add([]byte(`{}`))
	// The findings of the Trust issue, small: a long invalid image, a long
	// name and kind, a record that escaping is off would ignore, values
	// and depth over the limits.
	long := strings.Repeat("A", 4096)
	f.Add(reviewBody(t, "admission.k8s.io/v1", "CREATE", []byte(containersJSON(2, func(int) string { return long })), nil, map[string]any{"name": long}))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"` + long + `"}`))
	f.Add(reviewBody(t, "admission.k8s.io/v1", "CREATE", podJSON(t, `{kind: Pod, metadata: {name: p, annotations: {kmirror.dev/escaped: '{"containers/a":"nginx"}'}}, spec: {containers: [{name: a, image: nginx}]}}`), nil, nil))
	f.Add(reviewBody(t, "admission.k8s.io/v1", "CREATE", []byte(`{"kind":"Pod","x":[`+strings.Repeat("0,", MaxValues)+`0]}`), nil, nil))
	f.Add(reviewBody(t, "admission.k8s.io/v1", "CREATE", []byte(strings.Repeat(`{"a":`, MaxDepth)+"0"+strings.Repeat("}", MaxDepth)), nil, nil))
	eng, err := rules.Load("")
	if err != nil {
		f.Fatal(err)
	}
	h := &Handler{Engine: eng}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == http.StatusBadRequest || w.Code == http.StatusRequestEntityTooLarge {
			if w.Body.Len() > 1<<10 {
				t.Fatalf("status %d with %d bytes: %.300q", w.Code, w.Body.Len(), w.Body)
			}
			return
		}
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		var a reviewAnswer
		if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
			t.Fatalf("answer %s: %v", w.Body, err)
		}
		if len(a.Response.Warnings) > maxListed+1 {
			t.Fatalf("%d warnings", len(a.Response.Warnings))
		}
		for _, warning := range a.Response.Warnings {
			if len(warning) > maxMessage+len("…") {
				t.Fatalf("a warning of %d bytes: %.300q", len(warning), warning)
			}
		}
		if a.Response.Patch == nil {
			return
		}
		// Keys are matched exactly, as the API server's decoder does, not
		// by encoding/json's case-insensitive match of struct fields.
		var review, req map[string]json.RawMessage
		if err := json.Unmarshal(body, &review); err != nil {
			t.Fatalf("a patch for a body encoding/json cannot read: %v", err)
		}
		if err := json.Unmarshal(review["request"], &req); err != nil {
			t.Fatal(err)
		}
		jsonpatch.Apply(t, req["object"], a.Response.Patch)
	})
}
