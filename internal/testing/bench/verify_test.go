package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
)

var summaryLine = regexp.MustCompile(`^rewrote (\d+) images? in \d+ of (\d+) documents?$`)

// rewriteTo runs "kmirror rewrite file" with its output in out, and checks
// its summary line against the stream's stats: nothing else may reach
// stderr, warnings included.
func rewriteTo(kmirror, file string, out *os.File, st Stats) error {
	cmd := exec.Command(kmirror, "rewrite", "--color=never", file)
	cmd.Stdout = out
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("running kmirror: %w: %s", err, stderr.String())
	}
	m := summaryLine.FindStringSubmatch(string(bytes.TrimSpace(stderr.Bytes())))
	if m == nil {
		return fmt.Errorf("kmirror's stderr is not one summary line: %q", stderr.String())
	}
	images, _ := strconv.Atoi(m[1])
	docs, _ := strconv.Atoi(m[2])
	if images != st.Rewrites || docs != st.Documents {
		return fmt.Errorf("kmirror rewrote %d images in %d documents, want %d images in %d documents", images, docs, st.Rewrites, st.Documents)
	}
	return nil
}

// imageLine matches the lines where an image field is written, in YAML or
// JSON.
var imageLine = regexp.MustCompile(`(^|[\s-])("image"|image|reference):\s`)

// compareLines checks that the files at in and out have the same number of
// lines, and that exactly want of them differ, each an image field.
func compareLines(in, out string, want int) error {
	a, err := os.Open(in)
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := os.Open(out)
	if err != nil {
		return err
	}
	defer b.Close()
	sa, sb := bufio.NewScanner(a), bufio.NewScanner(b)
	sa.Buffer(nil, 1<<20)
	sb.Buffer(nil, 1<<20)
	line, changed := 0, 0
	for {
		okA, okB := sa.Scan(), sb.Scan()
		if okA != okB {
			return fmt.Errorf("the output has a different number of lines from the input, from line %d", line+1)
		}
		if !okA {
			break
		}
		line++
		if bytes.Equal(sa.Bytes(), sb.Bytes()) {
			continue
		}
		if !imageLine.Match(sa.Bytes()) {
			return fmt.Errorf("line %d changed but is not an image field: %q became %q", line, sa.Text(), sb.Text())
		}
		changed++
	}
	if err := sa.Err(); err != nil {
		return err
	}
	if err := sb.Err(); err != nil {
		return err
	}
	if changed != want {
		return fmt.Errorf("%d lines changed, want %d: one for each rewritten image", changed, want)
	}
	return nil
}
