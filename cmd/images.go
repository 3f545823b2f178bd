package cmd

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
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
	// Suspects lists the strings that look like images where the walk
	// does not read, instead of the images.
	Suspects bool
}

// AddFlags registers the images flags.
func (o *ImagesOptions) AddFlags(fs *pflag.FlagSet) {
	o.RulesOptions.AddFlags(fs)
	o.ColorOptions.AddFlags(fs)
	fs.StringVarP(&o.Output, "output", "o", imagesTable, "format: "+strings.Join(imageFormats, ", "))
	fs.BoolVar(&o.Suspects, "suspects", false,
		"list instead the strings that look like images (a registry a rule covers, a repository, a tag or digest) "+
			"where kmirror does not read, each with an entry for the rules that makes it read them")
}

// Validate checks the flags.
func (o *ImagesOptions) Validate() error {
	if err := o.ColorOptions.Validate(); err != nil {
		return err
	}
	if !slices.Contains(imageFormats, o.Output) {
		return fmt.Errorf("--output must be %s, not %q", strings.Join(imageFormats, ", "), o.Output)
	}
	if o.Suspects && o.Output == imagesMirrorList {
		return errors.New("--suspects lists as a table or as JSON, not as a mirror-list")
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
or why none did ("escaped", "already mirrored", "no rule", "invalid"), or
"kept" for an image a rule covers but whose pull policy is Never: the node
must hold it under its own name, so it is never rewritten; "templated"
for an image whose tag is a placeholder, its registry and repository
mirrored. FOUND says how the field is known to hold an image: "builtin"
(pod specs and the built-in fields), "declared" (spec.imageFields and
spec.imageValues) or "by-name" (a key "image" or "imageName" of a custom
resource).

With --suspects, it lists instead the strings that look like images in
places kmirror does not read (a registry host that a rule covers, then a
repository and a tag or digest), each with an entry to paste under
spec.imageFields or spec.imageValues of the rules, so that kmirror reads
it.

Formats (-o):
  table        one line per image field; coloured on terminals
  json         {"images": [...], "warnings": [...]}, for scripts
  mirror-list  the source images that the mirror must hold, one per line,
               as written in the manifests, sorted and without repeats:
               the input of a mirroring job. Escaped images, images
               already under a mirror, images no rule covers and kept
               images are left out.`,
		Example: `  # What does this chart pull, and from where after mirroring?
  helm template my-release ./chart | kmirror images

  # The images a mirroring job must copy for these manifests
  kmirror images -o mirror-list deploy/ > images.txt

  # For scripts
  kmirror images -o json --rules my-rules.yaml deploy/ | jq -r '.images[] | select(.action == "no rule") | .image'

  # Which fields hold images that kmirror does not read?
  kmirror images --suspects deploy/`,
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
	tuneStreamGC()
	eng, err := o.Load(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	files, err := fileset.List(cmd.InOrStdin(), args)
	if err != nil {
		return err
	}
	// Nothing reaches stdout until every input succeeded: the table and
	// the list are written at the end, the JSON report, which streams, goes
	// to a spool first.
	stdout := cmd.OutOrStdout()
	var out output
	var spool *fileset.Spool
	if o.Suspects {
		return o.runSuspects(cmd, files, eng)
	}
	switch o.Output {
	case imagesJSON:
		spool = fileset.NewSpool(0)
		defer spool.Close()
		out = newJSONReport(spool, "images", func(manifest.Image) bool { return true },
			func(manifest.Summary) []jsonField { return nil })
	case imagesMirrorList:
		out = &mirrorList{w: stdout, seen: map[string]bool{}}
	default:
		out = newImagesTable(stdout)
	}
	if _, err := scanTo(cmd.Context(), files, eng, out, cmd.ErrOrStderr()); err != nil || spool == nil {
		return err
	}
	_, err = spool.WriteTo(stdout)
	return err
}

// mirrorList lists the images that a rule mirrors, as written, sorted and
// once each: the source images the mirror must hold. An image left
// unmirrored is listed too: copying it does no harm, and it is there once
// its manifest is fixed.
type mirrorList struct {
	w    io.Writer
	seen map[string]bool
}

func (m *mirrorList) file(string) error { return nil }

func (m *mirrorList) part(p *manifest.Part) error {
	for _, img := range p.Images {
		if img.Decision.Action == mirror.Mirrored {
			m.seen[img.Decision.Image] = true
		}
	}
	return nil
}

func (m *mirrorList) end(manifest.Summary) error {
	bw := bufio.NewWriter(m.w)
	for _, s := range slices.Sorted(maps.Keys(m.seen)) {
		bw.WriteString(s)
		bw.WriteByte('\n')
	}
	return bw.Flush()
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

// tableOutput writes the images in aligned columns. The rows go to a
// spool as they come, with the width of each column counted, and are
// aligned at the end.
type tableOutput struct {
	w      io.Writer
	rows   *fileset.Spool
	widths []int
	err    error
}

var tableHeader = []tableCell{
	{"LOCATION", tableHeaderColor}, {"OBJECT", tableHeaderColor}, {"FIELD", tableHeaderColor},
	{"IMAGE", tableHeaderColor}, {"MIRROR", tableHeaderColor}, {"RULE", tableHeaderColor}, {"FOUND", tableHeaderColor},
}

func newImagesTable(w io.Writer) *tableOutput {
	return newTable(w, tableHeader)
}

// newTable returns a table whose first row is header.
func newTable(w io.Writer, header []tableCell) *tableOutput {
	t := &tableOutput{w: w, rows: fileset.NewSpool(0)}
	t.add(header)
	return t
}

func (t *tableOutput) file(string) error { return nil }

func (t *tableOutput) part(p *manifest.Part) error {
	for _, img := range p.Images {
		t.add(imageRow(img))
	}
	return t.err
}

// spooledCell is a cell of a spooled row: its text, painted, and the
// width of its plain text.
type spooledCell struct {
	Text  string
	Width int
}

// add spools one row, as a line of JSON.
func (t *tableOutput) add(row []tableCell) {
	cells := make([]spooledCell, len(row))
	for i, c := range row {
		plain := manifest.Printable(c.text)
		text := plain
		if c.color != nil {
			text = c.color.Sprint(text)
		}
		width := utf8.RuneCountInString(plain)
		cells[i] = spooledCell{text, width}
		if i == len(t.widths) {
			t.widths = append(t.widths, 0)
		}
		t.widths[i] = max(t.widths[i], width)
	}
	if t.err == nil {
		b, _ := json.Marshal(cells)
		_, t.err = t.rows.Write(append(b, '\n'))
	}
}

// end writes the rows in columns two spaces apart, padded by the width of
// the plain text, so that colour codes do not skew the columns as they
// would in a text/tabwriter.
func (t *tableOutput) end(manifest.Summary) error {
	defer t.rows.Close()
	if t.err != nil {
		return t.err
	}
	sc := bufio.NewScanner(t.rows.Reader())
	sc.Buffer(nil, 1<<30)
	bw := bufio.NewWriter(t.w)
	for sc.Scan() {
		var cells []spooledCell
		if err := json.Unmarshal(sc.Bytes(), &cells); err != nil {
			return err
		}
		for i, c := range cells {
			bw.WriteString(c.Text)
			if i < len(cells)-1 {
				bw.WriteString(strings.Repeat(" ", t.widths[i]-c.Width+2))
			}
		}
		bw.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return bw.Flush()
}

func imageRow(img manifest.Image) []tableCell {
	d := img.Decision
	field := img.Path
	if len(img.UsedBy) > 0 {
		field += " (for " + strings.Join(img.UsedBy, ", ") + ")"
	}
	result := tableCell{img.Pulled(), newColor}
	if !img.Rewritten() {
		result.color = unchangedColor
	}
	rule := tableCell{string(d.Action), nil}
	switch {
	case img.Left != "":
		rule = tableCell{leftUnmirrored, invalidColor}
	case d.Action == mirror.Mirrored:
		rule.text = d.Rule.From
	case d.Action == mirror.Templated:
		rule = tableCell{d.Rule.From + " (templated)", escapedColor}
	case d.Action == mirror.Kept:
		rule.text = "kept"
		var never *manifest.PullNeverError
		if errors.As(d.Err, &never) {
			rule.text += " (" + never.Short() + ")"
		}
		rule.color = escapedColor
	case d.Action == mirror.Escaped:
		rule.color = escapedColor
	case d.Action == mirror.NoRule:
		rule.color = noRuleColor
	case d.Action == mirror.Invalid:
		rule.color = invalidColor
	}
	return []tableCell{
		{img.File + ":" + strconv.Itoa(img.Line), nil},
		{img.Object.String(), nil},
		{field, nil},
		{d.Image, nil},
		result,
		rule,
		{string(img.Found), nil},
	}
}
