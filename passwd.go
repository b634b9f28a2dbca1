package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nessemble/nessemble-registry/registry"
)

// newPasswdCmd is the operator's password reset: the way to help a user
// when the registry cannot send email.
func newPasswdCmd() *cobra.Command {
	var (
		data          string
		passwordStdin bool
	)
	cmd := &cobra.Command{
		Use:   "passwd USERNAME",
		Short: "Set a user's password and log the user out everywhere",
		Long: `Set a new password for USERNAME (or the user with that email address),
asked twice without echo on a terminal or read from the first line of
standard input with --password-stdin. Every login token of the user is
revoked and any pending password reset is cancelled.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			core, closeData, err := openRegistry(cmd, data)
			if err != nil {
				return err
			}
			defer closeData()
			ctx := cmd.Context()
			// Find the user before asking for a password a typo would waste.
			u, err := core.UserByLogin(ctx, args[0])
			if errors.Is(err, registry.ErrNotFound) {
				return fmt.Errorf("no user %s", args[0])
			}
			if err != nil {
				return err
			}
			password, err := readNewPassword(cmd, passwordStdin)
			if err != nil {
				return err
			}
			if err := core.SetPassword(ctx, u, password); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password of %s changed; the user was logged out everywhere\n", u.Username)
			return nil
		},
	}
	dataFlag(cmd, &data)
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	return cmd
}

// passwordFile is a flag naming a file that holds a password: setting the
// flag reads the file into *p, so the secret stays off the command line
// and out of the process list.
type passwordFile struct {
	p    *string
	path string // shown by String, as the configuration serve logs
}

func (f *passwordFile) String() string { return f.path }

func (f *passwordFile) Type() string { return "file" }

func (f *passwordFile) Set(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" || strings.ContainsAny(pw, "\r\n") {
		return fmt.Errorf("%s must hold the password on one line", path)
	}
	*f.p, f.path = pw, path
	return nil
}
