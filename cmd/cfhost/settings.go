package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// setting is one `cfhost serve` setting: a typed flag, the config key and
// CFHOST_ variable derived from its name, and where its parsed value goes.
//
// Each flag is registered with its real type, so pflag parses the command
// line (a bool flag never swallows the next argument). Values that arrive
// through the environment or the config file are strings; they are parsed
// by the same strict parser rather than viper's lenient getters, which turn
// "yes" or "10MB" into a silent zero.
type setting struct {
	flag  string
	usage string
	// define registers the flag with its typed default.
	define func(f *pflag.FlagSet)
	// parse checks the merged value and stores it.
	parse func(s string) error
}

// key is the setting's config-file key; the environment variable is
// CFHOST_ + key upper-cased.
func (s setting) key() string { return strings.ReplaceAll(s.flag, "-", "_") }

func stringSetting(flag, def, usage string, dst *string) setting {
	return setting{flag: flag, usage: usage,
		define: func(f *pflag.FlagSet) { f.String(flag, def, usage) },
		parse:  func(s string) error { *dst = s; return nil },
	}
}

func boolSetting(flag string, def bool, usage string, dst *bool) setting {
	return setting{flag: flag, usage: usage,
		define: func(f *pflag.FlagSet) { f.Bool(flag, def, usage) },
		parse: func(s string) error {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("--%s %q is not true or false", flag, s)
			}
			*dst = b
			return nil
		},
	}
}

// listSetting is a repeatable flag; from the environment or the config
// file it is one comma-separated string.
func listSetting(flag, usage string, dst *[]string) setting {
	return setting{flag: flag, usage: usage,
		define: func(f *pflag.FlagSet) { f.Var(&listValue{}, flag, usage) },
		parse: func(s string) error {
			*dst = nil
			for v := range strings.SplitSeq(s, ",") {
				if v = strings.TrimSpace(v); v != "" {
					*dst = append(*dst, v)
				}
			}
			return nil
		},
	}
}

// listValue collects a repeated flag; its string form is comma-separated.
type listValue []string

func (l *listValue) Set(s string) error { *l = append(*l, s); return nil }
func (l *listValue) Type() string       { return "strings" }
func (l *listValue) String() string     { return strings.Join(*l, ",") }

// durationSetting accepts Go durations ("30s", "24h") greater than zero.
func durationSetting(flag string, def time.Duration, usage string, dst *time.Duration) setting {
	return setting{flag: flag, usage: usage,
		define: func(f *pflag.FlagSet) { f.Duration(flag, def, usage) },
		parse: func(s string) error {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				return fmt.Errorf("--%s %q is not a positive duration such as %s", flag, s, def)
			}
			*dst = d
			return nil
		},
	}
}

// intSetting accepts whole numbers of at least min.
func intSetting(flag string, def, min int, usage string, dst *int) setting {
	return setting{flag: flag, usage: usage,
		define: func(f *pflag.FlagSet) { f.Int(flag, def, usage) },
		parse: func(s string) error {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < min {
				return fmt.Errorf("--%s %q is not a whole number >= %d", flag, s, min)
			}
			*dst = n
			return nil
		},
	}
}

// bytesSetting accepts a positive byte count with an optional KiB, MiB or
// GiB suffix.
func bytesSetting(flag string, def int64, usage string, dst *int64) setting {
	return setting{flag: flag, usage: usage,
		define: func(f *pflag.FlagSet) {
			v := byteSize(def)
			f.Var(&v, flag, usage)
		},
		parse: func(s string) error {
			n, err := parseSize(s)
			if err != nil || n <= 0 {
				return fmt.Errorf("--%s %q is not a positive number of bytes (such as 512KiB, 64MiB, 1GiB)", flag, s)
			}
			*dst = n
			return nil
		},
	}
}

// intBytesSetting is bytesSetting for a limit kept as an int, at most 1 GiB.
func intBytesSetting(flag string, def int, usage string, dst *int) setting {
	var n int64
	st := bytesSetting(flag, int64(def), usage, &n)
	parse := st.parse
	st.parse = func(s string) error {
		if err := parse(s); err != nil {
			return err
		}
		if n > 1<<30 {
			return fmt.Errorf("--%s %q is over 1GiB", flag, s)
		}
		*dst = int(n)
		return nil
	}
	return st
}

// byteSize is a pflag.Value for byte counts, so `--max-body 8MiB` is
// checked while the command line is parsed and help shows the default in
// the unit it was written in.
type byteSize int64

func (b *byteSize) Set(s string) error {
	n, err := parseSize(s)
	if err != nil || n <= 0 {
		return fmt.Errorf("%q is not a positive number of bytes (such as 512KiB, 64MiB, 1GiB)", s)
	}
	*b = byteSize(n)
	return nil
}

func (b *byteSize) Type() string { return "bytes" }

func (b *byteSize) String() string {
	n := int64(*b)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// parseSize reads a byte count: digits with an optional KiB, MiB or GiB suffix.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil && n > (1<<62)/mult {
		return 0, fmt.Errorf("%s is too large", s)
	}
	return n * mult, err
}

// defineSettings registers every setting's flag on f.
func defineSettings(f *pflag.FlagSet, settings []setting) {
	for _, s := range settings {
		s.define(f)
	}
}

// loadSettings merges each setting's flag, CFHOST_ variable and config-file
// key in v (flag > environment > file > default) and parses the result.
func loadSettings(f *pflag.FlagSet, v *viper.Viper, settings []setting) error {
	for _, s := range settings {
		fl := f.Lookup(s.flag)
		if err := v.BindPFlag(s.key(), fl); err != nil {
			return err
		}
		v.SetDefault(s.key(), fl.DefValue)
	}
	for _, s := range settings {
		if err := s.parse(v.GetString(s.key())); err != nil {
			return err
		}
	}
	return nil
}

// byteSizeString writes n as the flags accept it, in the largest whole unit.
func byteSizeString(n int64) string { b := byteSize(n); return b.String() }
