package mirror

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"testing/fstest"
	"time"

	"github.com/nessemble/nessemble-registry/internal/semver"
	"github.com/nessemble/nessemble-registry/reference"
	"github.com/nessemble/nessemble-registry/registry"
)

// A bundle is a plain tar file (README.md, "Bundles"):
//
//	nessemble-bundle.json                      what the bundle is (bundleHeader), first
//	packages/TITLE/VERSION/version.json        a version's metadata (bundleVersion)
//	packages/TITLE/VERSION/TITLE-VERSION.tar.gz its tarball, byte for byte, after its version.json
//	reference/CATEGORY/TERM.txt                the whole reference, when the bundle has it
//	removals.json                              what the operator removed after since (bundleRemoval), last
const (
	bundleFormat     = "nessemble-registry-bundle"
	bundleVersionNo  = 1
	bundleHeaderName = "nessemble-bundle.json"
	removalsName     = "removals.json"
	maxBundleJSON    = 64 << 10
)

// bundleHeader is nessemble-bundle.json.
type bundleHeader struct {
	Format    string `json:"format"`
	Version   int    `json:"format_version"`
	Serial    int64  `json:"serial"` // the change log serial the bundle reflects
	Since     int64  `json:"since"`  // changes after this serial are in it (0: everything)
	Created   string `json:"created"`
	Versions  int    `json:"versions"`
	Reference bool   `json:"reference"`
	Removals  int    `json:"removals"`
}

// bundleRemoval is one entry of removals.json: a version, or with Version
// "" a whole package, removed after since. An import removes it too.
type bundleRemoval struct {
	Title   string `json:"title"`
	Version string `json:"version"`
}

// bundleVersion is a version.json.
type bundleVersion struct {
	Title       string   `json:"title"`
	Version     string   `json:"version"`
	Shasum      string   `json:"shasum"`
	Size        int64    `json:"size"`
	Date        string   `json:"date"`
	Author      string   `json:"author"`
	Description string   `json:"description"`
	License     string   `json:"license"`
	Tags        []string `json:"tags"`
	Yanked      bool     `json:"yanked"`
}

const isoMillis = "2006-01-02T15:04:05.000Z"

// ExportSummary is what an export wrote.
type ExportSummary struct {
	Serial, Since int64
	Versions      int
	Bytes         int64 // of tarballs
	Reference     bool
	Removals      int
}

// Export writes a bundle of every version published after serial since
// (0: all) up to the registry's current serial, with the reference when
// it changed in that range, to w.
func Export(ctx context.Context, core *registry.Service, w io.Writer, since int64) (ExportSummary, error) {
	// Every change up to one serial, read first: what is published
	// meanwhile goes in the next bundle.
	var (
		changes []registry.Change
		last    int64
		from    = since
	)
	for {
		cs, l, err := core.Changes(ctx, from, registry.MaxChangesPage)
		if err != nil {
			return ExportSummary{}, err
		}
		if last == 0 {
			last = l
		}
		for _, c := range cs {
			if c.Serial > last {
				break
			}
			changes = append(changes, c)
		}
		if len(cs) == 0 || cs[len(cs)-1].Serial >= last {
			break
		}
		from = cs[len(cs)-1].Serial
	}
	last = max(last, since)
	sum := ExportSummary{Serial: last, Since: since}
	var (
		versions []registry.Version
		removals []bundleRemoval
		seen     = map[string]bool{}
	)
	for _, c := range changes {
		switch c.Kind {
		case registry.ChangePublish, registry.ChangeYank, registry.ChangeUnyank:
			// A version published, or yanked or restored, after since:
			// in the bundle with its state as it is now.
			key := strings.ToLower(c.Title) + " " + c.Version
			if seen[key] || c.Version == "" {
				continue
			}
			seen[key] = true
			v, err := core.Version(ctx, c.Title, c.Version)
			var ue *registry.Error
			if errors.As(err, &ue) && (ue.Kind == registry.NotFound || ue.Kind == registry.Gone) {
				continue // no longer stored, or removed
			}
			if err != nil {
				return sum, err
			}
			versions = append(versions, v)
		case registry.ChangeRemove:
			removals = append(removals, bundleRemoval{Title: c.Title, Version: c.Version})
		case registry.ChangeReference:
			sum.Reference = true
		}
	}
	sum.Removals = len(removals)
	var ref []reference.Entry
	if sum.Reference {
		var err error
		if ref, err = core.Reference(ctx); err != nil {
			return sum, err
		}
		sum.Reference = len(ref) > 0
	}

	tw := tar.NewWriter(w)
	now := time.Now().UTC()
	put := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: now, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	hdr, _ := json.MarshalIndent(bundleHeader{Format: bundleFormat, Version: bundleVersionNo, Serial: last, Since: since,
		Created: now.Format(isoMillis), Versions: len(versions), Reference: sum.Reference, Removals: len(removals)}, "", "  ")
	if err := put(bundleHeaderName, append(hdr, '\n')); err != nil {
		return sum, err
	}
	for _, v := range versions {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		data, err := core.Tarball(v.Shasum)
		if err != nil {
			return sum, fmt.Errorf("%s %s: %w", v.Title, v.Version, err)
		}
		meta, _ := json.MarshalIndent(bundleVersion{Title: v.Title, Version: v.Version, Shasum: v.Shasum, Size: int64(len(data)),
			Date: v.Published.UTC().Format(isoMillis), Author: v.Author, Description: v.Description, License: v.License,
			Tags: v.Tags, Yanked: v.Yanked}, "", "  ")
		dir := "packages/" + v.Title + "/" + v.Version + "/"
		if err := put(dir+"version.json", append(meta, '\n')); err != nil {
			return sum, err
		}
		if err := put(dir+v.Title+"-"+v.Version+".tar.gz", data); err != nil {
			return sum, err
		}
		sum.Versions++
		sum.Bytes += int64(len(data))
	}
	for _, e := range ref {
		if err := put("reference/"+e.Path+".txt", []byte(e.Text)); err != nil {
			return sum, err
		}
	}
	if len(removals) > 0 {
		data, _ := json.MarshalIndent(removals, "", "  ")
		if err := put(removalsName, append(data, '\n')); err != nil {
			return sum, err
		}
	}
	return sum, tw.Close()
}

// ImportSummary is what an import did.
type ImportSummary struct {
	Serial, Since int64 // of the bundle
	NewPackages   int
	NewVersions   int
	Present       int
	Moderated     int  // yanks, unyanks and removals applied
	Reference     bool // the reference was replaced
	Skipped       []Skip
}

// Import loads a bundle into core with the checks of a mirror run: each
// tarball's SHA-1, the publish rules, and never over a version stored
// with another shasum or a package published here. A version that fails
// is skipped and listed; err is for a file that is not a bundle or cannot
// be read.
func Import(ctx context.Context, core *registry.Service, r io.Reader) (ImportSummary, error) {
	var sum ImportSummary
	defer func() {
		core.RecordMirrored(ctx, registry.AuditImport, fmt.Sprintf("a bundle (serial %d)", sum.Serial), sum.NewVersions, sum.Moderated)
	}()
	tr := tar.NewReader(r)
	var (
		pending  *bundleVersion // the version.json of the folder being read
		pendDir  string
		haveHdr  bool
		ref      = fstest.MapFS{}
		refBytes int
	)
	skip := func(what string, err error) {
		why := err.Error()
		var ue *registry.Error
		if errors.As(err, &ue) {
			why = ue.Msg
		}
		sum.Skipped = append(sum.Skipped, Skip{What: what, Why: why})
	}
	for {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return sum, fmt.Errorf("not a readable bundle (a tar file): %w", err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag == tar.TypeDir {
			continue
		}
		if !haveHdr {
			if name != bundleHeaderName || h.Typeflag != tar.TypeReg {
				return sum, fmt.Errorf("not a bundle: its first member is %q, not %s", printable(h.Name, 100), bundleHeaderName)
			}
			var bh bundleHeader
			if err := readJSON(tr, h, &bh); err != nil {
				return sum, fmt.Errorf("not a bundle: %s: %w", bundleHeaderName, err)
			}
			if bh.Format != bundleFormat || bh.Version != bundleVersionNo {
				return sum, fmt.Errorf("not a bundle this version reads: format %q version %d", printable(bh.Format, 64), bh.Version)
			}
			sum.Serial, sum.Since, haveHdr = bh.Serial, bh.Since, true
			continue
		}
		if h.Typeflag != tar.TypeReg {
			skip(printable(h.Name, 100), errors.New("not a regular file"))
			continue
		}
		switch {
		case name == removalsName:
			var rs []bundleRemoval
			if err := readJSON(tr, h, &rs); err != nil {
				skip(removalsName, err)
				continue
			}
			for _, r := range rs {
				if !validTitle(r.Title) || r.Version != "" && !semver.Valid(r.Version) {
					skip(removalsName, fmt.Errorf("a removal of %q %q, not a title and version", printable(r.Title, 64), printable(r.Version, 64)))
					continue
				}
				changed, err := core.MirrorChange(ctx, registry.Change{Kind: registry.ChangeRemove, Title: r.Title, Version: r.Version})
				if err != nil {
					skip("removal of "+r.Title+" "+r.Version, err)
				} else if changed {
					sum.Moderated++
				}
			}
		case strings.HasPrefix(name, "packages/") && path.Base(name) == "version.json":
			if pending != nil {
				skip(pending.Title+" "+pending.Version, errors.New("no tarball after its version.json"))
			}
			pending, pendDir = nil, path.Dir(name)
			var bv bundleVersion
			if err := readJSON(tr, h, &bv); err != nil {
				skip(printable(name, 100), err)
				continue
			}
			if !validTitle(bv.Title) || !semver.Valid(bv.Version) || pendDir != "packages/"+bv.Title+"/"+bv.Version {
				skip(printable(name, 100), errors.New("its title and version are not those of its folder"))
				continue
			}
			pending = &bv
		case strings.HasPrefix(name, "packages/") && strings.HasSuffix(name, ".tar.gz"):
			bv := pending
			pending = nil
			if bv == nil || path.Dir(name) != pendDir || path.Base(name) != bv.Title+"-"+bv.Version+".tar.gz" {
				skip(printable(name, 100), errors.New("a tarball without its version.json before it"))
				continue
			}
			what := bv.Title + " " + bv.Version
			if h.Size >= maxTarball {
				skip(what, fmt.Errorf("tarball of %d bytes, over the client's 64 KiB", h.Size))
				continue
			}
			data, err := io.ReadAll(io.LimitReader(tr, maxTarball))
			if err != nil {
				return sum, err
			}
			at, err := time.Parse(time.RFC3339, bv.Date)
			if err != nil {
				skip(what, fmt.Errorf("its date %q is not ISO 8601", printable(bv.Date, 40)))
				continue
			}
			added, err := core.AddMirrored(ctx, registry.Incoming{Title: bv.Title, Version: bv.Version, Shasum: bv.Shasum,
				Published: at, Tarball: data})
			if err == nil {
				kind := registry.ChangeUnyank
				if bv.Yanked {
					kind = registry.ChangeYank
				}
				var changed bool
				changed, err = core.MirrorChange(ctx, registry.Change{Kind: kind, Title: bv.Title, Version: bv.Version})
				if changed {
					sum.Moderated++
				}
			}
			switch {
			case err != nil:
				skip(what, err)
			case added.Package:
				sum.NewPackages++
				sum.NewVersions++
			case added.Version:
				sum.NewVersions++
			default:
				sum.Present++
			}
		case strings.HasPrefix(name, "reference/"):
			rel := strings.TrimPrefix(name, "reference/")
			if len(ref) >= reference.MaxFiles || h.Size > reference.MaxFileSize {
				return sum, fmt.Errorf("%s: the bundle's reference is over the limits of an import", printable(name, 100))
			}
			data, err := io.ReadAll(io.LimitReader(tr, reference.MaxFileSize+1))
			if err != nil {
				return sum, err
			}
			if refBytes += len(data); refBytes > reference.MaxTotalSize {
				return sum, fmt.Errorf("the bundle's reference is larger than %d bytes", reference.MaxTotalSize)
			}
			if !fs.ValidPath(rel) {
				return sum, fmt.Errorf("%s: not a path of a reference term", printable(name, 100))
			}
			ref[rel] = &fstest.MapFile{Data: data, Mode: 0o644}
		default:
			skip(printable(name, 100), errors.New("not a member of a bundle"))
		}
	}
	if !haveHdr {
		return sum, errors.New("not a bundle: it is empty")
	}
	if pending != nil {
		skip(pending.Title+" "+pending.Version, errors.New("no tarball after its version.json"))
	}
	if len(ref) > 0 {
		entries, err := reference.Load(ref)
		if err == nil {
			sum.Reference, err = core.MirrorReference(ctx, entries)
		}
		if err != nil {
			skip("reference", err)
		}
	}
	return sum, nil
}

// readJSON decodes a bundle's JSON member, at most maxBundleJSON bytes.
func readJSON(tr *tar.Reader, h *tar.Header, v any) error {
	if h.Size > maxBundleJSON {
		return fmt.Errorf("larger than %d bytes", maxBundleJSON)
	}
	data, err := io.ReadAll(io.LimitReader(tr, maxBundleJSON))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("malformed JSON: %v", err)
	}
	return nil
}
