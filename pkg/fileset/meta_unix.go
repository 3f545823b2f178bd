//go:build unix

package fileset

import (
	"fmt"
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

// keepOwner gives tmp the owner and group of orig. Root can; another user
// can only give a file of theirs to a group they belong to, so a file that
// user rewrites becomes theirs, as with any editor that saves by renaming.
func keepOwner(tmp *os.File, orig os.FileInfo) error {
	o, ok := orig.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	st, err := tmp.Stat()
	if err != nil {
		return err
	}
	t := st.Sys().(*syscall.Stat_t)
	switch {
	case o.Uid == t.Uid && o.Gid == t.Gid:
		return nil
	case os.Geteuid() == 0:
		return tmp.Chown(int(o.Uid), int(o.Gid))
	case o.Uid == t.Uid:
		// Refused unless the user is in the group; the file then has the
		// group a new file gets.
		_ = tmp.Chown(-1, int(o.Gid))
	}
	return nil
}

// mayReplace fails, as rename(2) would, when dir is sticky and neither the
// file st nor dir belongs to the user. Replace asks before it replaces any
// file: the link to the original that it keeps for a restore could not be
// removed either.
func mayReplace(dir string, st os.FileInfo) error {
	euid := os.Geteuid()
	if euid == 0 {
		return nil
	}
	ds, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if ds.Mode()&os.ModeSticky == 0 || owner(st) == euid || owner(ds) == euid {
		return nil
	}
	return fmt.Errorf("%w: in a sticky directory only the owner of the file or of the directory may replace it", syscall.EPERM)
}

func owner(st os.FileInfo) int {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(s.Uid)
	}
	return -1
}
