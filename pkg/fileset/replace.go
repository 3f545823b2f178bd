package fileset

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// rename and link are swapped by tests to make them fail.
var (
	rename = os.Rename
	link   = os.Link
)

// Replace rewrites files in place, all or nothing.
//
// It reads each file once, through rewrite, which writes the new content
// of files[i] to dst and reports whether it changed; a file that did not
// change is left alone. The new content is staged in a temporary file
// beside the file, or beside the target of its symbolic links, which stay
// links. The staged file gets the whole mode of the file, setuid, setgid
// and sticky bits included, and its owner and group when kmirror runs as
// root (another user keeps the group if they belong to it).
//
// Only when every rewrite succeeded, no file changed on disk since it was
// read, and none belongs to another user in a sticky directory (where the
// kernel refuses the rename), are the staged files renamed into place, so
// that a reader sees the old file or the new one, never a part. Before
// each rename a hard link to the original is kept (a copy with the same
// metadata where a link is refused); if a rename fails all the same
// (EBUSY for a bind-mounted file, EROFS, EXDEV), every file already
// replaced gets its original back, inode included, and the error names
// the file that failed. Either way no temporary or backup file is left
// behind, but for the original of a file that could not be restored,
// which the error names.
//
// An input that is not a regular file (stdin, a pipe) cannot be rewritten
// in place: Replace then fails before reading anything. An error from
// rewrite is returned as it is.
func Replace(files []File, rewrite func(i int, src io.Reader, dst io.Writer) (changed bool, err error)) error {
	jobs := make([]*staged, len(files))
	for i, f := range files {
		var err error
		if jobs[i], err = resolve(f); err != nil {
			return err
		}
	}
	defer func() {
		for _, s := range jobs {
			s.cleanup()
		}
	}()
	for i, s := range jobs {
		err := s.stage(func(src io.Reader, dst io.Writer) (bool, error) { return rewrite(i, src, dst) })
		if err != nil {
			return err
		}
	}
	for _, s := range jobs {
		if err := s.check(); err != nil {
			return err
		}
	}
	return swap(jobs)
}

// staged is one file on its way to being replaced.
type staged struct {
	name   string      // what reports call it
	target string      // the regular file that is replaced
	at     os.FileInfo // the file when it was opened
	tmp    string      // the new content, until renamed; "" when unchanged
	backup string      // a link to the original or a copy, while renaming
}

// resolve finds the regular file that replacing f replaces.
func resolve(f File) (*staged, error) {
	if f.Path == "" {
		return nil, fmt.Errorf("cannot rewrite %s in place", f.Name)
	}
	target, err := filepath.EvalSymlinks(f.Path)
	if err != nil {
		return nil, fmt.Errorf("rewriting %s in place: %w", f.Name, err)
	}
	st, err := os.Stat(target)
	if err != nil {
		return nil, fmt.Errorf("rewriting %s in place: %w", f.Name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("cannot rewrite %s in place: it is not a regular file but a %s", f.Name, kind(st.Mode()))
	}
	return &staged{name: f.Name, target: target}, nil
}

func kind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// stage reads the file once through rewrite and writes what it writes to
// a temporary file with the file's owner and mode.
func (s *staged) stage(rewrite func(io.Reader, io.Writer) (bool, error)) error {
	in, err := openChecked(s.name, s.target)
	if err != nil {
		return fmt.Errorf("%w; no file was changed", err)
	}
	defer in.Close()
	s.at = in.at
	tmp, err := os.CreateTemp(filepath.Dir(s.target), "."+filepath.Base(s.target)+".kmirror-*")
	if err != nil {
		return fmt.Errorf("rewriting %s in place: %w; no file was changed", s.name, err)
	}
	s.tmp = tmp.Name()
	bw := bufio.NewWriterSize(tmp, 64<<10)
	changed, err := rewrite(in, bw)
	if err == nil {
		// Read to the end, where the reader checks that the file held still.
		_, err = io.Copy(io.Discard, in)
	}
	if err != nil || !changed {
		tmp.Close()
		if err == nil {
			os.Remove(s.tmp)
			s.tmp = ""
		}
		return err
	}
	err = bw.Flush()
	if err == nil {
		err = keepMeta(tmp, s.at)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("rewriting %s in place: %w; no file was changed", s.name, err)
	}
	return nil
}

// keepMeta gives f the owner, group and mode of orig; chown comes first,
// as it clears the setuid and setgid bits.
func keepMeta(f *os.File, orig os.FileInfo) error {
	if err := keepOwner(f, orig); err != nil {
		return err
	}
	return f.Chmod(orig.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky))
}

// check fails when the file changed since it was read, or when the
// rename would be refused in a sticky directory.
func (s *staged) check() error {
	if !s.changed() {
		return nil
	}
	now, err := os.Stat(s.target)
	if err != nil || !same(s.at, now) {
		return fmt.Errorf("%s changed while kmirror was rewriting it; no file was changed", s.name)
	}
	if err := mayReplace(filepath.Dir(s.target), now); err != nil {
		return fmt.Errorf("replacing %s: %w; no file was changed", s.name, err)
	}
	return nil
}

func (s *staged) changed() bool { return s.tmp != "" }

// swap renames the staged files into place, and puts the originals back
// if one rename fails.
func swap(jobs []*staged) error {
	var done []*staged
	for _, s := range jobs {
		if !s.changed() {
			continue
		}
		err := s.keepBackup()
		if err == nil {
			err = rename(s.tmp, s.target)
		}
		if err != nil {
			var le *os.LinkError
			if errors.As(err, &le) {
				err = le.Err
			}
			return restore(done, fmt.Errorf("replacing %s: %w", s.name, err))
		}
		s.tmp = ""
		done = append(done, s)
	}
	for _, s := range done {
		if err := os.Remove(s.backup); err != nil {
			return fmt.Errorf("every file was rewritten, but removing the backup of %s: %w", s.name, err)
		}
		s.backup = ""
	}
	return nil
}

// restore renames the backups of the replaced files back into place.
func restore(done []*staged, cause error) error {
	var lost []string
	for i := len(done) - 1; i >= 0; i-- {
		s := done[i]
		if err := rename(s.backup, s.target); err != nil {
			lost = append(lost, fmt.Sprintf("%s (its original is %s: %v)", s.name, s.backup, err))
		}
		s.backup = ""
	}
	if len(lost) > 0 {
		return fmt.Errorf("%w; could not restore %s", cause, strings.Join(lost, ", "))
	}
	return fmt.Errorf("%w; no file was changed", cause)
}

// keepBackup keeps the original file under a second name: a hard link,
// which keeps its inode, or a copy with its metadata where a link is
// refused.
func (s *staged) keepBackup() error {
	prefix := filepath.Join(filepath.Dir(s.target), "."+filepath.Base(s.target)+".kmirror-backup-")
	for range 100 {
		name := prefix + strconv.FormatUint(rand.Uint64(), 36)
		err := link(s.target, name)
		if err == nil {
			s.backup = name
			return nil
		}
		if !errors.Is(err, os.ErrExist) {
			break
		}
	}
	if err := s.copyBackup(); err != nil {
		return fmt.Errorf("keeping a copy of the original: %w", err)
	}
	return nil
}

func (s *staged) copyBackup() error {
	src, err := os.Open(s.target)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.CreateTemp(filepath.Dir(s.target), "."+filepath.Base(s.target)+".kmirror-backup-*")
	if err != nil {
		return err
	}
	s.backup = dst.Name()
	_, err = io.Copy(dst, src)
	if err == nil {
		err = keepMeta(dst, s.at)
	}
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(s.backup, time.Time{}, s.at.ModTime())
	}
	return err
}

// cleanup removes what is left of the temporary and backup files.
func (s *staged) cleanup() {
	if s == nil {
		return
	}
	if s.tmp != "" {
		os.Remove(s.tmp)
	}
	if s.backup != "" {
		os.Remove(s.backup)
	}
}
