package cmd

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/internal/testing/golden"
)

var update = flag.Bool("update", false, "rewrite the expected output of the golden cases")

// TestGolden runs `kmirror rewrite` on every case under testdata/golden.
func TestGolden(t *testing.T) {
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			args := []string{"rewrite", "-q"}
			if c.Rules != "" {
				args = append(args, "--rules", c.Rules)
			}
			stdout, stderr, code := run(t, string(c.Input), args...)
			if c.Error != "" {
				if code != 2 || stdout != "" || !strings.Contains(stderr, c.Error) {
					t.Errorf("exit %d, stdout %q, stderr %q; want exit 2, no output and an error containing %q", code, stdout, stderr, c.Error)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if *update {
				if err := os.WriteFile(c.ExpectedPath(), []byte(stdout), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if c.Expected == nil {
				t.Fatalf("no expected.yaml; run `make golden` to create it")
			}
			if diff := cmp.Diff(string(c.Expected), stdout); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}
