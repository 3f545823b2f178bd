package admission

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"kmirror.dev/kmirror/pkg/jsonnode"
	"kmirror.dev/kmirror/pkg/mirror"
)

// MaxBodyBytes caps a request body. A review holds the object and, on
// UPDATE, the old object; the API server takes objects up to 3 MiB.
const MaxBodyBytes = 7 << 20

// Handler answers AdmissionReviews POSTed to it. It is safe for concurrent
// use.
type Handler struct {
	Engine *mirror.Engine
	// Log gets one line per request; nil logs nothing.
	Log *slog.Logger
	// Metrics counts requests; nil counts nothing.
	Metrics *Metrics

	once      sync.Once
	decisions *decisions
}

var _ http.Handler = (*Handler)(nil)

// ServeHTTP answers one AdmissionReview, or refuses a request that is not
// one with a 4xx status and a message.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	a := jsonnode.GetArena()
	defer a.Release()
	review, status, err := h.read(w, r, a)
	if err != nil {
		h.fail(w, r, status, err, start)
		return
	}
	h.once.Do(func() { h.decisions = newDecisions(h.Engine) })
	resp, mut := respond(h.decisions.decide, h.decisions.walk, review)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(appendReview(make([]byte, 0, 512), review.apiVersion, resp))
	result := ResultUnchanged
	if resp.Patch != nil {
		result = ResultPatched
	}
	h.Metrics.observe(result, mut, time.Since(start))
	h.logReview(r, &review.request, result, mut, time.Since(start))
}

// read checks the HTTP request and decodes its AdmissionReview; on failure
// it returns the HTTP status that says why.
func (h *Handler) read(w http.ResponseWriter, r *http.Request, a *jsonnode.Arena) (*review, int, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, http.StatusMethodNotAllowed, fmt.Errorf("method %s is not allowed; POST an AdmissionReview", r.Method)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q is not supported; send application/json", r.Header.Get("Content-Type"))
	}
	buf := bodies.Get().(*bytes.Buffer)
	defer putBody(buf)
	if r.ContentLength > 0 && r.ContentLength <= MaxBodyBytes {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, http.StatusRequestEntityTooLarge, errors.New("request body is larger than the limit of 7 MiB")
	}
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("reading the request body: %w", err)
	}
	// The parse copies what it keeps, so the buffer can go back.
	review, err := decodeReview(a, buf.Bytes())
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	return review, http.StatusOK, nil
}

// bodies are buffers for request bodies, reused.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putBody(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		b.Reset()
		bodies.Put(b)
	}
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, err error, start time.Time) {
	http.Error(w, err.Error(), status)
	result := ResultBadRequest
	if status >= 500 {
		result = ResultError
	}
	h.Metrics.observe(result, nil, time.Since(start))
	if h.Log != nil {
		h.Log.LogAttrs(r.Context(), slog.LevelWarn, "request refused",
			slog.Int("status", status), slog.String("error", err.Error()), slog.String("remote", r.RemoteAddr))
	}
}

// The results requests are counted by.
const (
	// ResultPatched: allowed, with a patch.
	ResultPatched = "patched"
	// ResultUnchanged: allowed without a patch.
	ResultUnchanged = "unchanged"
	// ResultBadRequest: not an AdmissionReview, refused with a 4xx status.
	ResultBadRequest = "bad_request"
	// ResultError: kmirror failed, with a 5xx status.
	ResultError = "error"
)

// logReview writes the line for one answered review. It names the object
// and the images rewritten, never the object itself.
func (h *Handler) logReview(r *http.Request, req *admissionv1.AdmissionRequest, result string, mut *Mutation, took time.Duration) {
	if h.Log == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("uid", string(req.UID)),
		slog.String("kind", req.Kind.Kind),
		slog.String("namespace", req.Namespace),
		slog.String("name", req.Name),
		slog.String("operation", string(req.Operation)),
	}
	if req.SubResource != "" {
		attrs = append(attrs, slog.String("subresource", req.SubResource))
	}
	if req.DryRun != nil && *req.DryRun {
		attrs = append(attrs, slog.Bool("dryRun", true))
	}
	attrs = append(attrs, slog.String("result", result))
	if mut != nil {
		var changes []string
		for i := range mut.Images {
			if d := &mut.Images[i].Decision; d.Changed() {
				changes = append(changes, mut.Images[i].Path.String()+": "+d.Image+" -> "+d.Result)
			}
		}
		if changes != nil {
			attrs = append(attrs, slog.Any("rewritten", changes))
		}
		if len(mut.Warnings) > 0 {
			attrs = append(attrs, slog.Any("warnings", mut.Warnings))
		}
	}
	attrs = append(attrs, slog.Duration("took", took))
	h.Log.LogAttrs(r.Context(), slog.LevelInfo, "review", attrs...)
}
