package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nessemble/nessemble-registry/store"
)

func newCheckCmd() *cobra.Command {
	var (
		data   string
		repair bool
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Verify the data folder: schema, tarballs and their SHA-1, leftover files",
		Long: `Verify the data folder: the schema version, SQLite's consistency check,
that every version's tarball is present and matches its SHA-1, and that no
orphaned or temporary files are left behind. Exits non-zero on any
problem. With --repair, orphaned and temporary files are removed; a
missing or damaged tarball cannot be repaired and still fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := store.Open(cmd.Context(), data)
			if err != nil {
				return err
			}
			defer db.Close()
			probs, err := db.Check(cmd.Context(), repair)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			unrepaired := 0
			for _, p := range probs {
				mark := "problem"
				if p.Repair {
					mark = "removed"
				} else {
					unrepaired++
				}
				fmt.Fprintf(out, "%s: %s: %s\n", mark, p.Path, p.What)
			}
			if unrepaired > 0 {
				return fmt.Errorf("check found %d problem(s)", unrepaired)
			}
			fmt.Fprintln(out, "ok")
			return nil
		},
	}
	dataFlag(cmd, &data)
	cmd.Flags().BoolVar(&repair, "repair", false, "remove orphaned and temporary files")
	return cmd
}
