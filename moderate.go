package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nessemble/nessemble-registry/registry"
)

// The operator's commands on packages: yank, unyank, owner, remove. They
// act as the operator, who may act on every package (registry.Actor),
// and can run while serve runs: the change log brings a running server
// up to them within a second.

func newYankCmd(yank bool) *cobra.Command {
	var data string
	use, short := "yank NAME VERSION", "Yank a version: no longer the newest, still installable as NAME@VERSION"
	if !yank {
		use, short = "unyank NAME VERSION", "Undo a yank: the version counts as a release again"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			core, closeData, err := openRegistry(cmd, data)
			if err != nil {
				return err
			}
			defer closeData()
			p, err := core.Yank(cmd.Context(), registry.OperatorActor, args[0], args[1], yank)
			if err != nil {
				return err
			}
			done := "yanked"
			if !yank {
				done = "unyanked"
			}
			out := cmd.OutOrStdout()
			if p.Latest == "" {
				fmt.Fprintf(out, "%s %s %s; every version of %s is yanked or removed, so only installs by number work\n",
					done, p.Title, args[1], p.Title)
				return nil
			}
			fmt.Fprintf(out, "%s %s %s; install %s now gets %s\n", done, p.Title, args[1], p.Title, p.Latest)
			return nil
		},
	}
	dataFlag(cmd, &data)
	return cmd
}

func newOwnerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "owner",
		Short: "List and change the owners of a package, who may publish and yank it",
	}
	change := func(add bool) *cobra.Command {
		var data string
		use, short := "add NAME USER", "Make USER an owner of package NAME"
		if !add {
			use, short = "remove NAME USER", "Remove USER from the owners of package NAME (never the last one)"
		}
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				core, closeData, err := openRegistry(cmd, data)
				if err != nil {
					return err
				}
				defer closeData()
				title, owners, err := core.ChangeOwner(cmd.Context(), registry.OperatorActor, args[0], args[1], add)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "owners of %s: %s\n", title, strings.Join(owners, ", "))
				return nil
			},
		}
		dataFlag(c, &data)
		return c
	}
	var data string
	list := &cobra.Command{
		Use:   "list NAME",
		Short: "List the owners of package NAME, one a line, in the order they were added",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			core, closeData, err := openRegistry(cmd, data)
			if err != nil {
				return err
			}
			defer closeData()
			_, owners, err := core.Owners(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			for _, o := range owners {
				fmt.Fprintln(cmd.OutOrStdout(), o)
			}
			return nil
		},
	}
	dataFlag(list, &data)
	cmd.AddCommand(change(true), change(false), list)
	return cmd
}

func newRemoveCmd() *cobra.Command {
	var data, reason string
	cmd := &cobra.Command{
		Use:   "remove NAME[@VERSION] --reason TEXT",
		Short: "Remove a version, or a whole package, for good (malware, a legal demand)",
		Long: `Remove one version of a package (NAME@VERSION), or the package with every
version (NAME). The tarballs are deleted; reads answer 410 Gone with the
reason (the nessemble client gets 404, the status it understands); and
nothing is ever published again under that title and version (under that
title at all, for a package), not even the same content. For a mistake of
an author's, yank instead.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			title, version, pinned := strings.Cut(args[0], "@")
			if pinned && version == "" {
				// Not the whole package by a slip of the keyboard.
				return fmt.Errorf("%s: name the version after @, or leave out @ to remove the whole package", args[0])
			}
			core, closeData, err := openRegistry(cmd, data)
			if err != nil {
				return err
			}
			defer closeData()
			if err := core.Remove(cmd.Context(), registry.OperatorActor, title, version, reason); err != nil {
				return err
			}
			what := "package " + title + " and every version of it"
			if version != "" {
				what = title + " " + version
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s: tarballs deleted, reads answer 410 Gone with the reason\n", what)
			return nil
		},
	}
	dataFlag(cmd, &data)
	cmd.Flags().StringVar(&reason, "reason", "", "why, shown to everyone who asks for it (required; one line, at most 200 characters)")
	cmd.MarkFlagRequired("reason")
	return cmd
}
