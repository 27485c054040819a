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
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/cfdeploy/cfdeploy/internal/host"
	"github.com/cfdeploy/cfdeploy/internal/host/coalesce"
	"github.com/cfdeploy/cfdeploy/internal/host/worker"
	"github.com/cfdeploy/cfdeploy/pkg/manifest"
)

// serveOptions are the settings of `cfhost serve`, after flags, environment
// and config file have been merged.
type serveOptions struct {
	Listen     string
	DataDir    string
	APIToken   string
	JWTSecret  string
	BaseDomain string
	TLSCert    string
	TLSKey     string
	TrustProxy []netip.Prefix
	GCGrace    time.Duration
	GCInterval time.Duration
	Worker     worker.Config
	CacheBytes int64
	MaxFile    int64
	MaxFiles   int
	MaxBody    int64
	MaxEnvVars int
	MaxEnvVal  int64
	AccessLog  bool
	LogLevel   slog.Level
}

// serveFlags maps each flag to its config key; the environment variable is
// CFHOST_ + the key upper-cased.
var serveFlags = []struct{ flag, key, def, usage string }{
	{"listen", "listen", "127.0.0.1:8788", "address to serve HTTP on"},
	{"data-dir", "data_dir", "./cfhost-data", "directory for cfhost.db, the API token and caches"},
	{"api-token", "api_token", "", "management API token (default: DATA_DIR/api-token, generated when missing)"},
	{"jwt-secret", "jwt_secret", "", "HMAC key for upload tokens (default: generated once, kept in the database)"},
	{"base-domain", "base_domain", "localhost", "serve project ID at ID.DOMAIN"},
	{"tls-cert", "tls_cert", "", "TLS certificate file (enables HTTPS and HTTP/2)"},
	{"tls-key", "tls_key", "", "TLS key file"},
	{"trust-proxy", "trust_proxy", "", "comma-separated CIDRs of proxies whose X-Forwarded-Proto is believed"},
	{"gc-grace", "gc_grace", "24h", "how long blobs no deployment uses are kept"},
	{"gc-interval", "gc_interval", "1h", "how often garbage (expired sessions, unused blobs) is collected"},
	{"worker-timeout", "worker_timeout", "30s", "wall-clock limit of one server-code run (then 504)"},
	{"worker-memory", "worker_memory", "128MiB", "linear-memory limit of one server-code run (then 502)"},
	{"worker-max-body", "worker_max_body", "10MiB", "largest request body passed to server code (then 413)"},
	{"worker-max-stdout", "worker_max_stdout", "32MiB", "largest response server code may print (then 502)"},
	{"worker-concurrency", "worker_concurrency", "0", "server-code runs at once (0: one per core)"},
	{"worker-tenant-concurrency", "worker_tenant_concurrency", "0", "runs at once for one project (0: worker-concurrency minus one, at least 1)"},
	{"worker-queue", "worker_queue", "0", "requests that may wait for a run before 503 (0: 64 per run slot)"},
	{"cache-bytes", "cache_bytes", "268435456", "memory budget for cached asset bytes"},
	{"max-file-size", "max_file_size", "26214400", "largest asset file, in bytes"},
	{"max-files", "max_files", "100000", "most files in one deployment"},
	{"max-body", "max_body", "67108864", "largest API request body, in bytes"},
	{"max-env-vars", "max_env_vars", "64", "most environment variables and secrets one project may keep"},
	{"max-env-value", "max_env_value", "5KiB", "largest value of one project variable or secret"},
	{"access-log", "access_log", "true", "log every project request (API calls are always logged)"},
	{"log-level", "log_level", "info", "debug, info, warn or error"},
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
	for _, fl := range serveFlags {
		f.String(fl.flag, fl.def, fl.usage)
	}
	f.String("config", "", "YAML, TOML or JSON file with the same keys (env CFHOST_CONFIG)")
	return cmd
}

// loadServeOptions merges flags, CFHOST_* variables and the config file.
func loadServeOptions(cmd *cobra.Command, v *viper.Viper) (serveOptions, error) {
	var o serveOptions
	v.SetEnvPrefix("CFHOST")
	v.AutomaticEnv()
	for _, fl := range serveFlags {
		if err := v.BindPFlag(fl.key, cmd.Flags().Lookup(fl.flag)); err != nil {
			return o, err
		}
		v.SetDefault(fl.key, fl.def)
	}
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
	o.Listen = v.GetString("listen")
	o.DataDir = v.GetString("data_dir")
	o.APIToken = v.GetString("api_token")
	o.JWTSecret = v.GetString("jwt_secret")
	o.BaseDomain = v.GetString("base_domain")
	o.TLSCert = v.GetString("tls_cert")
	o.TLSKey = v.GetString("tls_key")
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return o, errors.New("--tls-cert and --tls-key go together")
	}
	for _, s := range strings.FieldsFunc(v.GetString("trust_proxy"), func(r rune) bool { return r == ',' || r == ' ' }) {
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
	if o.GCGrace, err = time.ParseDuration(v.GetString("gc_grace")); err != nil || o.GCGrace <= 0 {
		return o, fmt.Errorf("--gc-grace %q is not a positive duration such as 24h", v.GetString("gc_grace"))
	}
	if o.GCInterval, err = time.ParseDuration(v.GetString("gc_interval")); err != nil || o.GCInterval <= 0 {
		return o, fmt.Errorf("--gc-interval %q is not a positive duration such as 1h", v.GetString("gc_interval"))
	}
	ints := []struct {
		key string
		dst *int64
	}{{"cache_bytes", &o.CacheBytes}, {"max_file_size", &o.MaxFile}, {"max_body", &o.MaxBody}}
	for _, i := range ints {
		n, err := parseSize(v.GetString(i.key))
		if err != nil || n <= 0 {
			return o, fmt.Errorf("--%s %q is not a positive number of bytes", strings.ReplaceAll(i.key, "_", "-"), v.GetString(i.key))
		}
		*i.dst = n
	}
	if o.Worker.Timeout, err = time.ParseDuration(v.GetString("worker_timeout")); err != nil || o.Worker.Timeout <= 0 {
		return o, fmt.Errorf("--worker-timeout %q is not a positive duration such as 30s", v.GetString("worker_timeout"))
	}
	for _, i := range []struct {
		key string
		dst *int64
	}{{"worker_memory", &o.Worker.MemoryLimit}, {"worker_max_body", &o.Worker.MaxBody}, {"worker_max_stdout", &o.Worker.MaxStdout}} {
		n, err := parseSize(v.GetString(i.key))
		if err != nil || n <= 0 {
			return o, fmt.Errorf("--%s %q is not a positive number of bytes", strings.ReplaceAll(i.key, "_", "-"), v.GetString(i.key))
		}
		*i.dst = n
	}
	for _, i := range []struct {
		key string
		dst *int
	}{{"worker_concurrency", &o.Worker.Concurrency}, {"worker_tenant_concurrency", &o.Worker.TenantConcurrency}, {"worker_queue", &o.Worker.QueueSize}} {
		n, err := strconv.Atoi(v.GetString(i.key))
		if err != nil || n < 0 {
			return o, fmt.Errorf("--%s %q is not a whole number >= 0", strings.ReplaceAll(i.key, "_", "-"), v.GetString(i.key))
		}
		*i.dst = n
	}
	o.MaxFiles = v.GetInt("max_files")
	if o.MaxFiles <= 0 {
		return o, fmt.Errorf("--max-files must be positive")
	}
	o.MaxEnvVars = v.GetInt("max_env_vars")
	if o.MaxEnvVars <= 0 {
		return o, fmt.Errorf("--max-env-vars must be positive")
	}
	if o.MaxEnvVal, err = parseSize(v.GetString("max_env_value")); err != nil || o.MaxEnvVal <= 0 || o.MaxEnvVal > 1<<20 {
		return o, fmt.Errorf("--max-env-value %q is not a size from 1 byte to 1MiB", v.GetString("max_env_value"))
	}
	o.AccessLog = v.GetBool("access_log")
	if err := o.LogLevel.UnmarshalText([]byte(v.GetString("log_level"))); err != nil {
		return o, fmt.Errorf("--log-level: %w", err)
	}
	return o, nil
}

// parseSize reads a byte count: digits with an optional KiB, MiB or GiB suffix.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

func runServe(ctx context.Context, o serveOptions) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: o.LogLevel}))
	h, err := host.New(ctx, host.Config{
		DataDir:          o.DataDir,
		APIToken:         o.APIToken,
		JWTSecret:        o.JWTSecret,
		BaseDomain:       o.BaseDomain,
		TrustProxy:       o.TrustProxy,
		Limits:           manifest.Limits{MaxFileSize: o.MaxFile, MaxFiles: o.MaxFiles, MaxBodyBytes: o.MaxBody},
		GCGrace:          o.GCGrace,
		GCInterval:       o.GCInterval,
		Worker:           o.Worker,
		CacheBytes:       o.CacheBytes,
		AccessLog:        o.AccessLog,
		MaxProjectVars:   o.MaxEnvVars,
		MaxVarValueBytes: int(o.MaxEnvVal),
		Version:          version,
		Logger:           log,
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
	scheme := "http"
	if o.TLSCert != "" {
		scheme = "https"
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	}
	addr := ln.Addr().String()
	log.Info("cfhost listening", "version", version, "api", scheme+"://"+addr+"/__api/",
		"projects", fmt.Sprintf("%s://<project-id>.%s:%s/ or %s://%s/__project/<project-id>/", scheme, h.BaseDomain(), portOf(addr), scheme, addr),
		"data_dir", o.DataDir)

	errc := make(chan error, 1)
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
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown incomplete", "err", err)
	}
	return nil
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
