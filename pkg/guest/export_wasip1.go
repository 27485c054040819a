//go:build wasip1

package guest

import "unsafe"

// The host's side of the protocol, in the order it calls them for each
// request: cfhost_alloc(n) returns the address of n bytes to write the
// request into, then cfhost_serve(n) runs the handler on them and returns
// the address of the CGI response in its upper 32 bits and its length in
// the lower 32. Both buffers belong to the package and are reused by the
// next request.
var (
	request  []byte
	response []byte
)

//go:wasmexport cfhost_alloc
func cfhostAlloc(size uint32) uint32 {
	if uint32(cap(request)) < size {
		request = make([]byte, size)
	}
	request = request[:size]
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(request[:cap(request)]))))
}

//go:wasmexport cfhost_serve
func cfhostServe(size uint32) uint64 {
	if size > uint32(len(request)) {
		size = uint32(len(request))
	}
	response = handle(request[:size], response)
	if len(response) == 0 {
		return 0
	}
	ptr := uint32(uintptr(unsafe.Pointer(unsafe.SliceData(response))))
	return uint64(ptr)<<32 | uint64(uint32(len(response)))
}
