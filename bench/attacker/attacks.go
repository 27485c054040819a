package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/client"
)

// attack is one attack's target and the tally of what it got back.
type attack struct {
	name, addr, id, apiURL, token, from string

	mu       sync.Mutex
	statuses map[string]int
}

// attacks are the attacks by name, each keeping its load up until ctx ends.
var attacks = map[string]func(context.Context, *attack) string{
	// The control: the same eight connections asking for a plain page,
	// what any busy neighbour costs on a shared core.
	"plain": requestLoop(8, func(int) string { return "/" }),
	"amplify": requestLoop(8, func(i int) string {
		long := strings.Repeat("p", 10<<10)
		if i%2 == 0 {
			return "/h/" + long
		}
		return "/r/" + long
	}),
	"maximal": requestLoop(8, func(int) string { return "/" + strings.Repeat("-", 16000) }),
	"deep404": requestLoop(8, func(int) string { return "/" + strings.Repeat("a/", 8000) }),
	"auth":    authLoop,
	"trickle": trickle,
	"flood":   flood,
	"rebuild": rebuild,
}

func attackNames() string {
	var names []string
	for n := range attacks {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// count records one answer (or failure) by its status.
func (a *attack) count(status string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.statuses == nil {
		a.statuses = map[string]int{}
	}
	a.statuses[status]++
}

// tally is what count recorded, e.g. "404×1200 error×3".
func (a *attack) tally() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var parts []string
	for s, n := range a.statuses {
		parts = append(parts, fmt.Sprintf("%s×%d", s, n))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "no answers"
	}
	return strings.Join(parts, " ")
}

// dialer connects from a.from when it is set, so an attack can come from
// its own loopback address.
func (a *attack) dialer() *net.Dialer {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if a.from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(a.from)}
	}
	return d
}

// httpClient sends through a.dialer, with room for many connections.
func (a *attack) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         a.dialer().DialContext,
		MaxIdleConnsPerHost: 256,
	}}
}

// host is the attacker project's subdomain.
func (a *attack) host() string { return a.id + ".localhost" }

// rawGet sends one GET with a byte-exact target and reads the whole answer,
// within 30 s, returning its status code ("error" when there is none).
func (a *attack) rawGet(ctx context.Context, target, extra string) string {
	conn, err := a.dialer().DialContext(ctx, "tcp", a.addr)
	if err != nil {
		return "error"
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n", target, a.host(), extra)
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil {
		return "error"
	}
	io.Copy(io.Discard, br)
	if f := strings.Fields(line); len(f) >= 2 {
		return f[1]
	}
	return "error"
}

// requestLoop is an attack of conns connections that each send the target
// of their i-th request, one after another, until ctx ends.
func requestLoop(conns int, target func(i int) string) func(context.Context, *attack) string {
	return func(ctx context.Context, a *attack) string {
		var wg sync.WaitGroup
		for range conns {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					a.count(a.rawGet(ctx, target(i), ""))
				}
			})
		}
		wg.Wait()
		return a.tally()
	}
}

// authLoop sends API requests with a wrong token from 8 connections, one
// after another: the repeated authentication failures of one address.
func authLoop(ctx context.Context, a *attack) string {
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				a.count(a.rawGet(ctx, "/__api/projects", "Authorization: Bearer wrong-token\r\n"))
			}
		})
	}
	wg.Wait()
	return a.tally()
}

// trickle opens 300 connections to the attacker's server code, each
// declaring a 10 MiB body and sending 1 KiB of it every 3 s; a connection
// the host closes is opened again at the next turn.
func trickle(ctx context.Context, a *attack) string {
	const conns, declared = 300, 10 << 20
	chunk := strings.Repeat("t", 1<<10)
	open := make([]net.Conn, conns)
	defer func() {
		for _, c := range open {
			if c != nil {
				c.Close()
			}
		}
	}()
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	for {
		for i, c := range open {
			if c == nil {
				var err error
				c, err = a.dialer().DialContext(ctx, "tcp", a.addr)
				if err != nil {
					a.count("dial-error")
					continue
				}
				a.count("opened")
				open[i] = c
				fmt.Fprintf(c, "POST /?ms=0 HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", a.host(), declared)
			}
			c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := io.WriteString(c, chunk); err != nil {
				a.count("closed-by-host")
				c.Close()
				open[i] = nil
			}
		}
		select {
		case <-ctx.Done():
			return a.tally()
		case <-tick.C:
		}
	}
}

// flood keeps 140 requests that each hold the attacker's server code for
// 20 s in flight: more than the host's whole default queue on one core.
func flood(ctx context.Context, a *attack) string {
	hc := a.httpClient()
	var wg sync.WaitGroup
	for range 140 {
		wg.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.addr+"/?ms=20000", nil)
				req.Host = a.host()
				resp, err := hc.Do(req)
				if err != nil {
					a.count("error")
				} else {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					a.count(fmt.Sprint(resp.StatusCode))
				}
				// A refusal comes back at once: ask again soon, not in a
				// tight loop.
				if time.Since(start) < 100*time.Millisecond {
					select {
					case <-ctx.Done():
					case <-time.After(100 * time.Millisecond):
					}
				}
			}
		})
	}
	wg.Wait()
	return a.tally()
}

// rebuild redeploys the 100,000-path site and sends 50 concurrent first
// requests for it, over and over: every redeploy is a site to build.
func rebuild(ctx context.Context, a *attack) string {
	hc := a.httpClient()
	c, err := client.New(a.apiURL, client.Options{Token: a.token, HTTPClient: hc, MaxAttempts: 1})
	if err != nil {
		return err.Error()
	}
	for cycle := 0; ctx.Err() == nil; cycle++ {
		if err := deployBigSite(ctx, c, a.id, ""); err != nil {
			if ctx.Err() == nil {
				a.count("deploy-error")
				fmt.Fprintf(os.Stderr, "rebuild: %v\n", err)
				time.Sleep(500 * time.Millisecond) // bounded: not a tight loop on a refusal
			}
			continue
		}
		a.count("deploy")
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/p/%06d", a.addr, (cycle*50+i)*1999%bigSitePaths), nil)
				req.Host = a.host()
				resp, err := hc.Do(req)
				if err != nil {
					a.count("error")
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				a.count(fmt.Sprint(resp.StatusCode))
			})
		}
		wg.Wait()
	}
	return a.tally()
}
