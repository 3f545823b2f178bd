package admission

import (
	"kmirror.dev/kmirror/internal/testing/jsonpatch"

	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/pkg/jsonnode"
	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/rules"
)

func TestMutate(t *testing.T) {
	tests := []struct {
		name string
		// object and old are YAML, sent as JSON, or JSON as it is.
		object, old string
		// patch is the expected patch, "" for none.
		patch    string
		warnings int
	}{{
		name:   "every list of a pod spec is mirrored",
		object: samplePod,
		patch: `[
			{"op":"replace","path":"/spec/containers/0/image","value":"` + M + `gcr/google_containers/coredns:1.3.1"},
			{"op":"replace","path":"/spec/containers/1/image","value":"busybox:latest"},
			{"op":"replace","path":"/spec/initContainers/0/image","value":"` + M + `quay/prometheus/busybox:1.36"},
			{"op":"replace","path":"/spec/volumes/0/image/reference","value":"` + M + `dockerhub/library/data:1"},
			{"op":"add","path":"/metadata/annotations","value":{"kmirror.dev/escaped":"{\"containers/side\":\"busybox:latest\"}"}}]`,
	}, {
		name: "ephemeral containers are mirrored",
		object: `{kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: ` + M + `dockerhub/nginx:1}],
			ephemeralContainers: [{name: debug, image: busybox:1.36}]}}`,
		patch: `[{"op":"replace","path":"/spec/ephemeralContainers/0/image","value":"` + M + `dockerhub/busybox:1.36"}]`,
	}, {
		name:   "nothing to change gives no patch",
		object: `{kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: ` + M + `gcr/pause:3}, {name: b, image: registry.example.com/app:1}]}}`,
	}, {
		name:   "an escape is added to existing annotations",
		object: `{kind: Pod, metadata: {name: p, annotations: {team: a}}, spec: {containers: [{name: a, image: direct.to/gcr.io/google_containers/pause-amd64:3.0}]}}`,
		patch: `[{"op":"replace","path":"/spec/containers/0/image","value":"gcr.io/google_containers/pause-amd64:3.0"},
			{"op":"add","path":"/metadata/annotations/kmirror.dev~1escaped","value":"{\"containers/a\":\"gcr.io/google_containers/pause-amd64:3.0\"}"}]`,
	}, {
		name: "a recorded escape is kept when the webhook is called again",
		object: `{kind: Pod, metadata: {name: p, annotations: {kmirror.dev/escaped: '{"containers/a":"busybox:latest"}'}},
			spec: {containers: [{name: a, image: busybox:latest}]}}`,
	}, {
		name: "a recorded escape holds for its own container only",
		object: `{kind: Pod, metadata: {name: p, annotations: {kmirror.dev/escaped: '{"containers/a":"busybox:latest"}'}},
			spec: {containers: [{name: a, image: busybox:latest}, {name: b, image: busybox:latest}]}}`,
		patch: `[{"op":"replace","path":"/spec/containers/1/image","value":"` + M + `dockerhub/busybox:latest"}]`,
	}, {
		name: "a record whose image changed is dropped",
		object: `{kind: Pod, metadata: {name: p, annotations: {kmirror.dev/escaped: '{"containers/a":"busybox:latest"}'}},
			spec: {containers: [{name: a, image: nginx:1}]}}`,
		old: `{kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: busybox:latest}]}}`,
		patch: `[{"op":"replace","path":"/spec/containers/0/image","value":"` + M + `dockerhub/nginx:1"},
			{"op":"remove","path":"/metadata/annotations/kmirror.dev~1escaped"}]`,
	}, {
		name:   "an unreadable record records nothing",
		object: `{kind: Pod, metadata: {name: p, annotations: {kmirror.dev/escaped: 'not json'}}, spec: {containers: [{name: a, image: busybox:latest}]}}`,
		patch:  `[{"op":"replace","path":"/spec/containers/0/image","value":"` + M + `dockerhub/busybox:latest"}]`,
	}, {
		name:   "on update an image equal to the old one is left alone",
		object: `{kind: Pod, metadata: {name: p, labels: {new: label}}, spec: {containers: [{name: a, image: busybox:latest}]}}`,
		old:    `{kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: busybox:latest}]}}`,
	}, {
		name:   "on update a changed image is decided and the others are left alone",
		object: `{kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: busybox:latest}, {name: b, image: quay.io/x/y:2}]}}`,
		old:    `{kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: busybox:latest}, {name: b, image: quay.io/x/y:1}]}}`,
		patch:  `[{"op":"replace","path":"/spec/containers/1/image","value":"` + M + `quay/x/y:2"}]`,
	}, {
		name:   "on update containers are matched by name, not position",
		object: `{kind: Pod, metadata: {name: p}, spec: {containers: [{name: b, image: nginx:1}, {name: a, image: busybox:latest}]}}`,
		old:    `{kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: busybox:latest}, {name: b, image: nginx:1}]}}`,
	}, {
		name:   "on update the same name in another list is another container",
		object: `{kind: Pod, metadata: {name: p}, spec: {initContainers: [{name: a, image: nginx:1}], containers: [{name: a, image: busybox:latest}]}}`,
		old:    `{kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: nginx:1}]}}`,
		patch: `[{"op":"replace","path":"/spec/containers/0/image","value":"` + M + `dockerhub/busybox:latest"},
			{"op":"replace","path":"/spec/initContainers/0/image","value":"` + M + `dockerhub/nginx:1"}]`,
	}, {
		name:   "on update a container without a name is matched by its path",
		object: `{kind: Pod, metadata: {name: p}, spec: {containers: [{image: busybox:latest}, {image: nginx:1}]}}`,
		old:    `{kind: Pod, metadata: {name: p}, spec: {containers: [{image: busybox:latest}, {image: nginx:2}]}}`,
		patch:  `[{"op":"replace","path":"/spec/containers/1/image","value":"` + M + `dockerhub/nginx:1"}]`,
	}, {
		name:   "an added ephemeral container is mirrored, the rest left alone",
		object: `{kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: busybox:latest}], ephemeralContainers: [{name: debug, image: direct.to/busybox:1.36}]}}`,
		old:    `{kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: busybox:latest}]}}`,
		patch: `[{"op":"replace","path":"/spec/ephemeralContainers/0/image","value":"busybox:1.36"},
			{"op":"add","path":"/metadata/annotations","value":{"kmirror.dev/escaped":"{\"ephemeralContainers/debug\":\"busybox:1.36\"}"}}]`,
	}, {
		name: "a template records its escapes in its own metadata, which Pods inherit",
		object: `{apiVersion: apps/v1, kind: Deployment, metadata: {name: d},
			spec: {template: {metadata: {labels: {app: d}}, spec: {containers: [{name: a, image: direct.to/busybox:latest}, {name: b, image: k8s.gcr.io/pause:3.9}]}}}}`,
		patch: `[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"busybox:latest"},
			{"op":"replace","path":"/spec/template/spec/containers/1/image","value":"` + M + `gcr/google_containers/pause:3.9"},
			{"op":"add","path":"/spec/template/metadata/annotations","value":{"kmirror.dev/escaped":"{\"containers/a\":\"busybox:latest\"}"}}]`,
	}, {
		name:   "a template without metadata gets some",
		object: `{kind: CronJob, metadata: {name: c}, spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: a, image: direct.to/busybox:latest}]}}}}}}`,
		patch: `[{"op":"replace","path":"/spec/jobTemplate/spec/template/spec/containers/0/image","value":"busybox:latest"},
			{"op":"add","path":"/spec/jobTemplate/spec/template/metadata","value":{"annotations":{"kmirror.dev/escaped":"{\"containers/a\":\"busybox:latest\"}"}}}]`,
	}, {
		name:   "a pod spec that is not a spec field has nowhere to record escapes",
		object: `{apiVersion: example.com/v1, kind: Runner, metadata: {name: r}, spec: {runner: {containers: [{name: a, image: direct.to/busybox:latest}]}}}`,
		patch:  `[{"op":"replace","path":"/spec/runner/containers/0/image","value":"busybox:latest"}]`,
	}, {
		name:   "an empty key is a key, not a list index",
		object: `{kind: Runner, metadata: {name: r}, spec: {"": {containers: [{name: a, image: "nginx:1"}]}}}`,
		patch:  `[{"op":"replace","path":"/spec//containers/0/image","value":"` + M + `dockerhub/nginx:1"}]`,
	}, {
		name:     "a field behind a repeated key is left alone with a warning",
		object:   `{"kind": "Pod", "metadata": {"name": "p"}, "spec": "", "spec": {"containers": [{"name": "a", "image": "direct.to/nginx:1"}]}}`,
		warnings: 1,
	}, {
		name:   "the items of a list are objects of their own",
		object: `{apiVersion: v1, kind: List, items: [{kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: direct.to/nginx:1}]}}]}`,
		patch: `[{"op":"replace","path":"/items/0/spec/containers/0/image","value":"nginx:1"},
			{"op":"add","path":"/items/0/metadata/annotations","value":{"kmirror.dev/escaped":"{\"containers/a\":\"nginx:1\"}"}}]`,
	}, {
		name:     "an invalid image is left alone with a warning, but loses the escape prefix",
		object:   `{kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: "Not/A Valid:Image"}, {name: b, image: "direct.to/Bad Image"}]}}`,
		patch:    `[{"op":"replace","path":"/spec/containers/1/image","value":"Bad Image"}]`,
		warnings: 2,
	}, {
		name:   "a kind without image fields is left alone: an OS image's name, a field not named image",
		object: `{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, spec: {image: ubuntu-22.04, dnsImage: k8s.gcr.io/coredns:1.3.1}}`,
	}, {
		name:   "an image field of a custom resource found by its name",
		object: `{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, spec: {image: k8s.gcr.io/coredns:1.3.1}}`,
		patch:  `[{"op":"replace","path":"/spec/image","value":"` + M + `gcr/google_containers/coredns:1.3.1"}]`,
	}, {
		name: "an image passed in a variable RELATED_IMAGE_*",
		object: `{kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: direct.to/ctl,
			env: [{name: RELATED_IMAGE_X, value: "quay.io/x:1"}]}]}}`,
		patch: `[{"op":"replace","path":"/spec/containers/0/env/0/value","value":"` + M + `quay/x:1"},
			{"op":"replace","path":"/spec/containers/0/image","value":"ctl"},
			{"op":"add","path":"/metadata/annotations","value":{"kmirror.dev/escaped":"{\"containers/a\":\"ctl\"}"}}]`,
	}, {
		name: "a container whose pull policy is Never is left alone, without a warning",
		object: `{kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: k8s.gcr.io/pause:3.9, imagePullPolicy: Never},
			{name: b, image: k8s.gcr.io/pause:3.9, imagePullPolicy: IfNotPresent}]}}`,
		patch: `[{"op":"replace","path":"/spec/containers/1/image","value":"` + M + `gcr/google_containers/pause:3.9"}]`,
	}, {
		name: "a mirror Pod is left alone, even its escapes",
		object: `{kind: Pod, metadata: {name: etcd-node1, annotations: {kubernetes.io/config.mirror: 3b0b1a5c, kmirror.dev/escaped: '{"containers/b":"x"}'}},
			spec: {containers: [{name: etcd, image: registry.k8s.io/etcd:3.5.12-0}, {name: b, image: direct.to/busybox}]}}`,
	}, {
		name: "a Pod with the same image as a mirror Pod is mirrored",
		object: `{kind: Pod, metadata: {name: etcd-copy, annotations: {kubernetes.io/config.source: file}},
			spec: {containers: [{name: etcd, image: registry.k8s.io/etcd:3.5.12-0}]}}`,
		patch: `[{"op":"replace","path":"/spec/containers/0/image","value":"` + M + `gcr/google_containers/etcd:3.5.12-0"}]`,
	}, {
		name: "a registry URL keeps its scheme",
		object: `{apiVersion: cdi.kubevirt.io/v1beta1, kind: DataVolume, metadata: {name: dv},
			spec: {source: {registry: {url: "docker://quay.io/containerdisks/fedora:40"}}}}`,
		patch: `[{"op":"replace","path":"/spec/source/registry/url","value":"docker://` + M + `quay/containerdisks/fedora:40"}]`,
	}, {
		name: "the fields of a Tekton Task are mirrored, its escapes recorded",
		object: `{apiVersion: tekton.dev/v1, kind: Task, metadata: {name: t},
			spec: {stepTemplate: {image: quay.io/base:1}, steps: [{name: build, image: direct.to/golang:1.22}]}}`,
		patch: `[{"op":"replace","path":"/spec/stepTemplate/image","value":"` + M + `quay/base:1"},
			{"op":"replace","path":"/spec/steps/0/image","value":"golang:1.22"},
			{"op":"add","path":"/metadata/annotations","value":{"kmirror.dev/escaped":"{\"steps/build\":\"golang:1.22\"}"}}]`,
	}, {
		name: "on update an Argo template's container and script are told apart",
		object: `{apiVersion: argoproj.io/v1alpha1, kind: Workflow, metadata: {name: w},
			spec: {templates: [{name: m, script: {image: quay.io/a:1}}]}}`,
		old: `{apiVersion: argoproj.io/v1alpha1, kind: Workflow, metadata: {name: w},
			spec: {templates: [{name: m, container: {image: quay.io/a:1}}]}}`,
		patch: `[{"op":"replace","path":"/spec/templates/0/script/image","value":"` + M + `quay/a:1"}]`,
	}, {
		name:   "a ConfigMap is never walked",
		object: `{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {containers: x}}`,
	}}
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			object := []byte(tc.object)
			if !json.Valid(object) {
				object = podJSON(t, tc.object)
			}
			var old []byte
			if tc.old != "" {
				old = podJSON(t, tc.old)
			}
			m, err := Mutate(eng, object, old)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(decode(t, []byte(tc.patch)), decode(t, m.Patch())); diff != "" {
				t.Errorf("patch (-want +got):\n%s", diff)
			}
			if len(m.Warnings) != tc.warnings {
				t.Errorf("warnings %q, want %d", m.Warnings, tc.warnings)
			}
			if m.Patch() != nil {
				jsonpatch.Apply(t, object, m.Patch())
			}
		})
	}
}

// TestMutateKeepsWhatItDecided runs the webhook on its own output, as a
// reinvocation or a later update does: nothing changes the second time.
func TestMutateKeepsWhatItDecided(t *testing.T) {
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	object := podJSON(t, samplePod)
	first, err := Mutate(eng, object, nil)
	if err != nil {
		t.Fatal(err)
	}
	patched := jsonpatch.Apply(t, object, first.Patch())
	for _, old := range [][]byte{nil, patched} {
		again, err := Mutate(eng, patched, old)
		if err != nil {
			t.Fatal(err)
		}
		if p := again.Patch(); p != nil {
			t.Errorf("second pass (old object %v) patches %s", old != nil, p)
		}
	}
}

func TestMutateReportsWhyImagesAreKept(t *testing.T) {
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	object := podJSON(t, `{kind: Pod, metadata: {name: p, annotations: {kmirror.dev/escaped: '{"containers/b":"busybox:latest"}'}},
		spec: {containers: [{name: a, image: nginx:1}, {name: b, image: busybox:latest}, {name: c, image: quay.io/x:1}]}}`)
	old := podJSON(t, `{kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: nginx:1}]}}`)
	m, err := Mutate(eng, object, old)
	if err != nil {
		t.Fatal(err)
	}
	type image struct {
		Path, Result string
		Kept         Kept
	}
	var got []image
	for _, img := range m.Images {
		got = append(got, image{img.Path.String(), img.Decision.Result, img.Kept})
	}
	want := []image{
		{"spec.containers[0].image", "nginx:1", SameAsOld},
		{"spec.containers[1].image", "busybox:latest", EscapedBefore},
		{"spec.containers[2].image", M + "quay/x:1", Decided},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
	if rw := m.Rewritten(); len(rw) != 1 || rw[0].Name != "c" {
		t.Errorf("rewritten %v, want container c only", rw)
	}
}

func TestMutateRejectsWhatIsNotAnObject(t *testing.T) {
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ object, old string }{
		{`[1]`, ``}, {`{"kind":`, ``}, {`"pod"`, ``}, {`{}`, `{`},
	} {
		var old []byte
		if tc.old != "" {
			old = []byte(tc.old)
		}
		if _, err := Mutate(eng, []byte(tc.object), old); !errors.Is(err, ErrObject) {
			t.Errorf("Mutate(%q, %q): error %v, want ErrObject", tc.object, tc.old, err)
		}
	}
}

func TestPointer(t *testing.T) {
	root, err := jsonnode.Parse([]byte(`{"spec":{"a/b~c":[0,1,2,{"~/":{"image":"x"}}],"":[{"":{"image":"y"}}]},"twice":{"k":1,"k":{"image":"z"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path manifest.Path
		want string
		err  error
	}{
		{"as Path.Pointer", manifest.Path{{Key: "spec"}, {Key: "a/b~c"}, {Index: 3}, {Key: "~/"}, {Key: "image"}}, "/spec/a~1b~0c/3/~0~1/image", nil},
		// manifest.Path cannot tell an empty key from a list index; the tree can.
		{"empty keys", manifest.Path{{Key: "spec"}, {}, {Index: 0}, {}, {Key: "image"}}, "/spec//0//image", nil},
		{"beyond the tree, keys to add", manifest.Path{{Key: "metadata"}, {Key: "annotations"}, {Key: EscapedAnnotation}}, "/metadata/annotations/kmirror.dev~1escaped", nil},
		{"a repeated key", manifest.Path{{Key: "twice"}, {Key: "k"}, {Key: "image"}}, "", errRepeatedKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pointer(root, tc.path)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("pointer = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
	p := manifest.Path{{Key: "spec"}, {Key: "a/b~c"}, {Index: 3}, {Key: "~/"}, {Key: "image"}}
	if got, want := pathKey(p), p.Pointer(); got != want {
		t.Errorf("pathKey = %q, Path.Pointer = %q", got, want)
	}
	if got := find(root, manifest.Path{{Key: "spec"}, {}, {Index: 0}, {}, {Key: "image"}}); got == nil || got.Value != "y" {
		t.Errorf("find = %v, want the image y", got)
	}
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	if len(b) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", strings.TrimSpace(string(b)), err)
	}
	return v
}

// TestPointersArePointer holds the pointers that remember their lists to
// pointer, which reads the whole path each time.
func TestPointersArePointer(t *testing.T) {
	for _, doc := range []string{
		string(podJSON(t, samplePod)),
		`{"kind":"List","items":[{"spec":{"containers":[{"image":"a"},{"image":"b"}]}},{"spec":{"containers":[{"image":"c"}]}}]}`,
		`{"kind":"Pod","spec":{"containers":[{"image":"a"}],"containers":[{"image":"b"}]}}`,
		`{"kind":"Pod","spec":"","spec":{"containers":[{"image":"a"}]}}`,
		`{"kind":"Pod","spec":{"containers":[{"image":"a","image":"b"}],"volumes":[{"image":{"reference":"v"}}]}}`,
		`{"kind":"X","a/b":{"~":{"containers":[{"name":"x","image":"a"},{"name":"y","image":"b"}],"initContainers":[{"image":"c"}]}}}`,
	} {
		root, err := jsonnode.Parse([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		ptrs := &pointers{root: root}
		fields, err := manifest.Images(root)
		if err != nil {
			// The walk refuses a key written twice; no pointer is asked for.
			var dup *manifest.DuplicateKeyError
			if !errors.As(err, &dup) {
				t.Fatal(err)
			}
			continue
		}
		for range 2 {
			for _, f := range fields {
				want, wantErr := pointer(root, f.Path)
				if got, err := ptrs.of(f); got != want || !errors.Is(err, wantErr) {
					t.Errorf("%s: %s: pointers give %q, %v; pointer %q, %v", doc, f.Path, got, err, want, wantErr)
				}
			}
		}
	}
}

// TestMutateWarningsEscaped: a warning that quotes control characters of
// the object shows them escaped, as the API server drops a warning that
// holds one, and kubectl prints the others on a terminal.
func TestMutateWarningsEscaped(t *testing.T) {
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Mutate(eng, []byte(`{"kind":"Pod","spec":{"containers":[{"name":"a","image":"quay.io/a\u001b[2J\u009b\u202e"}]}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], `a\x1b[2J\u009b\u202e`) || strings.ContainsAny(m.Warnings[0], "\x1b\u009b\u202e") {
		t.Errorf("warnings %q, want one with the control characters escaped", m.Warnings)
	}
}
