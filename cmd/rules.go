package cmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/rules"
)

// NewCmdRules returns "kmirror rules".
func NewCmdRules() *cobra.Command {
	o := &RulesOptions{}
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Print the effective mirror rules",
		Long: `Rules prints the rules kmirror would apply, as a rules file: the default
preset, a named preset, or a file given with --rules, after validation.
Built-in presets: ` + strings.Join(rules.Presets(), ", ") + `.

After the rules, a comment lists the image fields kmirror reads besides
those of spec.imageFields: the fields of pod specs, in every object, and
the built-in fields of custom resources, by group and kinds, with paths
in the syntax of spec.imageFields.`,
		Example: `  # Start a rules file of your own from the default
  kmirror rules > my-rules.yaml

  # Check a rules file
  kmirror rules --rules my-rules.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			eng, err := o.Engine()
			if err != nil {
				return err
			}
			out, err := rules.Encode(eng.Rules())
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), string(out)+builtinFieldsComment())
			return err
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// builtinFieldsComment lists the image fields that the walk reads without
// being told, as YAML comments in the syntax of spec.imageFields. Kinds
// that share their paths are listed together.
func builtinFieldsComment() string {
	var b strings.Builder
	b.WriteString("# Built-in image fields, read besides spec.imageFields:\n")
	b.WriteString("# - in every object, the pod specs and parts of pod specs, anywhere outside\n")
	b.WriteString("#   metadata: " + strings.Join(manifest.PodSpecFields, ", ") + "\n")
	type group struct {
		key   string
		kinds []string
		lines []string
	}
	var groups []*group
	byKey := map[string]*group{}
	// Collect the paths of each kind first, then put together the kinds
	// that have the same.
	type kindKey struct{ group, kind string }
	var kinds []kindKey
	lines := map[kindKey][]string{}
	for _, f := range manifest.BuiltinFields() {
		k := kindKey{f.Group, f.Kind}
		if lines[k] == nil {
			kinds = append(kinds, k)
		}
		line := "path: " + f.Path
		if f.Prefix != "" {
			line += "  # the value is " + f.Prefix + "<image>"
		}
		lines[k] = append(lines[k], line)
	}
	for _, k := range kinds {
		key := k.group + "\n" + strings.Join(lines[k], "\n")
		g := byKey[key]
		if g == nil {
			g = &group{key: key, lines: lines[k]}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.kinds = append(g.kinds, k.kind)
	}
	for _, g := range groups {
		groupName, _, _ := strings.Cut(g.key, "\n")
		fmt.Fprintf(&b, "# - group: %s\n#   kinds: %s\n", groupName, strings.Join(g.kinds, ", "))
		for _, l := range g.lines {
			b.WriteString("#   " + l + "\n")
		}
	}
	return b.String()
}
