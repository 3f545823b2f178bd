package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fatih/color"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"kmirror.dev/kmirror/pkg/fileset"
	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
)

// The formats of "kmirror images".
const (
	imagesTable      = "table"
	imagesJSON       = "json"
	imagesMirrorList = "mirror-list"
)

var imageFormats = []string{imagesTable, imagesJSON, imagesMirrorList}

// ImagesOptions are the flags of "kmirror images".
type ImagesOptions struct {
	RulesOptions
	ColorOptions
	Output string
}

// AddFlags registers the images flags.
func (o *ImagesOptions) AddFlags(fs *pflag.FlagSet) {
	o.RulesOptions.AddFlags(fs)
	o.ColorOptions.AddFlags(fs)
	fs.StringVarP(&o.Output, "output", "o", imagesTable, "format: "+strings.Join(imageFormats, ", "))
}

// Validate checks the flags.
func (o *ImagesOptions) Validate() error {
	if err := o.ColorOptions.Validate(); err != nil {
		return err
	}
	if !slices.Contains(imageFormats, o.Output) {
		return fmt.Errorf("--output must be %s, not %q", strings.Join(imageFormats, ", "), o.Output)
	}
	return nil
}

// NewCmdImages returns "kmirror images".
func NewCmdImages() *cobra.Command {
	o := &ImagesOptions{}
	cmd := &cobra.Command{
		Use:   "images [PATH|-]...",
		Short: "List every image of manifests, and where the rules send it",
		Long: `Images reads Kubernetes YAML or JSON as "kmirror rewrite" does, changes
nothing, and lists every image field: the file and line, the object, the
field path, the image, the image it maps to, and the rule that decided it,
or why none did ("escaped", "already mirrored", "no rule", "invalid").

Formats (-o):
  table        one line per image field; coloured on terminals
  json         {"images": [...], "warnings": [...]}, for scripts
  mirror-list  the source images that the mirror must hold, one per line,
               as written in the manifests, sorted and without repeats:
               the input of a mirroring job. Escaped images, images
               already under a mirror, and images no rule covers are left
               out.`,
		Example: `  # What does this chart pull, and from where after mirroring?
  helm template my-release ./chart | kmirror images

  # The images a mirroring job must copy for these manifests
  kmirror images -o mirror-list deploy/ > images.txt

  # For scripts
  kmirror images -o json --rules my-rules.yaml deploy/ | jq -r '.images[] | select(.action == "no rule") | .image'`,
		RunE: o.Run,
	}
	o.AddFlags(cmd.Flags())
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(imageFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Run lists the images of the inputs named by args.
func (o *ImagesOptions) Run(cmd *cobra.Command, args []string) error {
	if err := o.Validate(); err != nil {
		return err
	}
	eng, err := o.Engine()
	if err != nil {
		return err
	}
	files, err := fileset.List(cmd.InOrStdin(), args)
	if err != nil {
		return err
	}
	results, err := scanAll(files, eng, func(manifest.Image) bool { return true }, nil)
	if err != nil {
		return err
	}
	printWarnings(cmd.ErrOrStderr(), results)
	w := cmd.OutOrStdout()
	switch o.Output {
	case imagesJSON:
		return writeImagesJSON(w, results)
	case imagesMirrorList:
		return writeMirrorList(w, results)
	}
	return writeImagesTable(w, results)
}

// imagesReport is the -o json document.
type imagesReport struct {
	Images   []imageReport      `json:"images"`
	Warnings []manifest.Warning `json:"warnings"`
}

func writeImagesJSON(w io.Writer, results []*manifest.Result) error {
	rep := imagesReport{Images: []imageReport{}, Warnings: []manifest.Warning{}}
	for _, r := range results {
		for _, img := range r.Images {
			rep.Images = append(rep.Images, newImageReport(img))
		}
		rep.Warnings = append(rep.Warnings, r.Warnings...)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// writeMirrorList writes the images that a rule mirrors, as written, sorted
// and once each.
func writeMirrorList(w io.Writer, results []*manifest.Result) error {
	var sources []string
	for _, r := range results {
		for _, img := range r.Images {
			if img.Decision.Action == mirror.Mirrored {
				sources = append(sources, img.Decision.Image)
			}
		}
	}
	slices.Sort(sources)
	for _, s := range slices.Compact(sources) {
		if _, err := fmt.Fprintln(w, s); err != nil {
			return err
		}
	}
	return nil
}

// tableCell is a cell of the images table: its text, and the colour to
// print it in.
type tableCell struct {
	text  string
	color *color.Color
}

var (
	tableHeaderColor = color.New(color.Bold)
	escapedColor     = color.New(color.FgCyan)
	noRuleColor      = color.New(color.FgYellow)
	invalidColor     = color.New(color.FgRed)
	unchangedColor   = color.New(color.Faint)
)

func writeImagesTable(w io.Writer, results []*manifest.Result) error {
	rows := [][]tableCell{{
		{"LOCATION", tableHeaderColor}, {"OBJECT", tableHeaderColor}, {"FIELD", tableHeaderColor},
		{"IMAGE", tableHeaderColor}, {"MIRROR", tableHeaderColor}, {"RULE", tableHeaderColor},
	}}
	for _, r := range results {
		for _, img := range r.Images {
			rows = append(rows, imageRow(img))
		}
	}
	return writeAligned(w, rows)
}

func imageRow(img manifest.Image) []tableCell {
	d := img.Decision
	result := tableCell{d.Result, newColor}
	if !d.Changed() {
		result.color = unchangedColor
	}
	rule := tableCell{string(d.Action), nil}
	switch d.Action {
	case mirror.Mirrored:
		rule.text = d.Rule.From
	case mirror.Escaped:
		rule.color = escapedColor
	case mirror.NoRule:
		rule.color = noRuleColor
	case mirror.Invalid:
		rule.color = invalidColor
	}
	return []tableCell{
		{img.File + ":" + strconv.Itoa(img.Line), nil},
		{img.Object.String(), nil},
		{img.Path, nil},
		{d.Image, nil},
		result,
		rule,
	}
}

// writeAligned aligns rows in columns two spaces apart. It pads by the width
// of the plain text, so that colour codes do not skew the columns as they
// would in a text/tabwriter.
func writeAligned(w io.Writer, rows [][]tableCell) error {
	var widths []int
	for _, row := range rows {
		for i, c := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c.text))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for i, c := range row {
			text := c.text
			if c.color != nil {
				text = c.color.Sprint(text)
			}
			b.WriteString(text)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c.text)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
