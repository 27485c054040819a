package worker

import (
	"io"
	"net/http"
)

// Admit lets another runtime (the JS one) run a request under the same
// admission as WASI guests: the MaxBody cap, the body budget and reader
// places, the tenant's and the host's execution slots and the bounded
// queue. On success it returns the buffered body and a release to call when
// the run is over; otherwise it has answered the client (413, 408 or 503)
// and ok is false.
func (rt *Runtime) Admit(w http.ResponseWriter, r *http.Request, tenant string) (body []byte, release func(), ok bool) {
	if rt.closed.Load() {
		http.Error(w, "server code is shutting down", http.StatusServiceUnavailable)
		return nil, nil, false
	}
	if r.ContentLength > rt.cfg.MaxBody {
		http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
		return nil, nil, false
	}
	ts := rt.tenant(tenant)
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	if hasBody && !rt.claim(ts, readerPlace) {
		rt.leaveTenant(tenant, ts)
		overloaded(w, "server code of this project is receiving too many request bodies")
		return nil, nil, false
	}
	rb, status := rt.readBody(w, r)
	if hasBody {
		rt.unclaim(ts, readerPlace)
	}
	fail := func() { rb.release(); rt.leaveTenant(tenant, ts) }
	switch status {
	case 0:
	case http.StatusServiceUnavailable:
		fail()
		overloaded(w, "too many request bodies are buffered on this host")
		return nil, nil, false
	default:
		fail()
		http.Error(w, http.StatusText(status), status)
		return nil, nil, false
	}
	if !rt.claim(ts, runnerPlace) {
		fail()
		overloaded(w, "server code of this project is overloaded")
		return nil, nil, false
	}
	if !rt.acquire(r.Context(), ts) {
		rt.unclaim(ts, runnerPlace)
		fail()
		if r.Context().Err() == nil {
			overloaded(w, "server code is overloaded")
		}
		return nil, nil, false
	}
	body, _ = io.ReadAll(rb.reader())
	return body, func() {
		rb.release()
		rt.release(ts)
		rt.unclaim(ts, runnerPlace)
		rt.leaveTenant(tenant, ts)
	}, true
}
