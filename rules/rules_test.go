package rules

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/pkg/mirror"
)

func TestPresetsLoad(t *testing.T) {
	if len(Presets()) == 0 {
		t.Fatal("no presets embedded")
	}
	for _, name := range Presets() {
		eng, err := Load(name)
		if err != nil {
			t.Fatalf("preset %s: %v", name, err)
		}
		if len(eng.Rules().Mirrors) == 0 {
			t.Errorf("preset %s has no mirrors", name)
		}
	}
	def, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if def.Rules().Name != Default {
		t.Errorf("default rules are %q, want %q", def.Rules().Name, Default)
	}
}

func TestParse(t *testing.T) {
	eng, err := Parse("r.yaml", []byte(`apiVersion: kmirror.dev/v1alpha1
kind: MirrorRules
metadata:
  name: mine
  annotations: {config.kubernetes.io/local-config: "true"}
spec:
  mirrors:
  - from: quay.io
    to: m.example.com/quay
`))
	if err != nil {
		t.Fatal(err)
	}
	want := mirror.Rules{
		Name:         "mine",
		EscapePrefix: mirror.DefaultEscapePrefix,
		Mirrors:      []mirror.Rule{{From: "quay.io/", To: "m.example.com/quay/"}},
	}
	if diff := cmp.Diff(want, eng.Rules()); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
}

func TestParseImageFields(t *testing.T) {
	eng, err := Parse("r.yaml", []byte(`apiVersion: kmirror.dev/v1alpha1
kind: MirrorRules
spec:
  imageFields:
  - group: example.com
    kind: Stage
    path: spec.stages[].runner.image
  - path: spec.predictor.*.image
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []mirror.ImageField{
		{Group: "example.com", Kind: "Stage", Path: "spec.stages[].runner.image"},
		{Path: "spec.predictor.*.image"},
	}
	if diff := cmp.Diff(want, eng.Rules().ImageFields); diff != "" {
		t.Errorf("image fields (-want +got):\n%s", diff)
	}
	data, err := Encode(eng.Rules())
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("encoded", data)
	if err != nil {
		t.Fatalf("parsing encoded rules: %v\n%s", err, data)
	}
	if diff := cmp.Diff(eng.Rules(), again.Rules()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestParseEscapeOff(t *testing.T) {
	eng, err := Parse("r.yaml", []byte("apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nspec:\n  escapePrefix: \"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := eng.Rules().EscapePrefix; got != "" {
		t.Errorf("escapePrefix = %q, want it off", got)
	}
}

func TestParseErrors(t *testing.T) {
	head := "apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nmetadata:\n  name: x\n"
	tests := []struct {
		name, file string
		line       int
		msg        string
	}{
		{"unknown top field", head + "spec: {}\nextra: 1\n", 6, `unknown field "extra"`},
		{"unknown spec field", head + "spec:\n  mirror: []\n", 6, `spec: unknown field "mirror"`},
		{"unknown rule field", head + "spec:\n  mirrors:\n  - from: quay.io/\n    to: m.example.com/\n    note: x\n", 9, `spec.mirrors[0]: unknown field "note"`},
		{"missing to", head + "spec:\n  mirrors:\n  - from: quay.io/\n    to: a.example.com/\n  - from: gcr.io/\n", 9, `spec.mirrors[1]: missing "to"`},
		{"from not a prefix", head + "spec:\n  mirrors:\n  - from: quay.io/coreos/etcd:v3\n    to: m.example.com/\n", 7, `mirrors[0].from: invalid image reference`},
		{"to not a prefix", head + "spec:\n  mirrors:\n  - from: quay.io/\n    to: 'm.example.com/a b'\n", 8, `mirrors[0].to: invalid image reference`},
		{"same from twice", head + "spec:\n  mirrors:\n  - from: quay.io/\n    to: a.example.com/\n  - from: quay.io\n    to: b.example.com/\n", 9, `repeats the from of mirrors[0]`},
		{"wrong kind", "apiVersion: kmirror.dev/v1alpha1\nkind: ConfigMap\nspec: {}\n", 2, `kind is "ConfigMap", want "MirrorRules"`},
		{"missing apiVersion", "kind: MirrorRules\nspec: {}\n", 1, `missing apiVersion`},
		{"missing spec", head, 1, `missing spec`},
		{"mirrors not a list", head + "spec:\n  mirrors: {from: x}\n", 6, `spec.mirrors must be a list`},
		{"from not a string", head + "spec:\n  mirrors:\n  - from: [a]\n    to: b.example.com/\n", 7, `spec.mirrors[0].from must be a string`},
		{"duplicate key", head + "spec:\n  escapePrefix: a/\n  escapePrefix: b/\n", 7, `field "escapePrefix" appears twice`},
		{"escape prefix not on a path boundary", head + "spec:\n  escapePrefix: direct.to\n", 6, `spec.escapePrefix: invalid rule: "direct.to" must end with "/"`},
		{"two documents", head + "spec: {}\n---\n" + head + "spec: {}\n", 6, `one document`},
		{"not a mapping", "- a\n", 1, `rules must be a mapping`},
		{"bad yaml", head + "spec:\n  mirrors: [\n", 0, `yaml:`},
		{"empty", "", 0, `empty rules file`},
		{"imageFields not a list", head + "spec:\n  imageFields: {path: spec.image}\n", 6, `spec.imageFields must be a list`},
		{"image field without a path", head + "spec:\n  imageFields:\n  - kind: Stage\n", 7, `spec.imageFields[0]: missing "path"`},
		{"image field with an unknown key", head + "spec:\n  imageFields:\n  - path: spec.image\n    version: v1\n", 8, `spec.imageFields[0]: unknown field "version"`},
		{"image field path with an empty key", head + "spec:\n  imageFields:\n  - kind: Stage\n    path: spec..image\n", 8,
			`spec.imageFields[0].path "spec..image": empty key at column 6`},
		{"image field path with a bad bracket", head + "spec:\n  imageFields:\n  - path: spec.image\n  - path: spec.stages[0].image\n", 8,
			`spec.imageFields[1].path "spec.stages[0].image": a bracket holds nothing`},
		{"image field path into metadata", head + "spec:\n  imageFields:\n  - path: metadata.annotations.image\n", 7, `metadata is never walked`},
		{"image field kind not a string", head + "spec:\n  imageFields:\n  - kind: [Stage]\n    path: spec.image\n", 7, `spec.imageFields[0].kind must be a string`},
		{"image field twice", head + "spec:\n  imageFields:\n  - {kind: Stage, path: spec.image}\n  - {kind: Stage, path: spec.image}\n", 8,
			`spec.imageFields[1] repeats spec.imageFields[0]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("my-rules.yaml", []byte(tc.file))
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse = %v, want a *rules.Error", err)
			}
			if e.File != "my-rules.yaml" || (tc.line != 0 && e.Line != tc.line) {
				t.Errorf("error at %s:%d, want my-rules.yaml:%d", e.File, e.Line, tc.line)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
			if tc.line != 0 && !strings.HasPrefix(err.Error(), "my-rules.yaml:") {
				t.Errorf("error %q does not start with the file and line", err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.yaml")
	if err := os.WriteFile(path, []byte("apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nspec: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Errorf("Load(file): %v", err)
	}
	_, err := Load(filepath.Join(dir, "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "no preset") || !strings.Contains(err.Error(), Default) {
		t.Errorf("Load(missing) = %v, want an error listing the presets", err)
	}
	if _, err := Load("no-such-preset"); err == nil {
		t.Error("Load(no-such-preset) succeeded")
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	eng, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	data, err := Encode(eng.Rules())
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("encoded", data)
	if err != nil {
		t.Fatalf("parsing encoded rules: %v\n%s", err, data)
	}
	if diff := cmp.Diff(eng.Rules(), again.Rules()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// TestLoadRefusesALargeFile: a file over 1 MiB is refused, without being
// read whole; one of 1 MiB loads.
func TestLoadRefusesALargeFile(t *testing.T) {
	dir := t.TempDir()
	rules := "apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nspec: {}\n"
	path := filepath.Join(dir, "r.yaml")
	padded := rules + "#" + strings.Repeat("x", MaxFileBytes-len(rules)-2) + "\n"
	if err := os.WriteFile(path, []byte(padded), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Errorf("Load of a file of 1 MiB: %v", err)
	}
	// The rules, then zeros up to 100 MB: a sparse file, which takes no
	// room on the disk.
	if err := os.Truncate(path, 100<<20); err != nil {
		t.Fatal(err)
	}
	var err error
	allocated := bytesAllocated(func() { _, err = Load(path) })
	if !errors.Is(err, ErrTooLarge) || !strings.HasPrefix(err.Error(), path+": ") {
		t.Errorf("Load of a file of 100 MB: %v, want ErrTooLarge naming the file", err)
	}
	if allocated > 4<<20 {
		t.Errorf("Load of a file of 100 MB allocated %d MB", allocated>>20)
	}
}

// bytesAllocated returns the bytes that f allocates.
func bytesAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
