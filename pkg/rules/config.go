package rules

import "fmt"

// HTMLHandling modes (docs/asset-serving.md#html-handling).
const (
	AutoTrailingSlash  = "auto-trailing-slash"
	ForceTrailingSlash = "force-trailing-slash"
	DropTrailingSlash  = "drop-trailing-slash"
	HTMLHandlingNone   = "none"
)

// NotFoundHandling modes (docs/asset-serving.md#not-found-handling).
const (
	SinglePageApplication = "single-page-application"
	NotFoundPage          = "404-page"
	NotFoundNone          = "none"
)

// Config is the asset-serving configuration of a deployment, defaults filled.
type Config struct {
	HTMLHandling     string `json:"html_handling"`
	NotFoundHandling string `json:"not_found_handling"`
}

// Normalize fills defaults and reports an unknown mode.
func (c *Config) Normalize() error {
	switch c.HTMLHandling {
	case "":
		c.HTMLHandling = AutoTrailingSlash
	case AutoTrailingSlash, ForceTrailingSlash, DropTrailingSlash, HTMLHandlingNone:
	default:
		return fmt.Errorf("html_handling %q is not one of auto-trailing-slash, force-trailing-slash, drop-trailing-slash, none", c.HTMLHandling)
	}
	switch c.NotFoundHandling {
	case "":
		c.NotFoundHandling = NotFoundNone
	case SinglePageApplication, NotFoundPage, NotFoundNone:
	default:
		return fmt.Errorf("not_found_handling %q is not one of single-page-application, 404-page, none", c.NotFoundHandling)
	}
	return nil
}
