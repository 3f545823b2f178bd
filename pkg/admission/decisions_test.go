package admission

import (
	"fmt"
	"strings"
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
	// All but the invalid one.
	if len(c.m) != len(images)-1 {
		t.Errorf("%d decisions remembered, want %d", len(c.m), len(images)-1)
	}
}

// remembered returns the bytes of the strings c holds, the way a heap
// profile would count them, and the number of decisions.
func remembered(c *decisions) (bytes, n int) {
	for k, d := range c.m {
		bytes += len(k)
		if d.Result != k {
			bytes += len(d.Result)
		}
	}
	return bytes, len(c.m)
}

func TestDecisionsAreBoundedInBytes(t *testing.T) {
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	c := newDecisions(eng)
	// Long valid references, each with a result longer still.
	name := strings.Repeat("a", 200) + "/" + strings.Repeat("b", 40)
	for i := range 20_000 {
		img := fmt.Sprintf("%s:%d", name, i)
		if d := c.decide(img); d.Action != mirror.Mirrored {
			t.Fatalf("decision %+v", d)
		}
		if b, _ := remembered(c); b > maxDecisionBytes {
			t.Fatalf("after %d images, %d bytes remembered, over the bound of %d", i+1, b, maxDecisionBytes)
		}
	}
}

// TestDecisionsForgetWhatIsNotWorthRemembering: 100 reviews with two
// distinct invalid 1 MiB images each left 2.6 GB resident.
func TestDecisionsForgetWhatIsNotWorthRemembering(t *testing.T) {
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	c := newDecisions(eng)
	huge := strings.Repeat("A", 1<<20)
	long := "registry.example.com/" + strings.Repeat("a", 700)
	for i := range 20 {
		for _, img := range []string{huge + fmt.Sprint(i), "Invalid:" + fmt.Sprint(i), long + fmt.Sprint(i%2)} {
			want := eng.Decide(img)
			if got := c.decide(img); got.Action != want.Action || got.Result != want.Result {
				t.Fatalf("decide(%.40q): %s %.40q, want %s %.40q", img, got.Action, got.Result, want.Action, want.Result)
			}
		}
	}
	if b, n := remembered(c); n != 0 {
		t.Errorf("%d decisions of %d bytes remembered, want none: invalid or longer than any valid reference", n, b)
	}
}

// TestNoPullableImageIsLonger holds the shortcut of decide for long
// images: the longest image that can be pulled, with a host name of 253
// bytes, is valid and shorter than maxImageBytes; a longer one is invalid,
// whatever the engine would say.
func TestNoPullableImageIsLonger(t *testing.T) {
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	label := strings.Repeat("h", 62)
	host := strings.Join([]string{label, label, label, label[1:]}, ".") + ".io" // 253 bytes
	longest := host + ":65535/" + strings.Repeat("a", 255) + ":" + strings.Repeat("t", 128) + "@sha512:" + strings.Repeat("0", 128)
	c := newDecisions(eng)
	for _, img := range []string{longest, "direct.to/" + longest, "quay.io/" + strings.Repeat("a", 255) + ":" + strings.Repeat("t", 128)} {
		want := eng.Decide(img)
		if got := c.decide(img); want.Action == mirror.Invalid || got.Action != want.Action || got.Result != want.Result {
			t.Errorf("decide(%d bytes) is %s %.20q, the engine's %s %.20q (%v)", len(img), got.Action, got.Result, want.Action, want.Result, want.Err)
		}
	}
	if len(host) != 253 || len(longest) > maxImageBytes {
		t.Errorf("a host of %d bytes, the longest image %d bytes, over %d", len(host), len(longest), maxImageBytes)
	}
	// The grammar accepts a longer host, which no one can pull from.
	long := strings.Repeat("h", 64<<10) + ".io/app:1"
	if d := eng.Decide(long); d.Action == mirror.Invalid {
		t.Fatalf("the engine: %v", d.Err)
	}
	if d := c.decide(long); d.Action != mirror.Invalid || d.Result != long || len(d.Err.Error()) > 300 {
		t.Errorf("an image of 64 KiB is %s, %d bytes of error", d.Action, len(d.Err.Error()))
	}
}
