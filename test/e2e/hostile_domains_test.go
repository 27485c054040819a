package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/poll"
	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// pebbleModule is Let's Encrypt's ACME test server, pinned: the test builds
// it from the module proxy (or the module cache) with go install.
const pebbleModule = "github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3"

var (
	pebbleOnce sync.Once
	pebblePath string
	pebbleErr  error
)

// pebbleBinary builds pebble once per test run.
func pebbleBinary(t *testing.T) string {
	t.Helper()
	pebbleOnce.Do(func() {
		bin := filepath.Join(workDir, "pebble-bin")
		cmd := exec.Command("go", "install", pebbleModule)
		cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-mod=mod")
		cmd.Dir = workDir // outside this module: pebble's own go.mod decides its dependencies
		if out, err := cmd.CombinedOutput(); err != nil {
			pebbleErr = fmt.Errorf("go install %s: %v\n%s", pebbleModule, err, out)
			return
		}
		pebblePath = filepath.Join(bin, "pebble")
	})
	if pebbleErr != nil {
		t.Fatal(pebbleErr)
	}
	return pebblePath
}

// pebble is a running ACME server on 127.0.0.1.
type pebble struct {
	cmd       *exec.Cmd
	dir       string // its directory URL
	mgmt      string // its management address (issuing roots)
	caPEMFile string // the CA of its own HTTPS certificate
	httpc     *http.Client
}

// startPebble runs pebble with challenge validation off (no name the test
// uses resolves anywhere; nothing of the machine's DNS is touched) and an
// HTTPS certificate from a CA the test makes.
func startPebble(t *testing.T) *pebble {
	t.Helper()
	bin := pebbleBinary(t)
	dir := t.TempDir()
	caPEM, certPEM, keyPEM := localhostCert(t)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := &pebble{caPEMFile: write("ca.pem", caPEM), mgmt: freeAddr(t)}
	listen := freeAddr(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           listen,
		"managementListenAddress": p.mgmt,
		"certificate":             write("cert.pem", certPEM),
		"privateKey":              write("key.pem", keyPEM),
		"httpPort":                5002,
		"tlsPort":                 5001,
		"ocspResponderURL":        "",
		"retryAfter":              map[string]int{"authz": 1, "order": 1},
	}}
	b, _ := json.Marshal(cfg)
	cfgPath := write("pebble.json", b)
	p.cmd = exec.Command(bin, "-config", cfgPath)
	p.cmd.Env = append(os.Environ(), "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	logf, err := os.Create(filepath.Join(dir, "pebble.log"))
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop()
		logf.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("pebble log:\n%s", out)
		}
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	p.httpc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	p.dir = "https://" + listen + "/dir"
	if !poll.Wait(60*time.Second, func() bool {
		var resp *http.Response
		if resp, err = p.httpc.Get(p.dir); err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}) {
		t.Fatalf("pebble did not answer %s: %v", p.dir, err)
	}
	return p
}

func (p *pebble) stop() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// roots returns the pool of the roots pebble issues under (made anew at
// each start of pebble).
func (p *pebble) roots(t *testing.T) *x509.CertPool {
	t.Helper()
	resp, err := p.httpc.Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if resp.StatusCode != 200 || !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble roots: %d %s", resp.StatusCode, b)
	}
	return pool
}

// localhostCert makes a CA and a certificate it signs for 127.0.0.1 and
// localhost, in PEM.
func localhostCert(t *testing.T) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// httpsTo is a client that sends every request to addr, whatever the URL's
// host, so the URL's name is the SNI and Host without any DNS, and trusts
// roots only.
func httpsTo(addr string, roots *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{
		Timeout: 90 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// TestHostileDomainsACME runs cfhost --https against pebble: an added domain
// gets a certificate on its first handshake and serves its project over
// HTTP/2; names nobody added (and names only a wildcard matches) get no
// certificate, so strangers cannot make the host ask the CA for names;
// plain HTTP to a domain is redirected; and a restart serves the stored
// certificate with pebble gone.
func TestHostileDomainsACME(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs pebble")
	}
	pb := startPebble(t)
	httpsAddr := freeAddr(t)
	srv := startServer(t, "", "--https", "--https-listen", httpsAddr, "--acme-ca", pb.dir,
		"--acme-ca-root", pb.caPEMFile, "--acme-email", "ops@example.com", "--log-level", "info", "--access-log=false")
	ctx := context.Background()
	c := srv.client(t, client.Options{})
	id := createProject(t, c, "shop")
	dir := t.TempDir()
	site{"/index.html": []byte("<h1>shop home</h1>")}.write(t, dir)
	if _, err := c.Deploy(ctx, client.DeployOptions{ProjectID: id, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"shop.example.com", "*.wild.example"} {
		if _, err := c.AddDomain(ctx, id, name); err != nil {
			t.Fatal(err)
		}
	}
	roots := pb.roots(t)
	get := func(hc *http.Client, url string) (*http.Response, string, error) {
		resp, err := hc.Get(url)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b), nil
	}

	resp, body, err := get(httpsTo(httpsAddr, roots), "https://shop.example.com/")
	if err != nil {
		t.Fatalf("HTTPS to an added domain: %v", err)
	}
	if resp.StatusCode != 200 || !strings.Contains(body, "shop home") || resp.ProtoMajor != 2 {
		t.Fatalf("got %s %d %q", resp.Proto, resp.StatusCode, body)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if err := leaf.VerifyHostname("shop.example.com"); err != nil {
		t.Fatal(err)
	}

	for _, name := range []string{"stranger.example.com", "x.wild.example", "localhost"} {
		if _, _, err := get(httpsTo(httpsAddr, roots), "https://"+name+"/"); err == nil {
			t.Errorf("%s: got a certificate; only added names may", name)
		}
	}

	req, _ := http.NewRequest("GET", "http://"+srv.addr+"/a?b=1", nil)
	req.Host = "shop.example.com"
	resp, err = plainHTTP().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, port, _ := net.SplitHostPort(httpsAddr)
	if want := "https://shop.example.com:" + port + "/a?b=1"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("plain HTTP: %d %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	// Restart with the ACME server gone: the certificate comes from the
	// data directory.
	srv.stop()
	pb.stop()
	if err := srv.start(); err != nil {
		t.Fatal(err)
	}
	resp, body, err = get(httpsTo(httpsAddr, roots), "https://shop.example.com/")
	if err != nil {
		t.Fatalf("after restart without pebble: %v", err)
	}
	if resp.StatusCode != 200 || !strings.Contains(body, "shop home") {
		t.Fatalf("after restart: %d %q", resp.StatusCode, body)
	}
	if got := resp.TLS.PeerCertificates[0]; !got.Equal(leaf) {
		t.Fatalf("after restart: a new certificate (serial %s, was %s)", got.SerialNumber, leaf.SerialNumber)
	}
}
