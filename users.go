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
	"github.com/nessemble/nessemble-registry/registry"
)

func newAddUserCmd() *cobra.Command {
	var (
		data, email, name, csvFile string
		passwordStdin              bool
	)
	cmd := &cobra.Command{
		Use:   "adduser USERNAME --email E | adduser --csv FILE",
		Short: "Create a user, or a class of users from a CSV file (the operator's way in, and the only one when sign-up is closed)",
		Long: `Create one user, USERNAME, asking for the password; or, with --csv FILE,
every user of a CSV file at once. Its rows are username,email,name and an
optional password, with or without a header line naming those columns.
Where a row has no password a readable one is generated, and the list of
usernames and passwords is printed once. All or nothing: one bad row
(named by its line) creates no account.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if csvFile != "" {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if csvFile != "" {
				if email != "" || name != "" || passwordStdin {
					return errors.New("--csv takes every account from the file: leave out --email, --name and --password-stdin")
				}
				return addUsersCSV(cmd, data, csvFile)
			}
			if email == "" {
				return errors.New("--email is required")
			}
			username := args[0]
			if strings.TrimSpace(name) == "" {
				name = username
			}
			// Before asking for a password that a typo here would waste.
			if err := registry.CheckUser(strings.TrimSpace(name), username, email); err != nil {
				return err
			}
			password, err := readNewPassword(cmd, passwordStdin)
			if err != nil {
				return err
			}
			core, closeData, err := openRegistry(cmd, data)
			if err != nil {
				return err
			}
			defer closeData()
			if _, err := core.CreateUser(cmd.Context(), registry.NewUser{Name: name, Username: username, Email: email, Password: password}); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "created user", username)
			return nil
		},
	}
	dataFlag(cmd, &data)
	cmd.Flags().StringVar(&email, "email", "", "email address (required without --csv)")
	cmd.Flags().StringVar(&name, "name", "", "display name (default: the username)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	cmd.Flags().StringVar(&csvFile, "csv", "", "create every account of this CSV file (username,email,name[,password] rows), or none")
	return cmd
}

// readNewPassword asks for a password twice without echo on a terminal,
// or reads one line of stdin with --password-stdin; the registry checks
// it against the password rule.
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
	return pw, nil
}
