package cmd

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/fatih/color"
	"github.com/mattn/go-isatty"
	"github.com/spf13/pflag"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/rules"
)

// RulesOptions selects the mirror rules, for every command that decides
// images.
type RulesOptions struct {
	Rules string
	// NoInfer turns off the finding of image fields by name.
	NoInfer bool
}

// AddFlags registers --rules and --no-infer.
func (o *RulesOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Rules, "rules", "", fmt.Sprintf(
		"rules file, or the name of a built-in preset (%s); default %s",
		strings.Join(rules.Presets(), ", "), rules.Default))
	fs.BoolVar(&o.NoInfer, "no-infer", false,
		`find no image field by its name ("image", "imageName") in custom resources; read only pod specs and the built-in and declared fields, as "- exclude: true" under spec.imageFields does`)
}

// Engine loads the selected rules, and with --no-infer adds to them an
// exclusion of every kind.
func (o *RulesOptions) Engine() (*mirror.Engine, error) {
	eng, err := rules.Load(o.Rules)
	if err != nil || !o.NoInfer {
		return eng, err
	}
	return manifest.WithoutInference(eng)
}

// Load loads the selected rules, and writes their warnings to w.
func (o *RulesOptions) Load(w io.Writer) (*mirror.Engine, error) {
	eng, err := o.Engine()
	if err == nil {
		for _, msg := range eng.Warnings() {
			fmt.Fprintf(w, "%s rules %s: %s\n", warnColor.Sprint("warning:"), cmp.Or(o.Rules, rules.Default), msg)
		}
	}
	return eng, err
}

// ColorOptions decides whether output is coloured.
type ColorOptions struct {
	Color string
}

// AddFlags registers --color.
func (o *ColorOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Color, "color", "auto", "colour output: auto (terminals only, off with NO_COLOR), always or never")
}

// Validate checks --color and applies it to fatih/color. With "auto",
// colour needs both stdout and stderr on a terminal, so no escape codes
// reach a pipe or a log.
func (o *ColorOptions) Validate() error {
	switch o.Color {
	case "auto":
		color.NoColor = os.Getenv("NO_COLOR") != "" || !isTerminal(os.Stdout) || !isTerminal(os.Stderr)
	case "always":
		color.NoColor = false
	case "never":
		color.NoColor = true
	default:
		return fmt.Errorf("--color must be auto, always or never, not %q", o.Color)
	}
	return nil
}

// isTerminal reports whether s, a reader or writer, is a terminal rather
// than a pipe, a file, /dev/null or a buffer.
func isTerminal(s any) bool {
	f, ok := s.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// streamGCPercent is the GOGC of the commands that read streams, unless
// the environment sets one. Their live heap is the few MB of the parts in
// flight, but yaml.v3 allocates some forty bytes for each byte it parses:
// at the default of 100 the collector takes a third of the CPU, at 200 a
// fifth, for some 10 MB more of peak memory.
const streamGCPercent = 200

// streamMemoryLimit is the soft memory limit of the commands that read
// streams, unless the environment sets GOMEMLIMIT. Their live heap is a
// few parts in flight whatever the stream, some 15 MB, but at GOGC=200 a
// stream of many small parts (JSON objects one a line, the items of a
// List) lets the heap grow to three times that between collections; the
// limit makes the collector run sooner as the heap nears it, for no more
// CPU on the streams measured (make bench). A document larger than the
// limit still parses: the collector then runs more often, and the Go
// runtime caps the CPU it takes.
const streamMemoryLimit = 32 << 20

// tuneStreamGC tunes the garbage collector of a command that reads
// streams.
func tuneStreamGC() {
	tuneGC(streamGCPercent)
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(streamMemoryLimit)
	}
}

// tuneGC sets GOGC to percent, unless the environment sets it.
func tuneGC(percent int) {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(percent)
	}
}
