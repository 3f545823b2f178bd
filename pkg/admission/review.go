package admission

import (
	"errors"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	admissionv1beta1 "k8s.io/api/admission/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/jsonnode"
)

// The AdmissionReview versions the webhook answers. Their requests and
// responses are the same JSON, so both are read the same way and answered
// with the v1 types, carrying the apiVersion they were asked in.
var reviewVersions = map[string]bool{
	admissionv1.SchemeGroupVersion.String():      true,
	admissionv1beta1.SchemeGroupVersion.String(): true,
}

// RequestError is an AdmissionReview that cannot be answered: the HTTP
// request gets status 400 with the message.
type RequestError struct {
	Err error
}

// Error says what is wrong with the review.
func (e *RequestError) Error() string { return "bad AdmissionReview: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }

// review is an AdmissionReview request. The body is parsed once, into the
// node tree the walk reads, and the objects are taken from it as they are.
type review struct {
	apiVersion string
	// request has the fields the webhook reads, and no objects.
	request           admissionv1.AdmissionRequest
	object, oldObject *yaml.Node
	// size is the length of the body; values bounds its JSON values, and
	// the nodes the parse allocated, and images its keys named image, for
	// the budget.
	size           int
	values, images int64
}

// maxUIDBytes bounds request.uid, which the answer must repeat: the API
// server sends a UUID.
const maxUIDBytes = 128

// decodeReview reads an AdmissionReview request, with nodes from a.
func decodeReview(a *jsonnode.Arena, body []byte) (*review, error) {
	root, err := a.Parse(body)
	switch {
	case errors.Is(err, jsonnode.ErrTooManyNodes):
		return nil, fmt.Errorf("%w: more than %d JSON values", ErrTooLarge, MaxValues)
	case errors.Is(err, jsonnode.ErrTooDeep):
		return nil, fmt.Errorf("%w: nested more than %d levels deep", ErrTooLarge, MaxDepth)
	case err != nil:
		return nil, &RequestError{fmt.Errorf("malformed JSON: %w", err)}
	}
	r := &review{size: len(body), values: int64(jsonnode.ValuesBound(body)), images: imagesBound(body)}
	d := &fieldReader{}
	r.apiVersion = d.str(root, "apiVersion")
	kind := d.str(root, "kind")
	if d.err != nil {
		return nil, &RequestError{d.err}
	}
	if !reviewVersions[r.apiVersion] || kind != "AdmissionReview" {
		return nil, &RequestError{fmt.Errorf("want kind AdmissionReview of admission.k8s.io/v1 or v1beta1, got kind %q of %q", clip(kind, maxEcho), clip(r.apiVersion, maxEcho))}
	}
	req := d.object(root, "request")
	if d.err != nil {
		return nil, &RequestError{d.err}
	}
	if req == nil {
		return nil, &RequestError{errors.New("no request")}
	}
	q := &r.request
	d.at = "request."
	q.UID = types.UID(d.str(req, "uid"))
	q.Kind = d.gvk(req, "kind")
	q.Resource = d.gvr(req, "resource")
	q.SubResource = d.str(req, "subResource")
	q.Name = d.str(req, "name")
	q.Namespace = d.str(req, "namespace")
	q.Operation = admissionv1.Operation(d.str(req, "operation"))
	q.DryRun = d.boolean(req, "dryRun")
	r.object = d.object(req, "object")
	r.oldObject = d.object(req, "oldObject")
	switch {
	case d.err != nil:
	case q.UID == "":
		d.err = errors.New("request.uid: missing")
	case len(q.UID) > maxUIDBytes:
		d.err = fmt.Errorf("request.uid: longer than %d bytes", maxUIDBytes)
	}
	if d.err != nil {
		return nil, &RequestError{d.err}
	}
	return r, nil
}

// fieldReader reads typed fields of mappings, and keeps the first error.
type fieldReader struct {
	// at is the path of the mapping read, for errors: "request.".
	at  string
	err error
}

// field returns the value of key in n, nil when it is absent or null. A
// key written twice is an error: decoders differ on which one counts.
func (d *fieldReader) field(n *yaml.Node, key string, kind yaml.Kind, tag, want string) *yaml.Node {
	v, repeated := childOnce(n, key)
	if repeated && d.err == nil {
		d.err = fmt.Errorf("%s%s: the key appears twice", d.at, key)
	}
	if v == nil || v.Tag == "!!null" || d.err != nil {
		return nil
	}
	if v.Kind != kind || tag != "" && v.Tag != tag {
		d.err = fmt.Errorf("%s%s: want %s", d.at, key, want)
		return nil
	}
	return v
}

func (d *fieldReader) str(n *yaml.Node, key string) string {
	if v := d.field(n, key, yaml.ScalarNode, "!!str", "a string"); v != nil {
		return v.Value
	}
	return ""
}

func (d *fieldReader) boolean(n *yaml.Node, key string) *bool {
	if v := d.field(n, key, yaml.ScalarNode, "!!bool", "true or false"); v != nil {
		b := v.Value == "true"
		return &b
	}
	return nil
}

func (d *fieldReader) object(n *yaml.Node, key string) *yaml.Node {
	return d.field(n, key, yaml.MappingNode, "", "an object")
}

func (d *fieldReader) gvk(n *yaml.Node, key string) metav1.GroupVersionKind {
	v := d.object(n, key)
	if v == nil {
		return metav1.GroupVersionKind{}
	}
	at := d.at
	d.at += key + "."
	defer func() { d.at = at }()
	return metav1.GroupVersionKind{Group: d.str(v, "group"), Version: d.str(v, "version"), Kind: d.str(v, "kind")}
}

func (d *fieldReader) gvr(n *yaml.Node, key string) metav1.GroupVersionResource {
	v := d.object(n, key)
	if v == nil {
		return metav1.GroupVersionResource{}
	}
	at := d.at
	d.at += key + "."
	defer func() { d.at = at }()
	return metav1.GroupVersionResource{Group: d.str(v, "group"), Version: d.str(v, "version"), Resource: d.str(v, "resource")}
}

// respond decides one admission request: it returns the response, without
// its patch and warnings, and the mutation it is based on, nil when the
// request was not looked at: an operation other than CREATE and UPDATE, or
// no object. An object over the limits is an error that wraps
// ErrTooLarge. The swap step may change the mutation before answer writes
// it into the response.
func respond(c *decisions, r *review) (*admissionv1.AdmissionResponse, *Mutation, error) {
	req := &r.request
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update || r.object == nil {
		return resp, nil, nil
	}
	var old *yaml.Node
	if req.Operation == admissionv1.Update {
		old = r.oldObject
	}
	mut, err := mutate(c, r.object, old)
	if err != nil {
		return nil, nil, err
	}
	return resp, mut, nil
}

// answer writes the patch and the warnings of mut into resp, the warnings
// listed.
func answer(resp *admissionv1.AdmissionResponse, mut *Mutation) {
	if mut == nil {
		return
	}
	mut.listWarnings()
	resp.Warnings = mut.Warnings
	if patch := mut.Patch(); patch != nil {
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = patch, &pt
	}
}
