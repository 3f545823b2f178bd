package mirror_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/pkg/fieldpath"
	"kmirror.dev/kmirror/pkg/image"
	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/rules"
)

const (
	ecr    = "048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn"
	digest = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func defaultEngine(t testing.TB) *mirror.Engine {
	t.Helper()
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// TestAcceptance is the acceptance table of the offline-rewriter issue,
// with the default rules.
func TestAcceptance(t *testing.T) {
	eng := defaultEngine(t)
	tests := []struct {
		in, want string
		action   mirror.Action
	}{
		{"k8s.gcr.io/coredns:1.3.1", ecr + "/gcr/google_containers/coredns:1.3.1", mirror.Mirrored},
		{"registry.k8s.io/pause:3.9", ecr + "/gcr/google_containers/pause:3.9", mirror.Mirrored},
		{"direct.to/busybox:latest", "busybox:latest", mirror.Escaped},
		{"direct.to/gcr.io/google_containers/pause-amd64:3.0", "gcr.io/google_containers/pause-amd64:3.0", mirror.Escaped},
		{"busybox:1.36", ecr + "/dockerhub/busybox:1.36", mirror.Mirrored},
		{"docker.io/library/nginx:1.25", ecr + "/dockerhub/library/nginx:1.25", mirror.Mirrored},
		{"index.docker.io/library/alpine", ecr + "/dockerhub/library/alpine", mirror.Mirrored},
		{"registry-1.docker.io/bitnami/redis:7", ecr + "/dockerhub/bitnami/redis:7", mirror.Mirrored},
		{"bitnami/redis", ecr + "/dockerhub/bitnami/redis", mirror.Mirrored},
		{"quay.io/coreos/etcd:v3.5.0", ecr + "/quay/coreos/etcd:v3.5.0", mirror.Mirrored},
		{"gcr.io/google-containers/pause:3.1", ecr + "/gcr/google_containers/pause:3.1", mirror.Mirrored},
		{"gcr.io/distroless/static", ecr + "/gcr/distroless/static", mirror.Mirrored},
		{"eu.gcr.io/proj/app:1", ecr + "/gcr/proj/app:1", mirror.Mirrored},
		{"602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.15.0", ecr + "/amazonecr/amazon-k8s-cni:v1.15.0", mirror.Mirrored},
		{"k8s.gcr.io/pause:3.1" + digest, ecr + "/gcr/google_containers/pause:3.1" + digest, mirror.Mirrored},
		{"nginx" + digest, ecr + "/dockerhub/nginx" + digest, mirror.Mirrored},
		{"localhost:5000/app:1", "localhost:5000/app:1", mirror.NoRule},
		{"myregistry:5000/team/app:2", "myregistry:5000/team/app:2", mirror.NoRule},
		{"ghcr.io/x/y:1", "ghcr.io/x/y:1", mirror.NoRule},
		{ecr + "/gcr/foo:1", ecr + "/gcr/foo:1", mirror.AlreadyMirrored},
		{ecr + "/dockerhub/library/nginx", ecr + "/dockerhub/library/nginx", mirror.AlreadyMirrored},
		{"Not/Valid", "Not/Valid", mirror.Invalid},
		{"direct.to/", "direct.to/", mirror.Invalid},
		{"direct.to/Not/Valid", "Not/Valid", mirror.Invalid},
		{"direct.to/k8s.gcr.io/Pause:3", "k8s.gcr.io/Pause:3", mirror.Invalid},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			d := eng.Decide(tc.in)
			if d.Result != tc.want || d.Action != tc.action {
				t.Errorf("Decide(%q) = %q (%s), want %q (%s)", tc.in, d.Result, d.Action, tc.want, tc.action)
			}
			if (d.Action == mirror.Invalid) != (d.Err != nil) {
				t.Errorf("Decide(%q).Err = %v with action %s", tc.in, d.Err, d.Action)
			}
		})
	}
}

func TestLongestMatchWinsWhateverTheOrder(t *testing.T) {
	rules := []mirror.Rule{
		{From: "gcr.io/", To: "m.example.com/gcr/"},
		{From: "gcr.io/team/", To: "m.example.com/team/"},
		{From: "gcr.io/team/sub/", To: "m.example.com/sub/"},
	}
	want := map[string]string{
		"gcr.io/other/x:1":        "m.example.com/gcr/other/x:1",
		"gcr.io/team/x:1":         "m.example.com/team/x:1",
		"gcr.io/team/sub/x:1":     "m.example.com/sub/x:1",
		"gcr.io/team/subway/x:1":  "m.example.com/team/subway/x:1",
		"gcr.io/team" + ":1":      "m.example.com/gcr/team:1",
		"gcr.io/team/sub" + ":v2": "m.example.com/team/sub:v2",
	}
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}} {
		var rs []mirror.Rule
		for _, i := range order {
			rs = append(rs, rules[i])
		}
		eng, err := mirror.New(mirror.Rules{Mirrors: rs})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for in := range want {
			got[in] = eng.Decide(in).Result
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("order %v (-want +got):\n%s", order, diff)
		}
	}
}

func TestDecideRule(t *testing.T) {
	eng := defaultEngine(t)
	d := eng.Decide("gcr.io/google-containers/pause:3.1")
	if d.Rule == nil || d.Rule.From != "gcr.io/google-containers/" {
		t.Errorf("Rule = %+v, want the gcr.io/google-containers/ rule", d.Rule)
	}
	if d := eng.Decide("ghcr.io/x/y"); d.Rule != nil || d.Changed() {
		t.Errorf("Decide(ghcr.io/x/y) = %+v, want no rule and no change", d)
	}
}

// TestWarnsOfSharedTo warns of two sources sent to one "to", where an
// image of each could have the same name in the mirror, but not of names
// of the same registry, as the default rules have.
func TestWarnsOfSharedTo(t *testing.T) {
	if w := defaultEngine(t).Warnings(); len(w) > 0 {
		t.Errorf("default rules: %q", w)
	}
	eng, err := mirror.New(mirror.Rules{Mirrors: []mirror.Rule{
		{From: "quay.io/", To: "m.example.com/x/"},
		{From: "k8s.gcr.io/", To: "m.example.com/k8s/"},
		{From: "registry.k8s.io", To: "m.example.com/k8s"},
		{From: "ghcr.io/", To: "m.example.com/x"},
		{From: "eu.gcr.io/", To: "m.example.com/gcr/"},
		{From: "gcr.io/", To: "m.example.com/gcr/"},
		{From: "index.docker.io/library/", To: "m.example.com/lib/"},
		{From: "gcr.io/google_containers/", To: "m.example.com/k8s/"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mirrors[0] and mirrors[3] send quay.io/ and ghcr.io/ to the same m.example.com/x/: " +
		"two images of the same name under them would be one image in the mirror"}
	if diff := cmp.Diff(want, eng.Warnings()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestEscapePrefix(t *testing.T) {
	r := mirror.Rules{EscapePrefix: "origin/", Mirrors: []mirror.Rule{{From: "docker.io/", To: "m.example.com/hub/"}}}
	eng, err := mirror.New(r)
	if err != nil {
		t.Fatal(err)
	}
	if d := eng.Decide("origin/nginx:1"); d.Result != "nginx:1" || d.Action != mirror.Escaped {
		t.Errorf("custom escape: %+v", d)
	}
	// With another escape prefix, direct.to/ is an ordinary Docker Hub name.
	if d := eng.Decide("direct.to/nginx"); d.Result != "direct.to/nginx" || d.Action != mirror.NoRule {
		t.Errorf("direct.to/ without being the escape prefix: %+v", d)
	}
	r.EscapePrefix = ""
	eng, err = mirror.New(r)
	if err != nil {
		t.Fatal(err)
	}
	if d := eng.Decide("origin/nginx:1"); d.Result != "m.example.com/hub/origin/nginx:1" {
		t.Errorf("escaping off: %+v", d)
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name  string
		rules []mirror.Rule
		index int
		field string
	}{
		{"missing from", []mirror.Rule{{To: "m.example.com/"}}, 0, "from"},
		{"missing to", []mirror.Rule{{From: "quay.io/"}}, 0, "to"},
		{"from with a tag", []mirror.Rule{{From: "quay.io/x:1", To: "m.example.com/"}}, 0, "from"},
		{"to with spaces", []mirror.Rule{{From: "quay.io/", To: "m.example.com/a b/"}}, 0, "to"},
		{"same from", []mirror.Rule{{From: "quay.io/", To: "a.example.com/"}, {From: "quay.io", To: "b.example.com/"}}, 1, "from"},
		{"same registry spelled twice", []mirror.Rule{{From: "docker.io/", To: "a.example.com/"}, {From: "index.docker.io/", To: "b.example.com/"}}, 1, "from"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mirror.New(mirror.Rules{Mirrors: tc.rules})
			var re *mirror.RuleError
			if !errors.As(err, &re) || !errors.Is(err, mirror.ErrRule) {
				t.Fatalf("New = %v, want a *RuleError", err)
			}
			if re.Index != tc.index || re.Field != tc.field {
				t.Errorf("error points at mirrors[%d].%s, want mirrors[%d].%s", re.Index, re.Field, tc.index, tc.field)
			}
		})
	}
}

func TestNewRejectsImageFields(t *testing.T) {
	fields := []mirror.ImageField{{Kind: "Stage", Path: "spec.image"}, {Path: "spec..image"}}
	_, err := mirror.New(mirror.Rules{ImageFields: fields})
	var fe *mirror.FieldError
	if !errors.As(err, &fe) || fe.Index != 1 || !errors.Is(err, fieldpath.ErrSyntax) {
		t.Fatalf("New = %v, want a *FieldError for imageFields[1]", err)
	}
	eng, err := mirror.New(mirror.Rules{ImageFields: fields[:1]})
	if err != nil {
		t.Fatal(err)
	}
	got := eng.Rules().ImageFields
	got[0].Kind = "changed"
	if diff := cmp.Diff(fields[:1], eng.Rules().ImageFields); diff != "" {
		t.Errorf("Rules().ImageFields (-want +got):\n%s", diff)
	}
}

func TestNewRejectsExclusionsAndValues(t *testing.T) {
	tests := []struct {
		name  string
		rules mirror.Rules
		want  string
	}{
		{"an exclusion with a path", mirror.Rules{ImageFields: []mirror.ImageField{{Kind: "A", Exclude: true, Path: "spec.image"}}},
			"imageFields[0].path: an exclude entry names a group or kind only"},
		{"a group pattern in a field", mirror.Rules{ImageFields: []mirror.ImageField{{Group: "*.example.com", Path: "spec.image"}}},
			"imageFields[0].group:"},
		{"a value with no variable and no flag", mirror.Rules{ImageValues: []mirror.ImageValue{{Env: "A"}, {}}},
			"imageValues[1].env: an entry names one"},
		{"a flag without a dash", mirror.Rules{ImageValues: []mirror.ImageValue{{Arg: "image"}}},
			"imageValues[0].arg:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mirror.New(tc.rules)
			var fe *mirror.FieldError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want a *FieldError containing %q", err, tc.want)
			}
		})
	}
	eng, err := mirror.New(mirror.Rules{
		ImageFields: []mirror.ImageField{{Group: "*.example.com", Exclude: true}},
		ImageValues: []mirror.ImageValue{{Env: "*_IMAGE"}, {Arg: "-entrypoint-image"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := eng.Rules().ImageValues
	got[0].Env = "changed"
	if diff := cmp.Diff([]mirror.ImageValue{{Env: "*_IMAGE"}, {Arg: "-entrypoint-image"}}, eng.Rules().ImageValues); diff != "" {
		t.Errorf("Rules().ImageValues (-want +got):\n%s", diff)
	}
}

// original is the original webhook's mapping, for comparison: the first
// matching prefix of its ordered table wins, and any image whose first
// component has no "." goes to Docker Hub's mirror.
func original(img string) string {
	if rest, ok := strings.CutPrefix(img, "direct.to/"); ok {
		return rest
	}
	table := []struct{ from, to string }{
		{"k8s.gcr.io/", "gcr/google_containers/"},
		{"gcr.io/google-containers/", "gcr/google_containers/"},
		{"gcr.io/", "gcr/"},
		{"asia.gcr.io/", "gcr/"},
		{"eu.gcr.io/", "gcr/"},
		{"us.gcr.io/", "gcr/"},
		{"quay.io/", "quay/"},
		{"602401143452.dkr.ecr.us-west-2.amazonaws.com/", "amazonecr/"},
		{"docker.io/", "dockerhub/"},
	}
	for _, r := range table {
		if rest, ok := strings.CutPrefix(img, r.from); ok {
			return ecr + "/" + r.to + rest
		}
	}
	first, _, found := strings.Cut(img, "/")
	if !found || !strings.Contains(first, ".") {
		return ecr + "/dockerhub/" + img
	}
	return img
}

// TestAgreesWithOriginalMapping checks every image the original webhook
// got right against it, and that each of its known faults is fixed.
func TestAgreesWithOriginalMapping(t *testing.T) {
	eng := defaultEngine(t)
	hosts := []string{"", "docker.io/", "k8s.gcr.io/", "gcr.io/", "gcr.io/google-containers/", "asia.gcr.io/",
		"eu.gcr.io/", "us.gcr.io/", "quay.io/", "602401143452.dkr.ecr.us-west-2.amazonaws.com/", "ghcr.io/",
		"direct.to/", "direct.to/quay.io/", "public.ecr.aws/", "mcr.microsoft.com/", ecr + "/dockerhub/", ecr + "/gcr/"}
	paths := []string{"nginx", "library/nginx", "bitnami/redis", "team/sub/app", "pause-amd64"}
	suffixes := []string{"", ":1.2.3", digest, ":v1" + digest}
	n := 0
	for _, h := range hosts {
		for _, p := range paths {
			for _, s := range suffixes {
				img := h + p + s
				if got, want := eng.Decide(img).Result, original(img); got != want {
					t.Errorf("Decide(%q) = %q, the original gave %q", img, got, want)
				}
				n++
			}
		}
	}
	// The original's faults: each of these it sent to the wrong place.
	fixed := map[string]string{
		"localhost:5000/app:1":                "localhost:5000/app:1",
		"myregistry:5000/team/app:2":          "myregistry:5000/team/app:2",
		"localhost/app":                       "localhost/app",
		"registry.k8s.io/pause:3.9":           ecr + "/gcr/google_containers/pause:3.9",
		"index.docker.io/library/alpine":      ecr + "/dockerhub/library/alpine",
		"registry-1.docker.io/library/alpine": ecr + "/dockerhub/library/alpine",
	}
	for img, want := range fixed {
		if got := eng.Decide(img).Result; got != want {
			t.Errorf("Decide(%q) = %q, want %q", img, got, want)
		}
		if original(img) == want {
			t.Errorf("%q is listed as a fault of the original, but the original got it right", img)
		}
	}
	t.Logf("compared %d images with the original mapping", n)
}

// FuzzDecide checks that the engine never panics, that rewriting twice
// equals rewriting once, and that a mirrored image is a valid reference.
// An escaped image is the exception to the second: escaping removes the
// prefix, so a second pass sees a plain image.
func FuzzDecide(f *testing.F) {
	for _, s := range []string{"nginx", "busybox:1.36", "k8s.gcr.io/pause:3.1" + digest, "direct.to/nginx",
		"localhost:5000/a", "docker.io/library/nginx", "index.docker.io/x/y:1", ecr + "/gcr/x", "Bad", "a//b", ""} {
		f.Add(s)
	}
	eng := defaultEngine(f)
	f.Fuzz(func(t *testing.T, img string) {
		d := eng.Decide(img)
		switch d.Action {
		case mirror.Escaped:
			if d.Result != strings.TrimPrefix(img, mirror.DefaultEscapePrefix) {
				t.Fatalf("Decide(%q) escaped to %q", img, d.Result)
			}
			return
		case mirror.Invalid:
			if d.Changed() && d.Result != strings.TrimPrefix(img, mirror.DefaultEscapePrefix) {
				t.Fatalf("Decide(%q) escaped to %q", img, d.Result)
			}
			return
		case mirror.Mirrored:
			if _, err := image.Parse(d.Result); err != nil {
				t.Fatalf("Decide(%q) = %q, not a valid reference: %v", img, d.Result, err)
			}
		default:
			if d.Changed() {
				t.Fatalf("Decide(%q) changed the image to %q with action %s", img, d.Result, d.Action)
			}
		}
		if again := eng.Decide(d.Result); again.Result != d.Result {
			t.Fatalf("Decide(%q) = %q, but Decide(%q) = %q", img, d.Result, d.Result, again.Result)
		}
	})
}
