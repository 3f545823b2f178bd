package bench

import (
	"fmt"
	"os"
	"testing"
)

// baselineEnv, when set to a file, makes the test binary run Baseline on
// that file, write to stdout and exit, instead of running tests. The
// benchmarks re-execute themselves this way, so that the baseline's peak
// RSS is that of a process of its own.
const baselineEnv = "KMIRROR_BENCH_BASELINE"

func TestMain(m *testing.M) {
	if path := os.Getenv(baselineEnv); path != "" {
		if err := runBaseline(path); err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	code := m.Run()
	cleanupBinary()
	os.Exit(code)
}

func runBaseline(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening stream: %w", err)
	}
	defer f.Close()
	_, err = Baseline(f, os.Stdout)
	return err
}
