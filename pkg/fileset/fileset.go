// Package fileset finds the manifests named on a command line, reads them
// as streams, and replaces them safely.
package fileset

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Stdin is the name that stands for standard input.
const Stdin = "-"

// File is one input stream.
type File struct {
	// Name is what reports call the file: its path, or "stdin".
	Name string
	// Path is "" for standard input.
	Path string
	// stdin holds standard input, which can be read only once.
	stdin []byte
}

// Open opens the stream from its start; it can be called again to read the
// stream a second time.
func (f File) Open() (io.ReadCloser, error) {
	if f.Path == "" {
		return io.NopCloser(bytes.NewReader(f.stdin)), nil
	}
	r, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	return r, nil
}

// ReadAll returns the whole stream.
func (f File) ReadAll() ([]byte, error) {
	if f.Path == "" {
		return f.stdin, nil
	}
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	return data, nil
}

// manifestExts are the file types taken from directories.
var manifestExts = map[string]bool{".yaml": true, ".yml": true, ".json": true}

// List resolves each argument: "-" is stdin, which is read now, a directory
// is searched recursively for .yaml, .yml and .json files (in lexical
// order), anything else is a file whatever its name. No arguments means
// stdin.
func List(stdin io.Reader, args []string) ([]File, error) {
	if len(args) == 0 {
		args = []string{Stdin}
	}
	var files []File
	for _, arg := range args {
		if arg == Stdin {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("reading stdin: %w", err)
			}
			files = append(files, File{Name: "stdin", stdin: data})
			continue
		}
		paths, err := expand(arg)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			files = append(files, File{Name: p, Path: p})
		}
	}
	return files, nil
}

func expand(arg string) ([]string, error) {
	st, err := os.Stat(arg)
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	if !st.IsDir() {
		return []string{arg}, nil
	}
	var paths []string
	err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && manifestExts[strings.ToLower(filepath.Ext(p))] {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading directory %q: %w", arg, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("reading directory %q: no .yaml, .yml or .json files", arg)
	}
	sort.Strings(paths)
	return paths, nil
}

// Replace replaces each of files with what write(i, w) writes for
// files[i], keeping its mode. It first writes every new content to a
// temporary file beside its target, and renames them into place only when
// all are written: a failure leaves every file as it was, and a reader sees
// an old file or a new one, never a part.
func Replace(files []File, write func(i int, w io.Writer) error) error {
	var staged []string
	defer func() {
		for _, tmp := range staged {
			os.Remove(tmp) // fails harmlessly once renamed
		}
	}()
	for i, f := range files {
		tmp, err := stage(f.Path, func(w io.Writer) error { return write(i, w) })
		if err != nil {
			return fmt.Errorf("writing %q: %w", f.Path, err)
		}
		staged = append(staged, tmp)
	}
	for i, f := range files {
		if err := os.Rename(staged[i], f.Path); err != nil {
			return fmt.Errorf("writing %q: %w", f.Path, err)
		}
	}
	return nil
}

// stage writes a temporary file beside path and returns its name.
func stage(path string, write func(io.Writer) error) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".kmirror-*")
	if err != nil {
		return "", err
	}
	bw := bufio.NewWriterSize(tmp, 64<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Chmod(st.Mode().Perm())
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}
