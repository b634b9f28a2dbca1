// Package blobs keeps the registry's tarballs, named by their SHA-1: in
// the data folder (Dir, the default) or in an S3-compatible bucket (S3).
// A blob, once stored, never changes, so that a stored version's tarball
// stays what its row says; a name is never built from user input. The
// storage implementations (store, postgres) write a blob, verified,
// before the row that names it commits.
package blobs

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
)

// Store keeps tarballs by SHA-1 (lowercase hex).
type Store interface {
	// Put stores data under sum, its SHA-1, and verifies what was stored.
	// created is false when a blob of that name was there already: a
	// failed publish must then leave it, since a stored version may name
	// it.
	Put(ctx context.Context, sum string, data []byte) (created bool, err error)
	// Get returns the blob; registry.ErrDamaged when it is missing or does
	// not match sum.
	Get(ctx context.Context, sum string) ([]byte, error)
	// Remove deletes a blob: one that Put created for a publish that
	// failed, or that of a removed version.
	Remove(ctx context.Context, sum string) error
	// Verify checks one stored version's blob: what is "" when it is
	// there and matches sum; where names it for the operator.
	Verify(ctx context.Context, sum string) (where, what string, err error)
	// Sweep lists what lies beside the blobs that known names (leftovers
	// of interrupted publishes, things the registry never writes) and
	// removes each that remove says to. The caller makes sure that no
	// publish is under way meanwhile (see store.DB.Check).
	Sweep(ctx context.Context, known map[string]bool, remove func(Problem) bool) ([]Problem, error)
	// Ready reports whether the store can take a new blob now (for
	// /readyz): problem is a short reason fit for anyone to read, err the
	// details for the log.
	Ready(ctx context.Context) (problem string, err error)
	// String says where the blobs are, for logs and check.
	String() string
}

// Problem is one thing a check found: damage, or a leftover.
type Problem struct {
	Path string // file, object or table the problem is about
	What string
	// Leftover marks a file that a process which is gone left behind: the
	// temporary upload, or the renamed tarball, of a publish killed before
	// its row committed. It holds nothing a 201 promised, so it is not
	// damage; serve removes it at start.
	Leftover bool
	Repair   bool // the file was removed
}

// Options tune Open.
type Options struct {
	// NoSync skips fsync in a folder (benchmark data only).
	NoSync bool
}

// Open opens the blob store a --blobs URL names: "" for the data folder
// dir, or s3://BUCKET?endpoint=http://HOST:PORT&region=R (see OpenS3).
func Open(ctx context.Context, rawURL, dir string, opt Options) (Store, error) {
	if rawURL == "" {
		return OpenDir(dir, opt.NoSync)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("--blobs: %w", err)
	}
	switch u.Scheme {
	case "s3":
		return OpenS3(ctx, u)
	}
	return nil, fmt.Errorf("--blobs %q: use s3://BUCKET?endpoint=... or leave it empty for the data folder", redact(u))
}

// redact drops anything secret-looking from a URL before it is shown.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	return c.String()
}

// SHA1 is the lowercase hex SHA-1 of b, the name of its blob.
func SHA1(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// IsSHA1 reports whether s is a blob name: 40 lowercase hex digits.
func IsSHA1(s string) bool {
	if len(s) != 40 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}
