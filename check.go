package main

import (
	"fmt"

	"github.com/spf13/cobra"
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
that every version's tarball is present and matches its SHA-1, and that
nothing else is there. With --database and --blobs, the same of the
PostgreSQL database and the S3 bucket (objects under tarballs/). Exits non-zero on damage. Leftovers of a publish
interrupted by a crash (a temporary upload, a tarball no version names)
are listed but are not damage: serve removes them when it starts. With
--repair, leftovers and files the registry did not write are removed; a
missing or damaged tarball cannot be repaired and still fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := openData(cmd, data)
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
				switch {
				case p.Repair:
					fmt.Fprintf(out, "removed: %s: %s\n", p.Path, p.What)
				case p.Leftover:
					fmt.Fprintf(out, "leftover: %s (%s; serve removes it at start, check --repair now)\n", p.Path, p.What)
				default:
					fmt.Fprintf(out, "problem: %s: %s\n", p.Path, p.What)
					unrepaired++
				}
			}
			if unrepaired > 0 {
				return fmt.Errorf("check found %d problem(s)", unrepaired)
			}
			fmt.Fprintln(out, "ok")
			return nil
		},
	}
	dataFlag(cmd, &data)
	cmd.Flags().BoolVar(&repair, "repair", false, "remove leftovers and files the registry did not write")
	return cmd
}
