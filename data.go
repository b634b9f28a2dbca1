package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nessemble/nessemble-registry/blobs"
	"github.com/nessemble/nessemble-registry/postgres"
	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/store"
)

// dataStore is what the commands need of either backend.
type dataStore interface {
	registry.Storage
	Check(ctx context.Context, repair bool) ([]blobs.Problem, error)
	RemoveLeftovers(ctx context.Context) ([]blobs.Problem, error)
	Blobs() blobs.Store
	Ping(ctx context.Context) error
	Ready(ctx context.Context) (problem string, err error)
	Stats(ctx context.Context) (registry.Stats, error)
	Close() error
}

var (
	_ dataStore = (*store.DB)(nil)
	_ dataStore = (*postgres.DB)(nil)
)

// backend is where the registry's data is: a database and a blob store.
type backend struct {
	database string // "sqlite" (in the data folder) or postgres://...
	blobs    string // "" (the data folder) or s3://...
}

// backendFlags binds --database and --blobs, with their environment
// forms as defaults.
func backendFlags(cmd *cobra.Command) {
	db := os.Getenv("NESSEMBLE_REGISTRY_DATABASE")
	if db == "" {
		db = "sqlite"
	}
	cmd.Flags().String("database", db, "sqlite (the file in the data folder) or postgres://USER@HOST:PORT/DB; a password goes in PGPASSWORD, ~/.pgpass or NESSEMBLE_REGISTRY_DATABASE, never in the flag (env NESSEMBLE_REGISTRY_DATABASE)")
	cmd.Flags().String("blobs", os.Getenv("NESSEMBLE_REGISTRY_BLOBS"), "where tarballs are kept: empty for the data folder, or s3://BUCKET?endpoint=http://HOST:PORT&region=R (https for TLS; credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or ~/.aws/credentials) (env NESSEMBLE_REGISTRY_BLOBS)")
}

// backendOf reads the flags backendFlags bound.
func backendOf(cmd *cobra.Command) (backend, error) {
	f := cmd.Flags()
	var b backend
	b.database, _ = f.GetString("database")
	b.blobs, _ = f.GetString("blobs")
	// Flags' values are seen by every user of the machine (ps): a
	// password in --database is refused, one in the environment is fine.
	if f.Changed("database") {
		if u, err := url.Parse(b.database); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				return b, errors.New("--database: put the password in PGPASSWORD, ~/.pgpass or NESSEMBLE_REGISTRY_DATABASE, not on the command line")
			}
		}
	}
	return b, nil
}

// openData opens the data a command's flags name.
func openData(cmd *cobra.Command, dir string) (dataStore, error) {
	b, err := backendOf(cmd)
	if err != nil {
		return nil, err
	}
	return b.open(cmd.Context(), dir)
}

func (b backend) kind() string {
	if b.isPostgres() {
		return "postgres"
	}
	return "sqlite"
}

func (b backend) isPostgres() bool {
	return strings.HasPrefix(b.database, "postgres://") || strings.HasPrefix(b.database, "postgresql://")
}

// open opens the backend; dir is the data folder, which holds the SQLite
// file and, unless --blobs names a bucket, the tarballs.
func (b backend) open(ctx context.Context, dir string) (dataStore, error) {
	if b.database != "" && b.database != "sqlite" && !b.isPostgres() {
		return nil, fmt.Errorf("--database: use sqlite or a postgres:// URL")
	}
	var bs blobs.Store
	if b.blobs != "" || b.isPostgres() {
		var err error
		if bs, err = blobs.Open(ctx, b.blobs, dir, blobs.Options{}); err != nil {
			return nil, err
		}
	}
	if b.isPostgres() {
		return postgres.Open(ctx, b.database, bs)
	}
	return store.OpenWith(ctx, dir, store.Options{Blobs: bs})
}
