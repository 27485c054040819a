package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/cfdeploy/cfdeploy/internal/host"
)

// acmeManager obtains, stores and renews the certificates of custom
// domains through ACME, on demand: a certificate is asked for in the first
// TLS handshake that names a domain, and only when the name is a custom
// domain some project added, so strangers cannot make the host request
// certificates for names of their choosing.
type acmeManager struct {
	cache  *certmagic.Cache
	cfg    *certmagic.Config
	issuer *certmagic.ACMEIssuer
	// static, when set, is the --tls-cert certificate, served for the base
	// domain and the names below it.
	static  *tls.Certificate
	dotBase string
}

// newACMEManager configures certmagic with its storage under the data
// directory (so a restart reuses what was obtained) and h's domains as the
// on-demand decision.
func newACMEManager(o serveOptions, h *host.Host, log *slog.Logger) (*acmeManager, error) {
	m := &acmeManager{dotBase: "." + h.BaseDomain()}
	if o.TLSCert != "" {
		c, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load --tls-cert and --tls-key: %w", err)
		}
		m.static = &c
	}
	var roots *x509.CertPool
	if o.ACMECARoot != "" {
		pem, err := os.ReadFile(o.ACMECARoot)
		if err != nil {
			return nil, fmt.Errorf("--acme-ca-root: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--acme-ca-root %s holds no PEM certificate", o.ACMECARoot)
		}
	}
	zl := zapLogger(log)
	storage := &certmagic.FileStorage{Path: filepath.Join(o.DataDir, "certificates")}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return m.cfg, nil },
		Logger:           zl,
	})
	m.cfg = certmagic.New(m.cache, certmagic.Config{
		Storage: storage,
		Logger:  zl,
		OnDemand: &certmagic.OnDemandConfig{
			DecisionFunc: func(_ context.Context, name string) error {
				if h.IsDomain(name) {
					return nil
				}
				return fmt.Errorf("%s is not a custom domain of any project", name)
			},
		},
	})
	m.issuer = certmagic.NewACMEIssuer(m.cfg, certmagic.ACMEIssuer{
		CA:           o.ACMECA,
		Email:        o.ACMEEmail,
		Agreed:       true,
		TrustedRoots: roots,
		Logger:       zl,
	})
	m.cfg.Issuers = []certmagic.Issuer{m.issuer}
	return m, nil
}

// tlsConfig serves HTTP/2 and HTTP/1.1, answers ACME's TLS-ALPN challenge,
// and picks the --tls-cert certificate for base-domain names and an ACME
// one for everything else.
func (m *acmeManager) tlsConfig() *tls.Config {
	c := m.cfg.TLSConfig()
	c.MinVersion = tls.VersionTLS12
	c.NextProtos = append([]string{"h2", "http/1.1"}, c.NextProtos...)
	acme := c.GetCertificate
	c.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if m.static != nil {
			name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
			if name == "" || name == m.dotBase[1:] || strings.HasSuffix(name, m.dotBase) {
				return m.static, nil
			}
		}
		return acme(hello)
	}
	return c
}

// httpHandler answers ACME's HTTP-01 challenge on the plain listener (when
// it is port 80) before h sees the request.
func (m *acmeManager) httpHandler(h http.Handler) http.Handler {
	return m.issuer.HTTPChallengeHandler(h)
}

func (m *acmeManager) stop() { m.cache.Stop() }

// zapLogger hands certmagic's log lines (it speaks zap) to log.
func zapLogger(log *slog.Logger) *zap.Logger {
	level := zapcore.InfoLevel
	if !log.Enabled(context.Background(), slog.LevelInfo) {
		level = zapcore.WarnLevel
	}
	enc := zapcore.NewConsoleEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(os.Stderr), level)).Named("acme")
}

// httpsPort is the port of an --https-listen address, for redirects.
func httpsPort(addr string) (string, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--https-listen %q: %w", addr, err)
	}
	if port == "" || port == "0" {
		return "", fmt.Errorf("--https-listen %q needs a fixed port: plain HTTP is redirected to it", addr)
	}
	return port, nil
}
