package cmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

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
Built-in presets: ` + strings.Join(rules.Presets(), ", ") + `.`,
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
			_, err = fmt.Fprint(cmd.OutOrStdout(), string(out))
			return err
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
