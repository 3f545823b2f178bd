package manifest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/pkg/mirror"
)

// TestContainerValues covers the images that containers pass to the
// programs they run: RELATED_IMAGE_* always, the variables and flags the
// rules declare, in both forms of a flag.
func TestContainerValues(t *testing.T) {
	doc := `apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
      - name: controller
        image: quay.io/argoproj/workflow-controller:v3.5.5
        imagePullPolicy: Never
        args: ["--configmap", "cm", "--executor-image", "quay.io/argoproj/argoexec:v3.5.5", "--other=x"]
        command: ["/ko-app/controller", "-entrypoint-image=ghcr.io/tektoncd/entrypoint:v1 -v=2", "-entrypoint-image"]
        env:
        - {name: RELATED_IMAGE_OPERAND, value: registry.redhat.io/x/operand@sha256:0123456789012345678901234567890123456789012345678901234567890123}
        - {name: STRIMZI_DEFAULT_KAFKA_EXPORTER_IMAGE, value: quay.io/strimzi/kafka:0.40.0}
        - {name: STRIMZI_DEFAULT_MAVEN_BUILDER, value: quay.io/strimzi/maven-builder:0.40.0}
        - {name: RELATED_IMAGE_, value: quay.io/not/me:1}
        - {name: OTHER_IMAGE, valueFrom: {configMapKeyRef: {name: x, key: y}}}
      initContainers:
      - name: init
        image: busybox
        args: [--executor-image, '--executor-image=quay.io/a/b:1']`
	want := []string{
		"spec.template.spec.containers[0].image=quay.io/argoproj/workflow-controller:v3.5.5 (builtin)",
		"spec.template.spec.containers[0].args[3]=quay.io/argoproj/argoexec:v3.5.5 (declared)",
		"spec.template.spec.containers[0].command[1]=ghcr.io/tektoncd/entrypoint:v1 (declared)",
		"spec.template.spec.containers[0].env[0].value=registry.redhat.io/x/operand@sha256:0123456789012345678901234567890123456789012345678901234567890123 (builtin)",
		"spec.template.spec.containers[0].env[1].value=quay.io/strimzi/kafka:0.40.0 (declared)",
		"spec.template.spec.initContainers[0].image=busybox (builtin)",
		// "--executor-image" ends its argument: the next starts with the image.
		"spec.template.spec.initContainers[0].args[1]=--executor-image=quay.io/a/b:1 (declared)",
	}
	wk := builtinWalk.with(nil, []mirror.ImageValue{{Env: "STRIMZI_DEFAULT_*_IMAGE"}, {Arg: "--executor-image"}, {Arg: "-entrypoint-image"}})
	fields, err := wk.Images(parse(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fields {
		got = append(got, f.Path.String()+"="+f.Value()+" ("+string(f.Found)+")")
		if f.List == "env" || f.List == "args" || f.List == "command" {
			if f.Keep != nil {
				t.Errorf("%s: kept by the container's pull policy, which is its own image's", f.Path)
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	// Without declarations, only RELATED_IMAGE_* and the images.
	if diff := cmp.Diff([]string{want[0], want[3], want[5]}, foundPaths(t, builtinWalk, doc)); diff != "" {
		t.Errorf("built-in fields (-want +got):\n%s", diff)
	}
}

func TestFlagValue(t *testing.T) {
	wk := &Walk{args: []string{"--image", "-i"}}
	tests := []struct {
		arg        string
		first      bool
		start, end int
		last       bool
	}{
		{"--image=a:1", false, 8, 11, false},
		{"--image", false, -1, -1, true},
		{"a:1", true, 0, 3, false},
		{"  a:1 --x", true, 2, 5, false},
		{"run --x --image a:1 --y", false, 16, 19, false},
		{"run --image=a:1 --image=b:2", false, 12, 15, false},
		{"--images=a:1 --imaged a:1", false, -1, -1, false},
		{"--image=", false, -1, -1, false},
		{"-i\ta:1", false, 3, 6, false},
		{"x -i", false, -1, -1, true},
	}
	for _, tc := range tests {
		start, end, last := wk.flagValue(tc.arg, tc.first)
		if start != tc.start || end != tc.end || last != tc.last {
			t.Errorf("flagValue(%q, %v) = %d, %d, %v; want %d, %d, %v", tc.arg, tc.first, start, end, last, tc.start, tc.end, tc.last)
		}
	}
}

// TestRewriteArgumentKeepsTheRest: only the image of an argument is
// rewritten; the rest of the string stays byte for byte, escapes and
// quotes as written.
func TestRewriteArgumentKeepsTheRest(t *testing.T) {
	rules := mirror.Rules{
		Mirrors:     []mirror.Rule{{From: "quay.io/", To: "m.example.com/quay/"}},
		ImageValues: []mirror.ImageValue{{Arg: "--executor-image"}},
	}
	eng, err := mirror.New(rules)
	if err != nil {
		t.Fatal(err)
	}
	head := "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: c\n    args:\n"
	tests := []struct{ name, in, want string }{
		{"plain", "    - --executor-image=quay.io/a/b:1\n", "    - --executor-image=m.example.com/quay/a/b:1\n"},
		{"the next argument", "    - --executor-image\n    - 'quay.io/a/b:1'\n", "    - --executor-image\n    - 'm.example.com/quay/a/b:1'\n"},
		{"escapes around it", `    - "--x=\u00e9\t--executor-image=quay.io/a/b:1 \"--y\""` + "\n",
			`    - "--x=\u00e9\t--executor-image=m.example.com/quay/a/b:1 \"--y\""` + "\n"},
		{"single quotes around it", "    - '--x=''y'' --executor-image=quay.io/a/b:1'\n", "    - '--x=''y'' --executor-image=m.example.com/quay/a/b:1'\n"},
		{"in JSON", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, want := head+tc.in, head+tc.want
			if tc.in == "" {
				in = `{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"c","args":["--a=\u00e9 --executor-image=quay.io/a/b:1"]}]}}`
				want = `{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"c","args":["--a=\u00e9 --executor-image=m.example.com/quay/a/b:1"]}]}}`
			}
			res, err := Rewrite("in.yaml", []byte(in), eng)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, string(res.Output)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}
