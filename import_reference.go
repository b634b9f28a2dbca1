package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/nessemble/nessemble-registry/reference"
	"github.com/nessemble/nessemble-registry/store"
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
			db, err := store.Open(cmd.Context(), data)
			if err != nil {
				return err
			}
			defer db.Close()
			return importReference(cmd.Context(), db, entries, dryRun, cmd.OutOrStdout())
		},
	}
	dataFlag(cmd, &data)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would change and change nothing")
	return cmd
}

func importReference(ctx context.Context, db *store.DB, entries []reference.Entry, dryRun bool, out io.Writer) error {
	stored, err := db.Reference(ctx)
	if err != nil {
		return err
	}
	old := make([]reference.Entry, len(stored))
	for i, e := range stored {
		old[i] = reference.Entry{Path: e.Path, Text: e.Text}
	}
	added, changed, removed := reference.Diff(old, entries)
	for _, l := range []struct {
		mark  string
		paths []string
	}{{"+", added}, {"~", changed}, {"-", removed}} {
		for _, p := range l.paths {
			fmt.Fprintln(out, l.mark, p)
		}
	}
	verb := "imported"
	if dryRun {
		verb = "would import"
	}
	fmt.Fprintf(out, "%s %d entries: %d added, %d changed, %d removed\n", verb, len(entries), len(added), len(changed), len(removed))
	if dryRun {
		return nil
	}
	return db.ReplaceReference(ctx, toStore(entries))
}

func toStore(entries []reference.Entry) []store.RefEntry {
	out := make([]store.RefEntry, len(entries))
	for i, e := range entries {
		out[i] = store.RefEntry{Path: e.Path, Text: e.Text}
	}
	return out
}

// loadDefaultReference stores the embedded reference when the registry
// has none yet, so a fresh registry answers `nessemble reference` at once.
func loadDefaultReference(ctx context.Context, db *store.DB) error {
	if db.ReferenceGeneration() > 0 {
		return nil
	}
	entries, err := reference.Load(reference.Default())
	if err != nil {
		return fmt.Errorf("embedded reference: %w", err)
	}
	return db.ReplaceReference(ctx, toStore(entries))
}
