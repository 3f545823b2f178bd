package fileset

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

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
