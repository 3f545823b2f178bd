//go:build unix

package fileset

import (
	"os"
	"syscall"
)

// fileKey returns what only the same file shares: its device and inode.
func fileKey(st os.FileInfo) any {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return [2]uint64{uint64(s.Dev), uint64(s.Ino)}
	}
	return nil
}
