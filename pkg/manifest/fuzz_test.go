package manifest

import (
	"bytes"
	"io"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/jsonnode"
	"kmirror.dev/kmirror/pkg/mirror"
)

// FuzzRewrite feeds arbitrary streams to Rewrite. It must never panic; what
// it accepts it must accept again after rewriting, with the same documents;
// the output must decode to the input's documents with only the rewritten
// image values changed; and rewriting twice must equal rewriting once,
// unless the first pass escaped an image, which by design a second pass
// then mirrors.
func FuzzRewrite(f *testing.F) {
	for _, s := range []string{
		"kind: Pod\nspec:\n  containers:\n  - image: nginx # c\n  - image: \"direct.to/busybox\"\n",
		"kind: Deployment\nspec:\n  template:\n    spec:\n      initContainers: [{image: 'quay.io/a/b:1'}]\n---\nkind: ConfigMap\ndata: {a: b}\n",
		`{"kind":"Pod","spec":{"containers":[{"image":"k8s.gcr.io/pause:3.1"}]}}`,
		"kind: List\nitems:\n- kind: Pod\n  spec: {containers: [{image: &a gcr.io/x}, {image: *a}]}\n",
		"kind: Pod\nspec:\n  containers:\n  - image: !!str registry.k8s.io/x\n  volumes: [{image: {reference: nginx}}]\n",
		"---\n--- \n...\n# c\n",
		// Line breaks other than LF, and byte order marks.
		"kind: Pod\nspec:\n  containers:\n  - args: [\"x\u2028y\"]\n    image: nginx\n    command: [a]\n",
		"kind: Pod\nspec:\n  containers:\n  - args: ['x\u2029y', \"\u0085\"]\n    image: nginx\n    command: [a]\n",
		"kind: Pod\rspec:\r  containers:\r  - args: [a]\r    image: nginx\r",
		"kind: Pod\r\nmetadata: {labels: {a: \"x\ry\"}}\nspec:\n  containers:\n  - image: nginx\n",
		"\ufeff{\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"image\":\"nginx\"}]}}",
		"\ufeff{kind: Pod, spec: {containers: [{image: nginx}]}}",
		"\xff\xfek\x00i\x00n\x00d\x00:\x00 \x00P\x00o\x00d\x00\n\x00",
		"\x00\x00\xfe\xff",
		// JSON that YAML refuses.
		`{"kind":"Pod","metadata":{"name":"\ud83d\ude80"},"spec":{"containers":[{"image":"quay.io\/a\/b"}]}}`,
		// Anchors and merges.
		"kind: Pod\nspec:\n  containers:\n  - &c {name: a, image: quay.io/a/b}\n  - *c\n  - <<: *c\n    name: b\n",
		"kind: Pod\nx: &d {image: nginx}\nspec:\n  containers:\n  - <<: *d\n",
		// Parts of pod specs, pod specs in pod specs, embedded objects.
		"kind: Deployment\nspec:\n  template:\n    spec:\n      initContainers: [{name: i, image: quay.io/i}]\n",
		"kind: Runner\nspec:\n  containers: [{image: gcr.io/a}]\n  worker: {spec: {containers: [{image: gcr.io/b}]}}\n",
		"kind: TriggerTemplate\nspec:\n  resourcetemplates:\n  - {apiVersion: tekton.dev/v1, kind: TaskRun, spec: {taskSpec: {steps: [{image: quay.io/s}]}}}\n",
		// Fields of custom resources.
		"apiVersion: tekton.dev/v1\nkind: Task\nspec:\n  stepTemplate: {image: gcr.io/t}\n  steps: [{image: quay.io/s, ref: {params: [{name: bundle, value: gcr.io/b}]}}]\n",
		"apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec:\n  templates:\n  - container: {image: quay.io/c}\n    steps: [[{inline: {script: {image: &s gcr.io/s}}}]]\n    initContainers: [{image: *s}]\n",
		"apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nspec: {source: {registry: {url: 'docker://quay.io/d'}}}\n",
		"apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nspec:\n  dataVolumeTemplates: [{spec: {source: {registry: {url: &u docker://quay.io/d}}}}]\n  template: {spec: {volumes: [{containerDisk: {image: *u}}]}}\n",
		"apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nspec:\n  predictor: {model: {storageUri: 'oci://quay.io/m'}, sklearn: {image: gcr.io/s}}\n",
		// Fields found by name, parameters, templated tags, variables.
		"apiVersion: example.com/v1\nkind: Thing\nspec:\n  image: quay.io/a:1\n  side: [{name: s, image: nginx}]\n  weak: {image: direct.to/nginx}\n  vol: {image: {reference: gcr.io/m:1}}\n",
		"apiVersion: tekton.dev/v1\nkind: Task\nspec:\n  params: [{name: b, default: &b gcr.io/k:1}]\n  steps: [{image: $(params.b)}, {image: 'quay.io/g:$(params.v)'}, {image: *b}]\n",
		"kind: Pod\nspec:\n  containers: [{name: c, image: x, env: [{name: RELATED_IMAGE_A, value: \"quay.io/r:1\"}]}]\n",
		// Images kept as written.
		"kind: Pod\nspec:\n  containers:\n  - {image: &n quay.io/a, imagePullPolicy: Never}\n  - {image: *n}\n  volumes: [{image: {reference: gcr.io/v, pullPolicy: Never}}]\n",
	} {
		f.Add([]byte(s))
	}
	eng := engine(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		first, err := Rewrite("in", in, eng)
		if err != nil {
			return
		}
		if len(first.Rewritten()) == 0 && !bytes.Equal(first.Output, in) {
			t.Fatalf("nothing rewritten, but the output differs:\n%q\n%q", in, first.Output)
		}
		second, err := Rewrite("out", first.Output, eng)
		if err != nil {
			t.Fatalf("the output of a rewrite does not parse: %v\n%q", err, first.Output)
		}
		for _, img := range first.Images {
			if img.Decision.Action == mirror.Escaped && img.Found == FoundByName {
				// Escaping is one way, and a name escaped may no longer
				// be found by its name: a bare name outside a
				// container's shape is taken for a VM image's.
				return
			}
		}
		if second.Documents != first.Documents || len(second.Images) != len(first.Images) {
			t.Fatalf("rewriting changed the documents or fields: %d/%d documents, %d/%d images\n%q\n%q",
				first.Documents, second.Documents, len(first.Images), len(second.Images), in, first.Output)
		}
		for i, img := range first.Images {
			if got := second.Images[i].Decision.Image; got != img.Pulled() {
				t.Fatalf("image %d (%s) reads %q after the rewrite, want %q\n%q\n%q", i, img.Location, got, img.Pulled(), in, first.Output)
			}
		}
		if a, b := documents(t, in), documents(t, first.Output); a != b {
			t.Fatalf("the rewrite changed more than images:\n%s\n%s\n%q\n%q", a, b, in, first.Output)
		}
		for _, img := range first.Images {
			if img.Decision.Action == mirror.Escaped {
				return
			}
		}
		if !bytes.Equal(second.Output, first.Output) {
			t.Fatalf("rewriting twice differs from once:\n%q\n%q", first.Output, second.Output)
		}
	})
}

// documents renders the documents of a stream that Rewrite accepted with
// every image field blanked out, so that two streams that differ only in
// their images render alike.
func documents(t *testing.T, data []byte) string {
	t.Helper()
	var out bytes.Buffer
	err := splitDocuments(bytes.NewReader(data), func(c Chunk) error {
		if at, ok := jsonStart(c.Data); ok {
			if err := jsonnode.ParseValues(c.Data[at:], func(n *yaml.Node) error { return render(&out, n) }); err == nil {
				return nil
			}
		}
		dec := yaml.NewDecoder(bytes.NewReader(c.Data))
		for {
			var doc yaml.Node
			if err := dec.Decode(&doc); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			if !isEmpty(&doc) {
				if err := render(&out, doc.Content[0]); err != nil {
					return err
				}
			}
		}
	})
	if err != nil {
		t.Fatalf("documents of a stream Rewrite took: %v", err)
	}
	return out.String()
}

func render(out *bytes.Buffer, root *yaml.Node) error {
	fields, err := Images(root)
	if err != nil {
		return err
	}
	for _, f := range fields {
		f.Node.Value, f.Node.Style = "", 0
	}
	var v any
	if err := root.Decode(&v); err != nil {
		out.WriteString("undecodable\n")
		return nil
	}
	b, err := yaml.Marshal(v)
	out.Write(b)
	out.WriteString("---\n")
	return err
}
