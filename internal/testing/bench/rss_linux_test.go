package bench

import (
	"os"
	"runtime/debug"
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

// resetPeakRSS returns the benchmark's free memory to the system and resets
// its own peak RSS. A child starts from its parent's: Go starts a process
// with vfork, and Linux counts the peak of the memory the child shared
// until exec in the child's ru_maxrss. So a benchmark that held large
// files before would lend every child run after it its own peak.
func resetPeakRSS() {
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // 5: reset the peak RSS
}
