// Package rules parses and matches the serving rules a deployment carries:
// _redirects and _headers files, run_worker_first routes, and the
// html_handling and not_found_handling modes. The host compiles them once
// per deployment and matches every request against them; the client parses
// them with the same code to report problems before anything is uploaded.
// Matching is linear in the request path, whatever a tenant writes, and a
// PatternSet reads a long path once for the literals of all its patterns.
package rules
