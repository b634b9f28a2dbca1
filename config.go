package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envPrefix begins the environment variable of every serve flag.
const envPrefix = "NESSEMBLE_REGISTRY_"

// envName is the environment variable of a flag: --rate-limit is
// NESSEMBLE_REGISTRY_RATE_LIMIT.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// flagsFromEnv sets every flag of cmd that the command line left alone
// from its environment variable, if that is set and not empty (an
// EnvironmentFile= line "NAME=" means "not set"). It returns the flags
// so set. A secret never comes through a flag's value: the SMTP
// password has its own variable, or a file named by a flag.
func flagsFromEnv(cmd *cobra.Command) (fromEnv []string, err error) {
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		name := envName(f.Name)
		v := os.Getenv(name)
		if v == "" {
			return
		}
		if e := f.Value.Set(v); e != nil {
			err = fmt.Errorf("%s=%q (for --%s): %v", name, v, f.Name, e)
			return
		}
		fromEnv = append(fromEnv, f.Name)
	})
	return fromEnv, err
}

// effectiveSettings is the configuration serve logs at start: every flag's
// value, which of them came from the environment, and whether an SMTP
// password is set, never the password.
func effectiveSettings(cmd *cobra.Command, fromEnv []string, smtpPassword bool) []any {
	var attrs []any
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" {
			return
		}
		attrs = append(attrs, slog.String(f.Name, f.Value.String()))
	})
	pw := "unset"
	if smtpPassword {
		pw = "set"
	}
	return append(attrs, slog.String("smtp-password", pw), slog.String("from-env", strings.Join(fromEnv, ",")))
}
