package krm

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/fileset"
	"kmirror.dev/kmirror/pkg/manifest"
)

const streamECR = "048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn"

func stream(t *testing.T, in string) (string, *Output, error) {
	t.Helper()
	src, out := fileset.NewSpool(0), fileset.NewSpool(0)
	t.Cleanup(func() { src.Close(); out.Close() })
	src.Write([]byte(in))
	o, err := Function{}.Stream(src.Reader(), out)
	var b bytes.Buffer
	out.WriteTo(&b)
	return b.String(), o, err
}

// value decodes a ResourceList for comparison.
func value(t *testing.T, data string) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(data), &v); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	return v
}

// resourceLists are ResourceLists in the streamed layout and out of it.
var resourceLists = map[string]string{
	"streamed": "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n# the items\nitems:\n" +
		"- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n  spec:\n    containers:\n    - image: nginx   # c\n      name: x\n" +
		"# between\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: b\n  spec:\n    containers: [{image: 'quay.io/a/b'}, {image: Bad}]\n" +
		"-\n  kind: Pod\n  spec:\n      containers:\n          -   image: \"k8s.gcr.io/pause\"\n" +
		"functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c}\n",
	"indented items, config first": "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig:\n  apiVersion: kmirror.dev/v1alpha1\n  kind: MirrorRules\n" +
		"  spec:\n    mirrors:\n    - {from: docker.io/, to: m.example.com/hub/}\nitems:\n  - kind: Pod\n    spec: {containers: [{image: nginx}, {image: quay.io/x}]}\n",
	"no final newline": "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- kind: Pod\n  spec: {containers: [{image: Bad}]}",
	"flow items":       "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: [{kind: Pod, spec: {containers: [{image: nginx}]}}]\n",
	"results already":  "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- kind: Pod\n  spec: {containers: [{image: Bad}]}\nresults:\n- message: earlier\n  severity: info\n",
	"JSON":             `{"apiVersion":"config.kubernetes.io/v1","kind":"ResourceList","items":[{"kind":"Pod","spec":{"containers":[{"image":"nginx"}]}}]}`,
	"a bad config": "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- kind: Pod\n  spec: {containers: [{image: nginx}]}\n" +
		"functionConfig:\n  apiVersion: kmirror.dev/v1alpha1\n  kind: MirrorRules\n  spec: {mirrors: [{form: x}]}\n",
	"an anchor across items": "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- kind: Pod\n  spec: {containers: [{image: &i nginx}]}\n- kind: Pod\n  spec: {containers: [{image: *i}]}\n",
}

// TestStreamAgreesWithRun holds the streamed function to the one that
// parses the whole ResourceList: the same items, results and error.
func TestStreamAgreesWithRun(t *testing.T) {
	for name, in := range resourceLists {
		t.Run(name, func(t *testing.T) {
			got, gotOut, gotErr := stream(t, in)
			want, wantErr := Function{}.Run([]byte(in))
			if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
				t.Fatalf("Stream error %v, Run error %v", gotErr, wantErr)
			}
			if want == nil {
				return
			}
			if diff := cmp.Diff(value(t, string(want.ResourceList)), value(t, got)); diff != "" {
				t.Errorf("ResourceList (-Run +Stream):\n%s", diff)
			}
			if diff := cmp.Diff(want.Results, gotOut.Results); diff != "" {
				t.Errorf("results (-Run +Stream):\n%s", diff)
			}
		})
	}
}

// TestStreamKeepsEveryByte checks that a ResourceList in the streamed
// layout comes back byte for byte but for its images and the results.
func TestStreamKeepsEveryByte(t *testing.T) {
	in := resourceLists["streamed"]
	got, o, err := stream(t, in)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer("image: nginx", "image: "+streamECR+"/dockerhub/nginx",
		"'quay.io/a/b'", "'"+streamECR+"/quay/a/b'", `"k8s.gcr.io/pause"`, `"`+streamECR+`/gcr/google_containers/pause"`).Replace(in)
	if !strings.HasPrefix(got, want+"results:\n- message: 'invalid image reference") {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	if len(o.Results) != 1 || o.Results[0].ResourceRef.Name != "b" || o.Results[0].Field.Path != "spec.containers[1].image" {
		t.Errorf("results: %v", o.Results)
	}
}

func TestScanLayout(t *testing.T) {
	l, err := scanLayout(strings.NewReader(resourceLists["streamed"]))
	if err != nil {
		t.Fatal(err)
	}
	in := resourceLists["streamed"]
	var entries []string
	err = l.entries(strings.NewReader(in), func(c manifest.Chunk) error {
		if in[c.Offset:c.Offset+int64(len(c.Data))] != string(c.Data) {
			t.Errorf("entry at %d is not the input's", c.Offset)
		}
		entries = append(entries, fmt.Sprintf("%d:%q", c.Line, c.Data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`5:"- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n  spec:\n    containers:\n    - image: nginx   # c\n      name: x\n# between\n"`,
		`13:"- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: b\n  spec:\n    containers: [{image: 'quay.io/a/b'}, {image: Bad}]\n"`,
		`19:"-\n  kind: Pod\n  spec:\n      containers:\n          -   image: \"k8s.gcr.io/pause\"\n"`,
	}
	if diff := cmp.Diff(want, entries); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	for _, name := range []string{"flow items", "JSON"} {
		if _, err := scanLayout(strings.NewReader(resourceLists[name])); !errors.Is(err, errNotLayout) {
			t.Errorf("%s: %v, want errNotLayout", name, err)
		}
	}
	for _, in := range []string{
		"kind: ResourceList\nitems:\n- a: 1\n\t- b\n",
		"kind: ResourceList\nitems:\n- a: 1\n---\nkind: ResourceList\n",
		"kind: ResourceList\nitems:\n- a: \"x\ry\"\n",
		"kind: ResourceList\n\"items\":\n- a: 1\n",
		"kind: ResourceList\nitems:\n  - a: 1\n - b: 2\n",
	} {
		if _, err := scanLayout(strings.NewReader(in)); !errors.Is(err, errNotLayout) {
			t.Errorf("%q: %v, want errNotLayout", in, err)
		}
	}
}

// TestDetect tells ResourceLists from other streams, also where the kind
// comes after items longer than DetectLimit (keys sorted, as PyYAML and
// encoding/json write them), in JSON with "\/" escapes, and with lone CRs.
func TestDetect(t *testing.T) {
	big := strings.Repeat("- kind: Pod\n  spec: {containers: [{image: nginx}]}\n", 3000)
	bigJSON := strings.TrimSuffix(strings.Repeat(`{"kind": "Pod", "spec": {"containers": [{"image": "nginx"}]}},`, 3000), ",")
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{resourceLists["streamed"], true},
		{"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n" + big, true},
		{"# c\n---\napiVersion: config.kubernetes.io/v1alpha1\nkind: 'ResourceList'\nitems:\n" + big, true},
		{"apiVersion: v1\nkind: List\nitems:\n" + big, false},
		{"kind: Pod\n---\napiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n" + big, false},
		{`{"apiVersion": "config.kubernetes.io/v1", "items": [{"kind": "x"}], "kind": "ResourceList", "x": "` + big + `"}`, true},
		{`{"apiVersion": "v1", "kind": "List", "items": [{"kind": "ResourceList"}, ` + bigJSON + `]}`, false},
		{"apiVersion: config.kubernetes.io/v1\nfunctionConfig: {kind: X}\nitems:\n" + big + "kind: ResourceList\n", true},
		{"apiVersion: v1\nitems:\n" + big + "kind: List\n", false},
		{"apiVersion: config.kubernetes.io/v1\nitems:\n" + big + "kind: List\n", false},
		{`{"apiVersion":"config.kubernetes.io\/v1","items":[` + bigJSON + `],"kind":"ResourceList"}`, true},
		{`{"apiVersion":"config.kubernetes.io\/v1","kind":"ResourceList","items":[]}`, true},
		{strings.ReplaceAll("apiVersion: config.kubernetes.io/v1\nitems:\n"+big+"kind: ResourceList\n", "\n", "\r"), true},
		{"- kind: ResourceList\n  apiVersion: config.kubernetes.io/v1\n" + big, false},
	} {
		got, err := Detect(strings.NewReader(tc.in))
		if err != nil || got != tc.want {
			t.Errorf("Detect(%.60q...) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
