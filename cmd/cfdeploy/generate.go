package main

// docs/configuration.md lists cfdeploy's flags and cfdeploy.toml keys; its
// cfdeploy part is written by TestConfigurationDoc from the commands and
// fileConfig themselves.

//go:generate go test -run ^TestConfigurationDoc$ . -update-docs
