package admission

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/rules"
)

func TestDecisionsAreTheEngines(t *testing.T) {
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	c := newDecisions(eng)
	images := []string{"k8s.gcr.io/coredns:1.3.1", "direct.to/busybox:latest", "nginx", M + "quay/x:1", "registry.example.com/a:1", "Not Valid"}
	for range 2 {
		for _, img := range images {
			// The body an image is cut from is reused after the request.
			body := []byte("  " + img + "  ")
			got := c.decide(string(body[2 : len(body)-2]))
			clear(body)
			want := eng.Decide(img)
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b error) bool { return fmt.Sprint(a) == fmt.Sprint(b) })); diff != "" {
				t.Errorf("decide(%q) (-engine +remembered):\n%s", img, diff)
			}
		}
	}
	if len(c.m) != len(images) {
		t.Errorf("%d decisions remembered, want %d", len(c.m), len(images))
	}
}

func TestDecisionsAreBounded(t *testing.T) {
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	c := newDecisions(eng)
	for i := range 3 * maxDecisions {
		d := c.decide(fmt.Sprintf("nginx:%d", i))
		if d.Action != mirror.Mirrored {
			t.Fatalf("decision %+v", d)
		}
		if len(c.m) > maxDecisions {
			t.Fatalf("%d decisions remembered, over the bound of %d", len(c.m), maxDecisions)
		}
	}
}
