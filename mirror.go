package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/nessemble/nessemble-registry/mirror"
	"github.com/nessemble/nessemble-registry/registry"
)

// mirrorFlags binds the flags of a mirror run, shared by mirror and
// serve --mirror.
func mirrorFlags(cmd *cobra.Command, cfg *mirror.Config) {
	f := cmd.Flags()
	f.IntVar(&cfg.Jobs, "jobs", mirror.DefaultJobs, "requests to the upstream in flight at once")
	f.DurationVar(&cfg.Timeout, "timeout", mirror.DefaultTimeout, "longest wait for one answer of the upstream, its body included")
	f.Int64Var(&cfg.MaxBytes, "max-bytes", mirror.DefaultMaxBytes, "most tarball bytes one run downloads")
	f.BoolVar(&cfg.OtherHosts, "follow-redirects", false, "follow redirects of the upstream to other hosts")
}

func validMirrorConfig(cfg mirror.Config) error {
	if err := mirror.CheckUpstream(cfg.Upstream); err != nil {
		return err
	}
	switch {
	case cfg.Jobs <= 0:
		return fmt.Errorf("--jobs %d: must be 1 or more", cfg.Jobs)
	case cfg.Timeout <= 0:
		return fmt.Errorf("--timeout %v: must be longer than zero", cfg.Timeout)
	case cfg.MaxBytes <= 0:
		return fmt.Errorf("--max-bytes %d: must be a number of bytes above zero", cfg.MaxBytes)
	}
	return nil
}

func newMirrorCmd() *cobra.Command {
	var (
		data string
		cfg  mirror.Config
	)
	cmd := &cobra.Command{
		Use:   "mirror URL",
		Short: "Copy every package, version and the reference of the registry at URL into the data folder",
		Long: `Copy into the data folder every package and every version of the registry
at URL, and its reference documentation. Each tarball is verified (its SHA-1,
the publish rules) and stored byte for byte. A re-run fetches only what is
new: through the upstream's change feed (GET /changes) when it has one, by
reading its package list and documents otherwise. An interrupted run leaves
a consistent data folder; the next one continues. Packages published here
are never changed. Exits non-zero when a version was skipped.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Upstream = args[0]
			if err := validMirrorConfig(cfg); err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			tty := isTerminal(stderr)
			level := slog.LevelInfo
			if tty {
				level = slog.LevelWarn // the bar shows progress
			}
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
			db, err := openData(cmd, data)
			if err != nil {
				return err
			}
			defer db.Close()
			removeLeftovers(cmd.Context(), db, log)
			core := registry.New(db, registry.Config{}, nil, log)
			cfg.Log = log
			cfg.UserAgent = "nessemble-registry/" + version
			if tty {
				bar := newBar(stderr)
				defer bar.finish()
				cfg.Progress = bar
			}
			sum, err := mirror.Run(cmd.Context(), core, cfg)
			printMirrorSummary(cmd.OutOrStdout(), sum, err != nil)
			if err != nil {
				return err
			}
			if n := len(sum.Skipped); n > 0 {
				return fmt.Errorf("%d skipped", n)
			}
			return nil
		},
	}
	dataFlag(cmd, &data)
	mirrorFlags(cmd, &cfg)
	return cmd
}

// printMirrorSummary says what a run did, and what it skipped and why;
// stopped says the run did not finish (its error follows).
func printMirrorSummary(out io.Writer, s mirror.Summary, stopped bool) {
	how := "package list"
	if s.Feed {
		how = fmt.Sprintf("change feed, now at serial %d", s.Serial)
	}
	verb := "mirrored"
	if stopped {
		verb, how = "stopped mirroring", "until the error below"
	}
	fmt.Fprintf(out, "%s %s (%s): %d new packages, %d new versions, %d present, %s downloaded, in %s\n",
		verb, s.Upstream, how, s.NewPackages, s.NewVersions, s.Present, byteSize(s.Bytes), s.Took.Round(time.Millisecond))
	if s.Reference {
		fmt.Fprintln(out, "reference documentation replaced")
	}
	if s.Moderated > 0 {
		fmt.Fprintf(out, "applied %d yanks, unyanks and removals of the upstream\n", s.Moderated)
	}
	if s.UnknownKinds > 0 {
		fmt.Fprintf(out, "passed over %d changes of kinds this version does not know\n", s.UnknownKinds)
	}
	for _, k := range s.Skipped {
		fmt.Fprintf(out, "skipped: %s: %s\n", k.What, k.Why)
	}
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// bar is the progress bar of a mirror run on a terminal: versions looked
// at, with their rate and an estimate, and the bytes downloaded.
type bar struct {
	mu    sync.Mutex // Done is called from every job
	b     *progressbar.ProgressBar
	bytes int64
	max   int64
}

func newBar(w io.Writer) *bar {
	return &bar{b: progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("versions"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("versions"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

func (b *bar) Add(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.max += int64(n)
	// One more than known: the bar ends at finish, not when a page is.
	b.b.ChangeMax64(b.max + 1)
}

func (b *bar) Done(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bytes += n
	b.b.Describe(byteSize(b.bytes))
	if b.b.State().CurrentNum+1 >= b.max+1 {
		b.max++ // an estimate fell short
		b.b.ChangeMax64(b.max + 1)
	}
	_ = b.b.Add(1)
}

func (b *bar) finish() { _ = b.b.Finish() }

// mirrorEvery runs a mirror of cfg.Upstream at once and then every
// interval until ctx ends, one run at a time, logging each; a failed run
// is tried again at the next tick.
func mirrorEvery(ctx context.Context, core *registry.Service, cfg mirror.Config, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		sum, err := mirror.Run(ctx, core, cfg)
		attrs := []any{"upstream", sum.Upstream, "new_packages", sum.NewPackages, "new_versions", sum.NewVersions,
			"bytes", sum.Bytes, "skipped", len(sum.Skipped), "took", sum.Took.Round(time.Millisecond)}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("mirror run failed; trying again at the next tick", append(attrs, "err", err)...)
		default:
			log.Info("mirror run done", attrs...)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// removeLeftovers removes what killed publishes left behind (see
// store.Problem.Leftover), logging each file. They do no harm meanwhile,
// so failing to remove them stops nothing.
func removeLeftovers(ctx context.Context, db dataStore, log *slog.Logger) {
	left, err := db.RemoveLeftovers(ctx)
	if err != nil {
		log.Warn("could not look for leftovers of interrupted publishes", "err", err)
	}
	for _, p := range left {
		if p.Repair {
			log.Info("removed leftover", "path", p.Path, "what", p.What)
		} else {
			log.Warn("could not remove leftover", "path", p.Path, "what", p.What)
		}
	}
}
