package imagebuild

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

func TestWriteLayout(t *testing.T) {
	o := testOptions(t)
	idx, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out", "image")
	for _, tag := range []string{"v1.2.3", "v1.2.4"} {
		// The second write replaces the first layout.
		if err := WriteLayout(dir, tag, idx); err != nil {
			t.Fatal(err)
		}
		p, err := layout.FromPath(dir)
		if err != nil {
			t.Fatal(err)
		}
		top, err := p.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		m, err := top.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := idx.Digest()
		if len(m.Manifests) != 1 || m.Manifests[0].Digest != want || m.Manifests[0].Annotations[refName] != tag {
			t.Fatalf("index.json names %+v, want only %s as %s", m.Manifests, want, tag)
		}
		if _, err := top.ImageIndex(want); err != nil {
			t.Errorf("reading the index back: %v", err)
		}
	}
	err = filepath.WalkDir(filepath.Dir(dir), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, _ := d.Info()
		want := fs.FileMode(0o644)
		if d.IsDir() {
			want = 0o755 | fs.ModeDir
		}
		if info.Mode() != want {
			t.Errorf("%s is %s, want %s", p, info.Mode(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("the layout's parent holds %d entries, want the layout alone (no temporary directory left)", len(entries))
	}
}

// TestWriteLayoutRefuses a directory that holds something else, and
// leaves it as it was.
func TestWriteLayoutRefuses(t *testing.T) {
	idx, err := Build(testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "notes")
	os.Mkdir(dir, 0o755)
	keep := filepath.Join(dir, "notes.txt")
	os.WriteFile(keep, []byte("mine"), 0o644)
	err = WriteLayout(dir, "v1", idx)
	if err == nil || !strings.Contains(err.Error(), "holds something else") {
		t.Errorf("WriteLayout over a directory of notes: %v", err)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "mine" {
		t.Errorf("the directory was changed: %q, %v", b, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dir)); len(entries) != 1 {
		t.Errorf("%d entries beside the directory, want none", len(entries)-1)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the directory holds %d entries, want its one file", len(entries))
	}
	// An empty directory is fine.
	empty := t.TempDir()
	if err := WriteLayout(empty, "v1", idx); err != nil {
		t.Errorf("WriteLayout into an empty directory: %v", err)
	}
}
