//go:build linux

package fileset

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	nobody    = 65534 // the unprivileged user the test runs Replace as
	stranger  = 4321  // owns the second file
	stickyEnv = "KMIRROR_TEST_STICKY_DIR"
)

// The tests in this file have the kernel refuse a rename, which needs root
// to set up; they skip otherwise.

// TestReplaceStickyDirectory rewrites two files in a mode-1777 directory as
// an unprivileged user who owns only the first: the kernel refuses the
// second rename, so neither file may change. As root, the test runs itself
// again as that user.
func TestReplaceStickyDirectory(t *testing.T) {
	if dir := os.Getenv(stickyEnv); dir != "" {
		stickyChild(t, dir)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root, to make files of two users and run the test as a third; CI runs as root")
	}
	base, err := os.MkdirTemp("", "kmirror-sticky-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	dir := filepath.Join(base, "shared")
	a, b, c := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "c.yaml")
	write(t, a, "old a")
	write(t, b, "old b")
	write(t, c, "old c")
	for _, step := range []error{
		os.Chmod(base, 0o755),
		os.Chmod(dir, os.ModeSticky|0o777),
		os.Chown(a, nobody, nobody),
		os.Chown(c, nobody, nobody),
		os.Chown(b, stranger, stranger),
		os.Chmod(b, 0o666),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	// The test binary, where the unprivileged user can run it.
	bin := filepath.Join(base, "fileset.test")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestReplaceStickyDirectory$", "-test.v")
	cmd.Env = append(os.Environ(), stickyEnv+"="+dir, "TMPDIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("as uid %d: %v\n%s", nobody, err, out)
	}
	t.Logf("as uid %d:\n%s", nobody, out)
	if diff := cmp.Diff(map[string]string{"a.yaml": "old a", "b.yaml": "old b", "c.yaml": "OLD C"}, contents(t, a, b, c)); diff != "" {
		t.Errorf("contents (-want +got):\n%s", diff)
	}
	leftovers(t, dir)
}

// stickyChild is the part of TestReplaceStickyDirectory that runs as the
// unprivileged user.
func stickyChild(t *testing.T, dir string) {
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	err := Replace(listFiles(t, a, b), upper)
	t.Logf("Replace: %v", err)
	if want := "replacing " + b + ": operation not permitted"; err == nil || !strings.HasPrefix(err.Error(), want) ||
		!strings.HasSuffix(err.Error(), "; no file was changed") || !errors.Is(err, syscall.EPERM) {
		t.Errorf("Replace = %v, want %q ... no file was changed", err, want)
	}
	if diff := cmp.Diff(map[string]string{"a.yaml": "old a", "b.yaml": "old b"}, contents(t, a, b)); diff != "" {
		t.Errorf("contents (-want +got):\n%s", diff)
	}
	leftovers(t, dir)

	// Replace refuses before trying: the kernel must agree with it.
	scratch := filepath.Join(dir, ".b.yaml.kmirror-scratch")
	write(t, scratch, "new b")
	defer os.Remove(scratch)
	if err := os.Rename(scratch, b); !errors.Is(err, syscall.EPERM) {
		t.Errorf("rename over %s as uid %d: %v, want EPERM", b, os.Geteuid(), err)
	}
	// And a file of the user's own can be replaced.
	c := filepath.Join(dir, "c.yaml")
	if err := Replace(listFiles(t, c), upper); err != nil {
		t.Errorf("Replace of the user's own file: %v", err)
	}
}

// TestReplaceBindMount replaces two files, the second of which is a mount
// point: the kernel refuses its rename with EBUSY, and the first file,
// already replaced, must get its original back, inode included.
func TestReplaceBindMount(t *testing.T) {
	dir := t.TempDir()
	a, b, src := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml"), filepath.Join(t.TempDir(), "src.yaml")
	write(t, a, "old a")
	write(t, b, "old b")
	write(t, src, "old b")
	if err := syscall.Mount(src, b, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount a file (%v): needs root with CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() { syscall.Unmount(b, 0) })
	before := stat(t, a)
	err := Replace(listFiles(t, a, b), upper)
	if want := "replacing " + b + ": device or resource busy; no file was changed"; err == nil || err.Error() != want || !errors.Is(err, syscall.EBUSY) {
		t.Errorf("Replace = %v, want %q", err, want)
	}
	if diff := cmp.Diff(map[string]string{"a.yaml": "old a", "b.yaml": "old b"}, contents(t, a, b)); diff != "" {
		t.Errorf("contents (-want +got):\n%s", diff)
	}
	if !same(before, stat(t, a)) {
		t.Error("a.yaml is not its original inode")
	}
	leftovers(t, dir)
}
