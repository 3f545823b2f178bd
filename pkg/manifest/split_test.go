package manifest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSplitWithoutMarkers covers streams cut where they have no markers:
// JSON values one after the other, and lines that end with a lone CR.
func TestSplitWithoutMarkers(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		lines    []int
	}{
		{"JSON values, one a line", "{\"a\":1}\n{\"b\":[1,\n2]}\n\n{\"c\":\"}\"}\n",
			[]string{"{\"a\":1}\n", "{\"b\":[1,\n2]}\n", "\n{\"c\":\"}\"}\n"}, []int{1, 2, 4}},
		{"JSON after a comment and a marker", "# c\n---\n{\"a\": {\"b\": \"\\\"{\"}}\n[1]",
			[]string{"# c\n---\n{\"a\": {\"b\": \"\\\"{\"}}\n", "[1]"}, []int{1, 4}},
		{"lone CRs", "a: 1\r---\rb: 2\r--- \rc: 3\r",
			[]string{"a: 1\r", "---\rb: 2\r", "--- \rc: 3\r"}, []int{1, 2, 4}},
		{"CRLF", "a: 1\r\n---\r\nb: 2\r\n", []string{"a: 1\r\n", "---\r\nb: 2\r\n"}, []int{1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			var lines []int
			for _, c := range split(t, tc.in) {
				got = append(got, string(c.Data))
				lines = append(lines, c.Line)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("chunks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.lines, lines); diff != "" {
				t.Errorf("first lines (-want +got):\n%s", diff)
			}
		})
	}
}

// longList writes a List of n Pods as "kubectl get -o yaml" does, its kind
// after its items, with items at indent.
func longList(n int, indent string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nitems:\n")
	for i := range n {
		fmt.Fprintf(&b, "%s- apiVersion: v1\n%s  kind: Pod\n%s  metadata: {name: p%d, namespace: ns}\n%s  spec:\n%s    containers:\n"+
			"%s    - name: a # a comment\n%s      image: quay.io/app/p%d:1\n%s    - {name: b, image: 'nginx'}\n",
			indent, indent, indent, i, indent, indent, indent, indent, i, indent)
	}
	b.WriteString("kind: List\nmetadata:\n  resourceVersion: \"\"\n---\nkind: Pod\nspec: {containers: [{image: quay.io/after}]}\n")
	return b.String()
}

// TestListInParts holds a long List, cut into its head, runs of items and
// its tail, to what the List parsed whole gives: the same output, images,
// locations, warnings and counts.
func TestListInParts(t *testing.T) {
	defer func(saved int) { listStreamBytes = saved }(listStreamBytes)
	listStreamBytes = 64 << 10
	for _, indent := range []string{"", "  "} {
		in := longList(3000, indent)
		if len(in) < 2*partBytes {
			t.Fatalf("the List is %d bytes, too short to be cut", len(in))
		}
		chunks := split(t, in)
		if len(chunks) < 5 || chunks[0].list != listHead || chunks[len(chunks)-2].list != listTail {
			t.Fatalf("indent %q: %d chunks, not a List in parts", indent, len(chunks))
		}
		for _, c := range chunks {
			if len(c.Data) > 2*partBytes {
				t.Errorf("a chunk of %d bytes", len(c.Data))
			}
		}
		parts, err := Rewrite("list.yaml", []byte(in), engine(t))
		if err != nil {
			t.Fatal(err)
		}
		listStreamBytes = 1 << 40
		whole, err := Rewrite("list.yaml", []byte(in), engine(t))
		listStreamBytes = 64 << 10
		if err != nil {
			t.Fatal(err)
		}
		if string(parts.Output) != string(whole.Output) {
			t.Errorf("indent %q: the output differs from that of the List parsed whole", indent)
		}
		if diff := cmp.Diff(whole.Images, parts.Images); diff != "" {
			t.Errorf("indent %q: images (-whole +parts):\n%.2000s", indent, diff)
		}
		if diff := cmp.Diff(whole.Summary, parts.Summary); diff != "" || parts.Documents != 2 || parts.Changed != 2 {
			t.Errorf("indent %q: summary %+v, whole %+v", indent, parts.Summary, whole.Summary)
		}
	}
}

// TestListNotInParts: a long document that is not a List in the layout,
// or whose items may hold anchors, is parsed whole, as any document.
func TestListNotInParts(t *testing.T) {
	defer func(saved int) { listStreamBytes = saved }(listStreamBytes)
	listStreamBytes = 64 << 10
	list := longList(3000, "")
	for name, in := range map[string]string{
		"not a List":   strings.Replace(list, "kind: List\n", "kind: Thing\n", 1),
		"an alias":     strings.Replace(list, "image: 'nginx'", "image: *x", 1),
		"items twice":  strings.Replace(list, "kind: List\n", "kind: List\nitems: []\n", 1),
		"a tab indent": strings.Replace(list, "    - name: a", "\t- name: a", 1),
		"a U+2028":     strings.Replace(list, "# a comment", "# a\u2028comment", 1),
	} {
		chunks := split(t, in)
		if chunks[0].list != 0 {
			t.Errorf("%s: cut into parts", name)
		}
	}
}

func TestMayAlias(t *testing.T) {
	for line, want := range map[string]bool{
		`image: *img`:                      true,
		`- &c {name: a}`:                   true,
		`args: [a, *b]`:                    true,
		`schedule: "*/5 * * * *"`:          false,
		`schedule: '*/5 * * * *'`:          false,
		`note: "it's \" * "`:               false,
		`verbs: ['*']  # *x`:               false,
		`url: http://x/?a=1&b=2`:           false,
		`name: a*b`:                        false,
		`- {name: b, image: 'nginx'} # &x`: false,
	} {
		if got := mayAlias([]byte(line)); got != want {
			t.Errorf("mayAlias(%q) = %v, want %v", line, got, want)
		}
	}
	for line, want := range map[string]bool{"description: |": true, "x: >-": true, "- |2": true, "a: b|": false, "a: 'x' # |": false} {
		if got := startsBlock([]byte(line)); got != want {
			t.Errorf("startsBlock(%q) = %v, want %v", line, got, want)
		}
	}
}
