package fileset

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// upper is a rewrite that upper-cases the file; a file in upper case
// already does not change.
func upper(_ int, src io.Reader, dst io.Writer) (bool, error) {
	data, err := io.ReadAll(src)
	if err != nil {
		return false, err
	}
	out := strings.ToUpper(string(data))
	_, err = io.WriteString(dst, out)
	return out != string(data), err
}

func listFiles(t *testing.T, args ...string) []File {
	t.Helper()
	files, err := List(nil, args)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func stat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// contents maps each path to its content.
func contents(t *testing.T, paths ...string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(p)] = string(data)
	}
	return m
}

// leftovers fails the test if a temporary or backup file is left in dirs.
func leftovers(t *testing.T, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.Contains(e.Name(), ".kmirror-") {
				t.Errorf("left behind: %s", filepath.Join(dir, e.Name()))
			}
		}
	}
}

func TestReplace(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	write(t, a, "old a")
	write(t, b, "SAME B")
	if err := os.Chmod(a, 0o640); err != nil {
		t.Fatal(err)
	}
	before := stat(t, b)
	if err := Replace(listFiles(t, a, b), upper); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a.yaml": "OLD A", "b.yaml": "SAME B"}, contents(t, a, b)); diff != "" {
		t.Errorf("contents (-want +got):\n%s", diff)
	}
	if mode := stat(t, a).Mode(); mode != 0o640 {
		t.Errorf("a.yaml mode %v, want 0640 kept", mode)
	}
	if !same(before, stat(t, b)) {
		t.Errorf("b.yaml, which did not change, was replaced")
	}
	leftovers(t, dir)
}

// TestReplaceRewriteError fails the second rewrite: the first file,
// already staged, must not be renamed into place.
func TestReplaceRewriteError(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	write(t, a, "old a")
	write(t, b, "old b")
	err := Replace(listFiles(t, a, b), func(i int, src io.Reader, dst io.Writer) (bool, error) {
		if i == 1 {
			return false, errors.New("disk full")
		}
		return upper(i, src, dst)
	})
	if err == nil || err.Error() != "disk full" {
		t.Fatalf("Replace = %v, want the rewrite's error as it is", err)
	}
	if diff := cmp.Diff(map[string]string{"a.yaml": "old a", "b.yaml": "old b"}, contents(t, a, b)); diff != "" {
		t.Errorf("contents (-want +got):\n%s", diff)
	}
	leftovers(t, dir)
}

// TestReplaceRestores refuses the rename of the third file: the two
// already replaced must get their original back, inode and mode included
// when a hard link to it could be kept, content, mode and time otherwise.
func TestReplaceRestores(t *testing.T) {
	tests := []struct {
		name         string
		refuseLink   bool
		refuseUndo   bool
		wantErr      string
		wantContents map[string]string
	}{
		{name: "backup by link",
			wantErr:      "replacing C: invalid cross-device link; no file was changed",
			wantContents: map[string]string{"a.yaml": "old a", "b.yaml": "old b", "c.yaml": "old c"}},
		{name: "backup by copy", refuseLink: true,
			wantErr:      "replacing C: invalid cross-device link; no file was changed",
			wantContents: map[string]string{"a.yaml": "old a", "b.yaml": "old b", "c.yaml": "old c"}},
		{name: "restore refused too", refuseUndo: true,
			wantErr:      "replacing C: invalid cross-device link; could not restore B (its original is ",
			wantContents: map[string]string{"a.yaml": "old a", "b.yaml": "OLD B", "c.yaml": "old c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths []string
			for _, name := range []string{"a", "b", "c"} {
				p := filepath.Join(dir, name+".yaml")
				write(t, p, "old "+name)
				paths = append(paths, p)
			}
			if err := os.Chmod(paths[0], 0o604); err != nil {
				t.Fatal(err)
			}
			before := []os.FileInfo{stat(t, paths[0]), stat(t, paths[1])}
			swapped(t, &rename, func(old, new string) error {
				if new == paths[2] || tc.refuseUndo && new == paths[1] && strings.Contains(old, "backup") {
					return &os.LinkError{Op: "rename", Old: old, New: new, Err: syscall.EXDEV}
				}
				return os.Rename(old, new)
			})
			if tc.refuseLink {
				swapped(t, &link, func(string, string) error { return syscall.EPERM })
			}
			err := Replace(listFiles(t, paths...), upper)
			short := strings.NewReplacer(paths[2], "C", paths[1], "B")
			if err == nil || !strings.HasPrefix(short.Replace(err.Error()), tc.wantErr) {
				t.Fatalf("Replace = %v, want %q", err, tc.wantErr)
			}
			if !errors.Is(err, syscall.EXDEV) {
				t.Errorf("error %v does not wrap the rename's", err)
			}
			if diff := cmp.Diff(tc.wantContents, contents(t, paths...)); diff != "" {
				t.Errorf("contents (-want +got):\n%s", diff)
			}
			after := stat(t, paths[0])
			if os.SameFile(before[0], after) == tc.refuseLink {
				t.Errorf("a.yaml same inode: %v, want %v", os.SameFile(before[0], after), !tc.refuseLink)
			}
			if after.Mode() != before[0].Mode() || !after.ModTime().Equal(before[0].ModTime()) {
				t.Errorf("a.yaml mode %v, time %v; want %v, %v", after.Mode(), after.ModTime(), before[0].Mode(), before[0].ModTime())
			}
			if tc.refuseUndo {
				return // b's original is kept as a backup, which the error names
			}
			leftovers(t, dir)
		})
	}
}

// swapped sets *v to fn for the test.
func swapped[T any](t *testing.T, v *T, fn T) {
	old := *v
	*v = fn
	t.Cleanup(func() { *v = old })
}

// TestReplaceSymlink rewrites files through symbolic links, named or met in
// a directory: the links stay, their targets are rewritten.
func TestReplaceSymlink(t *testing.T) {
	for _, walk := range []bool{false, true} {
		t.Run(map[bool]string{false: "named", true: "in a directory"}[walk], func(t *testing.T) {
			real, links := t.TempDir(), t.TempDir()
			target, link := filepath.Join(real, "app.yaml"), filepath.Join(links, "link.yaml")
			write(t, target, "old")
			symlink(t, "../"+filepath.Base(real)+"/app.yaml", link)
			arg := link
			if walk {
				arg = links
			}
			if err := Replace(listFiles(t, arg), upper); err != nil {
				t.Fatal(err)
			}
			if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
				t.Errorf("link.yaml is no longer a symbolic link: %v, %v", st.Mode(), err)
			}
			if got := contents(t, target)["app.yaml"]; got != "OLD" {
				t.Errorf("target holds %q, want %q", got, "OLD")
			}
			leftovers(t, real, links)
		})
	}
}

// TestReplaceKeepsOwnerAndMode replaces files of another user with the
// setuid, setgid and sticky bits as root.
func TestReplaceKeepsOwnerAndMode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give the files to another user; CI runs as root")
	}
	dir := t.TempDir()
	modes := []os.FileMode{os.ModeSetuid | os.ModeSetgid | 0o754, os.ModeSticky | 0o640, os.ModeSetgid | 0o2710}
	var paths []string
	var before []os.FileInfo
	for i, mode := range modes {
		p := filepath.Join(dir, string(rune('a'+i))+".yaml")
		write(t, p, "old")
		if err := os.Chown(p, 4321+i, 8765+i); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		paths, before = append(paths, p), append(before, stat(t, p))
	}
	if err := Replace(listFiles(t, paths...), upper); err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		after := stat(t, p)
		was, is := before[i].Sys().(*syscall.Stat_t), after.Sys().(*syscall.Stat_t)
		if after.Mode() != before[i].Mode() || is.Uid != was.Uid || is.Gid != was.Gid {
			t.Errorf("%s: mode %v, owner %d:%d; want %v, %d:%d", filepath.Base(p), after.Mode(), is.Uid, is.Gid, before[i].Mode(), was.Uid, was.Gid)
		}
		if os.SameFile(before[i], after) {
			t.Errorf("%s was not replaced", filepath.Base(p))
		}
	}
}

// TestReplaceChanged changes a file while kmirror rewrites it: nothing is
// replaced, and the change is kept.
func TestReplaceChanged(t *testing.T) {
	tests := []struct {
		name string
		// at is the rewrite during which a.yaml changes.
		at      int
		wantErr string
	}{
		{"while it is read", 0, "the file changed while kmirror was reading it"},
		{"after it was read", 1, "A changed while kmirror was rewriting it; no file was changed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
			write(t, a, "old a")
			write(t, b, "old b")
			err := Replace(listFiles(t, a, b), func(i int, src io.Reader, dst io.Writer) (bool, error) {
				head := make([]byte, 2)
				if _, err := io.ReadFull(src, head); err != nil {
					return false, err
				}
				if i == tc.at {
					f, err := os.OpenFile(a, os.O_WRONLY|os.O_APPEND, 0)
					if err != nil {
						return false, err
					}
					f.WriteString(" and more")
					f.Close()
				}
				return upper(i, io.MultiReader(strings.NewReader(string(head)), src), dst)
			})
			if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), a, "A"), tc.wantErr) {
				t.Fatalf("Replace = %v, want %q", err, tc.wantErr)
			}
			if diff := cmp.Diff(map[string]string{"a.yaml": "old a and more", "b.yaml": "old b"}, contents(t, a, b)); diff != "" {
				t.Errorf("contents (-want +got):\n%s", diff)
			}
			leftovers(t, dir)
		})
	}
}

// TestReplaceNotRegular refuses inputs that are not regular files before
// reading any input.
func TestReplaceNotRegular(t *testing.T) {
	dir := t.TempDir()
	a, fifo := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "fifo")
	write(t, a, "old a")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// A writer, for a Replace that would read the pipe.
	go func() {
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.WriteString("kind: Pod\n")
			w.Close()
		}
	}()
	t.Cleanup(func() {
		// Let the writer go.
		if r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			r.Close()
		}
	})
	stdin := strings.NewReader("from stdin")
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"named pipe", []string{a, fifo}, "cannot rewrite " + fifo + " in place: it is not a regular file but a pipe"},
		{"stdin", []string{a, "-"}, "cannot rewrite stdin in place"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files, err := List(stdin, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			err = Replace(files, func(int, io.Reader, io.Writer) (bool, error) {
				t.Error("rewrite called")
				return false, nil
			})
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("Replace = %v, want %q", err, tc.wantErr)
			}
		})
	}
	if stdin.Len() != len("from stdin") {
		t.Error("stdin was read")
	}
	leftovers(t, dir)
}
