package fileset

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

func TestSpool(t *testing.T) {
	const limit = 16
	tests := []struct {
		name   string
		writes []string
		inFile bool
	}{
		{"empty", nil, false},
		{"under the limit", []string{"0123", "456789"}, false},
		{"at the limit", []string{"0123456789", "abcdef"}, false},
		{"over the limit", []string{"0123456789", "abcdef", "g"}, true},
		{"one large write", []string{strings.Repeat("x", 3*limit)}, true},
		{"many writes past the limit", strings.Split(strings.Repeat("y", 5*limit), ""), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			s := NewSpool(limit)
			want := strings.Join(tc.writes, "")
			for _, w := range tc.writes {
				if n, err := s.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if s.Len() != int64(len(want)) {
				t.Errorf("Len() = %d, want %d", s.Len(), len(want))
			}
			if (s.file != nil) != tc.inFile || len(s.buf) > limit || (tc.inFile && s.buf != nil) {
				t.Errorf("in a file: %v, %d bytes in memory; want in a file: %v, at most %d in memory", s.file != nil, len(s.buf), tc.inFile, limit)
			}
			for i := range 2 {
				if got, err := io.ReadAll(s.Reader()); string(got) != want || err != nil {
					t.Errorf("read %d: %q, %v; want %q", i+1, got, err, want)
				}
			}
			var out bytes.Buffer
			if n, err := s.WriteTo(&out); out.String() != want || n != int64(len(want)) || err != nil {
				t.Errorf("WriteTo wrote %q (%d), %v; want %q", out.String(), n, err, want)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
				t.Errorf("left in TMPDIR after Close: %v", entries)
			}
			if _, err := s.Write([]byte("late")); err == nil {
				t.Error("Write after Close succeeded")
			}
		})
	}
}

func TestSpoolDefaultLimit(t *testing.T) {
	s := NewSpool(0)
	defer s.Close()
	s.Write(make([]byte, DefaultSpoolLimit))
	if s.file != nil {
		t.Errorf("%d bytes went to a file, want them in memory", DefaultSpoolLimit)
	}
	s.Write([]byte{1})
	if s.file == nil || s.buf != nil {
		t.Errorf("%d bytes stayed in memory, want a file", DefaultSpoolLimit+1)
	}
}
