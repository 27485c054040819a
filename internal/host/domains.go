package host

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cfdeploy/cfdeploy/internal/host/store"
	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// DefaultMaxProjectDomains is Config.MaxProjectDomains' default: plenty for
// a site's apex, www and a few aliases, and few enough that one tenant
// cannot make the host ask a certificate authority for names by the
// thousand.
const DefaultMaxProjectDomains = 20

// maxHostnameLen is the longest DNS name in its dotted text form.
const maxHostnameLen = 253

// domainTable is the custom-domain routing table: every stored domain, in
// memory, so that routing a request never queries the database. It is
// replaced whole (never changed in place) whenever a domain is added or
// removed or a project deleted.
type domainTable struct {
	exact map[string]string // hostname → project id
	// wildcard maps the parent of a "*.parent" domain to its project: it
	// takes the names exactly one label below parent.
	wildcard map[string]string
}

// domains holds the table and serialises its reloads.
type domains struct {
	table atomic.Pointer[domainTable]
	// mu makes each reload read the database after the change that asked
	// for it and publish after any earlier reload, so the last table
	// published is never older than the last change.
	mu sync.Mutex
}

// reloadDomains rebuilds the routing table from the store.
func (h *Host) reloadDomains(ctx context.Context) error {
	h.domains.mu.Lock()
	defer h.domains.mu.Unlock()
	ds, err := h.store.Domains(ctx, "")
	if err != nil {
		return fmt.Errorf("load domains: %w", err)
	}
	t := &domainTable{exact: make(map[string]string), wildcard: make(map[string]string)}
	for _, d := range ds {
		if parent, ok := strings.CutPrefix(d.Hostname, "*."); ok {
			t.wildcard[parent] = d.ProjectID
		} else {
			t.exact[d.Hostname] = d.ProjectID
		}
	}
	h.domains.table.Store(t)
	return nil
}

// projectFromDomain returns the project a custom domain routes host (a
// Host header, maybe with a port) to. An exact domain wins over a
// wildcard.
func (h *Host) projectFromDomain(host string) (string, bool) {
	t := h.domains.table.Load()
	if t == nil || len(t.exact)+len(t.wildcard) == 0 || strings.HasPrefix(host, "[") {
		return "", false
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if id, ok := t.exact[host]; ok {
		return id, true
	}
	if len(t.wildcard) == 0 {
		return "", false
	}
	if _, parent, ok := strings.Cut(host, "."); ok {
		if id, ok := t.wildcard[parent]; ok {
			return id, true
		}
	}
	return "", false
}

// IsDomain reports whether name (a TLS server name) is a custom domain
// added exactly, not only matched by a wildcard: the names the host may
// ask a certificate authority for. Wildcards are left out so that strangers
// cannot make the host request certificates for names of their choosing.
func (h *Host) IsDomain(name string) bool {
	t := h.domains.table.Load()
	if t == nil {
		return false
	}
	_, ok := t.exact[strings.ToLower(strings.TrimSuffix(name, "."))]
	return ok
}

// normalizeHostname checks that name is a hostname a project may claim and
// returns it in its stored form: lower-case ASCII (IDNA names in their
// xn-- form), no trailing dot, optionally "*." and a name of at least two
// labels. IP addresses, the base domain, the names below it and the names
// above it (whose cookies would reach every project) are refused.
func normalizeHostname(name, base string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	if n == "" {
		return "", errors.New("the hostname is empty")
	}
	if len(n) > maxHostnameLen {
		return "", fmt.Errorf("the hostname is %d characters; DNS allows at most %d", len(n), maxHostnameLen)
	}
	wild := false
	if rest, ok := strings.CutPrefix(n, "*."); ok {
		wild, n = true, rest
	}
	labels := strings.Split(n, ".")
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return "", fmt.Errorf("%q: %w", name, err)
		}
	}
	switch {
	case len(labels) < 2:
		return "", fmt.Errorf("%q: a domain needs at least two labels (like example.com)", name)
	case isIPv4ish(labels[len(labels)-1]):
		return "", fmt.Errorf("%q: IP addresses cannot be custom domains; the last label must not be numeric", name)
	case n == "localhost" || strings.HasSuffix(n, ".localhost"):
		return "", fmt.Errorf("%q: localhost names cannot be custom domains", name)
	}
	dotBase := "." + base
	switch {
	case n == base || strings.HasSuffix(n, dotBase):
		return "", fmt.Errorf("%q is this host's base domain or below it; its projects are served there already", name)
	case strings.HasSuffix(dotBase, "."+n):
		return "", fmt.Errorf("%q is above this host's base domain %s: a page there could set cookies for every project", name, base)
	}
	if wild {
		return "*." + n, nil
	}
	return n, nil
}

// checkLabel accepts one DNS label of letters, digits and hyphens, 1 to 63
// long, not starting or ending with a hyphen (so non-ASCII names must come
// in their xn-- form).
func checkLabel(l string) error {
	if l == "" {
		return errors.New("empty label")
	}
	if len(l) > 63 {
		return fmt.Errorf("label %q is over 63 characters", l)
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("label %q starts or ends with a hyphen", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("label %q has %q: only letters, digits and hyphens are allowed (write international names in their xn-- form)", l, string(rune(c)))
		}
	}
	return nil
}

func toAPIDomain(d store.Domain) api.Domain {
	return api.Domain{Hostname: d.Hostname, ProjectID: d.ProjectID, CreatedAt: d.CreatedAt}
}

func (h *Host) handleListDomains(w http.ResponseWriter, r *http.Request, id string) error {
	if _, err := h.project(r.Context(), id); err != nil {
		return err
	}
	ds, err := h.store.Domains(r.Context(), id)
	if err != nil {
		return err
	}
	res := api.DomainListResponse{Success: true, Domains: make([]api.Domain, 0, len(ds))}
	for _, d := range ds {
		res.Domains = append(res.Domains, toAPIDomain(d))
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (h *Host) handleAddDomain(w http.ResponseWriter, r *http.Request, id string) error {
	var req api.AddDomainRequest
	if err := decodeJSON(w, r, 4096, &req); err != nil {
		return err
	}
	name, err := normalizeHostname(req.Hostname, h.cfg.BaseDomain)
	if err != nil {
		return api.Errorf(api.CodeInvalid, "hostname: %v", err)
	}
	if _, err := h.project(r.Context(), id); err != nil {
		return err
	}
	d, err := h.store.AddDomain(r.Context(), store.Domain{Hostname: name, ProjectID: id, CreatedAt: time.Now()}, h.cfg.MaxProjectDomains)
	var taken *store.DomainTakenError
	switch {
	case errors.As(err, &taken):
		// Whose it is stays private to the admin: a project token learns
		// only that the name is taken.
		return api.Errorf(api.CodeConflict, "%s belongs to another project; remove it there first", name)
	case errors.Is(err, store.ErrLimit):
		return api.Errorf(api.CodeInvalid, "project %s already has %d domains, the most a project may have; remove one first", id, h.cfg.MaxProjectDomains)
	case errors.Is(err, store.ErrNotFound):
		return projectNotFound(id)
	case err != nil:
		return err
	}
	if err := h.reloadDomains(r.Context()); err != nil {
		return err
	}
	h.log.Info("domain added", "project", id, "hostname", name)
	writeJSON(w, http.StatusOK, api.DomainResponse{Success: true, Domain: toAPIDomain(d)})
	return nil
}

func (h *Host) handleDeleteDomain(w http.ResponseWriter, r *http.Request, id, hostname string) error {
	if _, err := h.project(r.Context(), id); err != nil {
		return err
	}
	// The router hands wildcards over as sent; a client may escape "*".
	name, err := url.PathUnescape(hostname)
	if err != nil {
		return api.Errorf(api.CodeInvalid, "hostname %q is not a valid path segment", hostname)
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	err = h.store.DeleteDomain(r.Context(), id, name)
	if errors.Is(err, store.ErrNotFound) {
		return api.Errorf(api.CodeNotFound, "%s is not a domain of project %s", name, id)
	}
	if err != nil {
		return err
	}
	if err := h.reloadDomains(r.Context()); err != nil {
		return err
	}
	h.log.Info("domain removed", "project", id, "hostname", name)
	writeJSON(w, http.StatusOK, api.DeleteDomainResponse{Success: true, Hostname: name})
	return nil
}
