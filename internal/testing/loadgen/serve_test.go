package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"kmirror.dev/kmirror/pkg/admission"
	"kmirror.dev/kmirror/pkg/certs"
	"kmirror.dev/kmirror/rules"
)

// ceilingEnv, when set to a directory with tls.crt and tls.key, makes the
// test binary serve the ceiling instead of running tests, so that the
// ceiling runs in a process of its own, as kmirror does.
const ceilingEnv = "KMIRROR_LOADGEN_CEILING"

func TestMain(m *testing.M) {
	if dir := os.Getenv(ceilingEnv); dir != "" {
		if err := runCeiling(dir); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runCeiling serves the ceiling on a free port of 127.0.0.1, prints the
// address, and exits when stdin closes.
func runCeiling(dir string) error {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	return ServeCeiling(ln, cert)
}

// The shape of the load.
const (
	concurrency = 32
	requests    = 100_000
	// The two servers take turns, in rounds, so that a change in the
	// machine's load falls on both.
	rounds       = 5
	warmup       = 5_000
	fixedRate    = 1000
	fixedSeconds = 10
)

// BenchmarkServe measures kmirror serve against the ceiling, then at a
// fixed 1,000 reviews/s, and fails when a target of the webhook's issue is
// missed: 50% of the ceiling's throughput, p99 under 5ms at 1,000
// reviews/s, no errors, RSS flat over 100,000 requests.
func BenchmarkServe(b *testing.B) {
	dir, bundle := serverFiles(b)
	kmirror := startKmirror(b, dir)
	ceiling := startCeiling(b, dir)
	client, err := NewClient(bundle.CA, concurrency)
	if err != nil {
		b.Fatal(err)
	}
	reviews := Reviews(1000, 1)
	kmirror.check = kmirrorCheck(b, reviews)
	ceiling.check = ceilingCheck
	load := func(s *server, n int, rate float64) *Result {
		return Run(context.Background(), Config{URL: s.url, Client: client, Bodies: reviews,
			Requests: n, Concurrency: concurrency, Rate: rate, Check: s.check})
	}
	b.Logf("GOMAXPROCS %d, %d CPUs; %d concurrent requests; reviews of %d to %d bytes",
		runtime.GOMAXPROCS(0), runtime.NumCPU(), concurrency, minLen(reviews), maxLen(reviews))
	load(ceiling, warmup, 0)
	load(kmirror, warmup, 0)

	b.Run("throughput", func(b *testing.B) {
		rssStart := kmirror.rss(b)
		var k, c Result
		var kCPU, cCPU time.Duration
		for range rounds {
			cpu := ceiling.cpu(b)
			c.Add(load(ceiling, requests/rounds, 0))
			cCPU += ceiling.cpu(b) - cpu
			cpu = kmirror.cpu(b)
			k.Add(load(kmirror, requests/rounds, 0))
			kCPU += kmirror.cpu(b) - cpu
		}
		rssEnd := kmirror.rss(b)
		report(b, "", &k)
		report(b, "ceiling-", &c)
		ratio := k.Throughput() / c.Throughput()
		b.ReportMetric(ratio, "ratio-to-ceiling")
		b.ReportMetric(float64(kCPU.Microseconds())/float64(k.Requests), "cpu-us/review")
		b.ReportMetric(float64(cCPU.Microseconds())/float64(c.Requests), "ceiling-cpu-us/review")
		b.ReportMetric(rssStart, "rss-start-MB")
		b.ReportMetric(rssEnd, "rss-end-MB")
		if ratio < 0.5 {
			b.Errorf("throughput %.0f reviews/s is %.0f%% of the ceiling's %.0f; the target is 50%%", k.Throughput(), 100*ratio, c.Throughput())
		}
		if rssEnd > rssStart*1.25+4 {
			b.Errorf("RSS grew from %.1f MB to %.1f MB over %d requests", rssStart, rssEnd, requests)
		}
	})
	b.Run("1000rps", func(b *testing.B) {
		r := load(kmirror, fixedRate*fixedSeconds, fixedRate)
		report(b, "", r)
		if p99 := r.Percentile(0.99); p99 >= 5*time.Millisecond {
			b.Errorf("p99 latency at %d reviews/s is %s; the target is under 5ms", fixedRate, p99)
		}
	})
}

func report(b *testing.B, prefix string, r *Result) {
	b.ReportMetric(r.Throughput(), prefix+"reviews/s")
	b.ReportMetric(ms(r.Percentile(0.50)), prefix+"p50-ms")
	b.ReportMetric(ms(r.Percentile(0.99)), prefix+"p99-ms")
	b.ReportMetric(float64(r.Errors), prefix+"errors")
	if r.Errors > 0 {
		b.Errorf("%s%d of %d requests failed; first: %v", prefix, r.Errors, r.Requests, r.FirstError)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// answer is the part of an AdmissionReview answer the checks read. Both
// servers' answers are decoded the same way, so that the client does the
// same work for each.
type answer struct {
	Response struct {
		UID     string `json:"uid"`
		Allowed bool   `json:"allowed"`
		Patch   []byte `json:"patch"`
	} `json:"response"`
}

func ceilingCheck(_ int, body []byte) error {
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return err
	}
	if !a.Response.Allowed {
		return fmt.Errorf("not allowed")
	}
	return nil
}

// kmirrorCheck returns a check that each answer carries its review's uid
// and exactly the patch the admission package makes for its Pod.
func kmirrorCheck(b *testing.B, reviews [][]byte) func(int, []byte) error {
	eng, err := rules.Load("")
	if err != nil {
		b.Fatal(err)
	}
	type want struct {
		uid   string
		patch []byte
	}
	wants := make([]want, len(reviews))
	for i, body := range reviews {
		var r struct {
			Request struct {
				UID    string          `json:"uid"`
				Object json.RawMessage `json:"object"`
			} `json:"request"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			b.Fatal(err)
		}
		m, err := admission.Mutate(eng, r.Request.Object, nil)
		if err != nil {
			b.Fatal(err)
		}
		wants[i] = want{r.Request.UID, m.Patch()}
	}
	return func(i int, body []byte) error {
		var a answer
		if err := json.Unmarshal(body, &a); err != nil {
			return err
		}
		w := wants[i]
		if a.Response.UID != w.uid || !a.Response.Allowed || !bytes.Equal(a.Response.Patch, w.patch) {
			return fmt.Errorf("answer %s does not carry uid %s and patch %s", body, w.uid, w.patch)
		}
		return nil
	}
}

// server is a server process under load.
type server struct {
	url   string
	pid   int
	check func(int, []byte) error
	// log is kmirror's log file.
	log string
}

// cpu returns the CPU time the process has used, in user and kernel mode.
func (s *server) cpu(b *testing.B) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command, which is in parentheses; utime and
	// stime are the 14th and 15th fields, in ticks of 1/100 s.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// rss returns the process's resident set, in MB (10^6 bytes).
func (s *server) rss(b *testing.B) float64 {
	return s.status(b, "VmRSS:")
}

// serverFiles writes a certificate for 127.0.0.1 and its key into a
// temporary directory.
func serverFiles(b *testing.B) (string, *certs.Bundle) {
	dir := b.TempDir()
	bundle, err := certs.Generate([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	for name, data := range map[string][]byte{"tls.crt": bundle.Cert, "tls.key": bundle.Key} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return dir, bundle
}

// startKmirror builds kmirror and serves it on a free port of 127.0.0.1,
// logging to a file, as in a cluster.
func startKmirror(b *testing.B, dir string) *server {
	return startKmirrorWith(b, dir, nil)
}

// startKmirrorWith is startKmirror with variables added to the environment
// and flags added to kmirror serve's. Each server logs to a file of its own.
func startKmirrorWith(b *testing.B, dir string, env []string, flags ...string) *server {
	bin := filepath.Join(dir, "kmirror")
	if _, err := os.Stat(bin); err != nil {
		_, here, _, _ := runtime.Caller(0)
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Dir = filepath.Join(filepath.Dir(here), "..", "..", "..")
		if out, err := build.CombinedOutput(); err != nil {
			b.Fatalf("building kmirror: %v\n%s", err, out)
		}
	}
	logFile, err := os.CreateTemp(dir, "kmirror-*.log")
	if err != nil {
		b.Fatal(err)
	}
	logPath := logFile.Name()
	defer logFile.Close()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0",
		"--tls-cert-file", filepath.Join(dir, "tls.crt"), "--tls-key-file", filepath.Join(dir, "tls.key")}, flags...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if addr := servingAddr(logPath); addr != "" {
			return &server{url: "https://" + addr + "/mutate", pid: cmd.Process.Pid, log: logPath}
		}
	}
	data, _ := os.ReadFile(logPath)
	b.Fatalf("kmirror serve did not start:\n%s", data)
	return nil
}

// servingAddr finds the address in kmirror's "serving the webhook" line.
func servingAddr(logPath string) string {
	f, err := os.Open(logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving the webhook" {
			return line.Addr
		}
	}
	return ""
}

// startCeiling runs the ceiling in a child process.
func startCeiling(b *testing.B, dir string) *server {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), ceilingEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("starting the ceiling: %v", err)
	}
	return &server{url: "https://" + strings.TrimSpace(addr) + "/", pid: cmd.Process.Pid}
}

func minLen(bodies [][]byte) int {
	n := len(bodies[0])
	for _, b := range bodies {
		n = min(n, len(b))
	}
	return n
}

func maxLen(bodies [][]byte) int {
	n := 0
	for _, b := range bodies {
		n = max(n, len(b))
	}
	return n
}
