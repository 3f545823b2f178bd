package admission

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// strange are strings that encoding/json escapes.
var strange = []string{"", "plain", `quo"te`, `back\slash`, "<html>&", "tab\tnew\nline", "\x00\x1f", "été", "\u2028\u2029", "\xff\xfe bad utf-8", "emoji 😀"}

func TestAppendReviewIsEncodingJSON(t *testing.T) {
	jsonPatch := admissionv1.PatchTypeJSONPatch
	responses := []*admissionv1.AdmissionResponse{
		{UID: "u", Allowed: true},
		{UID: "705ab4f5-6393-11e8-b7cc-42010a800002", Allowed: true, Patch: []byte(`[{"op":"replace"}]`), PatchType: &jsonPatch},
		{UID: "u", Allowed: false, Result: &metav1.Status{Message: "no"}},
		{UID: "u", Allowed: true, AuditAnnotations: map[string]string{"a": "b"}},
	}
	for _, s := range strange {
		responses = append(responses, &admissionv1.AdmissionResponse{UID: types.UID("u" + s), Allowed: true, Warnings: []string{s, "x" + s}})
	}
	for _, version := range []string{"admission.k8s.io/v1", "admission.k8s.io/v1beta1"} {
		for _, resp := range responses {
			want, err := json.Marshal(admissionv1.AdmissionReview{
				TypeMeta: metav1.TypeMeta{Kind: "AdmissionReview", APIVersion: version},
				Response: resp,
			})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Result != nil || resp.AuditAnnotations != nil {
				// Written by encoding/json itself; only the response is kept.
				var got admissionv1.AdmissionReview
				if err := json.Unmarshal(appendReview(nil, version, resp), &got); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(resp, got.Response); diff != "" {
					t.Errorf("response (-want +got):\n%s", diff)
				}
				continue
			}
			if got := appendReview(nil, version, resp); string(got) != string(want) {
				t.Errorf("appendReview:\n got %s\nwant %s", got, want)
			}
		}
	}
}

func TestAppendPatchIsEncodingJSON(t *testing.T) {
	var ops []patchOp
	for _, s := range strange {
		ops = append(ops, patchOp{Op: "replace", Path: "/spec/" + s, Value: s})
	}
	ops = append(ops,
		patchOp{Op: "remove", Path: "/metadata/annotations/kmirror.dev~1escaped"},
		patchOp{Op: "add", Path: "/metadata/annotations", Value: map[string]string{EscapedAnnotation: `{"containers/a":"b"}`}},
		patchOp{Op: "add", Path: "/metadata", Value: map[string]any{"annotations": map[string]string{"é": "<&>"}}},
	)
	want, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendPatch(nil, ops); string(got) != string(want) {
		t.Errorf("appendPatch:\n got %s\nwant %s", got, want)
	}
}
