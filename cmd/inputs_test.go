package cmd

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
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

}
