// Command nessemble-registry is a package registry for the nessemble NES
// assembler: one binary serving the registry API over a local SQLite file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"os/user"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/nessemble/nessemble-registry/logsink"
	"github.com/nessemble/nessemble-registry/mail"
	"github.com/nessemble/nessemble-registry/mirror"
	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/server"
	"github.com/nessemble/nessemble-registry/systemd"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nessemble-registry:", err)
		os.Exit(1)
	}
}

// run executes one command line; main and the tests call it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "nessemble-registry",
		Short:         "A package registry for the nessemble NES assembler",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newServeCmd(),
		newVersionCmd(),
		newImportReferenceCmd(),
		newAddUserCmd(),
		newPasswdCmd(),
		newCheckCmd(),
		newMigrateDataCmd(),
		newYankCmd(true),
		newYankCmd(false),
		newOwnerCmd(),
		newRemoveCmd(),
		newUserCmd(),
		newAuditCmd(),
		newBackupCmd(),
		newRestoreCmd(),
		newMirrorCmd(),
		newExportCmd(),
		newImportCmd(),
	)
	return root
}

// dataFlag binds the data flags shared by every command that opens the
// registry's data: the data folder (NESSEMBLE_REGISTRY_DATA overrides the
// default), and --database and --blobs (see data.go), which openData
// reads back.
func dataFlag(cmd *cobra.Command, dir *string) {
	def := "nessemble-registry-data"
	if env := os.Getenv("NESSEMBLE_REGISTRY_DATA"); env != "" {
		def = env
	}
	cmd.Flags().StringVar(dir, "data", def, "data folder holding the SQLite file and the tarballs (env NESSEMBLE_REGISTRY_DATA)")
	backendFlags(cmd)
}

// openRegistry opens the data and the registry's rules over it,
// for the commands that change it; close closes the data. The
// command's context then names the operator for the audit trail.
func openRegistry(cmd *cobra.Command, data string) (core *registry.Service, close func() error, err error) {
	db, err := openData(cmd, data)
	if err != nil {
		return nil, nil, err
	}
	cmd.SetContext(registry.FromCommandLine(cmd.Context(), operatorName()))
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
	return registry.New(db, registry.Config{}, nil, log), db.Close, nil
}

// operatorName is who runs a command, as the machine knows them, for the
// audit trail: the login name, or $USER where there is none.
func operatorName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "nessemble-registry", version)
			return err
		},
	}
}

type serveConfig struct {
	data        string
	backend     backend
	proxies     []string
	signup      bool
	addr        string
	metricsAddr string
	logFormat   string
	server      server.Config
	registry    registry.Config
	smtp        mail.Config
	// settings is the effective configuration, logged at start.
	settings []any
	// mirror, with its Upstream set, runs every mirrorEvery in the
	// background (serve --mirror).
	mirror      mirror.Config
	mirrorEvery time.Duration
}

// validate refuses limits of zero or less: the server would take them for
// "not set" and use its defaults, not what the operator wrote.
func (c serveConfig) validate() error {
	s, r := c.server, c.registry
	if s.RateLimit == 0 || s.RateLimit < -1 {
		return fmt.Errorf("--rate-limit %d: give a number of requests, or -1 to turn limiting off", s.RateLimit)
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"rate-window", s.RateWindow}, {"max-age", s.MaxAge}, {"token-ttl", r.TokenTTL}, {"reset-ttl", r.ResetTTL}} {
		if d.v <= 0 {
			return fmt.Errorf("--%s %v: must be longer than zero", d.flag, d.v)
		}
	}
	if s.MaxUpload <= 0 {
		return fmt.Errorf("--max-upload %d: must be a number of bytes above zero", s.MaxUpload)
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"max-conns", s.MaxConns}, {"max-conns-per-addr", s.MaxConnsPerAddr}} {
		if n.v <= 0 {
			return fmt.Errorf("--%s %d: must be a number of connections above zero", n.flag, n.v)
		}
	}
	if c.mirror.Upstream != "" {
		if c.mirrorEvery <= 0 {
			return fmt.Errorf("--mirror-every %v: must be longer than zero", c.mirrorEvery)
		}
		return validMirrorConfig(c.mirror)
	}
	return nil
}

func newServeCmd() *cobra.Command {
	var cfg serveConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the registry's HTTP server",
		Long: `Run the registry's HTTP server.

Every flag can also be set in the environment as NESSEMBLE_REGISTRY_<FLAG>
(--rate-limit is NESSEMBLE_REGISTRY_RATE_LIMIT); a flag on the command line
wins. Under systemd, serve speaks Type=notify (READY=1, STOPPING=1 and
WATCHDOG=1) and takes a listening socket passed by socket activation
instead of --addr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fromEnv, err := flagsFromEnv(cmd)
			if err != nil {
				return err
			}
			cfg.settings = effectiveSettings(cmd, fromEnv, cfg.smtp.Password != "")
			if err := cfg.validate(); err != nil {
				return err
			}
			b, err := backendOf(cmd)
			if err != nil {
				return err
			}
			cfg.backend = b
			if cfg.server.TrustedProxies, err = parseProxies(cfg.proxies); err != nil {
				return err
			}
			var mailer registry.Mailer // nil: no email
			if cfg.smtp.Enabled() {
				cfg.smtp.Registry = cfg.server.BaseURL
				m, err := mail.New(cfg.smtp) // checks the settings
				if err != nil {
					return err
				}
				mailer = m
			} else if cfg.registry.ResetQR {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: --reset-qr hands a password-reset code to anyone who names an account; use it only on a trusted network")
			}
			return serve(cmd.Context(), cfg, mailer, cmd.ErrOrStderr())
		},
	}
	cfg.smtp.Password = os.Getenv("NESSEMBLE_REGISTRY_SMTP_PASSWORD")
	f := cmd.Flags()
	dataFlag(cmd, &cfg.data)
	f.StringVar(&cfg.addr, "addr", "127.0.0.1:8000", "address to listen on (unused when systemd passes a socket)")
	f.StringVar(&cfg.metricsAddr, "metrics-addr", "", "address of a separate listener for Prometheus metrics at /metrics, e.g. 127.0.0.1:9100; empty: no metrics")
	f.StringVar(&cfg.server.BaseURL, "base-url", "", "public URL of the registry, path prefix included (default: from each request's Host)")
	f.StringSliceVar(&cfg.proxies, "trusted-proxy", nil, "address or CIDR of a proxy (a load balancer) whose X-Forwarded-For names the client for login throttling; repeatable")
	f.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")
	f.IntVar(&cfg.server.RateLimit, "rate-limit", server.DefaultRateLimit, "requests per client address per rate window; -1 turns limiting off")
	f.DurationVar(&cfg.server.RateWindow, "rate-window", server.DefaultRateWindow, "rate limit window")
	f.DurationVar(&cfg.server.MaxAge, "max-age", server.DefaultMaxAge, "how long clients may cache read answers")
	f.DurationVar(&cfg.registry.TokenTTL, "token-ttl", registry.DefaultTokenTTL, "how long a login token lives")
	f.BoolVar(&cfg.signup, "signup", true, "let anyone create an account with POST /user/create; --signup=false closes it")
	f.Int64Var(&cfg.server.MaxUpload, "max-upload", server.DefaultMaxUpload, "largest publish request body, in bytes")
	f.IntVar(&cfg.server.MaxConns, "max-conns", server.DefaultMaxConns, "connections open at once, in total; more are refused with 503")
	f.IntVar(&cfg.server.MaxConnsPerAddr, "max-conns-per-addr", server.DefaultMaxConnsPerAddr, "connections open at once from one client address; more are refused with 503")
	f.DurationVar(&cfg.registry.ResetTTL, "reset-ttl", registry.DefaultResetTTL, "how long a password-reset token lives")
	f.BoolVar(&cfg.registry.ResetQR, "reset-qr", false, "without SMTP, hand out password resets as authenticator QR codes to anyone who names an account: fine on a classroom LAN, never on the open internet")
	f.StringVar(&cfg.smtp.Host, "smtp-host", "", "mail server that delivers password-reset tokens; empty turns email off")
	f.IntVar(&cfg.smtp.Port, "smtp-port", 0, "mail server port (default 587 for starttls, 465 for tls, 25 for none)")
	f.StringVar(&cfg.smtp.TLS, "smtp-tls", mail.StartTLS, "mail server security: starttls, tls (implicit) or none (only for a relay on this host)")
	f.StringVar(&cfg.smtp.User, "smtp-user", "", "mail server user for AUTH PLAIN; its password comes from --smtp-password-file or NESSEMBLE_REGISTRY_SMTP_PASSWORD")
	f.Var(&passwordFile{p: &cfg.smtp.Password}, "smtp-password-file", "file holding the mail server password (env NESSEMBLE_REGISTRY_SMTP_PASSWORD)")
	f.StringVar(&cfg.smtp.From, "smtp-from", "", "sender of password-reset emails, e.g. \"Registry <registry@example.org>\"")
	f.BoolVar(&cfg.registry.ReadOnly, "read-only", false, "refuse every write of users (publish, sign-up, login, logout, password reset): a mirror")
	f.StringVar(&cfg.mirror.Upstream, "mirror", "", "mirror the registry at this URL in the background, at start and every --mirror-every")
	f.DurationVar(&cfg.mirrorEvery, "mirror-every", time.Hour, "how often --mirror runs")
	mirrorFlags(cmd, &cfg.mirror)
	return cmd
}

// serve runs the registry until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, cfg serveConfig, mailer registry.Mailer, logOut io.Writer) error {
	out := logsink.New(logOut)
	defer out.Close()
	log, err := newLogger(cfg.logFormat, out)
	if err != nil {
		return err
	}
	db, err := cfg.backend.open(ctx, cfg.data)
	if err != nil {
		return err
	}
	defer db.Close()
	// A killed publish leaves a file behind (blobs.Problem.Leftover):
	// removed at every start, they never pile up.
	removeLeftovers(ctx, db, log)
	if cfg.backend.isPostgres() && cfg.backend.blobs == "" {
		log.Warn("PostgreSQL with the tarballs in this machine's data folder: other replicas cannot serve them; give --blobs an S3 bucket to run several")
	}
	cfg.registry.SignupClosed = !cfg.signup
	core := registry.New(db, cfg.registry, mailer, log)
	if err := core.EnsureReference(ctx); err != nil {
		return err
	}

	if cfg.mirror.Upstream != "" {
		m := cfg.mirror
		m.Log, m.UserAgent = log, "nessemble-registry/"+version
		mctx, stopMirror := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			mirrorEvery(mctx, core, m, cfg.mirrorEvery, log)
		}()
		// Before the database closes (deferred above).
		defer func() { stopMirror(); <-done }()
	}

	cfg.server.Version = version
	cfg.server.AccessLog, cfg.server.AccessLogJSON = out.Batched(), cfg.logFormat == "json"
	cfg.server.Ready = db.Ready
	log.Info("configuration", cfg.settings...)

	// Every listener is open before READY=1, so that a bind error stops
	// the start and systemd hears of it.
	ln, err := listen(ctx, cfg.addr, log)
	if err != nil {
		return err
	}
	defer ln.Close()
	var metricsSrv *http.Server
	if cfg.metricsAddr != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		cfg.server.Metrics = reg
		cfg.server.Stats = db.Stats
		mln, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4}))
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
		go metricsSrv.Serve(mln)
		log.Info("metrics", "addr", mln.Addr().String())
	}
	srv := server.New(cfg.server, core, log)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "data", cfg.data, "database", cfg.backend.kind(), "blobs", db.Blobs().String())
	notify(log, "READY=1\nSTATUS=serving on "+ln.Addr().String())
	stopWatchdog, err := startWatchdog(db, log)
	if err != nil {
		return err
	}
	defer stopWatchdog()

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	notify(log, "STOPPING=1")
	log.Info("shutting down")
	stopWatchdog()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if metricsSrv != nil {
		metricsSrv.Shutdown(shutdownCtx)
	}
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// parseProxies reads --trusted-proxy: addresses or CIDR prefixes.
func parseProxies(in []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range in {
		if strings.Contains(p, "/") {
			pr, err := netip.ParsePrefix(p)
			if err != nil {
				return nil, fmt.Errorf("--trusted-proxy %q: not an address or CIDR prefix", p)
			}
			out = append(out, pr.Masked())
			continue
		}
		a, err := netip.ParseAddr(p)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxy %q: not an address or CIDR prefix", p)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// listen returns the socket systemd passed by socket activation, or else
// listens on addr.
func listen(ctx context.Context, addr string, log *slog.Logger) (net.Listener, error) {
	lns, err := systemd.Listeners()
	if err != nil {
		return nil, err
	}
	switch len(lns) {
	case 0:
		// No TCP keep-alive probes: every connection already has a read
		// deadline, and the probes' setup is four system calls per
		// connection, for a client that opens one per request.
		lc := net.ListenConfig{KeepAlive: -1}
		return lc.Listen(ctx, "tcp", addr)
	case 1:
		log.Info("listening on the socket systemd passed (socket activation); --addr is not used", "addr", lns[0].Addr().String())
		return lns[0], nil
	}
	for _, l := range lns {
		l.Close()
	}
	return nil, fmt.Errorf("socket activation passed %d sockets; the registry listens on one (one ListenStream= in the .socket unit)", len(lns))
}

// notify tells systemd of a state change; without $NOTIFY_SOCKET it does
// nothing. A failure is logged: the service still serves.
func notify(log *slog.Logger, state string) {
	if _, err := systemd.Notify(state); err != nil {
		log.Warn("could not notify systemd", "err", err)
	}
}

// startWatchdog sends WATCHDOG=1 at the interval systemd asks for, as
// long as the database answers: a registry whose database hangs is
// restarted. A full disk does not stop the pings (/readyz reports it),
// since a restart would not make room. stop may be called twice.
func startWatchdog(db interface{ Ping(context.Context) error }, log *slog.Logger) (stop func(), err error) {
	every, err := systemd.WatchdogInterval()
	if err != nil || every == 0 {
		return func() {}, err
	}
	done := make(chan struct{})
	var once sync.Once
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), every)
			err := db.Ping(ctx)
			cancel()
			if err != nil {
				log.Error("watchdog: the database does not answer; systemd is not told all is well", "err", err)
				continue
			}
			notify(log, "WATCHDOG=1")
		}
	}()
	return func() { once.Do(func() { close(done) }) }, nil
}

func newLogger(format string, w io.Writer) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("unknown --log-format %q: use text or json", format)
}
