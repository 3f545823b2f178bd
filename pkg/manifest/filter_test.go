package manifest_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/rules"
)

const filterECR = "048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn"

func filterEngine(t *testing.T) *mirror.Engine {
	t.Helper()
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// parseNodes reads a stream into one node per document, keeping anchors
// and aliases, which kio.FromBytes would resolve.
func parseNodes(t *testing.T, stream string) []*yaml.RNode {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(stream))
	var nodes []*yaml.RNode
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nodes
		}
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, yaml.NewRNode(doc.Content[0]))
	}
}

func encodeNodes(t *testing.T, nodes []*yaml.RNode) string {
	t.Helper()
	var b bytes.Buffer
	if err := (kio.ByteWriter{Writer: &b}).Write(nodes); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// summary is what a test compares of an image: where, what, and why.
type summary struct {
	Doc                 int
	Path, Image, Result string
	Action              mirror.Action
}

func summarize(images []manifest.Image) []summary {
	var out []summary
	for _, img := range images {
		out = append(out, summary{img.Document, img.Path, img.Decision.Image, img.Decision.Result, img.Decision.Action})
	}
	return out
}

func TestRewriterFilter(t *testing.T) {
	tests := []struct {
		name     string
		in, want string
		images   []summary
		warnings []string
	}{
		{
			name: "keeps comments and every other field",
			in:   "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p # the pod\nspec:\n  containers:\n  - name: a\n    image: nginx:1.25 # pinned\n    args: [nginx]\n",
			want: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p # the pod\nspec:\n  containers:\n  - name: a\n    image: " + filterECR + "/dockerhub/nginx:1.25 # pinned\n    args: [nginx]\n",
			images: []summary{
				{1, "spec.containers[0].image", "nginx:1.25", filterECR + "/dockerhub/nginx:1.25", mirror.Mirrored},
			},
		},
		{
			name: "counts documents from one",
			in:   "kind: Pod\nspec:\n  containers: [{image: quay.io/a/b}]\n---\nkind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          initContainers: [{image: direct.to/busybox}]\n          containers: [{image: ghcr.io/x/y}]\n",
			want: "kind: Pod\nspec:\n  containers: [{image: " + filterECR + "/quay/a/b}]\n---\nkind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          initContainers: [{image: busybox}]\n          containers: [{image: ghcr.io/x/y}]\n",
			images: []summary{
				{1, "spec.containers[0].image", "quay.io/a/b", filterECR + "/quay/a/b", mirror.Mirrored},
				{2, "spec.jobTemplate.spec.template.spec.initContainers[0].image", "direct.to/busybox", "busybox", mirror.Escaped},
				{2, "spec.jobTemplate.spec.template.spec.containers[0].image", "ghcr.io/x/y", "ghcr.io/x/y", mirror.NoRule},
			},
		},
		{
			name: "an invalid image is left with a warning",
			in:   "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - image: Nginx:Latest\n",
			want: "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - image: Nginx:Latest\n",
			images: []summary{
				{1, "spec.containers[0].image", "Nginx:Latest", "Nginx:Latest", mirror.Invalid},
			},
			warnings: []string{`stdin: document 1 (Pod p), line 5: spec.containers[0].image: invalid image reference "Nginx:Latest": invalid reference format: repository name (library/Nginx) must be lowercase`},
		},
		{
			name: "an alias of an image field follows its anchor",
			in:   "kind: Pod\nspec:\n  initContainers:\n  - image: &img k8s.gcr.io/pause:3.1\n  containers:\n  - image: *img\n",
			want: "kind: Pod\nspec:\n  initContainers:\n  - image: &img " + filterECR + "/gcr/google_containers/pause:3.1\n  containers:\n  - image: *img\n",
			images: []summary{
				{1, "spec.initContainers[0].image", "k8s.gcr.io/pause:3.1", filterECR + "/gcr/google_containers/pause:3.1", mirror.Mirrored},
				{1, "spec.containers[0].image", "k8s.gcr.io/pause:3.1", filterECR + "/gcr/google_containers/pause:3.1", mirror.Mirrored},
			},
		},
		{
			name: "an alias of another field is left with a warning",
			in:   "kind: Pod\nmetadata:\n  labels: {img: &img nginx}\nspec:\n  containers:\n  - image: *img\n",
			want: "kind: Pod\nmetadata:\n  labels: {img: &img nginx}\nspec:\n  containers:\n  - image: *img\n",
			images: []summary{
				{1, "spec.containers[0].image", "nginx", filterECR + "/dockerhub/nginx", mirror.Mirrored},
			},
			warnings: []string{"stdin: document 1 (Pod), line 6: spec.containers[0].image: left unmirrored: the image comes from a YAML anchor that is also used outside image fields (2 uses, 1 of them images); write the image out, or anchor it only where it is an image"},
		},
		{
			name: "a value the decoder reads as a number is left with a warning",
			in:   "kind: Pod\nspec:\n  containers:\n  - image: 1234\n",
			want: "kind: Pod\nspec:\n  containers:\n  - image: 1234\n",
			images: []summary{
				{1, "spec.containers[0].image", "1234", "1234", mirror.Invalid},
			},
			warnings: []string{"stdin: document 1 (Pod), line 4: spec.containers[0].image: image 1234 is a number, not a string; quote it"},
		},
		{
			name: "an escaped image that reads as a number is quoted",
			in:   "kind: Pod\nspec:\n  containers:\n  - image: direct.to/1234\n",
			want: "kind: Pod\nspec:\n  containers:\n  - image: \"1234\"\n",
			images: []summary{
				{1, "spec.containers[0].image", "direct.to/1234", "1234", mirror.Escaped},
			},
		},
		{
			name: "a block scalar is left as it is, as the stream rewriter leaves it",
			in:   "kind: Pod\nspec:\n  containers:\n  - image: >-\n      quay.io/a/b\n",
			want: "kind: Pod\nspec:\n  containers:\n  - image: >-\n      quay.io/a/b\n",
			images: []summary{
				{1, "spec.containers[0].image", "quay.io/a/b", filterECR + "/quay/a/b", mirror.Mirrored},
			},
			warnings: []string{"stdin: document 1 (Pod), line 4: spec.containers[0].image: left unmirrored: the image is a block scalar (| or >); write it on one line"},
		},
		{
			name: "a registry URL keeps its scheme",
			in:   "apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nspec:\n  source:\n    registry:\n      url: docker://quay.io/containerdisks/fedora:40 # the disk\n",
			want: "apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nspec:\n  source:\n    registry:\n      url: docker://" + filterECR + "/quay/containerdisks/fedora:40 # the disk\n",
			images: []summary{
				{1, "spec.source.registry.url", "quay.io/containerdisks/fedora:40", filterECR + "/quay/containerdisks/fedora:40", mirror.Mirrored},
			},
		},
		{
			name: "an image whose pull policy is Never is kept, without a warning",
			in:   "kind: Pod\nspec:\n  containers:\n  - name: a\n    image: registry.k8s.io/pause:3.9\n    imagePullPolicy: Never\n  - name: b\n    image: registry.k8s.io/pause:3.9\n",
			want: "kind: Pod\nspec:\n  containers:\n  - name: a\n    image: registry.k8s.io/pause:3.9\n    imagePullPolicy: Never\n  - name: b\n    image: " + filterECR + "/gcr/google_containers/pause:3.9\n",
			images: []summary{
				{1, "spec.containers[0].image", "registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9", mirror.Kept},
				{1, "spec.containers[1].image", "registry.k8s.io/pause:3.9", filterECR + "/gcr/google_containers/pause:3.9", mirror.Mirrored},
			},
		},
		{
			name: "objects without images are untouched",
			in:   "kind: ConfigMap\ndata: {image: nginx}\n---\nkind: Service\nspec: {ports: [{port: 80}]}\n",
			want: "kind: ConfigMap\ndata: {image: nginx}\n---\nkind: Service\nspec: {ports: [{port: 80}]}\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &manifest.Rewriter{Engine: filterEngine(t), File: "stdin"}
			nodes := parseNodes(t, tc.in)
			out, err := r.Filter(nodes)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, encodeNodes(t, out)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.images, summarize(r.Images)); diff != "" {
				t.Errorf("images (-want +got):\n%s", diff)
			}
			var warnings []string
			for _, w := range r.Warnings {
				warnings = append(warnings, w.String())
			}
			if diff := cmp.Diff(tc.warnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRewriterAgreesWithRewrite holds the node rewriter to the stream
// rewriter: the same images, decided the same way, at the same places.
func TestRewriterAgreesWithRewrite(t *testing.T) {
	stream := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      initContainers:
      - {name: init, image: "registry.k8s.io/busybox:1.36"}
      containers:
      - {name: web, image: nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000}
      - {name: side, image: 'direct.to/gcr.io/google_containers/pause-amd64:3.0'}
      ephemeralContainers:
      - {name: debug, image: localhost:5000/debug}
      volumes:
      - name: data
        image: {reference: quay.io/org/data:v1}
---
apiVersion: v1
kind: List
items:
- apiVersion: batch/v1
  kind: CronJob
  metadata: {name: nightly}
  spec:
    jobTemplate:
      spec:
        template:
          spec:
            containers:
            - {name: job, image: 048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn/quay/x/y:1}
            - {name: bad, image: "nginx::1"}
`
	eng := filterEngine(t)
	res, err := manifest.Rewrite("stdin", []byte(stream), eng)
	if err != nil {
		t.Fatal(err)
	}
	r := &manifest.Rewriter{Engine: eng, File: "stdin"}
	if _, err := r.Filter(parseNodes(t, stream)); err != nil {
		t.Fatal(err)
	}
	// Lines count from each document's start for nodes, from the stream's
	// start for Rewrite; everything else must be equal.
	withoutLines := func(images []manifest.Image) []manifest.Image {
		out := make([]manifest.Image, len(images))
		for i, img := range images {
			img.Line = 0
			img.Decision.Err = nil
			out[i] = img
		}
		return out
	}
	if len(res.Images) != 7 {
		t.Fatalf("Rewrite found %d images, want 7", len(res.Images))
	}
	if diff := cmp.Diff(withoutLines(res.Images), withoutLines(r.Images)); diff != "" {
		t.Errorf("images (-Rewrite +Rewriter):\n%s", diff)
	}
	if len(res.Warnings) != 1 || len(r.Warnings) != 1 || res.Warnings[0].Message != r.Warnings[0].Message {
		t.Errorf("warnings differ: Rewrite %v, Rewriter %v", res.Warnings, r.Warnings)
	}
}

// TestRewriterInPipeline runs the Rewriter where kyaml runs filters, and
// checks that a second Filter call reports only its own nodes.
func TestRewriterInPipeline(t *testing.T) {
	r := &manifest.Rewriter{Engine: filterEngine(t)}
	for _, in := range []string{
		"kind: Pod\nspec:\n  containers: [{image: quay.io/a/b}, {image: gcr.io/c/d}]\n",
		"kind: Pod\nspec:\n  containers: [{image: us.gcr.io/e/f}]\n",
	} {
		var out bytes.Buffer
		err := kio.Pipeline{
			Inputs:  []kio.Reader{&kio.ByteReader{Reader: strings.NewReader(in), OmitReaderAnnotations: true}},
			Filters: []kio.Filter{r},
			Outputs: []kio.Writer{kio.ByteWriter{Writer: &out}},
		}.Execute()
		if err != nil {
			t.Fatal(err)
		}
		want := strings.NewReplacer("quay.io/", filterECR+"/quay/", "gcr.io/", filterECR+"/gcr/", "us.gcr.io/", filterECR+"/gcr/").Replace(in)
		if diff := cmp.Diff(want, out.String()); diff != "" {
			t.Errorf("output (-want +got):\n%s", diff)
		}
		if got, want := len(r.Images), strings.Count(in, "image:"); got != want {
			t.Errorf("Images holds %d images after a Filter call on %d", got, want)
		}
	}
}
