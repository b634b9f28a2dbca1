package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/nessemble/nessemble-registry/mirror"
	"github.com/nessemble/nessemble-registry/registry"
)

func newExportCmd() *cobra.Command {
	var (
		data  string
		since int64
	)
	cmd := &cobra.Command{
		Use:   "export FILE",
		Short: "Write every package version and the reference to one bundle file, for a machine with no network",
		Long: `Write a bundle: one tar file holding every package version (its tarball and
metadata), the reference documentation and the change-log serial it reflects.
With --since SERIAL, only what changed after that serial (an incremental
bundle; the serial of a bundle is printed when it is written or imported).
Load it elsewhere with import. The file appears only once it is complete.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if since < 0 {
				return fmt.Errorf("--since %d: give a serial of 0 or more", since)
			}
			core, closeData, err := openRegistry(cmd, data)
			if err != nil {
				return err
			}
			defer closeData()
			file := args[0]
			tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*.tmp")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name()) // gone once renamed
			sum, err := mirror.Export(cmd.Context(), core, tmp, since)
			if err == nil {
				err = tmp.Sync()
			}
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(tmp.Name(), file)
			}
			if err != nil {
				return err
			}
			ref := ""
			if sum.Reference {
				ref = " and the reference"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exported %d versions (%s)%s to %s: changes after serial %d up to serial %d; next time: export --since %d\n",
				sum.Versions, byteSize(sum.Bytes), ref, file, sum.Since, sum.Serial, sum.Serial)
			if sum.Removals > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "the bundle carries %d removals: an import removes those versions and packages too\n", sum.Removals)
			}
			return nil
		},
	}
	dataFlag(cmd, &data)
	cmd.Flags().Int64Var(&since, "since", 0, "write only what changed after this change-log serial")
	return cmd
}

func newImportCmd() *cobra.Command {
	var data string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Load a bundle written by export into the data folder",
		Long: `Load a bundle written by export: every version is verified as a mirror
run verifies it (SHA-1, the publish rules) and stored byte for byte; versions
already here are left as they are, a version stored here with another SHA-1
and packages published here are reported and never overwritten. Importing
the same bundle twice changes nothing. Exits non-zero when something was
skipped.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			db, err := openData(cmd, data)
			if err != nil {
				return err
			}
			defer db.Close()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			removeLeftovers(cmd.Context(), db, log)
			core := registry.New(db, registry.Config{}, nil, log)
			sum, err := mirror.Import(cmd.Context(), core, f)
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "imported %s (serial %d of its registry): %d new packages, %d new versions, %d present\n",
				args[0], sum.Serial, sum.NewPackages, sum.NewVersions, sum.Present)
			if sum.Reference {
				fmt.Fprintln(out, "reference documentation replaced")
			}
			if sum.Moderated > 0 {
				fmt.Fprintf(out, "applied %d yanks, unyanks and removals of the bundle's registry\n", sum.Moderated)
			}
			for _, k := range sum.Skipped {
				fmt.Fprintf(out, "skipped: %s: %s\n", k.What, k.Why)
			}
			if err != nil {
				return err
			}
			if n := len(sum.Skipped); n > 0 {
				return fmt.Errorf("%d skipped", n)
			}
			return nil
		},
	}
	dataFlag(cmd, &data)
	return cmd
}
