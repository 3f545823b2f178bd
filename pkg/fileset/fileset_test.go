package fileset

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

func TestList(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.yaml", "a/c.YML", "a/d.json", "a/e.txt", "single.conf"} {
		write(t, filepath.Join(dir, name), name)
	}
	files, err := List(strings.NewReader("from stdin"), []string{dir, "-", filepath.Join(dir, "single.conf")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		data, err := f.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		again, _ := io.ReadAll(r)
		r.Close()
		if string(again) != string(data) {
			t.Errorf("%s: Open and ReadAll differ", f.Name)
		}
		got = append(got, strings.TrimPrefix(f.Name, dir)+"="+string(data))
	}
	want := []string{"/a/c.YML=a/c.YML", "/a/d.json=a/d.json", "/b.yaml=b.yaml", "stdin=from stdin", "/single.conf=single.conf"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
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

func TestReplace(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	write(t, a, "old a")
	write(t, b, "old b")
	files := []File{{Name: a, Path: a}, {Name: b, Path: b}}
	err := Replace(files, func(i int, w io.Writer) error {
		_, err := io.WriteString(w, "new "+filepath.Base(files[i].Path))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{a: "new a.yaml", b: "new b.yaml"} {
		data, _ := os.ReadFile(path)
		st, _ := os.Stat(path)
		if string(data) != want || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %q, mode %v; want %q, 0600", path, data, st.Mode().Perm(), want)
		}
	}
}

// TestReplaceFailureTouchesNothing fails the second write: the first file,
// already written to its temporary file, must not be renamed into place.
func TestReplaceFailureTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	write(t, a, "old a")
	write(t, b, "old b")
	files := []File{{Name: a, Path: a}, {Name: b, Path: b}}
	err := Replace(files, func(i int, w io.Writer) error {
		if i == 1 {
			return errors.New("disk full")
		}
		_, err := io.WriteString(w, "new")
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Replace = %v, want the write error", err)
	}
	for path, want := range map[string]string{a: "old a", b: "old b"} {
		if data, _ := os.ReadFile(path); string(data) != want {
			t.Errorf("%s is %q, want %q untouched", path, data, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}
