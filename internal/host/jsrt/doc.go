// Package jsrt runs JavaScript server code (Workers-style ES modules) on
// QuickJS-ng compiled to WebAssembly, inside wazero, so a tenant's JS has
// the same hard memory cap and deadline as a WASI guest.
//
// engine.wasm, engine.version and names_gen.go are generated from a pinned
// npm package; nothing at build or test time needs npm.
package jsrt

//go:generate go run ./gen
