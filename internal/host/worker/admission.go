package worker

// Admission: which request may run now, wait, or is refused, so that one
// project never takes the run slots or the queue from the others.

import (
	"context"
	"net/http"
	"time"
)

// overloaded refuses a request that may succeed if retried shortly.
func overloaded(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	http.Error(w, msg, http.StatusServiceUnavailable)
}

// tenantSlots is one tenant's allowance of execution slots and places;
// refs counts its requests in flight, so the entry goes when the tenant is
// idle.
type tenantSlots struct {
	slots  chan struct{}
	refs   int
	places [2]int // taken, by placeKind; guarded by Runtime.tenantMu
}

// placeKind names the two kinds of a tenant's places, each
// TenantConcurrency+TenantQueue strong.
type placeKind int

const (
	readerPlace placeKind = iota // buffering its request body
	runnerPlace                  // running or waiting for a slot
)

// tenant returns the allowance of a tenant, nil for none.
func (rt *Runtime) tenant(name string) *tenantSlots {
	if name == "" {
		return nil
	}
	rt.tenantMu.Lock()
	defer rt.tenantMu.Unlock()
	ts := rt.tenants[name]
	if ts == nil {
		ts = &tenantSlots{slots: make(chan struct{}, rt.cfg.TenantConcurrency)}
		rt.tenants[name] = ts
	}
	ts.refs++
	return ts
}

// claim takes one of the tenant's places of a kind, or reports false when
// all are taken. A request of no tenant always gets one.
func (rt *Runtime) claim(ts *tenantSlots, kind placeKind) bool {
	if ts == nil {
		return true
	}
	rt.tenantMu.Lock()
	defer rt.tenantMu.Unlock()
	if ts.places[kind] >= rt.cfg.TenantConcurrency+rt.cfg.TenantQueue {
		return false
	}
	ts.places[kind]++
	return true
}

func (rt *Runtime) unclaim(ts *tenantSlots, kind placeKind) {
	if ts == nil {
		return
	}
	rt.tenantMu.Lock()
	defer rt.tenantMu.Unlock()
	ts.places[kind]--
}

func (rt *Runtime) leaveTenant(name string, ts *tenantSlots) {
	if ts == nil {
		return
	}
	rt.tenantMu.Lock()
	defer rt.tenantMu.Unlock()
	if ts.refs--; ts.refs == 0 {
		delete(rt.tenants, name)
	}
}

// acquire takes one of the tenant's slots (when ts is not nil) and then an
// execution slot, waiting in the bounded queue if need be, at most for the
// guest timeout.
func (rt *Runtime) acquire(ctx context.Context, ts *tenantSlots) bool {
	tenantFree := ts == nil
	if !tenantFree {
		select {
		case ts.slots <- struct{}{}:
			tenantFree = true
		default:
		}
	}
	if tenantFree {
		select {
		case rt.slots <- struct{}{}:
			return true
		default:
		}
	}
	if rt.waiting.Add(1) > int64(rt.cfg.QueueSize) {
		rt.waiting.Add(-1)
		if tenantFree && ts != nil {
			<-ts.slots
		}
		return false
	}
	defer rt.waiting.Add(-1)
	t := time.NewTimer(rt.cfg.Timeout)
	defer t.Stop()
	if !tenantFree {
		select {
		case ts.slots <- struct{}{}:
		case <-ctx.Done():
			return false
		case <-t.C:
			return false
		}
	}
	select {
	case rt.slots <- struct{}{}:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	if ts != nil {
		<-ts.slots
	}
	return false
}

func (rt *Runtime) release(ts *tenantSlots) {
	<-rt.slots
	if ts != nil {
		<-ts.slots
	}
}
