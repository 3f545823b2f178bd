package cmd_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/cmd"
	"kmirror.dev/kmirror/internal/testing/golden"
	"kmirror.dev/kmirror/internal/testing/jsonpatch"
	"kmirror.dev/kmirror/pkg/admission"
	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/rules"
)

// TestOneEngine proves that the webhook and `kmirror rewrite` are one
// engine: for each object of every golden case, the object patched by the
// webhook handler equals the output of `kmirror rewrite` for the same
// object, sent as JSON as the API server sends it. The webhook may only add
// its escape annotation besides.
func TestOneEngine(t *testing.T) {
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	objects := 0
	for _, c := range cases {
		if c.Expected == nil {
			// An error case: its rules or its input do not load, so there
			// is nothing to compare.
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			eng, err := rules.Load(c.Rules)
			if err != nil {
				t.Fatal(err)
			}
			for i, obj := range jsonObjects(t, c.Input) {
				agree(t, fmt.Sprintf("document %d", i+1), eng, c.Rules, obj)
				objects++
			}
		})
	}
	if objects == 0 {
		t.Fatal("no golden objects compared")
	}
}

// TestOneEngineOnGeneratedImages does the same for Pods made of a large set
// of images: every registry of the default rules in its spellings, Docker
// Hub names, escapes, images already mirrored, hosts no rule covers, and
// references that are not valid.
func TestOneEngineOnGeneratedImages(t *testing.T) {
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	images := generatedImages()
	seen := map[mirror.Action]int{}
	for _, img := range images {
		seen[eng.Decide(img).Action]++
	}
	for _, a := range []mirror.Action{mirror.Mirrored, mirror.Escaped, mirror.AlreadyMirrored, mirror.NoRule, mirror.Invalid} {
		if seen[a] < 20 {
			t.Fatalf("the generated images hold %d of action %q; the test needs more", seen[a], a)
		}
	}
	const perPod = 5
	for i := 0; i < len(images); i += perPod {
		imgs := images[i:min(i+perPod, len(images))]
		for len(imgs) < perPod {
			imgs = append(imgs, "nginx")
		}
		pod := map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": fmt.Sprintf("p%d", i), "namespace": "default"},
			"spec": map[string]any{
				"containers":          []any{map[string]any{"name": "a", "image": imgs[0]}, map[string]any{"name": "b", "image": imgs[1]}},
				"initContainers":      []any{map[string]any{"name": "a", "image": imgs[2]}},
				"ephemeralContainers": []any{map[string]any{"name": "d", "image": imgs[3]}},
				"volumes":             []any{map[string]any{"name": "v", "image": map[string]any{"reference": imgs[4]}}},
			},
		}
		obj, err := json.Marshal(pod)
		if err != nil {
			t.Fatal(err)
		}
		agree(t, strings.Join(imgs, ", "), eng, "", obj)
	}
	t.Logf("%d images in %d Pods; decisions %v", len(images), (len(images)+perPod-1)/perPod, seen)
}

// agree checks that the webhook and rewrite make the same object of obj.
func agree(t *testing.T, what string, eng *mirror.Engine, rulesArg string, obj []byte) {
	t.Helper()
	rewritten := rewrite(t, rulesArg, obj)
	patch := webhookPatch(t, eng, obj)
	var replaces []json.RawMessage
	var ops []struct {
		Op, Path string
		Value    any
	}
	if err := json.Unmarshal(orEmpty(patch), &ops); err != nil {
		t.Fatal(err)
	}
	var raw []json.RawMessage
	_ = json.Unmarshal(orEmpty(patch), &raw)
	for i, op := range ops {
		if op.Op == "replace" {
			replaces = append(replaces, raw[i])
			continue
		}
		if !isEscapeRecord(op.Path, op.Value) {
			t.Errorf("%s: the webhook patch holds %s, which is neither an image nor the escape record", what, raw[i])
		}
	}
	patched := obj
	if len(replaces) > 0 {
		b, err := json.Marshal(replaces)
		if err != nil {
			t.Fatal(err)
		}
		patched = jsonpatch.Apply(t, obj, b)
	}
	if diff := cmp.Diff(decodeAny(t, rewritten), decodeAny(t, patched)); diff != "" {
		t.Errorf("%s: object (-kmirror rewrite +webhook):\n%s", what, diff)
	}
}

// isEscapeRecord reports whether an operation only writes the escape
// annotation.
func isEscapeRecord(path string, value any) bool {
	key := strings.ReplaceAll(admission.EscapedAnnotation, "/", "~1")
	switch {
	case strings.HasSuffix(path, "/annotations/"+key):
		_, ok := value.(string)
		return ok || value == nil
	case strings.HasSuffix(path, "/annotations"):
		m, ok := value.(map[string]any)
		return ok && len(m) == 1 && m[admission.EscapedAnnotation] != nil
	case strings.HasSuffix(path, "/metadata"):
		m, ok := value.(map[string]any)
		return ok && len(m) == 1 && isEscapeRecord(path+"/annotations", m["annotations"])
	}
	return false
}

// rewrite runs `kmirror rewrite` on obj in process.
func rewrite(t *testing.T, rulesArg string, obj []byte) []byte {
	t.Helper()
	root := cmd.NewRoot()
	args := []string{"rewrite", "-q"}
	if rulesArg != "" {
		args = append(args, "--rules", rulesArg)
	}
	root.SetArgs(args)
	root.SetIn(bytes.NewReader(obj))
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	if err := root.Execute(); err != nil {
		t.Fatalf("kmirror rewrite: %v\n%s", err, errOut.String())
	}
	return out.Bytes()
}

// webhookPatch sends obj to the webhook handler in a CREATE review and
// returns the patch of the answer.
func webhookPatch(t *testing.T, eng *mirror.Engine, obj []byte) []byte {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{"uid": "1", "operation": "CREATE", "object": json.RawMessage(obj)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	(&admission.Handler{Engine: eng}).ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("webhook: %d %s", w.Code, w.Body)
	}
	var answer struct {
		Response struct {
			Allowed bool
			Patch   []byte
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
		t.Fatal(err)
	}
	if !answer.Response.Allowed {
		t.Fatal("webhook: not allowed")
	}
	return answer.Response.Patch
}

// jsonObjects returns the objects of a YAML stream, each as JSON.
func jsonObjects(t *testing.T, stream []byte) [][]byte {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(stream))
	var out [][]byte
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			continue
		}
		b, err := yaml.NewRNode(doc.Content[0]).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}

func orEmpty(b []byte) []byte {
	if len(b) == 0 {
		return []byte("[]")
	}
	return b
}

// generatedImages combines hosts, paths and references, valid and not.
func generatedImages() []string {
	hosts := []string{
		"", "docker.io/", "index.docker.io/", "registry-1.docker.io/", "k8s.gcr.io/", "registry.k8s.io/",
		"gcr.io/", "gcr.io/google-containers/", "eu.gcr.io/", "asia.gcr.io/", "quay.io/",
		"602401143452.dkr.ecr.us-west-2.amazonaws.com/", "048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn/dockerhub/",
		"048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn/", "localhost/", "localhost:5000/", "myregistry:5000/",
		"registry.example.com/", "direct.to/", "direct.to/k8s.gcr.io/", "direct.to/direct.to/", "DIRECT.TO/", "k8s.gcr.io:443/",
	}
	paths := []string{"nginx", "library/nginx", "bitnami/redis", "coredns", "google_containers/pause-amd64", "a/b/c/d", "UPPER", "with_under.score-dash", "", "-bad"}
	digest := "@sha256:" + strings.Repeat("0123456789abcdef", 4)
	refs := []string{"", ":1.0", ":latest", ":v1.2.3-rc.1", digest, ":1" + digest, ":", "@sha256:short", ":bad tag", ":é"}
	var out []string
	for _, h := range hosts {
		for _, p := range paths {
			for _, r := range refs {
				if img := h + p + r; img != "" {
					out = append(out, img)
				}
			}
		}
	}
	return append(out, " nginx", "nginx ", "a//b", "/abs", "//", "\tnginx", "nginx\n", `quo"te`, "back\\slash", "ünïcode", strings.Repeat("a", 300))
}
