package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/jsrt"
	"github.com/spf13/viper"
)

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cfhost.yaml")
	os.WriteFile(file, []byte("listen: 127.0.0.1:1111\ndata_dir: /from/file\nbase_domain: file.test\ngc_grace: 2h\n"), 0o644)
	cases := []struct {
		name   string
		args   []string
		env    map[string]string
		listen string
		data   string
		domain string
	}{
		{"defaults", nil, nil, "127.0.0.1:8788", "./cfhost-data", "localhost"},
		{"file over default", []string{"--config", file}, nil, "127.0.0.1:1111", "/from/file", "file.test"},
		{"config from env", nil, map[string]string{"CFHOST_CONFIG": file}, "127.0.0.1:1111", "/from/file", "file.test"},
		{"env over file", []string{"--config", file}, map[string]string{"CFHOST_LISTEN": "127.0.0.1:2222", "CFHOST_DATA_DIR": "/from/env"}, "127.0.0.1:2222", "/from/env", "file.test"},
		{"flag over env", []string{"--config", file, "--listen", "127.0.0.1:3333"}, map[string]string{"CFHOST_LISTEN": "127.0.0.1:2222"}, "127.0.0.1:3333", "/from/file", "file.test"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			cmd := newServeCmd()
			if err := cmd.ParseFlags(c.args); err != nil {
				t.Fatal(err)
			}
			o, err := loadServeOptions(cmd, viper.New())
			if err != nil {
				t.Fatal(err)
			}
			if o.Listen != c.listen || o.DataDir != c.data || o.BaseDomain != c.domain {
				t.Fatalf("got listen=%s data=%s domain=%s", o.Listen, o.DataDir, o.BaseDomain)
			}
		})
	}
}

func TestBadServeOptions(t *testing.T) {
	for _, args := range [][]string{
		{"--tls-cert", "x.pem"},
		{"--trust-proxy", "not-a-cidr"},
		{"--gc-grace", "soon"},
		{"--gc-interval", "0s"},
		{"--gc-interval", "hourly"},
		{"--cache-bytes", "lots"},
		{"--cache-files", "tmpfs"},
		{"--max-files", "0"},
		{"--log-level", "loud"},
		{"--path-routing=maybe"},
		{"--worker-timeout", "0s"},
		{"--worker-memory", "big"},
		{"--worker-concurrency", "-1"},
		{"--auth-fail-limit", "0"},
		{"--auth-fail-limit", "many"},
		{"--auth-fail-window", "0s"},
		{"--auth-fail-clients", "-5"},
		{"--worker-body-budget", "0"},
		{"--worker-body-timeout", "forever"},
		{"--worker-tenant-queue", "-2"},
		{"--worker-max-body", "300MiB"},
		{"--worker-outbound", "private"},
		{"--worker-outbound-allow", "no-port"},
		{"--config", "/does/not/exist.yaml"},
		{"--database", "mysql://db/cfhost"},
		{"--database-poll", "0s"},
		{"--database-switch-delay", "-1s"},
	} {
		// Typed flags refuse some values while parsing, the rest when
		// the merged options are checked.
		cmd := newServeCmd()
		if err := cmd.ParseFlags(args); err != nil {
			continue
		}
		if _, err := loadServeOptions(cmd, viper.New()); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

// TestBackupRefusesSharedDatabase: with CFHOST_DATABASE set, backup and
// restore say that they cover only the SQLite store instead of copying a
// data directory that holds none of the host's data.
func TestBackupRefusesSharedDatabase(t *testing.T) {
	t.Setenv("CFHOST_DATABASE", "postgres://db.invalid/cfhost")
	for _, sub := range []string{"backup", "restore"} {
		cmd := newRootCmd()
		cmd.SetArgs([]string{sub, filepath.Join(t.TempDir(), "x.db"), "--data-dir", t.TempDir()})
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "pg_dump") {
			t.Errorf("%s with CFHOST_DATABASE: %v", sub, err)
		}
	}
}

func TestWorkerOptions(t *testing.T) {
	cmd := newServeCmd()
	if err := cmd.ParseFlags([]string{"--worker-timeout", "5s", "--worker-memory", "64MiB", "--worker-tenant-concurrency", "3",
		"--worker-body-budget", "64MiB", "--worker-body-timeout", "90s", "--worker-tenant-queue", "5"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CFHOST_WORKER_QUEUE", "7")
	o, err := loadServeOptions(cmd, viper.New())
	if err != nil {
		t.Fatal(err)
	}
	if o.Worker.Timeout != 5*time.Second || o.Worker.MemoryLimit != 64<<20 || o.Worker.TenantConcurrency != 3 ||
		o.Worker.QueueSize != 7 || o.Worker.MaxBody != 10<<20 || o.Worker.Concurrency != 0 ||
		o.Worker.BodyBudget != 64<<20 || o.Worker.BodyTimeout != 90*time.Second || o.Worker.TenantQueue != 5 {
		t.Fatalf("worker options %+v", o.Worker)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"100": 100, "2KiB": 2048, "256 MiB": 256 << 20, "1GiB": 1 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "x", "1.5MiB", "10MB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

// Flags are typed: a bool flag does not take the next argument as its value,
// and values from the environment are parsed as strictly as flags.
func TestTypedServeFlags(t *testing.T) {
	cmd := newServeCmd()
	if err := cmd.ParseFlags([]string{"--access-log", "--data-dir", "/x", "--max-body", "96MiB", "--gc-grace", "2h"}); err != nil {
		t.Fatal(err)
	}
	o, err := loadServeOptions(cmd, viper.New())
	if err != nil {
		t.Fatal(err)
	}
	if !o.AccessLog || o.DataDir != "/x" || o.MaxBody != 96<<20 || o.GCGrace != 2*time.Hour {
		t.Fatalf("options %+v", o)
	}
	for _, c := range []struct{ env, value string }{
		{"CFHOST_ACCESS_LOG", "yes"},
		{"CFHOST_MAX_BODY", "10MB"},
		{"CFHOST_WORKER_QUEUE", "many"},
		{"CFHOST_GC_GRACE", "1 day"},
	} {
		t.Run(c.env, func(t *testing.T) {
			t.Setenv(c.env, c.value)
			cmd := newServeCmd()
			if err := cmd.ParseFlags(nil); err != nil {
				t.Fatal(err)
			}
			if _, err := loadServeOptions(cmd, viper.New()); err == nil || !strings.Contains(err.Error(), c.value) {
				t.Fatalf("%s=%s: err %v", c.env, c.value, err)
			}
		})
	}
	t.Run("env false", func(t *testing.T) {
		t.Setenv("CFHOST_ACCESS_LOG", "false")
		cmd := newServeCmd()
		cmd.ParseFlags(nil)
		if o, err := loadServeOptions(cmd, viper.New()); err != nil || o.AccessLog {
			t.Fatalf("access log %v, err %v", o.AccessLog, err)
		}
	})
	if err := newServeCmd().ParseFlags([]string{"--max-body", "lots"}); err == nil {
		t.Fatal("--max-body lots parsed")
	}
}

func TestContradictoryLimits(t *testing.T) {
	for _, args := range [][]string{
		{"--max-body", "8MiB"}, // the default 25 MiB file cannot travel in it
		{"--max-file-size", "2MiB", "--max-body", "1MiB"},
	} {
		cmd := newServeCmd()
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		if _, err := loadServeOptions(cmd, viper.New()); err == nil || !strings.Contains(err.Error(), "--max-body") {
			t.Errorf("%v: err %v", args, err)
		}
	}
}

// The limits on one project request's work: defaults and overrides.
func TestRequestWorkOptions(t *testing.T) {
	cmd := newServeCmd()
	if err := cmd.ParseFlags([]string{"--max-request-target", "8KiB", "--max-rule-header-bytes", "1000"}); err != nil {
		t.Fatal(err)
	}
	o, err := loadServeOptions(cmd, viper.New())
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxTarget != 8<<10 || o.MaxRuleSubstitution != 16<<10 || o.MaxRuleHeaderBytes != 1000 {
		t.Fatalf("target %d, substitution %d, header bytes %d", o.MaxTarget, o.MaxRuleSubstitution, o.MaxRuleHeaderBytes)
	}
	for _, args := range [][]string{{"--max-request-target", "0"}, {"--max-rule-substitution", "-5"}, {"--max-rule-header-bytes", "big"}} {
		cmd := newServeCmd()
		if err := cmd.ParseFlags(args); err != nil {
			continue
		}
		if _, err := loadServeOptions(cmd, viper.New()); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

// TestPathRoutingOption: path routing is on unless turned off by flag or
// environment.
func TestPathRoutingOption(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		env  string
		want bool
	}{
		{"default on", nil, "", true},
		{"flag off", []string{"--path-routing=false"}, "", false},
		{"env off", nil, "false", false},
		{"flag over env", []string{"--path-routing=true"}, "false", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.env != "" {
				t.Setenv("CFHOST_PATH_ROUTING", c.env)
			}
			cmd := newServeCmd()
			if err := cmd.ParseFlags(c.args); err != nil {
				t.Fatal(err)
			}
			o, err := loadServeOptions(cmd, viper.New())
			if err != nil {
				t.Fatal(err)
			}
			if o.PathRouting != c.want {
				t.Fatalf("PathRouting = %v, want %v", o.PathRouting, c.want)
			}
		})
	}
}

func TestCacheFilesOption(t *testing.T) {
	for _, c := range []struct {
		args     []string
		inMemory bool
	}{{nil, false}, {[]string{"--cache-files", "disk"}, false}, {[]string{"--cache-files", "memory"}, true}} {
		cmd := newServeCmd()
		if err := cmd.ParseFlags(c.args); err != nil {
			t.Fatal(err)
		}
		o, err := loadServeOptions(cmd, viper.New())
		if err != nil {
			t.Fatal(err)
		}
		if o.CacheFilesInMemory != c.inMemory {
			t.Errorf("%v: CacheFilesInMemory = %v", c.args, o.CacheFilesInMemory)
		}
	}
}

// The sample configuration in contrib/ stays valid as settings change.
func TestSampleConfig(t *testing.T) {
	cmd := newServeCmd()
	if err := cmd.ParseFlags([]string{"--config", "../../contrib/cfhost.yaml"}); err != nil {
		t.Fatal(err)
	}
	o, err := loadServeOptions(cmd, viper.New())
	if err != nil {
		t.Fatal(err)
	}
	if o.DataDir != "/var/lib/cfhost" || o.PathRouting || o.AccessLogFile != "/var/log/cfhost/access.log" {
		t.Fatalf("sample config read as %+v", o)
	}
}

func TestAuthFailOptions(t *testing.T) {
	cmd := newServeCmd()
	if err := cmd.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	o, err := loadServeOptions(cmd, viper.New())
	if err != nil {
		t.Fatal(err)
	}
	if o.AuthFailLimit != 20 || o.AuthFailWindow != time.Minute || o.AuthFailClients != 10000 {
		t.Fatalf("defaults: limit %d window %s clients %d", o.AuthFailLimit, o.AuthFailWindow, o.AuthFailClients)
	}
	cmd = newServeCmd()
	if err := cmd.ParseFlags([]string{"--auth-fail-limit", "5", "--auth-fail-window", "10m"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CFHOST_AUTH_FAIL_CLIENTS", "50")
	if o, err = loadServeOptions(cmd, viper.New()); err != nil {
		t.Fatal(err)
	}
	if o.AuthFailLimit != 5 || o.AuthFailWindow != 10*time.Minute || o.AuthFailClients != 50 {
		t.Fatalf("set: limit %d window %s clients %d", o.AuthFailLimit, o.AuthFailWindow, o.AuthFailClients)
	}
}

func TestJSLimitOptions(t *testing.T) {
	cmd := newServeCmd()
	if err := cmd.ParseFlags([]string{"--worker-subrequests", "7", "--worker-console-lines", "9", "--worker-console-line", "1KiB", "--worker-max-response-head", "64KiB", "--worker-error-text", "2KiB"}); err != nil {
		t.Fatal(err)
	}
	o, err := loadServeOptions(cmd, viper.New())
	if err != nil {
		t.Fatal(err)
	}
	want := jsrt.Limits{Subrequests: 7, ConsoleLines: 9, ConsoleLineBytes: 1 << 10, ResponseHeadBytes: 64 << 10, ErrorBytes: 2 << 10}
	if o.JSLimits != want {
		t.Errorf("JSLimits = %+v, want %+v", o.JSLimits, want)
	}
	for _, args := range [][]string{{"--worker-subrequests", "0"}, {"--worker-console-line", "2GiB"}, {"--worker-error-text", "none"}} {
		cmd := newServeCmd()
		if err := cmd.ParseFlags(args); err != nil {
			continue
		}
		if _, err := loadServeOptions(cmd, viper.New()); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}
