// Package client is the Go SDK for the cfhost management API and the deploy
// engine that the cfdeploy CLI drives. Every call has a deadline, failed
// calls are retried with backoff where that is safe, and API failures come
// back as *api.Error carrying the code from the response body, so callers
// branch on codes rather than on message text. The package never prints:
// progress is reported through events.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cfdeploy/cfdeploy/pkg/api"
)

// Options configure a Client. Zero fields take the defaults noted.
type Options struct {
	// Token is sent as a bearer token: the host's admin API token, or a
	// project token (api.ProjectTokenPrefix…) that acts for one project.
	Token string
	// HTTPClient sends the requests; default a client with its own
	// transport. Its Timeout should be zero: deadlines are set per attempt.
	HTTPClient *http.Client
	// RequestTimeout bounds one attempt of an ordinary call, and the wait
	// for the answer once an upload body has been sent. Default 60s.
	RequestTimeout time.Duration
	// StallTimeout aborts an upload attempt when no body byte has moved for
	// this long, so a dead link fails and is retried instead of hanging,
	// while a slow but moving link is never cut off. Default 30s.
	StallTimeout time.Duration
	// MaxAttempts is how often a retryable call is tried in all. Default 5.
	MaxAttempts int
	// BaseBackoff and MaxBackoff bound the exponential backoff between
	// attempts (with jitter). Defaults 250ms and 10s. A Retry-After header
	// from the host is honoured up to MaxRetryAfter (default 2m).
	BaseBackoff, MaxBackoff, MaxRetryAfter time.Duration
	// UserAgent is sent with every request; default "cfdeploy".
	UserAgent string
	// OnRetry, if set, hears about every retry before its wait, so a UI can
	// say why the deploy is slower than usual.
	OnRetry func(RetryInfo)
}

// RetryInfo describes one retry about to happen.
type RetryInfo struct {
	Method, URL string
	Attempt     int           // the attempt that failed, from 1
	Wait        time.Duration // pause before the next attempt
	Err         error         // why the attempt failed
}

// Client talks to one cfhost. It is safe for concurrent use.
type Client struct {
	base *url.URL
	opts Options
	http *http.Client
}

// New returns a client for the host at baseURL ("http://127.0.0.1:8788").
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("parse host URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("host URL %q must look like http://HOST:PORT or https://HOST", baseURL)
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 60 * time.Second
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = 30 * time.Second
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.BaseBackoff <= 0 {
		opts.BaseBackoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = 2 * time.Minute
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "cfdeploy"
	}
	hc := opts.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 16
		hc = &http.Client{Transport: tr}
	}
	return &Client{base: u, opts: opts, http: hc}, nil
}

// BaseURL returns the host URL the client was made for.
func (c *Client) BaseURL() string { return c.base.String() }

// UnreachableError reports that the host could not be reached at all (or
// stopped answering), after any retries. URL is the address tried, so the
// user can see which --host was used.
type UnreachableError struct {
	URL string
	Err error
}

// Error names the host once: the request's path and the copies of the
// URL that net/http and net wrap around the cause are left out.
func (e *UnreachableError) Error() string {
	where := e.URL
	if u, err := url.Parse(e.URL); err == nil && u.Host != "" {
		where = u.Scheme + "://" + u.Host
	}
	cause := e.Err
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err
	}
	var oe *net.OpError
	if errors.As(cause, &oe) && oe.Err != nil {
		cause = oe.Err
	}
	return fmt.Sprintf("cannot reach the host at %s: %v", where, cause)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// request is one API call, rebuilt for every attempt.
type request struct {
	method string
	path   string // below the base URL, already escaped
	query  url.Values
	// body returns a fresh body for each attempt, with its length (-1 if
	// unknown). Nil means no body.
	body func() (io.Reader, int64, error)
	// contentType is the body's type; "" means application/json.
	contentType string
	// json, when body is nil, is marshalled once as the body.
	json any
	// auth overrides the Authorization header (upload tokens).
	auth string
	// idempotent calls are retried after any network error or 5xx; others
	// only when the request surely did not reach the host.
	idempotent bool
	// stall switches the attempt deadline to the stall watchdog (uploads).
	stall bool
	// progress, if set, hears the byte count of each body read.
	progress func(n int)
	// out receives the decoded JSON body of a 2xx response.
	out any
	// stream, when set, reads a 2xx response's body as it arrives, with no
	// deadline but ctx's (log streams); its error ends the call unretried.
	stream func(io.Reader) error
}

// do runs r with retries and returns the final HTTP status.
func (c *Client) do(ctx context.Context, r request) (int, error) {
	if r.body == nil && r.json != nil {
		b, err := json.Marshal(r.json)
		if err != nil {
			return 0, fmt.Errorf("encode request: %w", err)
		}
		r.body = func() (io.Reader, int64, error) { return bytes.NewReader(b), int64(len(b)), nil }
	}
	u := *c.base
	esc := c.base.EscapedPath() + r.path
	unesc, err := url.PathUnescape(esc)
	if err != nil {
		return 0, fmt.Errorf("build URL: %w", err)
	}
	u.Path, u.RawPath = unesc, esc
	if r.query != nil {
		u.RawQuery = r.query.Encode()
	}
	target := u.String()
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := c.attempt(ctx, r, target)
		if err == nil {
			return status, nil
		}
		if ctx.Err() != nil {
			return status, context.Cause(ctx)
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return status, perm.err
		}
		if !retryable(r, status, err) || attempt >= c.opts.MaxAttempts {
			var netErr *networkError
			if errors.As(err, &netErr) {
				return status, &UnreachableError{URL: target, Err: netErr.err}
			}
			return status, err
		}
		wait := c.backoff(attempt, retryAfter)
		if c.opts.OnRetry != nil {
			c.opts.OnRetry(RetryInfo{Method: r.method, URL: target, Attempt: attempt, Wait: wait, Err: err})
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return status, context.Cause(ctx)
		case <-t.C:
		}
	}
}

// networkError marks a failure to exchange a request and response, as
// opposed to an error answer from the host. dialFailed means the connection
// was never made, so even a non-idempotent call may be retried.
type networkError struct {
	err        error
	dialFailed bool
}

func (e *networkError) Error() string { return e.err.Error() }
func (e *networkError) Unwrap() error { return e.err }

// permanentError stops the retry loop: retrying cannot help (a local file
// changed, say).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

var errStalled = errors.New("no progress")

// attempt sends r once. It returns the status, the host's Retry-After (0 if
// none) and an error for network failures and non-2xx answers.
func (c *Client) attempt(ctx context.Context, r request, target string) (int, time.Duration, error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var body io.Reader
	length := int64(0)
	var watch *watchdog
	if r.body != nil {
		b, n, err := r.body()
		if err != nil {
			return 0, 0, &permanentError{err}
		}
		body, length = b, n
	}
	if r.stall {
		watch = newWatchdog(c.opts.StallTimeout, c.opts.RequestTimeout, func() {
			cancel(fmt.Errorf("%w for %s", errStalled, c.opts.StallTimeout))
		})
		defer watch.stop()
		if body != nil {
			body = &watchedReader{r: body, w: watch, progress: r.progress}
		}
	} else if r.stream == nil {
		var stop context.CancelFunc
		actx, stop = context.WithTimeoutCause(actx, c.opts.RequestTimeout,
			fmt.Errorf("no answer within %s", c.opts.RequestTimeout))
		defer stop()
		if body != nil && r.progress != nil {
			body = &watchedReader{r: body, progress: r.progress}
		}
	}
	req, err := http.NewRequestWithContext(actx, r.method, target, body)
	if err != nil {
		return 0, 0, &permanentError{fmt.Errorf("build request: %w", err)}
	}
	if body != nil {
		req.ContentLength = length
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.opts.UserAgent)
	switch {
	case r.auth != "":
		req.Header.Set("Authorization", "Bearer "+r.auth)
	case c.opts.Token != "":
		req.Header.Set("Authorization", "Bearer "+c.opts.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if cause := context.Cause(actx); cause != nil && ctx.Err() == nil {
			err = cause // our own deadline or stall watchdog
		}
		var bodyErr *permanentError
		if wr, ok := body.(*watchedReader); ok && errors.As(wr.firstErr(), &bodyErr) {
			return 0, 0, bodyErr
		}
		if errors.As(err, &bodyErr) {
			return 0, 0, bodyErr
		}
		return 0, 0, &networkError{err: err, dialFailed: isDialError(err)}
	}
	defer resp.Body.Close()
	if watch != nil {
		watch.responded()
	}
	if r.stream != nil && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		if err := r.stream(resp.Body); err != nil {
			return resp.StatusCode, 0, &permanentError{err}
		}
		return resp.StatusCode, 0, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		if cause := context.Cause(actx); cause != nil && ctx.Err() == nil {
			err = cause
		}
		return resp.StatusCode, 0, &networkError{err: fmt.Errorf("read response: %w", err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), decodeError(resp.StatusCode, data)
	}
	if r.out != nil {
		if err := json.Unmarshal(data, r.out); err != nil {
			return resp.StatusCode, 0, &permanentError{fmt.Errorf("decode %s answer from %s: %w", resp.Status, target, err)}
		}
	}
	return resp.StatusCode, 0, nil
}

// retryable decides whether a failed attempt is worth repeating.
func retryable(r request, status int, err error) bool {
	var netErr *networkError
	if errors.As(err, &netErr) {
		return r.idempotent || netErr.dialFailed
	}
	switch {
	case api.ErrorCode(err) == api.CodeRateLimited:
		// The host refuses this address after failed authentications
		// (the same credential again would only fail again), or this
		// project's deploys for the rest of a window (a minute by default).
		return false
	case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable:
		return true // the host says it did not do the work
	case status >= 500 && status != http.StatusNotImplemented:
		return r.idempotent
	}
	return false
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// backoff returns the pause before attempt+1: the host's Retry-After if it
// gave one, otherwise exponential with jitter.
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, c.opts.MaxRetryAfter)
	}
	d := c.opts.BaseBackoff << min(attempt-1, 20)
	d = min(d, c.opts.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// parseRetryAfter reads delta-seconds or an HTTP date; 0 means none.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// decodeError turns an error answer into *api.Error, taking the code from
// errors[0].code and falling back to the status when the body has none (a
// proxy's HTML page, say).
func decodeError(status int, body []byte) error {
	var er api.ErrorResponse
	e := &api.Error{Code: api.CodeForStatus(status)}
	if json.Unmarshal(body, &er) == nil {
		if len(er.Errors) > 0 {
			if er.Errors[0].Code != "" {
				e.Code = er.Errors[0].Code
			}
			e.Message = er.Errors[0].Message
		}
		if e.Message == "" {
			e.Message = er.Error
		}
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("%d %s", status, http.StatusText(status))
	}
	return e
}
