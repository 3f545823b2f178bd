package cmd

import (
	"encoding/json"
	"strings"
	"testing"
)

// A Pod whose images kmirror decides but leaves: one anchored where it is
// also an argument, one that is not a string.
const leftPod = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: &i quay.io/a/b\n    args: [*i]\n  - name: b\n    image: 123\n"

// TestCheckFailsOnImagesLeftUnmirrored: an image the rules cover but that
// cannot be edited never passes the gate.
func TestCheckFailsOnImagesLeftUnmirrored(t *testing.T) {
	stdout, stderr, code := run(t, leftPod, "rewrite", "--check")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(stdout, "spec.containers[0].image: quay.io/a/b left unmirrored: the image comes from a YAML anchor") {
		t.Errorf("stdout %q does not list the image left unmirrored", stdout)
	}
	if !strings.Contains(stderr, "would rewrite 0 images in 0 of 1 document, 1 left unmirrored, 2 warnings") ||
		!strings.Contains(stderr, "spec.containers[1].image: image 123 is a number, not a string; quote it") {
		t.Errorf("stderr %q", stderr)
	}
	out, _, code := run(t, leftPod, "rewrite")
	if code != 0 || out != leftPod {
		t.Errorf("rewrite: exit %d, output changed:\n%s", code, out)
	}
}

// TestImagesReportsWhatIsLeft: images -o json gives the action and the
// reason, never "mirrored" for an image left as written.
func TestImagesReportsWhatIsLeft(t *testing.T) {
	stdout, _, code := run(t, leftPod, "images", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var rep struct {
		Images []struct{ Path, Image, Result, Action, Reason string }
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Images) != 2 {
		t.Fatalf("images %+v", rep.Images)
	}
	if a := rep.Images[0]; a.Action != "left unmirrored" || a.Result != "quay.io/a/b" || !strings.Contains(a.Reason, "YAML anchor") {
		t.Errorf("anchored image: %+v", a)
	}
	if b := rep.Images[1]; b.Action != "invalid" || b.Image != "123" || b.Reason != "image 123 is a number, not a string; quote it" {
		t.Errorf("number: %+v", b)
	}
	list, _, _ := run(t, leftPod, "images", "-o", "mirror-list")
	if list != "quay.io/a/b\n" {
		t.Errorf("mirror-list %q", list)
	}
}

// TestNoPartialOutput: a fault in the last of many documents leaves stdout
// empty, for every output.
func TestNoPartialOutput(t *testing.T) {
	in := strings.Repeat("---\n"+pod, 5000) + "---\nkind: Pod\nspec:\n  containers:\n  - image: a\n    image: b\n"
	for _, args := range [][]string{
		{"rewrite"}, {"rewrite", "--diff"}, {"rewrite", "--check"}, {"rewrite", "--check", "-o", "json"},
		{"images"}, {"images", "-o", "json"}, {"images", "-o", "mirror-list"}, {},
	} {
		stdout, stderr, code := run(t, in, args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, `document 5001, line 35006: key "image" appears twice, at lines 35005 and 35006`) {
			t.Errorf("%v: exit %d, %d bytes on stdout, stderr %q", args, code, len(stdout), stderr)
		}
	}
}

// TestOtherEncodingsAreRefused: a UTF-16 file is not touched by -i.
func TestOtherEncodingsAreRefused(t *testing.T) {
	dir := t.TempDir()
	var utf16 []byte
	utf16 = append(utf16, 0xff, 0xfe)
	for _, c := range []byte(pod) {
		utf16 = append(utf16, c, 0)
	}
	file := write(t, dir, "win.yaml", string(utf16))
	_, stderr, code := run(t, "", "rewrite", "-i", file)
	if code != 2 || !strings.Contains(stderr, "win.yaml: the file is UTF-16LE text; kmirror reads and writes UTF-8 only") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if read(t, file) != string(utf16) {
		t.Error("the file changed")
	}
}

// TestNoTerminalInjection feeds manifests whose images, keys and names hold
// control characters (a colour, a screen clear, a C1 CSI, a right-to-left
// override): the images table, the --check lines, the warnings and the
// errors show them escaped, and no such character reaches the terminal.
func TestNoTerminalInjection(t *testing.T) {
	evil := `\e[2J\e[31m\u009b1m\u202e`
	pod := "kind: Pod\nmetadata: {name: \"p" + evil + "\"}\nspec:\n  containers:\n" +
		"  - {name: a, image: \"quay.io/a" + evil + "\"}\n  - {name: b, image: \"direct.to/x" + evil + "\"}\n"
	dup := "kind: Pod\nspec:\n  containers:\n  - {\"image" + evil + "\": a, \"image" + evil + "\": b, image: c}\n"
	for _, tc := range []struct {
		stdin string
		args  []string
	}{
		{pod, []string{"images"}},
		{pod, []string{"rewrite", "--check"}},
		{pod, []string{"rewrite", "-q"}},
		{dup, []string{"rewrite"}},
	} {
		stdout, stderr, _ := run(t, tc.stdin, tc.args...)
		if len(tc.args) == 2 && tc.args[1] == "-q" {
			stdout = "" // the stream itself is data, written as it was
		}
		for _, out := range []string{stdout, stderr} {
			if strings.ContainsFunc(out, func(r rune) bool { return r == 0x1b || r == 0x9b || r == 0x202e }) {
				t.Errorf("%v: a control character reaches the terminal:\n%q", tc.args, out)
			}
		}
		if !strings.Contains(stdout+stderr, `\x1b[2J\x1b[31m\u009b1m\u202e`) {
			t.Errorf("%v: the control characters are not shown escaped:\n%s\n%s", tc.args, stdout, stderr)
		}
	}
}
