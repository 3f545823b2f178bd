package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// runsPerMeasure is how many times each process runs; the figures are the
// median, which a noisy shared machine disturbs less than the mean.
const runsPerMeasure = 5

// run is what one child process cost.
type run struct {
	wall time.Duration
	// cpu is user plus system time, over all threads.
	cpu time.Duration
	// rss is the peak resident set size, in bytes.
	rss int64
}

// summary is the median wall and CPU time of some runs, and the largest
// peak RSS among them.
func summary(runs []run) run {
	walls := make([]time.Duration, len(runs))
	cpus := make([]time.Duration, len(runs))
	var s run
	for i, r := range runs {
		walls[i], cpus[i] = r.wall, r.cpu
		s.rss = max(s.rss, r.rss)
	}
	slices.Sort(walls)
	slices.Sort(cpus)
	s.wall, s.cpu = walls[len(walls)/2], cpus[len(cpus)/2]
	return s
}

// mbps is throughput in MB (10^6 bytes) per second.
func mbps(bytes int, d time.Duration) float64 {
	return float64(bytes) / 1e6 / d.Seconds()
}

// mb turns bytes into MB (10^6 bytes).
func mb(bytes int64) float64 { return float64(bytes) / 1e6 }

// runProcess runs a command with its stdout on the null device and returns
// its cost and its stderr. A non-zero exit is an error.
func runProcess(env []string, name string, args ...string) (run, string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return run{}, stderr.String(), fmt.Errorf("running %s: %w: %s", filepath.Base(name), err, stderr.String())
	}
	ps := cmd.ProcessState
	return run{wall: wall, cpu: ps.UserTime() + ps.SystemTime(), rss: peakRSS(ps)}, stderr.String(), nil
}

// runKmirror runs "kmirror rewrite -q file" with the output discarded.
func runKmirror(b *testing.B, file string) run {
	b.Helper()
	r, _, err := runProcess(nil, kmirrorBinary(b), "rewrite", "-q", file)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// runBaselineProcess runs Baseline on file in a child process: the test
// binary itself, which TestMain sends to Baseline.
func runBaselineProcess(b *testing.B, file string) run {
	b.Helper()
	self, err := os.Executable()
	if err != nil {
		b.Fatalf("finding the test binary: %v", err)
	}
	r, _, err := runProcess([]string{baselineEnv + "=" + file}, self)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// kmirrorBinary builds kmirror from the module this package is in, once
// per test binary, as "make build" does.
func kmirrorBinary(b *testing.B) string {
	b.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "kmirror-bench-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "kmirror")
		var root []byte
		if root, binary.err = exec.Command("go", "env", "GOMOD").Output(); binary.err != nil {
			binary.err = fmt.Errorf("finding the module root: %w", binary.err)
			return
		}
		cmd := exec.Command("go", "build", "-trimpath", "-o", binary.path, ".")
		cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("building kmirror: %w\n%s", err, out)
		}
	})
	if binary.err != nil {
		b.Fatal(binary.err)
	}
	return binary.path
}

func cleanupBinary() {
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
}

// generateFile writes a stream of size bytes to a file in dir.
func generateFile(b *testing.B, dir string, size int) (string, Stats) {
	b.Helper()
	path := filepath.Join(dir, fmt.Sprintf("stream-%dMB.yaml", size/1e6))
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	st, err := Generate(f, Options{Seed: 1, Size: size})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	return path, st
}

// machine describes where the figures come from.
func machine() string {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s/%s, %d CPUs, %s, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), model, runtime.Version())
}
