//go:build !linux

package bench

import "os"

// peakRSS is not measured outside Linux, where ru_maxrss has other units
// or does not exist; it returns -1.
func peakRSS(*os.ProcessState) int64 { return -1 }

// resetPeakRSS does nothing where peak RSS is not measured.
func resetPeakRSS() {}
