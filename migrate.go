package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nessemble/nessemble-registry/reference"
	"github.com/nessemble/nessemble-registry/registry"
)

func newMigrateDataCmd() *cobra.Command {
	var (
		data, toData string
		to           backend
	)
	cmd := &cobra.Command{
		Use:   "migrate-data --to-database URL [--to-blobs URL] [--to-data DIR]",
		Short: "Copy the registry's data to another backend (SQLite and files to PostgreSQL and S3, or back)",
		Long: `Copy the registry's data (users, packages with every version and tarball,
the reference) from the backend that --data, --database and --blobs name
to the one that --to-data, --to-database and --to-blobs name. Stop the
servers first: what is written to the source meanwhile may be missed.

The copy is resumable: run it again after an interruption and it copies
what is still missing; what the destination already holds must match
the source, or the command stops and says where. At the end it verifies
the destination against the source, every tarball's SHA-1 included.
Login tokens and pending password resets are not copied: users log in
again, and ask for a new reset.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, err := backendOf(cmd)
			if err != nil {
				return err
			}
			if to.database == "" {
				return errors.New("--to-database: give sqlite or a postgres:// URL")
			}
			if to.database == "sqlite" && toData == "" {
				return errors.New("--to-data: give the data folder of the SQLite destination")
			}
			if to == from && (to.database != "sqlite" || toData == data) {
				return errors.New("the destination is the source")
			}
			if toData == "" {
				toData = data
			}
			ctx := cmd.Context()
			src, err := from.open(ctx, data)
			if err != nil {
				return fmt.Errorf("source: %w", err)
			}
			defer src.Close()
			dst, err := to.open(ctx, toData)
			if err != nil {
				return fmt.Errorf("destination: %w", err)
			}
			defer dst.Close()
			if err := migrateData(ctx, src, dst, cmd.OutOrStdout()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "left out by design: the audit trail, login tokens and pending password resets")
			return nil
		},
	}
	dataFlag(cmd, &data)
	f := cmd.Flags()
	f.StringVar(&to.database, "to-database", "", "destination database: sqlite (in --to-data) or postgres://...; a password goes in PGPASSWORD or ~/.pgpass")
	f.StringVar(&to.blobs, "to-blobs", "", "destination of the tarballs: empty for the destination's data folder, or s3://BUCKET?endpoint=...")
	f.StringVar(&toData, "to-data", "", "destination data folder (SQLite, or tarballs without --to-blobs)")
	return cmd
}

// migrateData copies src to dst, skipping what dst holds already, then
// verifies dst against src. The source must not change meanwhile (the
// servers are stopped); copyData with live set copies one that does.
func migrateData(ctx context.Context, src, dst dataStore, out io.Writer) error {
	return copyData(ctx, src, dst, out, false)
}

// copyData is migrateData. With live set, src may take publishes and
// moderation while it copies (backup of a running registry): dst gets
// every user and version that src held when the copy began, each version
// whole, in the state it had when it was listed, and is verified against
// what was read from src then rather than against src's present.
func copyData(ctx context.Context, src, dst dataStore, out io.Writer, live bool) error {
	// The versions are listed before the users: every package's owner is
	// an account by then, so no copied package lacks its owner's account.
	versions, empty, err := allVersions(ctx, src)
	if err != nil {
		return err
	}
	users, err := src.ListUsers(ctx)
	if err != nil {
		return err
	}
	copied := 0
	for _, u := range users {
		have, err := dst.UserByLogin(ctx, u.Username)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			if have, err = dst.CreateUser(ctx, u); err != nil {
				return fmt.Errorf("user %s: %w", u.Username, err)
			}
			copied++
		case err != nil:
			return err
		case !sameAccount(have, u):
			return fmt.Errorf("user %s: the destination has another account of that name", u.Username)
		}
		// A disabled account stays disabled (set after its creation: a
		// run cut off in between sets it on the next).
		if have.Disabled != u.Disabled {
			if err := dst.SetDisabled(ctx, have.ID, u.Disabled); err != nil {
				return fmt.Errorf("user %s: %w", u.Username, err)
			}
		}
	}
	fmt.Fprintf(out, "users: %d copied, %d there already\n", copied, len(users)-copied)

	copied = 0
	removedMeanwhile := map[string]bool{}
	every := max(10, len(versions)/20) // a progress line every 5 %
	for i, ov := range versions {
		if i > 0 && i%every == 0 {
			fmt.Fprintf(out, "versions: %d of %d done\n", i, len(versions))
		}
		v := ov.v
		have, err := dst.Version(ctx, v.Title, v.Version)
		switch {
		case err == nil:
			if !sameRelease(have, v) {
				return fmt.Errorf("%s@%s: the destination holds another version of that number", v.Title, v.Version)
			}
		case !errors.Is(err, registry.ErrNotFound):
			return err
		default:
			tarball, err := src.Tarball(v.Shasum)
			if live && err != nil {
				// Removed since it was listed (a removal deletes the
				// tarball): the copy holds it as it was when listed if the
				// removal's change is read below, else not at all.
				if now, verr := src.Version(ctx, v.Title, v.Version); verr == nil && now.Removed {
					fmt.Fprintf(out, "%s@%s: removed while copying, left out\n", v.Title, v.Version)
					removedMeanwhile[v.Title+"@"+v.Version] = true
					continue
				}
			}
			if err != nil {
				return fmt.Errorf("%s@%s: %w", v.Title, v.Version, err)
			}
			if have, err = dst.Publish(ctx, ov.owner, v, tarball, copyRule); err != nil {
				return fmt.Errorf("%s@%s: %w", v.Title, v.Version, err)
			}
			copied++
		}
		// A yanked version stays yanked, set after its publish as the
		// disabled accounts are.
		if have.Yanked != v.Yanked {
			if _, err := dst.SetYanked(ctx, v.Title, v.Version, v.Yanked, copyRule); err != nil {
				return fmt.Errorf("%s@%s: %w", v.Title, v.Version, err)
			}
		}
	}
	fmt.Fprintf(out, "versions: %d copied, %d there already\n", copied, len(versions)-copied)
	if err := copyOwners(ctx, src, dst, titlesOf(versions)); err != nil {
		return err
	}
	carried, unknown, err := copyRemovals(ctx, src, dst)
	if err != nil {
		return err
	}
	if carried > 0 {
		fmt.Fprintf(out, "removals: %d carried over\n", carried)
	}
	if empty > 0 {
		fmt.Fprintf(out, "not copied: %d packages every version of which was removed (storage keeps no package without a version)\n", empty)
	}
	if unknown > 0 {
		// Storage gives no way to store a version without its tarball.
		fmt.Fprintf(out, "not copied: %d removed versions or packages the destination never had; it does not know that their numbers and titles were removed\n", unknown)
	}

	ref, err := src.Reference(ctx)
	if err != nil {
		return err
	}
	dref, err := dst.Reference(ctx)
	if err != nil {
		return err
	}
	if !slices.Equal(ref, dref) && (len(ref) > 0 || src.ReferenceGeneration() > 0) {
		if err := dst.ReplaceReference(ctx, ref); err != nil {
			return fmt.Errorf("reference: %w", err)
		}
		fmt.Fprintf(out, "reference: %d entries copied\n", len(ref))
	}
	if live {
		kept := versions[:0:0]
		for _, ov := range versions {
			if !removedMeanwhile[ov.v.Title+"@"+ov.v.Version] {
				kept = append(kept, ov)
			}
		}
		if err := verifyCopy(ctx, dst, users, kept, ref); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		fmt.Fprintln(out, "verified: the copy holds every user, version, tarball and reference entry read from the source")
		return nil
	}
	if err := verifyMigration(ctx, src, dst, users, versions, ref, empty); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	fmt.Fprintln(out, "verified: the destination holds every user, version, tarball and reference entry of the source")
	return nil
}

// ownedVersion is a stored version and its package's owner.
type ownedVersion struct {
	v     registry.Version
	owner string
}

// allVersions lists every version of src, oldest publish first, so that
// the destination's change log and packages grow as the source's did.
// empty counts the packages it skips: every version of them removed,
// they have nothing to copy.
func allVersions(ctx context.Context, src dataStore) (all []ownedVersion, empty int, err error) {
	const page = 100
	for off := 0; ; off += page {
		pkgs, total, err := src.ListPackages(ctx, registry.ListOptions{Offset: off, Limit: page})
		if err != nil {
			return nil, 0, err
		}
		for _, p := range pkgs {
			rels, err := src.Releases(ctx, p.Title)
			if errors.Is(err, registry.ErrNotFound) {
				empty++ // every version removed: nothing to copy
				continue
			}
			if err != nil {
				return nil, 0, fmt.Errorf("%s: %w", p.Title, err)
			}
			for _, r := range rels {
				v, err := src.Version(ctx, p.Title, r.Version)
				if err != nil {
					return nil, 0, fmt.Errorf("%s@%s: %w", p.Title, r.Version, err)
				}
				all = append(all, ownedVersion{v: v, owner: p.Owner})
			}
		}
		if off+page >= total {
			break
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].v.Published.Before(all[j].v.Published) })
	return all, empty, nil
}

// copyRule lets migrate-data's writes through, whoever the owners are by
// then (it copies what the source's rules accepted), but never over a
// removed version (the destination's unique keys refuse any other
// version stored already).
func copyRule(st registry.Stored) error {
	if st.HasVersion && st.VersionRemoved {
		return registry.ErrConflict
	}
	return nil
}

// copyOwners gives each package of the destination the source's owners,
// in the source's order as far as adding them can.
func copyOwners(ctx context.Context, src, dst dataStore, titles []string) error {
	for _, title := range titles {
		want, err := src.Owners(ctx, title)
		if err != nil {
			return fmt.Errorf("owners of %s: %w", title, err)
		}
		have, err := dst.Owners(ctx, title)
		if err != nil {
			return fmt.Errorf("owners of %s: %w", title, err)
		}
		for _, o := range want {
			if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, o) }) {
				if err := dst.SetOwner(ctx, title, o, true, copyRule); err != nil {
					return fmt.Errorf("owners of %s: %w", title, err)
				}
			}
		}
		for _, h := range have {
			if !slices.ContainsFunc(want, func(o string) bool { return strings.EqualFold(h, o) }) {
				if err := dst.SetOwner(ctx, title, h, false, copyRule); err != nil {
					return fmt.Errorf("owners of %s: %w", title, err)
				}
			}
		}
	}
	return nil
}

// copyRemovals carries the source's removals (found in its change log)
// over to the destination, for the versions and packages it holds; those
// it does not hold are counted as unknown.
func copyRemovals(ctx context.Context, src, dst dataStore) (carried, unknown int, err error) {
	for after := int64(0); ; {
		cs, err := src.ChangesSince(ctx, after, 1000)
		if err != nil {
			return 0, 0, err
		}
		if len(cs) == 0 {
			return carried, unknown, nil
		}
		after = cs[len(cs)-1].Serial
		for _, c := range cs {
			if c.Kind != registry.ChangeRemove {
				continue
			}
			var removed bool
			var reason string
			var dstErr error
			var dstRemoved bool
			if c.Version == "" {
				p, err := src.Package(ctx, c.Title)
				if err != nil {
					return 0, 0, fmt.Errorf("removal of %s: %w", c.Title, err)
				}
				removed, reason = p.Removed, p.RemovedReason
				dp, err := dst.Package(ctx, c.Title)
				dstErr, dstRemoved = err, dp.Removed
			} else {
				v, err := src.Version(ctx, c.Title, c.Version)
				if err != nil {
					return 0, 0, fmt.Errorf("removal of %s@%s: %w", c.Title, c.Version, err)
				}
				removed, reason = v.Removed, v.RemovedReason
				dv, err := dst.Version(ctx, c.Title, c.Version)
				dstErr, dstRemoved = err, dv.Removed
			}
			switch {
			case !removed || dstRemoved:
			case errors.Is(dstErr, registry.ErrNotFound):
				unknown++
			case dstErr != nil:
				return 0, 0, dstErr
			default:
				if err := dst.Remove(ctx, c.Title, c.Version, reason, copyRule); err != nil {
					return 0, 0, fmt.Errorf("removal of %s@%s: %w", c.Title, c.Version, err)
				}
				carried++
			}
		}
	}
}

// sameAccount compares what a copy of an account keeps, the account's
// state (disabled) aside.
func sameAccount(a, b registry.User) bool {
	return a.Username == b.Username && strings.EqualFold(a.Email, b.Email) && a.Name == b.Name &&
		a.PasswordHash == b.PasswordHash && a.Created.Equal(b.Created)
}

func sameUser(a, b registry.User) bool { return sameAccount(a, b) && a.Disabled == b.Disabled }

// sameRelease compares what a copy of a version keeps, its state
// (yanked) aside.
func sameRelease(a, b registry.Version) bool {
	return a.Title == b.Title && a.Version == b.Version && a.Description == b.Description &&
		a.Author == b.Author && a.License == b.License && slices.Equal(a.Tags, b.Tags) &&
		a.Readme == b.Readme && a.Shasum == b.Shasum && a.Size == b.Size && a.Published.Equal(b.Published)
}

func sameVersion(a, b registry.Version) bool { return sameRelease(a, b) && a.Yanked == b.Yanked }

// verifyMigration reads everything back from dst and compares it with
// what was read from src.
func verifyMigration(ctx context.Context, src, dst dataStore, users []registry.User, versions []ownedVersion, ref []reference.Entry, empty int) error {
	if err := verifyUsersAndReference(ctx, dst, users, ref); err != nil {
		return err
	}
	for _, ov := range versions {
		v := ov.v
		have, err := dst.Version(ctx, v.Title, v.Version)
		if err != nil || !sameVersion(have, v) {
			return fmt.Errorf("%s@%s differs: %v", v.Title, v.Version, err)
		}
		a, err := src.Tarball(v.Shasum)
		if err != nil {
			return err
		}
		b, err := dst.Tarball(v.Shasum)
		if err != nil || !bytes.Equal(a, b) {
			return fmt.Errorf("%s@%s: tarball differs: %v", v.Title, v.Version, err)
		}
	}
	for _, title := range titlesOf(versions) {
		a, errA := src.Package(ctx, title)
		b, errB := dst.Package(ctx, title)
		if errA != nil || errB != nil || a.Owner != b.Owner || a.Latest != b.Latest || a.Description != b.Description {
			return fmt.Errorf("package %s differs: %v %v", title, errA, errB)
		}
		oa, errA := src.Owners(ctx, title)
		ob, errB := dst.Owners(ctx, title)
		if errA != nil || errB != nil || !slices.EqualFunc(sortedFold(oa), sortedFold(ob), strings.EqualFold) {
			return fmt.Errorf("the owners of %s differ: %v %v %v %v", title, oa, ob, errA, errB)
		}
	}
	sp, su, err := src.Counts(ctx)
	if err != nil {
		return err
	}
	dp, du, err := dst.Counts(ctx)
	if err != nil {
		return err
	}
	if sp-empty != dp || su != du {
		return fmt.Errorf("the destination has %d packages and %d users, the source %d (%d of them empty) and %d", dp, du, sp, empty, su)
	}
	return nil
}

// verifyUsersAndReference checks that dst holds users and the
// reference ref as they were read from the source.
func verifyUsersAndReference(ctx context.Context, dst dataStore, users []registry.User, ref []reference.Entry) error {
	for _, u := range users {
		have, err := dst.UserByLogin(ctx, u.Username)
		if err != nil || !sameUser(have, u) {
			return fmt.Errorf("user %s differs: %v", u.Username, err)
		}
	}
	dref, err := dst.Reference(ctx)
	if err != nil {
		return err
	}
	if !slices.Equal(ref, dref) {
		return errors.New("the reference differs")
	}
	return nil
}

// verifyCopy reads back from dst what copyData wrote of a live source:
// the users and versions as they were read, and every tarball whole.
func verifyCopy(ctx context.Context, dst dataStore, users []registry.User, versions []ownedVersion, ref []reference.Entry) error {
	if err := verifyUsersAndReference(ctx, dst, users, ref); err != nil {
		return err
	}
	for _, ov := range versions {
		v := ov.v
		have, err := dst.Version(ctx, v.Title, v.Version)
		if err != nil || !sameRelease(have, v) {
			return fmt.Errorf("%s@%s differs: %v", v.Title, v.Version, err)
		}
		b, err := dst.Tarball(v.Shasum)
		if err != nil {
			return fmt.Errorf("%s@%s: tarball: %w", v.Title, v.Version, err)
		}
		if sum := sha1.Sum(b); hex.EncodeToString(sum[:]) != v.Shasum || int64(len(b)) != v.Size {
			return fmt.Errorf("%s@%s: the tarball differs from its SHA-1 or size", v.Title, v.Version)
		}
	}
	_, du, err := dst.Counts(ctx)
	if err != nil {
		return err
	}
	if du != len(users) {
		return fmt.Errorf("the copy has %d users, the source had %d", du, len(users))
	}
	return nil
}

// copyAudit appends src's audit trail to dst's, which must be empty (the
// fresh folder of a backup, the empty target of a restore); the events
// keep their time, actor and address, and get dst's numbering.
func copyAudit(ctx context.Context, src, dst dataStore) (int, error) {
	have, err := dst.Audit(ctx, registry.AuditQuery{Limit: 1})
	if err != nil {
		return 0, err
	}
	if len(have) > 0 {
		return 0, errors.New("audit trail: the destination has one already")
	}
	events, err := src.Audit(ctx, registry.AuditQuery{})
	if err != nil {
		return 0, fmt.Errorf("audit trail: %w", err)
	}
	for i, e := range events {
		e.ID = 0
		if err := dst.AppendAudit(ctx, e); err != nil {
			return i, fmt.Errorf("audit trail: %w", err)
		}
	}
	return len(events), nil
}

func titlesOf(vs []ownedVersion) []string {
	seen := map[string]bool{}
	var out []string
	for _, ov := range vs {
		if !seen[ov.v.Title] {
			seen[ov.v.Title] = true
			out = append(out, ov.v.Title)
		}
	}
	return out
}

func sortedFold(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
	}
	slices.Sort(out)
	return out
}
