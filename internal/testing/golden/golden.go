// Package golden reads the golden cases under testdata/golden, which the
// CLI, the KRM function and the webhook tests all run, so that each mode is
// held to the same expected images.
//
// A case is a folder holding input.yaml, an optional rules.yaml (the
// default preset otherwise), and either expected.yaml, the exact output of
// `kmirror rewrite`, or error.txt, a text that the error message must
// contain.
package golden

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Case is one golden folder.
type Case struct {
	Name string
	Dir  string
	// Rules is the path of the case's rules file, or "" for the default.
	Rules string
	Input []byte
	// Expected is the expected output, or nil when the case expects an
	// error containing Error.
	Expected []byte
	Error    string
}

// ExpectedPath is where a case's expected output lives.
func (c Case) ExpectedPath() string { return filepath.Join(c.Dir, "expected.yaml") }

// Dir is the absolute path of testdata/golden.
func Dir() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "..", "testdata", "golden")
}

// Load reads every case. It fails when there are none, so that a test
// built on it cannot pass by finding nothing.
func Load() ([]Case, error) {
	dirs, err := filepath.Glob(filepath.Join(Dir(), "*", "input.yaml"))
	if err != nil {
		return nil, err
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no golden cases under %s", Dir())
	}
	sort.Strings(dirs)
	cases := make([]Case, 0, len(dirs))
	for _, in := range dirs {
		c, err := load(filepath.Dir(in))
		if err != nil {
			return nil, err
		}
		cases = append(cases, c)
	}
	return cases, nil
}

func load(dir string) (Case, error) {
	c := Case{Name: filepath.Base(dir), Dir: dir}
	var err error
	if c.Input, err = os.ReadFile(filepath.Join(dir, "input.yaml")); err != nil {
		return c, err
	}
	if rules := filepath.Join(dir, "rules.yaml"); exists(rules) {
		c.Rules = rules
	}
	if data, err := os.ReadFile(filepath.Join(dir, "error.txt")); err == nil {
		c.Error = strings.TrimSpace(string(data))
		return c, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return c, err
	}
	c.Expected, err = os.ReadFile(c.ExpectedPath())
	if errors.Is(err, os.ErrNotExist) {
		// A new case: the -update run writes its expected output.
		return c, nil
	}
	return c, err
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
