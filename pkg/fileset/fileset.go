// Package fileset finds the manifests named on a command line, opens each
// for its one read, and replaces files in place all or nothing.
//
// Every input is read once: a pipe, /dev/stdin or the /dev/fd/N of a
// process substitution cannot be read again, and a file read twice may
// have changed in between. A regular file is checked instead: its reader
// fails when the file changed while it was being read.
package fileset

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Stdin is the name that stands for standard input.
const Stdin = "-"

// File is one input stream.
type File struct {
	// Name is what reports call the file: its path as given, or "stdin".
	Name string
	// Path is "" for standard input.
	Path string
	// src is shared by the copies of a File that List returned, so that an
	// input that can be read only once is opened only once.
	src *source
}

type source struct {
	stdin   io.Reader
	regular bool

	mu     sync.Mutex
	opened bool
}

// Open opens the input for reading from its start.
//
// A regular file can be opened again; its reader returns an error instead
// of io.EOF when the file's size, modification time or inode changed
// between Open and the end of the read, or when the path names another
// file by then. Standard input and other inputs that are not regular files
// (a pipe, /dev/stdin, the /dev/fd/N of a process substitution) can be
// read only once: a second Open of a File that List returned, or of a copy
// of it, is an error.
func (f File) Open() (io.ReadCloser, error) {
	if f.src != nil && !f.src.regular {
		if err := f.src.claim(f.Name); err != nil {
			return nil, err
		}
	}
	if f.Path == "" {
		if f.src == nil || f.src.stdin == nil {
			return nil, fmt.Errorf("reading %s: no standard input", f.Name)
		}
		return io.NopCloser(f.src.stdin), nil
	}
	c, err := openChecked(f.Name, f.Path)
	if err != nil {
		return nil, err
	}
	if !c.at.Mode().IsRegular() {
		return c.f, nil
	}
	return c, nil
}

// claim marks a once-only input as opened.
func (s *source) claim(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opened {
		return fmt.Errorf("reading %s: it can be read only once, and was read already", name)
	}
	s.opened = true
	return nil
}

// checkedFile reads a file and fails at its end if the file changed since
// it was opened.
type checkedFile struct {
	f          *os.File
	name, path string
	at         os.FileInfo // at open
	n          int64       // bytes read
}

func openChecked(name, path string) (*checkedFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	return &checkedFile{f: f, name: name, path: path, at: st}, nil
}

func (c *checkedFile) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	c.n += int64(n)
	if err == io.EOF {
		if cerr := c.check(); cerr != nil {
			return n, cerr
		}
	}
	return n, err
}

func (c *checkedFile) Close() error { return c.f.Close() }

// check compares the file, through the open descriptor and through its
// path, with what it was at open, and the bytes read with its size.
func (c *checkedFile) check() error {
	now, err := c.f.Stat()
	if err != nil {
		return fmt.Errorf("reading %s: %w", c.name, err)
	}
	byPath, err := os.Stat(c.path)
	if err != nil || c.n != c.at.Size() || !same(c.at, now) || !same(c.at, byPath) {
		return errors.New("the file changed while kmirror was reading it")
	}
	return nil
}

// same reports whether a and b describe the same file with the same size
// and modification time.
func same(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// manifestExts are the file types taken from directories.
var manifestExts = map[string]bool{".yaml": true, ".yml": true, ".json": true}

// List resolves each argument: "-" is stdin, a directory is searched
// recursively for .yaml, .yml and .json files (in lexical order; symbolic
// links to files are taken, links to directories are not followed), and
// anything else is a file whatever it is: a regular file, a pipe,
// /dev/stdin, the /dev/fd/N of a process substitution. No arguments means
// stdin. Nothing is read yet.
//
// Each input is listed once, where it first appears: a file named twice,
// directly, through a symbolic link or in a directory, is one File (the
// same according to os.SameFile), and so is "-" given twice.
func List(stdin io.Reader, args []string) ([]File, error) {
	if len(args) == 0 {
		args = []string{Stdin}
	}
	l := &lister{stdin: stdin, seen: map[any][]os.FileInfo{}}
	for _, arg := range args {
		if err := l.add(arg); err != nil {
			return nil, err
		}
	}
	return l.files, nil
}

type lister struct {
	stdin     io.Reader
	files     []File
	seen      map[any][]os.FileInfo // by fileKey
	seenStdin bool
}

func (l *lister) add(arg string) error {
	if arg == Stdin {
		if l.seenStdin {
			return nil
		}
		l.seenStdin = true
		// Standard input is the same input as /dev/stdin, when it is a file.
		if f, ok := l.stdin.(interface{ Stat() (os.FileInfo, error) }); ok {
			if st, err := f.Stat(); err == nil && !l.isNew(st) {
				return nil
			}
		}
		l.files = append(l.files, File{Name: "stdin", src: &source{stdin: l.stdin}})
		return nil
	}
	st, err := os.Stat(arg)
	if err != nil {
		return fmt.Errorf("reading manifest: %w", err)
	}
	if !st.IsDir() {
		l.addFile(arg, st)
		return nil
	}
	return l.walk(arg)
}

// addFile lists path unless it was listed already.
func (l *lister) addFile(path string, st os.FileInfo) {
	if l.isNew(st) {
		l.files = append(l.files, File{Name: path, Path: path, src: &source{regular: st.Mode().IsRegular()}})
	}
}

// isNew records st and reports whether it was not seen before.
func (l *lister) isNew(st os.FileInfo) bool {
	key := fileKey(st)
	for _, prev := range l.seen[key] {
		if os.SameFile(prev, st) {
			return false
		}
	}
	l.seen[key] = append(l.seen[key], st)
	return true
}

// walk lists the manifests under dir: regular files, and symbolic links
// to them, with a manifest's extension.
func (l *lister) walk(dir string) error {
	var paths []string
	infos := map[string]os.FileInfo{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !manifestExts[strings.ToLower(filepath.Ext(p))] {
			return err
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st.Mode().IsRegular() {
			paths = append(paths, p)
			infos[p] = st
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading directory %q: %w", dir, err)
	}
	if len(paths) == 0 {
		return fmt.Errorf("reading directory %q: no .yaml, .yml or .json files", dir)
	}
	sort.Strings(paths)
	for _, p := range paths {
		l.addFile(p, infos[p])
	}
	return nil
}
