package bench

import (
	"os"
	"syscall"
)

// peakRSS returns the peak resident set size of an exited process, in
// bytes. Linux reports ru_maxrss in KiB.
func peakRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss) * 1024
	}
	return -1
}
