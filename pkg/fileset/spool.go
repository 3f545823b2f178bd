package fileset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// DefaultSpoolLimit is how much a Spool holds in memory before it moves to
// a temporary file.
const DefaultSpoolLimit = 1 << 20

// Spool holds what is written to it, in memory up to a limit and then in a
// temporary file, so that a command can write its whole output before
// anything reaches stdout, with bounded memory. It is not safe for
// concurrent use.
type Spool struct {
	limit int64
	buf   []byte
	file  *os.File
	// unlinked says that file was removed from its directory at once,
	// as Unix allows, so that not even a killed kmirror leaves it behind.
	unlinked bool
	size     int64
	err      error
}

// NewSpool returns an empty Spool that holds up to limit bytes in memory;
// a limit of 0 or less means DefaultSpoolLimit.
func NewSpool(limit int64) *Spool {
	if limit <= 0 {
		limit = DefaultSpoolLimit
	}
	return &Spool{limit: limit}
}

var errSpoolClosed = errors.New("spool: closed")

// Write appends p. Past the limit, everything moves to a file in
// os.TempDir.
func (s *Spool) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.file == nil && s.size+int64(len(p)) <= s.limit {
		s.buf = append(s.buf, p...)
		s.size += int64(len(p))
		return len(p), nil
	}
	if s.file == nil {
		if s.err = s.toFile(); s.err != nil {
			return 0, s.err
		}
	}
	n, err := s.file.Write(p)
	s.size += int64(n)
	if err != nil {
		s.err = fmt.Errorf("spooling: %w", err)
	}
	return n, s.err
}

func (s *Spool) toFile() error {
	f, err := os.CreateTemp("", "kmirror-spool-*")
	if err != nil {
		return fmt.Errorf("spooling: %w", err)
	}
	s.file, s.unlinked = f, os.Remove(f.Name()) == nil
	if _, err := f.Write(s.buf); err != nil {
		return fmt.Errorf("spooling: %w", err)
	}
	s.buf = nil
	return nil
}

// Len returns the number of bytes written.
func (s *Spool) Len() int64 { return s.size }

// Reader returns a reader of what was written so far, from the start. It
// can be called again for another read, and reads nothing after Close.
func (s *Spool) Reader() *io.SectionReader {
	if s.file != nil {
		return io.NewSectionReader(s.file, 0, s.size)
	}
	return io.NewSectionReader(bytes.NewReader(s.buf), 0, s.size)
}

// WriteTo writes everything written so far to w.
func (s *Spool) WriteTo(w io.Writer) (int64, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.file == nil {
		n, err := w.Write(s.buf)
		return int64(n), err
	}
	return io.Copy(w, s.Reader())
}

// Reset empties the spool, to be written again from the start.
func (s *Spool) Reset() error {
	if s.err == errSpoolClosed {
		return s.err
	}
	s.buf, s.size, s.err = s.buf[:0], 0, nil
	if s.file != nil {
		if err := s.file.Truncate(0); err != nil {
			return fmt.Errorf("spooling: %w", err)
		}
		if _, err := s.file.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("spooling: %w", err)
		}
	}
	return nil
}

// Close releases the memory and removes the temporary file.
func (s *Spool) Close() error {
	s.buf, s.err = nil, errSpoolClosed
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	if !s.unlinked {
		if rerr := os.Remove(s.file.Name()); err == nil {
			err = rerr
		}
	}
	s.file = nil
	return err
}
