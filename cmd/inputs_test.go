package cmd

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRewriteEachInputOnce names one input twice: it is rewritten and
// counted once.
func TestRewriteEachInputOnce(t *testing.T) {
	dir := t.TempDir()
	a := write(t, dir, "a.yaml", pod)
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink("a.yaml", link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
	}{
		{"a file twice", "", []string{a, a}},
		{"a file and a link to it", "", []string{link, a}},
		{"a file and its directory", "", []string{a, dir}},
		{"stdin twice", pod, []string{"-", "-"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, tc.stdin, append([]string{"rewrite"}, tc.args...)...)
			if code != 0 || stdout != podOut {
				t.Errorf("exit %d, stdout:\n%s\nwant exit 0 and:\n%s", code, stdout, podOut)
			}
			if want := "rewrote 1 image in 1 of 1 document\n"; stderr != want {
				t.Errorf("stderr %q, want %q", stderr, want)
			}
		})
	}
}

// TestRewriteInPlaceSymlink rewrites the target of a symbolic link, which
// stays a link, and prints the diff with --diff.
func TestRewriteInPlaceSymlink(t *testing.T) {
	dir := t.TempDir()
	target := write(t, dir, "app/pod.yaml", pod)
	link := filepath.Join(dir, "pod.yaml")
	if err := os.Symlink("app/pod.yaml", link); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(t, "", "rewrite", "-i", "--diff", "-q", link)
	if code != 0 || !strings.HasPrefix(stdout, "--- "+link+"\n+++ "+link+"\n@@ ") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and the diff", code, stdout, stderr)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("pod.yaml is no longer a symbolic link: %v, %v", st.Mode(), err)
	}
	if diff := cmp.Diff(podOut, read(t, target)); diff != "" {
		t.Errorf("target (-want +got):\n%s", diff)
	}
	for d, want := range map[string]int{dir: 2, filepath.Dir(target): 1} {
		if entries, _ := os.ReadDir(d); len(entries) != want {
			t.Errorf("%s holds %v, want %d entries", d, entries, want)
		}
	}
}

// TestRewritePipes reads inputs that can be read only once: a named pipe
// and the /dev/fd/N of a process substitution.
func TestRewritePipes(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.WriteString(pod)
			w.Close()
		}
	}()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		w.WriteString(plainPod)
		w.Close()
	}()

	done := make(chan [3]string)
	go func() {
		stdout, stderr, code := run(t, "", "rewrite", fifo, "/dev/fd/"+strconv.Itoa(int(r.Fd())))
		done <- [3]string{stdout, stderr, strconv.Itoa(code)}
	}()
	select {
	case got := <-done:
		if want := [3]string{podOut + "---\n" + plainPod, "rewrote 1 image in 1 of 2 documents\n", "0"}; got != want {
			t.Errorf("stdout, stderr, exit:\n%q\nwant\n%q", got, want)
		}
	case <-time.After(time.Minute):
		t.Fatal("kmirror still waits for a pipe after a minute: was it read twice?")
	}

	_, stderr, code := run(t, "", "rewrite", "-i", fifo)
	if want := "cannot rewrite " + fifo + " in place: it is not a regular file but a pipe"; code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("-i on a pipe: exit %d, stderr %q; want 2 and %q", code, stderr, want)
	}
}
