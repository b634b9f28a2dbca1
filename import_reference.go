package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/nessemble/nessemble-registry/reference"
	"github.com/nessemble/nessemble-registry/registry"
)

func newImportReferenceCmd() *cobra.Command {
	var (
		data   string
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "import-reference PATH",
		Short: "Replace the reference documentation with a folder or tar.gz of one",
		Long: `Replace the reference served at /reference with the tree at PATH, a folder
or a .tar.gz of one, in one transaction: if anything in it is refused, the
current reference stays as it is. The format is described in the README.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			entries, err := reference.LoadPath(args[0])
			if err != nil {
				return err
			}
			core, closeData, err := openRegistry(cmd, data)
			if err != nil {
				return err
			}
			defer closeData()
			change, err := core.ImportReference(cmd.Context(), entries, dryRun)
			if err != nil {
				return err
			}
			printImport(cmd.OutOrStdout(), change, len(entries), dryRun)
			return nil
		},
	}
	dataFlag(cmd, &data)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would change and change nothing")
	return cmd
}

// printImport lists what an import changes, a line a path, and sums it up.
func printImport(out io.Writer, c registry.ReferenceChange, entries int, dryRun bool) {
	for _, l := range []struct {
		mark  string
		paths []string
	}{{"+", c.Added}, {"~", c.Changed}, {"-", c.Removed}} {
		for _, p := range l.paths {
			fmt.Fprintln(out, l.mark, p)
		}
	}
	verb := "imported"
	if dryRun {
		verb = "would import"
	}
	fmt.Fprintf(out, "%s %d entries: %d added, %d changed, %d removed\n", verb, entries, len(c.Added), len(c.Changed), len(c.Removed))
}
