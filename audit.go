package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nessemble/nessemble-registry/registry"
)

func newAuditCmd() *cobra.Command {
	var (
		data   string
		since  time.Duration
		q      registry.AuditQuery
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "audit [--since DURATION] [--user NAME] [--package NAME] [--json]",
		Short: "Print the audit trail: who did what, from where, when",
		Long: `Print the audit trail, oldest first: every publish, yank, unyank, removal,
owner change, account creation, disable and enable, password change and
reset, and login lockout, with who did it (a username, or operator:NAME
for a command), from which address and when (UTC). --user selects what a
user did or what was done to the account; --json prints one JSON object a
line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("since") {
				if since <= 0 {
					return errors.New("--since: give a duration above zero, as in 24h or 30m")
				}
				q.Since = time.Now().Add(-since)
			}
			core, closeData, err := openRegistry(cmd, data)
			if err != nil {
				return err
			}
			defer closeData()
			es, err := core.Audit(cmd.Context(), q)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetEscapeHTML(false)
				for _, e := range es {
					if err := enc.Encode(auditJSON{e.At.UTC().Format(time.RFC3339Nano), e.Actor, e.Addr, e.Action,
						e.Package, e.Version, e.Subject, e.Detail}); err != nil {
						return err
					}
				}
				return nil
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TIME\tACTOR\tADDRESS\tACTION\tPACKAGE\tVERSION\tACCOUNT\tDETAIL")
			for _, e := range es {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format(time.RFC3339), dash(e.Actor), e.Addr,
					e.Action, dash(e.Package), dash(e.Version), dash(e.Subject), e.Detail)
			}
			return w.Flush()
		},
	}
	dataFlag(cmd, &data)
	f := cmd.Flags()
	f.DurationVar(&since, "since", 0, "only what happened in this last while, as in 24h")
	f.StringVar(&q.User, "user", "", "only what this user did, or what was done to the account")
	f.StringVar(&q.Package, "package", "", "only what concerns this package")
	f.BoolVar(&asJSON, "json", false, "one JSON object a line")
	return cmd
}

// auditJSON is an audit event as --json prints it.
type auditJSON struct {
	At      string `json:"at"`
	Actor   string `json:"actor"`
	Addr    string `json:"addr"`
	Action  string `json:"action"`
	Package string `json:"package,omitempty"`
	Version string `json:"version,omitempty"`
	Subject string `json:"account,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// dash stands for an empty column, so that the columns stay apart.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
