// Package fileset reads the manifests named on a command line and writes
// them back safely.
package fileset

import (
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
	Data []byte
}

// manifestExts are the file types taken from directories.
var manifestExts = map[string]bool{".yaml": true, ".yml": true, ".json": true}

// Read reads each argument: "-" is stdin, a directory is searched
// recursively for .yaml, .yml and .json files (in lexical order), anything
// else is read as a file whatever its name. No arguments means stdin.
func Read(stdin io.Reader, args []string) ([]File, error) {
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
			files = append(files, File{Name: "stdin", Data: data})
			continue
		}
		paths, err := expand(arg)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("reading manifest: %w", err)
			}
			files = append(files, File{Name: p, Path: p, Data: data})
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

// WriteAll replaces each file at File.Path with File.Data, keeping its mode.
// It first writes every new content to a temporary file beside its target,
// and renames them into place only when all are written: a failure leaves
// every file as it was, and a reader sees an old file or a new one, never a
// part.
func WriteAll(files []File) error {
	var staged []string
	defer func() {
		for _, tmp := range staged {
			os.Remove(tmp) // fails harmlessly once renamed
		}
	}()
	for _, f := range files {
		tmp, err := stage(f)
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

func stage(f File) (string, error) {
	st, err := os.Stat(f.Path)
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), "."+filepath.Base(f.Path)+".kmirror-*")
	if err != nil {
		return "", err
	}
	_, err = tmp.Write(f.Data)
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
