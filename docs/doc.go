// Package docs holds the user documentation of cfhost and cfdeploy as
// Markdown. It has no code; its tests keep the pages and the references to
// them honest.
package docs
