package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kmirror.dev/kmirror/pkg/jsonnode"
	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
)

// Handler answers AdmissionReviews POSTed to it. It is safe for concurrent
// use.
type Handler struct {
	// Engine decides images; SetEngine replaces it while serving.
	Engine *mirror.Engine
	// Log gets one line per request; nil logs nothing.
	Log *slog.Logger
	// Metrics counts requests; nil counts nothing.
	Metrics *Metrics
	// InFlightBytes bounds the memory the reviews in flight may hold, as
	// estimated from their size; 0 means DefaultInFlightBytes. It is
	// raised to what one review of MaxBodyBytes may need.
	InFlightBytes int64
	// WaitTimeout is how long a review waits for room in InFlightBytes
	// before it is answered 503; 0 means DefaultWaitTimeout.
	WaitTimeout time.Duration
	// Swap, when set, sends an image to the mirror only when the mirror
	// holds it (--swap-policy exists); nil sends every image the rules
	// mirror (--swap-policy always).
	Swap *Swap
	// NoInfer: no image field is found by its name, whatever engine the
	// handler is given (kmirror serve --no-infer); only pod specs and the
	// built-in and declared fields are read.
	NoInfer bool

	once sync.Once
	// decisions are the engine in use, with its walk and the decisions
	// it made: a review reads them once, and uses them to the end.
	decisions atomic.Pointer[decisions]
	budget    *budget
}

func (h *Handler) init() {
	h.once.Do(func() {
		if h.decisions.Load() == nil {
			h.decisions.Store(newDecisions(h.rulesOf(h.Engine)))
		}
		h.budget = newBudget(h.InFlightBytes, h.WaitTimeout)
	})
}

// SetEngine makes the handler decide with eng from the next review on.
// Reviews in flight finish with the engine they started with.
func (h *Handler) SetEngine(eng *mirror.Engine) {
	h.decisions.Store(newDecisions(h.rulesOf(eng)))
	h.init()
}

// rulesOf returns eng, or with NoInfer an engine for its rules that
// excludes every kind from the finding of fields by name.
func (h *Handler) rulesOf(eng *mirror.Engine) *mirror.Engine {
	if !h.NoInfer {
		return eng
	}
	off, err := manifest.WithoutInference(eng)
	if err != nil {
		// Not reached: the rules of eng were valid, and an exclusion of
		// every kind is too.
		panic(err)
	}
	return off
}

var _ http.Handler = (*Handler)(nil)

// ServeHTTP answers one AdmissionReview, or refuses a request that is not
// one, or is over the limits, with a 4xx or 5xx status and a message.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h.init()
	if status, err := checkRequest(w, r); err != nil {
		h.fail(w, r, nil, status, err, start)
		return
	}
	size := r.ContentLength
	if size < 0 {
		size = MaxBodyBytes
	}
	res, err := h.budget.reserve(r.Context(), worstCost(size))
	if err != nil {
		h.fail(w, r, nil, http.StatusServiceUnavailable, err, start)
		return
	}
	defer res.release()
	a := jsonnode.GetArena()
	a.MaxNodes, a.MaxDepth = MaxValues, MaxDepth
	releaseTree := func() {
		if a != nil {
			a.MaxNodes, a.MaxDepth = 0, 0
			a.Release()
			a = nil
		}
	}
	defer releaseTree()
	review, status, err := h.read(w, r, a)
	if err != nil {
		h.fail(w, r, review, status, err, start)
		return
	}
	res.shrink(reviewCost(int64(review.size), review.values, review.images))
	resp, mut, err := respond(h.decisions.Load(), review)
	if err != nil {
		h.fail(w, r, review, http.StatusRequestEntityTooLarge, err, start)
		return
	}
	dryRun := review.request.DryRun != nil && *review.request.DryRun
	if h.Swap != nil && mut != nil {
		h.swap(r.Context(), start, review, mut, dryRun, &res, releaseTree)
	}
	answer(resp, mut)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(appendReview(make([]byte, 0, answerSize(resp)), review.apiVersion, resp))
	result := ResultUnchanged
	if resp.Patch != nil {
		result = ResultPatched
	}
	h.Metrics.observe(result, mut, dryRun, time.Since(start))
	h.logReview(r, &review.request, result, mut, time.Since(start))
}

// swap runs the swap step on mut. While it waits for the mirror's answers,
// the review holds only what its answer needs: its tree goes back to the
// pool (releaseTree; nothing reads it after), and its part of the memory
// budget shrinks to that, so that reviews waiting on a slow registry do
// not keep others out. The wait ends at the review's budget.
func (h *Handler) swap(ctx context.Context, start time.Time, r *review, mut *Mutation, dryRun bool, res *reservation, releaseTree func()) {
	c, wait := h.Swap.ask(mut)
	if wait != nil {
		// Nothing may point into the tree: an arena too large for the
		// pool is left to the collector.
		r.object, r.oldObject = nil, nil
		mut.forgetTree()
		releaseTree()
		res.shrink(waitCost(r.size, mut))
		ctx, cancel := context.WithDeadline(ctx, start.Add(h.Swap.budget()))
		wait(ctx)
		cancel()
	}
	h.Swap.apply(mut, c, dryRun)
}

// checkRequest checks what can be checked before the body is read: the
// method, the content type, and a declared length over the limit.
func checkRequest(w http.ResponseWriter, r *http.Request) (int, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return http.StatusMethodNotAllowed, fmt.Errorf("method %s is not allowed; POST an AdmissionReview", clip(r.Method, maxEcho))
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return http.StatusUnsupportedMediaType, fmt.Errorf("content type %q is not supported; send application/json", clip(r.Header.Get("Content-Type"), maxEcho))
	}
	if r.ContentLength > MaxBodyBytes {
		return http.StatusRequestEntityTooLarge, errBodyTooLarge
	}
	return http.StatusOK, nil
}

var errBodyTooLarge = fmt.Errorf("%w: the request body is larger than 7 MiB", ErrTooLarge)

// read reads the body and decodes its AdmissionReview; on failure it
// returns the HTTP status that says why.
func (h *Handler) read(w http.ResponseWriter, r *http.Request, a *jsonnode.Arena) (*review, int, error) {
	buf := bodies.Get().(*bytes.Buffer)
	defer putBody(buf)
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, http.StatusRequestEntityTooLarge, errBodyTooLarge
	}
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("reading the request body: %w", err)
	}
	// The parse copies what it keeps, so the buffer can go back.
	review, err := decodeReview(a, buf.Bytes())
	if errors.Is(err, ErrTooLarge) {
		return nil, http.StatusRequestEntityTooLarge, err
	}
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

// fail answers a request that gets no review back, and logs why; review is
// the request's review when it was read.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, review *review, status int, err error, start time.Time) {
	msg := clipMessage(err.Error())
	writeStatus(w, status, msg)
	result := ResultBadRequest
	switch {
	case status == http.StatusRequestEntityTooLarge || status == http.StatusServiceUnavailable:
		result = ResultOverBudget
	case status >= 500:
		result = ResultError
	}
	h.Metrics.observe(result, nil, false, time.Since(start))
	if h.Log == nil {
		return
	}
	attrs := []slog.Attr{slog.Int("status", status), slog.String("error", msg), slog.String("remote", r.RemoteAddr)}
	if review != nil {
		attrs = append(attrs, requestAttrs(&review.request)...)
	}
	h.Log.LogAttrs(r.Context(), slog.LevelWarn, "request refused", attrs...)
}

// writeStatus answers a request that gets no review back with a
// Kubernetes Status, the body the API server reads a failed call's reason
// from: "failed calling webhook ...: <message>", in its log and, with
// failurePolicy Fail, to the user. Other clients read it as JSON.
func writeStatus(w http.ResponseWriter, code int, msg string) {
	reason := metav1.StatusReasonUnknown
	switch code {
	case http.StatusBadRequest:
		reason = metav1.StatusReasonBadRequest
	case http.StatusMethodNotAllowed:
		reason = metav1.StatusReasonMethodNotAllowed
	case http.StatusRequestEntityTooLarge:
		reason = metav1.StatusReasonRequestEntityTooLarge
	case http.StatusUnsupportedMediaType:
		reason = metav1.StatusReasonUnsupportedMediaType
	case http.StatusServiceUnavailable:
		reason = metav1.StatusReasonServiceUnavailable
	case http.StatusInternalServerError:
		reason = metav1.StatusReasonInternalError
	}
	body, _ := json.Marshal(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(code),
	})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

// The results requests are counted by.
const (
	// ResultPatched: allowed, with a patch.
	ResultPatched = "patched"
	// ResultUnchanged: allowed without a patch.
	ResultUnchanged = "unchanged"
	// ResultBadRequest: not an AdmissionReview, refused with a 4xx status.
	ResultBadRequest = "bad_request"
	// ResultOverBudget: over the limits of one review (413), or no room
	// for it among the reviews in flight (503).
	ResultOverBudget = "over_budget"
	// ResultError: kmirror failed, with a 5xx status.
	ResultError = "error"
)

// logReview writes the line for one answered review. It names the object
// and the images rewritten, never the object itself.
func (h *Handler) logReview(r *http.Request, req *admissionv1.AdmissionRequest, result string, mut *Mutation, took time.Duration) {
	if h.Log == nil {
		return
	}
	attrs := append(requestAttrs(req), slog.String("result", result))
	if mut != nil {
		var changes, fromSource []string
		for i := range mut.Images {
			img := &mut.Images[i]
			d := &img.Decision
			switch {
			case img.rewritten():
				changes = append(changes, clip(img.Path.String(), maxEcho)+": "+clip(d.Image, maxEcho)+" -> "+clip(d.Result, maxEcho))
			case img.Unmirrored != "":
				fromSource = append(fromSource, clip(img.Path.String(), maxEcho)+": "+clip(d.Image, maxEcho)+" ("+clip(d.Result, maxEcho)+": "+string(img.Unmirrored)+")")
			}
		}
		if changes != nil {
			attrs = append(attrs, slog.Any("rewritten", listed(changes)))
		}
		if fromSource != nil {
			attrs = append(attrs, slog.Any("fromSource", listed(fromSource)))
		}
		if len(mut.Warnings) > 0 {
			attrs = append(attrs, slog.Any("warnings", mut.Warnings))
		}
	}
	attrs = append(attrs, slog.Duration("took", took))
	h.Log.LogAttrs(r.Context(), slog.LevelInfo, "review", attrs...)
}

// requestAttrs names a request in a log line: its uid, the kind,
// namespace and name of its object, its operation. Each is clipped: before
// validation, a name can be any length.
func requestAttrs(req *admissionv1.AdmissionRequest) []slog.Attr {
	// Room for what logReview adds.
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs,
		slog.String("uid", clip(string(req.UID), maxEcho)),
		slog.String("kind", clip(req.Kind.Kind, maxEcho)),
		slog.String("namespace", clip(req.Namespace, maxEcho)),
		slog.String("name", clip(req.Name, maxEcho)),
		slog.String("operation", clip(string(req.Operation), maxEcho)),
	)
	if req.SubResource != "" {
		attrs = append(attrs, slog.String("subresource", clip(req.SubResource, maxEcho)))
	}
	if req.DryRun != nil && *req.DryRun {
		attrs = append(attrs, slog.Bool("dryRun", true))
	}
	return attrs
}
