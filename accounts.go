package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nessemble/nessemble-registry/registry"
)

func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "List, disable and enable accounts",
	}
	var listData string
	list := &cobra.Command{
		Use:   "list",
		Short: "List every account",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			core, closeData, err := openRegistry(cmd, listData)
			if err != nil {
				return err
			}
			defer closeData()
			us, err := core.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "USERNAME\tEMAIL\tNAME\tCREATED\tSTATE")
			for _, u := range us {
				state := "active"
				if u.Disabled {
					state = "disabled"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", u.Username, u.Email, u.Name, u.Created.UTC().Format("2006-01-02"), state)
			}
			return w.Flush()
		},
	}
	dataFlag(list, &listData)
	toggle := func(disable bool) *cobra.Command {
		var data string
		use, short := "disable NAME", "Disable an account: it cannot log in, every token of it is revoked at once, its packages stay"
		if !disable {
			use, short = "enable NAME", "Enable a disabled account again (its user logs in anew)"
		}
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				core, closeData, err := openRegistry(cmd, data)
				if err != nil {
					return err
				}
				defer closeData()
				u, err := core.SetDisabled(cmd.Context(), args[0], disable)
				if err != nil {
					return err
				}
				if disable {
					fmt.Fprintf(cmd.OutOrStdout(), "disabled %s: it cannot log in and every token of it is revoked; its packages stay\n", u.Username)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "enabled %s: it can log in again\n", u.Username)
				}
				return nil
			},
		}
		dataFlag(c, &data)
		return c
	}
	cmd.AddCommand(list, toggle(true), toggle(false))
	return cmd
}

// maxCSVBytes bounds the file of adduser --csv: 500 rows of
// username,email,name,password fit in well under it.
const maxCSVBytes = 256 << 10

// csvColumns are the columns of adduser --csv, which its optional header
// line names.
var csvColumns = []string{"username", "email", "name", "password"}

// readUsersCSV reads adduser --csv's file: rows username,email,name and
// an optional password, with or without a header line naming those
// columns. lines gives each account's line in the file.
func readUsersCSV(path string) (batch []registry.NewUser, lines []int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxCSVBytes+1))
	if err != nil {
		return nil, nil, err
	}
	if len(data) > maxCSVBytes {
		return nil, nil, fmt.Errorf("%s: larger than %d KiB; split it", path, maxCSVBytes>>10)
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(data), "\uFEFF")))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	for first := true; ; first = false {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		if first && isCSVHeader(rec) {
			continue
		}
		if len(rec) < 3 || len(rec) > 4 {
			return nil, nil, fmt.Errorf("%s: line %d: %d columns; want username,email,name[,password]", path, line, len(rec))
		}
		if len(batch) == registry.MaxBatchUsers {
			return nil, nil, fmt.Errorf("%s: more than %d accounts; split it", path, registry.MaxBatchUsers)
		}
		n := registry.NewUser{Username: strings.TrimSpace(rec[0]), Email: strings.TrimSpace(rec[1]), Name: rec[2]}
		if len(rec) == 4 {
			n.Password = rec[3] // as written: spaces may be part of it
		}
		batch = append(batch, n)
		lines = append(lines, line)
	}
	if len(batch) == 0 {
		return nil, nil, fmt.Errorf("%s: no accounts in it", path)
	}
	return batch, lines, nil
}

// isCSVHeader reports whether a first row names the columns.
func isCSVHeader(rec []string) bool {
	if len(rec) < 3 || len(rec) > len(csvColumns) {
		return false
	}
	for i, c := range rec {
		if !strings.EqualFold(strings.TrimSpace(c), csvColumns[i]) {
			return false
		}
	}
	return true
}

// addUsersCSV is adduser --csv: every account of the file, or none.
func addUsersCSV(cmd *cobra.Command, data, path string) error {
	batch, lines, err := readUsersCSV(path)
	if err != nil {
		return err
	}
	core, closeData, err := openRegistry(cmd, data)
	if err != nil {
		return err
	}
	defer closeData()
	created, passwords, err := core.CreateUsers(cmd.Context(), batch)
	var be *registry.BatchError
	if errors.As(err, &be) {
		return fmt.Errorf("%s: line %d: %v; no account was created", path, lines[be.Index], be.Err)
	}
	if err != nil {
		return fmt.Errorf("%v; no account was created", err)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "created %d users. Hand each their password; it is shown only this once:\n", len(created))
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "USERNAME\tPASSWORD")
	for i, u := range created {
		pw := passwords[i]
		if pw == "" {
			pw = "(as given in the file, line " + strconv.Itoa(lines[i]) + ")"
		}
		fmt.Fprintf(w, "%s\t%s\n", u.Username, pw)
	}
	return w.Flush()
}
