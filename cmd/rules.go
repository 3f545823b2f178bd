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
in the syntax of spec.imageFields; the container variables read as
images; how fields are found by name, and the kinds where they are not.`,
		Example: `  # Start a rules file of your own from the default
  kmirror rules > my-rules.yaml

  # Check a rules file
  kmirror rules --rules my-rules.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			eng, err := o.Load(cmd.ErrOrStderr())
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
// being told, as YAML comments, with paths in the syntax of
// spec.imageFields.
func builtinFieldsComment() string {
	var b strings.Builder
	b.WriteString("# Built-in image fields, read besides spec.imageFields:\n")
	b.WriteString("# - in every object, the pod specs and parts of pod specs, anywhere outside\n")
	b.WriteString("#   metadata: " + strings.Join(manifest.PodSpecFields, ", ") + "\n")
	for _, set := range manifest.BuiltinFieldSets() {
		fmt.Fprintf(&b, "# - group: %s\n#   kinds: %s\n", set.Group, strings.Join(set.Kinds, ", "))
		for _, p := range set.Paths {
			b.WriteString("#   path: " + p)
			if set.Prefix != "" {
				b.WriteString("  # the value is " + set.Prefix + "<image>")
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("# - in every container of a pod spec, the value of each variable RELATED_IMAGE_*\n")
	b.WriteString("#   of env, besides those spec.imageValues names\n")
	b.WriteString("#\n# Found by name, unless --no-infer or an entry \"- exclude: true\" turns it off:\n")
	b.WriteString("# in every object with an apiVersion and a kind, a key \"image\" or \"imageName\"\n")
	b.WriteString("# whose value parses as an image (in a container's shape; elsewhere, one with a\n")
	b.WriteString("# tag, a digest or a registry host), and \"image: {reference: ...}\"; outside\n")
	b.WriteString("# metadata, status, labels, annotations, \"output\" and Helm \"values\", and\n# outside these kinds:\n")
	for _, set := range manifest.ExclusionSets() {
		b.WriteString("# - " + set.Why + ":\n")
		line := "#  "
		for i, k := range set.Kinds {
			name := k.Group
			if k.Kind != "" {
				name += " " + k.Kind
			}
			if i < len(set.Kinds)-1 {
				name += ","
			}
			if len(line)+1+len(name) > 80 {
				b.WriteString(line + "\n")
				line = "#  "
			}
			line += " " + name
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}
