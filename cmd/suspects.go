package cmd

import (
	"encoding/json"
	"strconv"

	"github.com/spf13/cobra"

	"kmirror.dev/kmirror/pkg/fileset"
	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/pkg/scan"
)

// runSuspects lists the suspects of files: strings that look like images
// where the walk does not read. They are few, and held until every input
// is read, so that nothing is written for an input that fails.
func (o *ImagesOptions) runSuspects(cmd *cobra.Command, files []fileset.File, eng *mirror.Engine) error {
	suspects := []manifest.Suspect{}
	name, before := "", 0
	_, err := scan.Each(cmd.Context(), files, eng, scan.Visitor{
		File: func(file string) error {
			name, before = file, 0
			return nil
		},
		Part: func(p *manifest.Part) error {
			s, err := manifest.Suspects(name, p, before, eng)
			suspects = append(suspects, s...)
			before += p.Documents
			return err
		},
	})
	if err != nil {
		return err
	}
	if o.Output == imagesJSON {
		b, err := json.MarshalIndent(struct {
			Suspects []manifest.Suspect `json:"suspects"`
		}{suspects}, "", "  ")
		if err != nil {
			return err
		}
		_, err = cmd.OutOrStdout().Write(append(b, '\n'))
		return err
	}
	t := newTable(cmd.OutOrStdout(), []tableCell{
		{"LOCATION", tableHeaderColor}, {"OBJECT", tableHeaderColor}, {"FIELD", tableHeaderColor},
		{"IMAGE", tableHeaderColor}, {"ENTRY", tableHeaderColor},
	})
	for _, s := range suspects {
		entry := tableCell{s.List + ": - " + s.Entry, newColor}
		switch {
		case s.Entry == "":
			entry = tableCell{"none: " + s.Why, unchangedColor}
		case s.Why != "":
			entry.text += "  # " + s.Why
		}
		t.add([]tableCell{{s.File + ":" + strconv.Itoa(s.Line), nil}, {s.Object.String(), nil}, {s.Path, nil}, {s.Image, nil}, entry})
	}
	return t.end(manifest.Summary{})
}
