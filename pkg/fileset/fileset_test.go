package fileset

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, f File) string {
	t.Helper()
	r, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestList(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	for _, name := range []string{"b.yaml", "a/c.YML", "a/d.json", "a/e.txt", "single.conf"} {
		write(t, filepath.Join(dir, name), name)
	}
	b := filepath.Join(dir, "b.yaml")
	symlink(t, b, filepath.Join(other, "link.yaml"))
	symlink(t, filepath.Join(dir, "a"), filepath.Join(other, "dir.yaml"))
	short := strings.NewReplacer(dir, "D", other, "O")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no arguments", nil, []string{"stdin=from stdin"}},
		{"directory, stdin and a file", []string{dir, "-", filepath.Join(dir, "single.conf")},
			[]string{"D/a/c.YML=a/c.YML", "D/a/d.json=a/d.json", "D/b.yaml=b.yaml", "stdin=from stdin", "D/single.conf=single.conf"}},
		{"same file twice", []string{b, b}, []string{"D/b.yaml=b.yaml"}},
		{"stdin twice", []string{"-", "-"}, []string{"stdin=from stdin"}},
		{"through a symbolic link", []string{filepath.Join(other, "link.yaml"), b}, []string{"O/link.yaml=b.yaml"}},
		{"a file, then its directory", []string{b, dir}, []string{"D/b.yaml=b.yaml", "D/a/c.YML=a/c.YML", "D/a/d.json=a/d.json"}},
		// A link to a directory met in a walk is not followed.
		{"a link met in a walk", []string{other, dir}, []string{"O/link.yaml=b.yaml", "D/a/c.YML=a/c.YML", "D/a/d.json=a/d.json"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files, err := List(strings.NewReader("from stdin"), tc.args)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range files {
				got = append(got, short.Replace(f.Name)+"="+readAll(t, f))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestListErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := List(nil, []string{filepath.Join(dir, "missing.yaml")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := List(nil, []string{dir}); err == nil || !strings.Contains(err.Error(), "no .yaml, .yml or .json files") {
		t.Errorf("empty directory: %v", err)
	}
}

// TestOpenChanged changes a file while it is read: the read must fail at
// the end instead of returning a stream that is neither the old file nor
// the new one.
func TestOpenChanged(t *testing.T) {
	content := strings.Repeat("0123456789", 1000)
	tests := []struct {
		name   string
		change func(t *testing.T, path string)
	}{
		{"unchanged", nil},
		{"appended to", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("more")
			f.Close()
		}},
		{"truncated", func(t *testing.T, path string) {
			if err := os.Truncate(path, 50); err != nil {
				t.Fatal(err)
			}
		}},
		{"rewritten at the same size", func(t *testing.T, path string) {
			write(t, path, strings.Repeat("x", len(content)))
			later := time.Now().Add(time.Second)
			if err := os.Chtimes(path, later, later); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced by another file", func(t *testing.T, path string) {
			write(t, path+".new", content)
			if err := os.Rename(path+".new", path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.yaml")
			write(t, path, content)
			files, err := List(nil, []string{path})
			if err != nil {
				t.Fatal(err)
			}
			r, err := files[0].Open()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			head := make([]byte, 100)
			if _, err := io.ReadFull(r, head); err != nil {
				t.Fatal(err)
			}
			if tc.change != nil {
				tc.change(t, path)
			}
			rest, err := io.ReadAll(r)
			if tc.change == nil {
				if err != nil || string(head)+string(rest) != content {
					t.Errorf("read %d bytes, %v; want the file", 100+len(rest), err)
				}
				return
			}
			if want := "the file changed while kmirror was reading it"; err == nil || err.Error() != want {
				t.Errorf("read error %v, want %q", err, want)
			}
		})
	}
}

// TestOpenOnce reads inputs that can be read only once: each is read
// whole by its one Open, and a second Open says why it fails.
func TestOpenOnce(t *testing.T) {
	const content = "kind: Pod\n"
	tests := []struct {
		name  string
		input func(t *testing.T) (stdin io.Reader, arg string)
	}{
		{"stdin", func(t *testing.T) (io.Reader, string) { return strings.NewReader(content), "-" }},
		{"process substitution", func(t *testing.T) (io.Reader, string) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			go func() {
				w.WriteString(content)
				w.Close()
			}()
			return nil, "/dev/fd/" + strconv.Itoa(int(r.Fd()))
		}},
		{"named pipe", func(t *testing.T) (io.Reader, string) {
			path := filepath.Join(t.TempDir(), "fifo")
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
			go func() {
				w, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					return
				}
				w.WriteString(content)
				w.Close()
			}()
			return nil, path
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdin, arg := tc.input(t)
			files, err := List(stdin, []string{arg, arg})
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 1 {
				t.Fatalf("List gave %d files, want 1", len(files))
			}
			if got := readAll(t, files[0]); got != content {
				t.Errorf("read %q, want %q", got, content)
			}
			_, err = files[0].Open()
			if want := "can be read only once"; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("second Open: %v, want an error saying %q", err, want)
			}
		})
	}
}
