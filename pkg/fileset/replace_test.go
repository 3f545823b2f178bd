package fileset

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
