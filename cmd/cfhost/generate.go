package main

// docs/configuration.md lists cfhost's flags; its cfhost part is written by
// TestConfigurationDoc from the commands themselves.

//go:generate go test -run ^TestConfigurationDoc$ . -update-docs
