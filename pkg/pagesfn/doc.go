// Package pagesfn turns a Cloudflare Pages project's server code into one
// Workers ES module that cfhost's JavaScript runtime runs: a functions/
// directory with file-based routing (compiled with a generated routing
// table and a small router of our own, bundled by esbuild), or an
// advanced-mode _worker.js. It also reads, validates and generates
// _routes.json, which decides which requests reach that code.
//
// docs/pages-functions.md describes the rules for users, including where
// they had to be chosen because Cloudflare's documentation is silent.
package pagesfn
