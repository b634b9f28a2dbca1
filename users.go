package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/nessemble/nessemble-registry/auth"
	"github.com/nessemble/nessemble-registry/store"
)

func newAddUserCmd() *cobra.Command {
	var (
		data, email, name string
		passwordStdin     bool
	)
	cmd := &cobra.Command{
		Use:   "adduser USERNAME",
		Short: "Create a user (the operator's way in, and the only one when sign-up is closed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			username := args[0]
			name = strings.TrimSpace(name) // as POST /user/create does
			if name == "" {
				name = username
			}
			for _, err := range []error{auth.ValidateUsername(username), auth.ValidateEmail(email), auth.ValidateName(name)} {
				if err != nil {
					return err
				}
			}
			hash, err := newPasswordHash(cmd, passwordStdin)
			if err != nil {
				return err
			}
			db, err := store.Open(cmd.Context(), data)
			if err != nil {
				return err
			}
			defer db.Close()
			_, err = db.CreateUser(cmd.Context(), store.User{Username: username, Email: email, Name: name, PasswordHash: hash})
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("user %s or email %s already exists", username, email)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "created user", username)
			return nil
		},
	}
	dataFlag(cmd, &data)
	cmd.Flags().StringVar(&email, "email", "", "email address (required)")
	cmd.Flags().StringVar(&name, "name", "", "display name (default: the username)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	cmd.MarkFlagRequired("email")
	return cmd
}

// newPasswordHash reads a new password (see readNewPassword) and returns
// its hash.
func newPasswordHash(cmd *cobra.Command, fromStdin bool) (string, error) {
	pw, err := readNewPassword(cmd, fromStdin)
	if err != nil {
		return "", err
	}
	return auth.HashPassword(pw)
}

// readNewPassword asks for a password twice without echo on a terminal,
// or reads one line of stdin with --password-stdin, and checks the rule.
func readNewPassword(cmd *cobra.Command, fromStdin bool) (string, error) {
	in := cmd.InOrStdin()
	var pw string
	if fromStdin {
		line, err := bufio.NewReader(io.LimitReader(in, auth.MaxPasswordBytes+2)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		pw = strings.TrimRight(line, "\r\n")
	} else {
		f, ok := in.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return "", errors.New("no terminal to ask for the password on: use --password-stdin")
		}
		out := cmd.ErrOrStderr()
		fmt.Fprint(out, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(out)
		if err != nil {
			return "", err
		}
		fmt.Fprint(out, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(out)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		pw = string(a)
	}
	return pw, auth.ValidatePassword(pw)
}
