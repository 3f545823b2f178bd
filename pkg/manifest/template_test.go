package manifest

import (
	"testing"

	"kmirror.dev/kmirror/pkg/mirror"
)

func TestSplitPlaceholder(t *testing.T) {
	tests := []struct {
		img, name, tail string
		ok              bool
	}{
		{"docker.io/library/golang:$(params.version)", "docker.io/library/golang", ":$(params.version)", true},
		{"golang:1.$(params.minor)-alpine", "golang", ":1.$(params.minor)-alpine", true},
		{"quay.io/x/y@sha256:{{ .Values.digest }}", "quay.io/x/y", "@sha256:{{ .Values.digest }}", true},
		{"localhost:5000/app:${TAG}", "localhost:5000/app", ":${TAG}", true},
		{"registry:5000/vddk-init:latest", "", "", false},
		{"$(params.image)", "", "", false},
		{"{{inputs.parameters.image}}", "", "", false},
		{"quay.io/$(params.org)/app:1", "", "", false},
		{"quay.io/app$(params.suffix)", "", "", false},
		{":$(params.tag)", "", "", false},
	}
	for _, tc := range tests {
		name, tail, ok := splitPlaceholder(tc.img)
		if name != tc.name || tail != tc.tail || ok != tc.ok {
			t.Errorf("splitPlaceholder(%q) = %q, %q, %v; want %q, %q, %v", tc.img, name, tail, ok, tc.name, tc.tail, tc.ok)
		}
	}
}

// TestDecideTemplated: the rules decide the name before the placeholder,
// which stays as written; what is not a literal name stays invalid.
func TestDecideTemplated(t *testing.T) {
	eng, err := mirror.New(mirror.Rules{EscapePrefix: "direct.to/", Mirrors: []mirror.Rule{{From: "docker.io/", To: "m.example.com/hub/"}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		value, result string
		action        mirror.Action
	}{
		{"docker.io/library/golang:$(params.version)", "m.example.com/hub/library/golang:$(params.version)", mirror.Templated},
		{"direct.to/golang:{{ .tag }}", "golang:{{ .tag }}", mirror.Escaped},
		{"quay.io/x:$(params.v)", "quay.io/x:$(params.v)", mirror.NoRule},
		{"m.example.com/hub/x:$(params.v)", "m.example.com/hub/x:$(params.v)", mirror.AlreadyMirrored},
		{"$(params.image)", "$(params.image)", mirror.Invalid},
		{"Docker.io/X:$(params.v)", "Docker.io/X:$(params.v)", mirror.Invalid},
	}
	for _, tc := range tests {
		f := Field{Node: parse(t, `"`+tc.value+`"`)}
		d := f.Decide(eng.Decide)
		if d.Image != tc.value || d.Result != tc.result || d.Action != tc.action {
			t.Errorf("%s: decided %q (%s), want %q (%s)", tc.value, d.Result, d.Action, tc.result, tc.action)
		}
	}
	kept := Field{Node: parse(t, "golang:$(params.v)"), Keep: &PullNeverError{Policy: "imagePullPolicy"}}
	if d := kept.Decide(eng.Decide); d.Action != mirror.Kept || d.Result != "golang:$(params.v)" {
		t.Errorf("a templated image with pull policy Never: %q (%s), want it kept", d.Result, d.Action)
	}
}
