package manifest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"kmirror.dev/kmirror/pkg/mirror"
)

// kubectlObject decodes data as kubectl does: k8s.io/apimachinery's
// YAMLOrJSONDecoder into the JSON that goes to the API server. It returns
// the one object data holds, or ok false when data holds none, several, or
// something kubectl refuses.
func kubectlObject(data []byte) (obj map[string]any, ok bool) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return obj, obj != nil
		}
		if err != nil {
			return nil, false
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue // an empty document, which kubectl skips
		}
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var v any
		if d.Decode(&v) != nil || obj != nil {
			return nil, false
		}
		if obj, ok = v.(map[string]any); !ok {
			return nil, false
		}
	}
}

// located is a value of a decoded object, and where it is held.
type located struct {
	value any
	set   func(any)
}

// flatten returns the values of a decoded object by their paths, as
// Path.String writes them; keys with dots or brackets can make two paths
// one, which then holds nothing.
func flatten(v any) map[string]*located {
	out := map[string]*located{}
	var walk func(v any, path Path)
	add := func(path Path, v any, set func(any)) {
		key := path.String()
		if _, dup := out[key]; dup {
			out[key] = nil
		} else {
			out[key] = &located{v, set}
		}
		walk(v, path)
	}
	walk = func(v any, path Path) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				add(path.with(k), c, func(x any) { v[k] = x })
			}
		case []any:
			for i, c := range v {
				add(path.at(i), c, func(x any) { v[i] = x })
			}
		}
	}
	walk(v, nil)
	return out
}

// podImages returns the images of the containers of a Pod as kubectl
// decoded it, by path, in the lists that the walk reads: those whose
// entries are all mappings.
func podImages(obj map[string]any) map[string]string {
	out := map[string]string{}
	spec, _ := obj["spec"].(map[string]any)
	for _, list := range []string{"containers", "initContainers", "ephemeralContainers"} {
		entries, _ := spec[list].([]any)
		images := map[string]string{}
		for i, e := range entries {
			c, ok := e.(map[string]any)
			if !ok {
				images = nil
				break
			}
			if img, ok := c["image"].(string); ok && img != "" {
				images[fmt.Sprintf("spec.%s[%d].image", list, i)] = img
			}
		}
		maps.Copy(out, images)
	}
	return out
}

// checkAsKubectl holds kmirror's reading and rewriting of the one Pod of
// in to kubectl's: every image kmirror finds is the value kubectl reads
// there, or not a string where kubectl reads no string; every image of a
// container that kubectl reads, kmirror finds; and kubectl reads the
// output as the input with the rewritten images set to their results, and
// nothing else changed. kmirror may refuse what kubectl reads only for a
// reason of its own, which refused says. It reports whether kubectl reads
// in as a Pod.
func checkAsKubectl(t *testing.T, in []byte, eng *mirror.Engine, refused func(error) bool) bool {
	t.Helper()
	obj, ok := kubectlObject(in)
	if !ok || obj["kind"] != "Pod" {
		return false
	}
	res, err := Rewrite("in", in, eng)
	if err != nil {
		if !refused(err) {
			t.Fatalf("kubectl reads the Pod, kmirror refuses it: %v\n%q", err, in)
		}
		return true
	}
	want := podImages(obj)
	values := flatten(obj)
	for _, img := range res.Images {
		l, ok := values[img.Path]
		if ok && l == nil {
			return true // a path that names two values
		}
		var v any
		if ok {
			v = l.value
		}
		s, isString := v.(string)
		switch {
		case !ok:
			t.Fatalf("kmirror finds an image at %s, which kubectl does not have\n%q", img.Path, in)
		case img.Decision.Err != nil && errors.Is(img.Decision.Err, errNotString):
			if isString {
				t.Fatalf("kmirror reads %s as no string, kubectl as %q\n%q", img.Path, s, in)
			}
		case !isString || s != img.Decision.Image:
			t.Fatalf("kmirror reads %s as %q, kubectl as %#v\n%q", img.Path, img.Decision.Image, v, in)
		}
		delete(want, img.Path)
	}
	if len(want) > 0 {
		t.Fatalf("kubectl reads images kmirror does not find: %v\n%q", want, in)
	}
	out, ok := kubectlObject(res.Output)
	if !ok {
		t.Fatalf("kubectl does not read the output\n%q\n%q", in, res.Output)
	}
	for _, img := range res.Images {
		if img.Rewritten() {
			values[img.Path].set(img.Decision.Result)
		}
	}
	if !reflect.DeepEqual(obj, out) {
		a, _ := json.Marshal(obj)
		b, _ := json.Marshal(out)
		t.Fatalf("kubectl reads the output as\n%s\nwant\n%s\n%q\n%q", b, a, in, res.Output)
	}
	return true
}

// kmirrorRefuses tells the refusals of what kubectl reads that are
// kmirror's own (a key twice, which kubectl takes the last of silently;
// aliases beyond the budget; an image it cannot rewrite exactly; text that
// yaml.v3 does not parse but go-yaml v2 does) from those that would be
// bugs: saying kubectl cannot read what it reads, and an edit that the
// guard stops.
func kmirrorRefuses(err error) bool {
	return !errors.Is(err, errUnreadable) && !strings.Contains(err.Error(), "not where the parser put it")
}

// readingSeeds are Pods whose images and keys YAML 1.1 and 1.2 read apart,
// or that are written in unusual forms.
var readingSeeds = []string{
	"kind: Pod\nspec:\n  containers:\n  - image: 2001-12-14\n  - image: yes\n  - image: on\n  - image: n\n  - image: 1_000\n  - image: 0o17\n",
	"kind: Pod\nspec:\n  containers:\n  - image: !!binary cXVheS5pby9hL2I6MQ==\n  - image: !!str 123\n  - image: !foo quay.io/x\n",
	"kind: Pod\nspec:\n  containers:\n  - &k image: quay.io/a\n  - *k : quay.io/b\n",
	"kind: Pod\nspec:\n  containers:\n  - !!binary aW1hZ2U=: quay.io/c\n  - !!str image: nginx\n",
	"kind: Pod\nspec:\n  containers:\n  - image: &a\n      quay.io/d\n    name: x\n  - image: &b # c\n      quay.io/e\n",
	"kind: Pod\nspec:\n  containers:\n  - image: !!str\n      nginx\n  - image: &c !!str # c\n\n      nginx\n",
	"kind: Pod\nspec:\n  containers:\n  - {image: &a\n      nginx, name: a}\n  - {image: !!str\n      quay.io/f}\n",
	"kind: Pod\nx: &m {image: quay.io/g}\nspec:\n  containers:\n  - image: nginx\n    <<: *m\n  - <<: *m\n    image: nginx\n",
	"kind: Pod\nx: &m {image: quay.io/g}\ny: &n {image: nginx}\nspec:\n  containers:\n  - <<: [*m, *n]\n",
	"kind: Pod\nspec:\n  containers:\n  - image: 2001-12-14t21:59:43.10-05:00\n  - image: 1e3\n  - image: +12\n  - image: ~\n  - image: '0x1F'\n",
	"kind: Pod\nspec:\n  yes: 1\n  1.0: x\n  containers:\n  - {image: \"quay.io/h\", 0x10: b}\n",
	"{\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"image\":\"quay.io\\/i\"}]}}",
	"kind: Pod\nspec:\n  containers:\n  - image: \"quay.io/\\\n      j\"\n  - image: 'quay.io/k'\n",
}

// FuzzReadsAsKubectl is the differential test of kmirror's reading of
// keys and scalars against kubectl's decoder (see checkAsKubectl).
func FuzzReadsAsKubectl(f *testing.F) {
	for _, s := range readingSeeds {
		f.Add([]byte(s))
	}
	eng := engine(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		checkAsKubectl(t, in, eng, kmirrorRefuses)
	})
}

// TestReadsAsKubectl runs the seeds of FuzzReadsAsKubectl, each of which
// kubectl must read as a Pod for the test to hold anything.
func TestReadsAsKubectl(t *testing.T) {
	eng := engine(t)
	for i, s := range readingSeeds {
		if !checkAsKubectl(t, []byte(s), eng, kmirrorRefuses) {
			t.Errorf("seed %d: kubectl does not read a Pod:\n%s", i, s)
		}
	}
}

// choices reads the choices of a generator from fuzzed bytes; past their
// end, every choice is the first.
type choices []byte

func (c *choices) pick(n int) int {
	if len(*c) == 0 {
		return 0
	}
	b := (*c)[0]
	*c = (*c)[1:]
	return int(b) % n
}

func (c *choices) of(options ...string) string { return options[c.pick(len(options))] }

// locatorPod writes a Pod whose images are written in the forms the fuzzed
// bytes choose: anchors, tags, comments and line breaks between them and
// the value, quoting, flow or block mappings, keys in other forms, line
// ends, and a container name equal to its image, for an edit to land on.
func locatorPod(c choices) string {
	nl := c.of("\n", "\r\n", "\r")
	var b strings.Builder
	b.WriteString("kind: Pod" + nl + "spec:" + nl + "  containers:" + nl)
	for i := range c.pick(3) + 1 {
		img := c.of("quay.io/a/b:1", "nginx", "k8s.gcr.io/pause:3", "ghcr.io/x/y", "direct.to/busybox", "2001-12-14", "Bad:Image", "on")
		tag := c.of("", "", "!!str ", "! ", "!foo ", "!!binary ", "!<tag:yaml.org,2002:str> ")
		value := img
		if tag == "!!binary " {
			value = base64.StdEncoding.EncodeToString([]byte(img))
		}
		switch c.pick(3) {
		case 1:
			value = "'" + strings.ReplaceAll(value, "'", "''") + "'"
		case 2:
			value = strconv.Quote(value)
		}
		flow := c.pick(2) == 1
		indent := "      "
		if flow {
			indent = "        "
		}
		anchor := c.of("", fmt.Sprintf("&i%d ", i))
		gap := c.of(" ", nl+indent, " # c"+nl+indent, nl+nl+indent, " \t# c: d"+nl+indent)
		props := strings.TrimSuffix(anchor+tag, " ")
		if props == "" {
			gap = ""
		}
		key := c.of("image", "\"image\"", "'image'", "!!str image", "!!binary aW1hZ2U=")
		entry := key + ": " + props + gap + value
		name := "name: " + c.of("web", img, strconv.Quote(img))
		if flow {
			fmt.Fprintf(&b, "  - {%s, %s}%s", entry, name, nl)
		} else {
			fmt.Fprintf(&b, "  - %s%s    %s%s", entry, nl, name, nl)
		}
	}
	return b.String()
}

// FuzzLocate fuzzes the edit locator with images written in every form
// around their value (see locatorPod): kubectl must read the output as the
// input with only the images changed, each to its decision.
func FuzzLocate(f *testing.F) {
	for _, seed := range [][]byte{
		{}, {0, 0, 0, 1, 1, 0, 0, 1, 1}, {1, 2, 0, 2, 3, 1, 1, 1, 2, 3}, {2, 1, 5, 5, 0, 1, 1, 4, 0, 1},
		{0, 2, 3, 1, 2, 0, 1, 2, 1, 4, 2, 7, 6, 2, 1, 1, 3, 3}, {1, 1, 4, 6, 1, 0, 1, 1, 4, 1, 1},
	} {
		f.Add(seed)
	}
	eng := engine(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		doc := locatorPod(choices(in))
		if !checkAsKubectl(t, []byte(doc), eng, kmirrorRefuses) {
			t.Fatalf("kubectl does not read the Pod:\n%q", doc)
		}
	})
}
