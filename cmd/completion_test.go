package cmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionScripts checks cobra's "kmirror completion" for each shell,
// and that bash loads the bash script and registers it.
func TestCompletionScripts(t *testing.T) {
	for shell, head := range map[string]string{
		"bash": "# bash completion V2 for kmirror",
		"zsh":  "#compdef kmirror",
		"fish": "# fish completion for kmirror",
	} {
		stdout, stderr, code := run(t, "", "completion", shell)
		if code != 0 || !strings.HasPrefix(stdout, head) {
			t.Errorf("completion %s: exit %d, stderr %q, script starts %.40q; want %q", shell, code, stderr, stdout, head)
		}
		if shell != "bash" {
			continue
		}
		script := filepath.Join(t.TempDir(), "kmirror.bash")
		if err := os.WriteFile(script, []byte(stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("bash", "-c", `source "$1" && complete -p kmirror`, "bash", script).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "__start_kmirror kmirror") {
			t.Errorf("bash did not register the completion: %v\n%s", err, out)
		}
	}
}

// TestCompletionCandidates asks what the shell scripts ask: the hidden
// __complete command lists the candidates for a command line.
func TestCompletionCandidates(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", ""}, []string{"completion", "images", "rewrite", "rules", "version"}},
		{[]string{"__complete", "images", "-o", ""}, []string{"table", "json", "mirror-list"}},
		{[]string{"__complete", "images", "--"}, []string{"--color", "--output", "--rules"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, _, code := run(t, "", tc.args...)
			if code != 0 {
				t.Fatalf("exit %d", code)
			}
			got := map[string]bool{}
			for _, line := range strings.Split(stdout, "\n") {
				got[strings.SplitN(line, "\t", 2)[0]] = true
			}
			for _, w := range tc.want {
				if !got[w] {
					t.Errorf("no candidate %q in:\n%s", w, stdout)
				}
			}
		})
	}
}
