package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/cfdeploy/cfdeploy/internal/host"
	"github.com/cfdeploy/cfdeploy/internal/host/accesslog"
	"github.com/cfdeploy/cfdeploy/internal/host/assets"
	"github.com/cfdeploy/cfdeploy/internal/host/coalesce"
	"github.com/cfdeploy/cfdeploy/internal/host/jsrt"
	"github.com/cfdeploy/cfdeploy/internal/host/projectlog"
	"github.com/cfdeploy/cfdeploy/internal/host/worker"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// serveOptions are the settings of `cfhost serve`, after flags, environment
// and config file have been merged.
type serveOptions struct {
	Listen  string
	DataDir string
	// Database is a shared PostgreSQL database's address ("" for the
	// data directory's SQLite file); DatabasePoll its change-log poll.
	Database     string
	DatabasePoll time.Duration
	SwitchDelay  time.Duration
	APIToken     string
	JWTSecret    string
	BaseDomain   string
	TLSCert      string
	TLSKey       string
	TrustProxy   []netip.Prefix
	GCGrace      time.Duration
	GCInterval   time.Duration
	Worker       worker.Config
	CacheBytes   int64
	// CacheFilesInMemory: see host.Config; cacheFiles is the flag's value.
	CacheFilesInMemory bool
	cacheFiles         string

	// HTTPS serves custom domains on HTTPSListen with certificates
	// obtained through ACME from ACMECA.
	HTTPS       bool
	HTTPSListen string
	ACMECA      string
	ACMEEmail   string
	ACMECARoot  string

	// MaxTarget and the rule limits bound the work of one project request.
	MaxTarget           int64
	MaxRuleSubstitution int64
	MaxRuleHeaderBytes  int64
	// LongRequestPath and LongRequestShare pace a project's expensive
	// static requests.
	LongRequestPath  int64
	LongRequestShare int
	// DeployBudget per DeployWindow bounds the files a project deploys.
	DeployBudget int
	DeployWindow time.Duration
	// DeployShare and DeployBurst pace a project's deploy work.
	DeployShare int
	DeployBurst time.Duration
	MaxFile     int64
	MaxFiles    int
	MaxBody     int64
	MaxEnvVars  int
	MaxEnvVal   int64
	// JSLimits: see host.Config.
	JSLimits jsrt.Limits
	// WorkerOutbound and WorkerOutboundAllow: see host.Config.
	WorkerOutbound      string
	WorkerOutboundAllow []string
	MaxDomains          int
	AccessLog           bool
	// PathRouting serves projects under /__project/<id>/ besides their
	// subdomains.
	PathRouting bool
	// AccessLogFile is where the access log goes; "" is stderr.
	AccessLogFile   string
	AccessLogFormat accesslog.Format
	// MetricsListen serves metrics on a separate, unauthenticated listener.
	MetricsListen string
	LogLevel      slog.Level

	// Upload quotas: see host.Config.
	MaxUploadSessions   int
	UploadSessionStale  time.Duration
	MaxProjectBytes     int64
	UploadInflight      int64
	UploadInflightTotal int64

	// Server-code logs kept for the logs API: see host.Config.Logs.
	LogsProjectBytes int64
	LogsTotalBytes   int64
	LogsFollowers    int
	LogsMaxLine      int64

	// Failed-authentication limiter: see host.Config.
	AuthFailLimit int
	// Dashboard serves the web dashboard; DashboardSession bounds a sign-in.
	Dashboard        bool
	DashboardSession time.Duration
	AuthFailWindow   time.Duration
	AuthFailClients  int
	// UnknownNames bounds the cache of names that named no project.
	UnknownNames int

	// httpsPort is HTTPSListen's port, when HTTPS is on.
	httpsPort string
	// Raw values that need a second parse.
	trustProxy, logLevel, accessLogFormat string
}

// settings lists every setting of `cfhost serve`, each bound to its field
// of o.
func (o *serveOptions) settings() []setting {
	return []setting{
		stringSetting("listen", "127.0.0.1:8788", "address to serve HTTP on", &o.Listen),
		stringSetting("data-dir", "./cfhost-data", "directory for cfhost.db, the API token and caches", &o.DataDir),
		stringSetting("database", "", "PostgreSQL database (postgres://user:pass@host/db) to keep everything in instead of DATA_DIR/cfhost.db; cfhost processes sharing it are replicas of one host, each needing only its own DATA_DIR for caches (prefer CFHOST_DATABASE: flags show in ps)", &o.Database),
		durationSetting("database-switch-delay", time.Second, "with --database: how long after a deploy, rollback or promote is written it goes live on every replica at once (the API answers then); it must exceed the time the write takes to commit and its notification to reach every replica", &o.SwitchDelay),
		durationSetting("database-poll", 5*time.Second, "with --database: how often a replica re-reads the change log in case a change notification was lost", &o.DatabasePoll),
		stringSetting("api-token", "", "management API token (default: DATA_DIR/api-token, generated when missing)", &o.APIToken),
		stringSetting("jwt-secret", "", "HMAC key for upload tokens (default: generated once, kept in the database)", &o.JWTSecret),
		stringSetting("base-domain", "localhost", "serve project ID at ID.DOMAIN", &o.BaseDomain),
		stringSetting("tls-cert", "", "TLS certificate file (enables HTTPS and HTTP/2)", &o.TLSCert),
		stringSetting("tls-key", "", "TLS key file", &o.TLSKey),
		boolSetting("https", false, "serve custom domains over HTTPS on --https-listen with certificates obtained through ACME on demand (only for names added as domains); plain HTTP to them is redirected", &o.HTTPS),
		stringSetting("https-listen", ":443", "address to serve HTTPS on with --https", &o.HTTPSListen),
		stringSetting("acme-ca", certmagic.LetsEncryptProductionCA, "ACME directory URL that --https obtains certificates from", &o.ACMECA),
		stringSetting("acme-email", "", "contact address given to the ACME certificate authority (expiry notices)", &o.ACMEEmail),
		stringSetting("acme-ca-root", "", "PEM file of root certificates to trust for the ACME server itself (a private CA; default: the system's)", &o.ACMECARoot),
		stringSetting("trust-proxy", "", "comma-separated CIDRs of proxies whose X-Forwarded-Proto is believed", &o.trustProxy),
		durationSetting("gc-grace", 24*time.Hour, "how long blobs no deployment uses are kept", &o.GCGrace),
		durationSetting("gc-interval", time.Hour, "how often garbage (expired sessions, unused blobs) is collected", &o.GCInterval),
		durationSetting("worker-timeout", 30*time.Second, "wall-clock limit of one server-code run (then 504)", &o.Worker.Timeout),
		bytesSetting("worker-memory", 128<<20, "linear-memory limit of one server-code run (then 502)", &o.Worker.MemoryLimit),
		bytesSetting("worker-max-body", 10<<20, "largest request body passed to server code (then 413)", &o.Worker.MaxBody),
		bytesSetting("worker-body-budget", 256<<20, "memory for all request bodies buffered for server code at once (then 503)", &o.Worker.BodyBudget),
		durationSetting("worker-body-timeout", 60*time.Second, "longest a request body for server code may take to arrive (then 408)", &o.Worker.BodyTimeout),
		bytesSetting("worker-max-stdout", 32<<20, "largest response server code may print (then 502)", &o.Worker.MaxStdout),
		intSetting("worker-subrequests", jsrt.DefaultSubrequests, 1, "env.ASSETS.fetch and fetch() calls one request to JavaScript server code may make, its nested fetches of its own URL included (then the call throws)", &o.JSLimits.Subrequests),
		intSetting("worker-console-lines", jsrt.DefaultConsoleLines, 1, "console lines kept from one request to JavaScript server code (the rest are dropped)", &o.JSLimits.ConsoleLines),
		intBytesSetting("worker-console-line", jsrt.DefaultConsoleLineBytes, "longest console line kept from JavaScript server code; the rest is cut", &o.JSLimits.ConsoleLineBytes),
		intBytesSetting("worker-max-response-head", jsrt.DefaultResponseHeadBytes, "largest response head (header names and values) JavaScript server code may send (then the Response throws)", &o.JSLimits.ResponseHeadBytes),
		intBytesSetting("worker-error-text", jsrt.DefaultErrorBytes, "longest description (message and stack) of an uncaught JavaScript error kept for the logs; the rest is cut", &o.JSLimits.ErrorBytes),
		bytesSetting("wasm-cache-bytes", 1<<30, "size cap of the on-disk cache of compiled server code (least recently used pruned at garbage collection)", &o.Worker.CacheMaxBytes),
		intSetting("worker-concurrency", 0, 0, "server-code runs at once (0: one per core, at least 2)", &o.Worker.Concurrency),
		intSetting("worker-tenant-concurrency", 0, 0, "runs at once for one project (0: worker-concurrency minus one, at least 1)", &o.Worker.TenantConcurrency),
		intSetting("worker-queue", 0, 0, "requests that may wait for a run before 503 (0: 64 per run slot)", &o.Worker.QueueSize),
		intSetting("worker-idle-instances", 64, 1, "guest-mode server-code instances (pkg/guest) kept alive between requests across all projects", &o.Worker.IdleInstances),
		stringSetting("worker-outbound", jsrt.OutboundPublic, "where fetch() from JavaScript server code may connect: none, public (public addresses only, checked after DNS resolution) or all", &o.WorkerOutbound),
		listSetting("worker-outbound-allow", "HOST:PORT that fetch() from JavaScript server code may reach whatever --worker-outbound says (repeatable, or comma-separated)", &o.WorkerOutboundAllow),
		intSetting("worker-tenant-queue", 0, 0, "requests of one project that may wait beyond its runs before 503; its runs plus this many may also be receiving their body (0: 16 per project run slot, at most a quarter of worker-queue)", &o.Worker.TenantQueue),
		bytesSetting("cache-bytes", 256<<20, "memory budget for cached asset bytes", &o.CacheBytes),
		stringSetting("cache-files", "disk", "where cached asset bodies of 32 KiB and more are kept, to leave by sendfile: disk (unnamed files in DATA_DIR, in the page cache like any file served from disk; written back to disk: up to --cache-bytes, never leaving less than 1 GiB or 5 percent of the disk free, past which bodies go to memory) or memory (memfd, never written to disk; the kernel sends these more slowly)", &o.cacheFiles),
		bytesSetting("max-file-size", 25<<20, "largest asset file", &o.MaxFile),
		intSetting("max-files", 100000, 1, "most files in one deployment", &o.MaxFiles),
		bytesSetting("max-body", 64<<20, "largest API request body", &o.MaxBody),
		bytesSetting("max-request-target", 16<<10, "longest request target (path and query) of a project request (then 414)", &o.MaxTarget),
		intSetting("deploy-budget", 200000, 1, "files one project's deploys, rollbacks and promotions may count per --deploy-window (each counts its files, at least 100) before they are answered 429", &o.DeployBudget),
		durationSetting("deploy-window", time.Minute, "window of --deploy-budget; a project that spent it may deploy again when its window ends", &o.DeployWindow),
		intSetting("deploy-share", 25, 1, "percent of one core a project's deploy work (reading its manifests, writing its deployments, building its site) may take once past --deploy-burst, at most 100 (it pauses in between)", &o.DeployShare),
		durationSetting("deploy-burst", 500*time.Millisecond, "deploy work a project that was quiet runs before it is paced to --deploy-share", &o.DeployBurst),
		bytesSetting("long-request-path", 1<<10, "path length from which a static request counts as long: a project's long requests run one at a time, paced to --long-request-share", &o.LongRequestPath),
		intSetting("long-request-share", 25, 1, "percent of one core a project's long static requests may take, at most 100 (they pause in between)", &o.LongRequestShare),
		bytesSetting("max-rule-substitution", 16<<10, "longest _redirects target or _headers value a rule may build from a request (a rule over it is skipped, with a warning)", &o.MaxRuleSubstitution),
		bytesSetting("max-rule-header-bytes", 64<<10, "most header bytes _headers rules may set on one response (headers past it are skipped, with a warning)", &o.MaxRuleHeaderBytes),
		intSetting("max-env-vars", 64, 1, "most environment variables and secrets one project may keep", &o.MaxEnvVars),
		bytesSetting("max-env-value", 5<<10, "largest value of one project variable or secret (at most 1MiB)", &o.MaxEnvVal),
		intSetting("max-domains", 20, 1, "most custom domains one project may have", &o.MaxDomains),
		intSetting("max-upload-sessions", 8, 1, "upload sessions one project may have open, neither deployed nor expired (then 409)", &o.MaxUploadSessions),
		durationSetting("upload-session-stale", 10*time.Minute, "age past which an open upload session gives its place to a new one when the project is at --max-upload-sessions", &o.UploadSessionStale),
		bytesSetting("max-project-bytes", 10<<30, "bytes one project may store: its blobs plus what its open upload sessions still send (then 413)", &o.MaxProjectBytes),
		bytesSetting("upload-inflight", 64<<20, "bytes of one project's upload bodies read and decoded at once (more wait their turn)", &o.UploadInflight),
		bytesSetting("upload-inflight-total", 512<<20, "bytes of all projects' upload bodies read and decoded at once (more wait their turn)", &o.UploadInflightTotal),
		intSetting("auth-fail-limit", 20, 1, "failed API authentications one client address may make per --auth-fail-window before it is answered 429", &o.AuthFailLimit),
		durationSetting("auth-fail-window", time.Minute, "window of --auth-fail-limit; a refused address may try again when its window ends", &o.AuthFailWindow),
		intSetting("auth-fail-clients", 10000, 1, "most client addresses whose failed authentications are remembered (bounds the limiter's memory)", &o.AuthFailClients),
		intSetting("unknown-project-names", 4096, 1, "most project ids and slugs found to name no project that are remembered, so repeated requests for one ask the database nothing (bounds the cache's memory)", &o.UnknownNames),
		boolSetting("dashboard", true, "serve the web dashboard at /__dashboard/ on the host's own names (signed in with the admin token or a project token)", &o.Dashboard),
		durationSetting("dashboard-session", 12*time.Hour, "how long a dashboard sign-in lasts before the token is asked for again", &o.DashboardSession),
		bytesSetting("logs-project-bytes", 256<<10, "server-code log lines (console, uncaught errors, stderr) kept per project for 'cfdeploy tail'; older lines go first", &o.LogsProjectBytes),
		bytesSetting("logs-total-bytes", 64<<20, "server-code log lines kept for all projects together; the project holding most loses its oldest first", &o.LogsTotalBytes),
		intSetting("logs-followers", 8, 1, "readers that may follow one project's logs at once (then 429)", &o.LogsFollowers),
		bytesSetting("logs-max-line", 16<<10, "longest server-code log line kept; the rest is cut", &o.LogsMaxLine),
		boolSetting("access-log", true, "log every project request (API calls are always logged)", &o.AccessLog),
		boolSetting("path-routing", true, "also serve projects under /__project/ID/; all such projects share one browser origin, so turn it off when tenants do not trust each other", &o.PathRouting),
		stringSetting("access-log-file", "", "append the access log to this file, reopened on SIGHUP for logrotate (default: stderr)", &o.AccessLogFile),
		stringSetting("access-log-format", "logfmt", "access log lines as logfmt or json", &o.accessLogFormat),
		stringSetting("metrics-listen", "", "also serve Prometheus metrics without a token at http://ADDR/metrics (on the main listener /__metrics needs the admin token)", &o.MetricsListen),
		stringSetting("log-level", "info", "debug, info, warn or error", &o.logLevel),
	}
}

func newServeCmd() *cobra.Command {
	v := viper.New()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the management API and every project",
		Long: `Serve the management API under /__api/ and every project, at
http://<project-id>.<base-domain>/ and under /__project/<project-id>/.

Every flag can also be set with the environment variable CFHOST_<KEY>
(e.g. CFHOST_DATA_DIR) or in the --config file under its key (e.g. data_dir).
Precedence: flag > environment > config file > default.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := loadServeOptions(cmd, v)
			if err != nil {
				return usageError{err}
			}
			return runServe(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	var defaults serveOptions
	defineSettings(f, defaults.settings())
	f.String("config", "", "YAML, TOML or JSON file with the same keys (env CFHOST_CONFIG)")
	return cmd
}

// loadServeOptions merges flags, CFHOST_* variables and the config file.
func loadServeOptions(cmd *cobra.Command, v *viper.Viper) (serveOptions, error) {
	var o serveOptions
	v.SetEnvPrefix("CFHOST")
	v.AutomaticEnv()
	cfgFile, _ := cmd.Flags().GetString("config")
	if cfgFile == "" {
		cfgFile = os.Getenv("CFHOST_CONFIG")
	}
	if cfgFile != "" {
		v.SetConfigFile(cfgFile)
		if err := v.ReadInConfig(); err != nil {
			return o, fmt.Errorf("read config %s: %w", cfgFile, err)
		}
	}
	if err := loadSettings(cmd.Flags(), v, o.settings()); err != nil {
		return o, err
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return o, errors.New("--tls-cert and --tls-key go together")
	}
	if o.Database != "" && !strings.HasPrefix(o.Database, "postgres://") && !strings.HasPrefix(o.Database, "postgresql://") {
		return o, errors.New("--database: only PostgreSQL is supported, as postgres://user:password@host/database")
	}
	if _, err := jsrt.NewOutbound(o.WorkerOutbound, o.WorkerOutboundAllow); err != nil {
		return o, fmt.Errorf("--worker-outbound, --worker-outbound-allow: %w", err)
	}
	if o.HTTPS {
		port, err := httpsPort(o.HTTPSListen)
		if err != nil {
			return o, err
		}
		o.httpsPort = port
	}
	for _, s := range strings.FieldsFunc(o.trustProxy, func(r rune) bool { return r == ',' || r == ' ' }) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return o, fmt.Errorf("--trust-proxy %q is not a CIDR or an address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		o.TrustProxy = append(o.TrustProxy, p)
	}
	var err error
	switch o.cacheFiles {
	case "disk":
	case "memory":
		o.CacheFilesInMemory = true
	default:
		return o, fmt.Errorf("--cache-files: %q is neither disk nor memory", o.cacheFiles)
	}
	if o.AccessLogFormat, err = accesslog.ParseFormat(o.accessLogFormat); err != nil {
		return o, fmt.Errorf("--access-log-format: %w", err)
	}
	if err := o.LogLevel.UnmarshalText([]byte(o.logLevel)); err != nil {
		return o, fmt.Errorf("--log-level: %w", err)
	}
	if err := host.CheckLimits(o.limits()); err != nil {
		return o, fmt.Errorf("--max-body and --max-file-size: %w", err)
	}
	if o.Worker.MaxBody > o.Worker.BodyBudget {
		return o, fmt.Errorf("--worker-max-body %s is over --worker-body-budget %s: such bodies could never be buffered",
			byteSizeString(o.Worker.MaxBody), byteSizeString(o.Worker.BodyBudget))
	}
	if o.MaxEnvVal > 1<<20 {
		return o, fmt.Errorf("--max-env-value %s is over 1MiB", byteSizeString(o.MaxEnvVal))
	}
	return o, nil
}

func (o serveOptions) limits() manifest.Limits {
	return manifest.Limits{MaxFileSize: o.MaxFile, MaxFiles: o.MaxFiles, MaxBodyBytes: o.MaxBody}
}

func runServe(ctx context.Context, o serveOptions) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: o.LogLevel}))
	var access *accesslog.Writer
	if o.AccessLog {
		var closeAccess func()
		var err error
		if access, closeAccess, err = openAccessLog(ctx, o, log); err != nil {
			return err
		}
		defer closeAccess()
	}
	h, err := host.New(ctx, host.Config{
		DataDir:             o.DataDir,
		Database:            o.Database,
		DatabasePoll:        o.DatabasePoll,
		SwitchDelay:         o.SwitchDelay,
		APIToken:            o.APIToken,
		JWTSecret:           o.JWTSecret,
		BaseDomain:          o.BaseDomain,
		TrustProxy:          o.TrustProxy,
		Limits:              o.limits(),
		GCGrace:             o.GCGrace,
		GCInterval:          o.GCInterval,
		Worker:              o.Worker,
		WorkerOutbound:      o.WorkerOutbound,
		JSLimits:            o.JSLimits,
		WorkerOutboundAllow: o.WorkerOutboundAllow,
		CacheBytes:          o.CacheBytes,
		CacheFilesInMemory:  o.CacheFilesInMemory,
		AccessLog:           o.AccessLog,
		AccessLogWriter:     access,
		// Capped at 1 GiB so that the conversions to int are safe anywhere;
		// no sane limit comes near.
		MaxRequestTarget: int(min(o.MaxTarget, 1<<30)),
		DeployBudget:     o.DeployBudget,
		DeployWindow:     o.DeployWindow,
		LongRequestPath:  int(min(o.LongRequestPath, 1<<30)),
		LongRequestShare: min(o.LongRequestShare, 100),
		DeployShare:      min(o.DeployShare, 100),
		DeployBurst:      o.DeployBurst,
		RuleLimits: assets.Limits{
			MaxSubstitution: int(min(o.MaxRuleSubstitution, 1<<30)),
			MaxHeaderBytes:  int(min(o.MaxRuleHeaderBytes, 1<<30)),
		},
		MaxProjectVars:     o.MaxEnvVars,
		MaxVarValueBytes:   int(o.MaxEnvVal),
		MaxProjectDomains:  o.MaxDomains,
		HTTPSPort:          o.httpsPort,
		DisablePathRouting: !o.PathRouting,
		Version:            version,
		Logger:             log,

		MaxUploadSessions:        o.MaxUploadSessions,
		UploadSessionStale:       o.UploadSessionStale,
		MaxProjectBytes:          o.MaxProjectBytes,
		UploadBytesInFlight:      o.UploadInflight,
		UploadBytesInFlightTotal: o.UploadInflightTotal,

		AuthFailLimit:       o.AuthFailLimit,
		DisableDashboard:    !o.Dashboard,
		DashboardSessionTTL: o.DashboardSession,
		AuthFailWindow:      o.AuthFailWindow,
		AuthFailClients:     o.AuthFailClients,
		MaxCachedMisses:     o.UnknownNames,

		Logs: projectlog.Config{
			ProjectBytes: o.LogsProjectBytes,
			TotalBytes:   o.LogsTotalBytes,
			Followers:    o.LogsFollowers,
			MaxLine:      int(min(o.LogsMaxLine, 1<<30)),
		},
	})
	if err != nil {
		return err
	}
	defer h.Close()

	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	if o.TLSCert == "" {
		ln = coalesce.Listener(ln)
	}
	srv := &http.Server{
		Handler:           h,
		ConnContext:       coalesce.ConnContext,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(h.EndStreams)
	scheme := "http"
	if o.TLSCert != "" {
		scheme = "https"
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	}
	addr := ln.Addr().String()
	projects := fmt.Sprintf("%s://<project-id>.%s:%s/", scheme, h.BaseDomain(), portOf(addr))
	if o.PathRouting {
		projects += fmt.Sprintf(" or %s://%s/__project/<project-id>/", scheme, addr)
	}
	log.Info("cfhost listening", "version", version, "api", scheme+"://"+addr+"/__api/",
		"projects", projects, "data_dir", o.DataDir)

	errc := make(chan error, 3)
	var hsrv *http.Server
	if o.HTTPS {
		acme, err := newACMEManager(o, h, log)
		if err != nil {
			return err
		}
		defer acme.stop()
		hln, err := net.Listen("tcp", o.HTTPSListen)
		if err != nil {
			return fmt.Errorf("listen for HTTPS on %s: %w", o.HTTPSListen, err)
		}
		srv.Handler = acme.httpHandler(h)
		hsrv = &http.Server{
			Handler:           h,
			TLSConfig:         acme.tlsConfig(),
			ReadHeaderTimeout: srv.ReadHeaderTimeout,
			IdleTimeout:       srv.IdleTimeout,
			MaxHeaderBytes:    srv.MaxHeaderBytes,
			ErrorLog:          srv.ErrorLog,
		}
		hsrv.RegisterOnShutdown(h.EndStreams)
		log.Info("https listening", "addr", hln.Addr().String(), "acme_ca", o.ACMECA)
		go func() { errc <- hsrv.ServeTLS(hln, "", "") }()
	}
	if o.MetricsListen != "" {
		mln, err := net.Listen("tcp", o.MetricsListen)
		if err != nil {
			return fmt.Errorf("listen for metrics on %s: %w", o.MetricsListen, err)
		}
		msrv := &http.Server{Handler: metricsMux(h), ReadHeaderTimeout: 10 * time.Second}
		defer msrv.Close()
		log.Info("metrics listening", "url", "http://"+mln.Addr().String()+"/metrics")
		go func() { errc <- msrv.Serve(mln) }()
	}
	go func() {
		if o.TLSCert != "" {
			errc <- srv.ServeTLS(ln, o.TLSCert, o.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: letting in-flight requests finish (up to 10s)")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if hsrv != nil {
		if err := hsrv.Shutdown(sctx); err != nil {
			log.Warn("HTTPS shutdown incomplete", "err", err)
		}
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown incomplete", "err", err)
	}
	return nil
}

// metricsMux serves the metrics, without a token, at /metrics (where
// Prometheus looks by default) and /__metrics, on the --metrics-listen
// address only the operator should reach.
func metricsMux(h *host.Host) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h.MetricsHandler())
	mux.Handle("GET /__metrics", h.MetricsHandler())
	return mux
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
