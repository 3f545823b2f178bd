package admission

import (
	"encoding/base64"
	"encoding/json"
	"strconv"

	admissionv1 "k8s.io/api/admission/v1"
)

// The answer is written by hand, byte for byte as encoding/json writes it
// (a test holds them equal): with reflection, encoding was a tenth of the
// handler's time.

// appendReview appends the AdmissionReview that carries resp, in the
// version apiVersion.
func appendReview(b []byte, apiVersion string, resp *admissionv1.AdmissionResponse) []byte {
	if resp.Result != nil || resp.AuditAnnotations != nil {
		// Fields the webhook never sets; encoding/json knows them.
		out, _ := json.Marshal(admissionv1.AdmissionReview{Response: resp})
		return append(b, out...)
	}
	b = append(b, `{"kind":"AdmissionReview","apiVersion":`...)
	b = appendString(b, apiVersion)
	b = append(b, `,"response":{"uid":`...)
	b = appendString(b, string(resp.UID))
	b = append(b, `,"allowed":`...)
	b = strconv.AppendBool(b, resp.Allowed)
	if resp.Patch != nil {
		b = append(b, `,"patch":"`...)
		b = base64.StdEncoding.AppendEncode(b, resp.Patch)
		b = append(b, '"')
	}
	if resp.PatchType != nil {
		b = append(b, `,"patchType":`...)
		b = appendString(b, string(*resp.PatchType))
	}
	if len(resp.Warnings) > 0 {
		b = append(b, `,"warnings":[`...)
		for i, w := range resp.Warnings {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, w)
		}
		b = append(b, ']')
	}
	return append(b, "}}"...)
}

// answerSize is about the length appendReview makes of resp, so that the
// answer is written into a buffer allocated once.
func answerSize(resp *admissionv1.AdmissionResponse) int {
	n := 160 + len(resp.UID) + base64.StdEncoding.EncodedLen(len(resp.Patch))
	for _, w := range resp.Warnings {
		n += len(w) + 8
	}
	return n
}

// appendPatch appends ops as a JSON patch.
func appendPatch(b []byte, ops []patchOp) []byte {
	b = append(b, '[')
	for i, op := range ops {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"op":`...)
		b = appendString(b, op.Op)
		b = append(b, `,"path":`...)
		b = appendString(b, op.Path)
		switch v := op.Value.(type) {
		case nil:
		case string:
			b = append(b, `,"value":`...)
			b = appendString(b, v)
		default:
			// Maps of strings, which always marshal.
			out, _ := json.Marshal(v)
			b = append(b, `,"value":`...)
			b = append(b, out...)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendString appends s as a JSON string. Strings of printable ASCII
// without characters encoding/json escapes are copied; others are left to
// encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			out, _ := json.Marshal(s)
			return append(b, out...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
