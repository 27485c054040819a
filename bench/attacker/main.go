// Command attacker is the load side of bench/neighbour.sh: it deploys a
// victim project and one attacker project per tenant attack on a running
// cfhost, and mounts one attack at a time against it, so the script can
// measure what each attack costs a neighbour.
//
//	attacker setup -api URL -token T -guest slow.wasm -dir DIR
//	attacker run -attack NAME -addr 127.0.0.1:PORT -id PROJECT -for 20s [-api URL -token T]
//
// setup prints one "name id" line per project. run keeps the attack up for
// -for and stops; every loop in it is bounded in count and time, and it
// only ever talks to the given loopback address.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "setup":
		err = setupCmd(os.Args[2:])
	case "run":
		err = runCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "attacker:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: attacker setup -api URL -token T -guest WASM -dir DIR\n       attacker run -attack NAME -addr HOST:PORT -id PROJECT -for DURATION [-api URL -token T]")
	os.Exit(2)
}

func setupCmd(args []string) error {
	fs := flag.NewFlagSet("setup", flag.ExitOnError)
	apiURL := fs.String("api", "", "cfhost base URL")
	token := fs.String("token", "", "admin API token")
	guest := fs.String("guest", "", "the server-code guest (wasm) for the victim and the server-code attackers")
	dir := fs.String("dir", "", "a scratch directory for the sites")
	fs.Parse(args)
	if *apiURL == "" || *token == "" || *guest == "" || *dir == "" {
		return fmt.Errorf("setup needs -api, -token, -guest and -dir")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	return setup(ctx, *apiURL, *token, *guest, *dir, os.Stdout)
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	a := attack{}
	fs.StringVar(&a.name, "attack", "", "the attack: "+attackNames())
	fs.StringVar(&a.addr, "addr", "127.0.0.1:8080", "cfhost's address")
	fs.StringVar(&a.id, "id", "", "the attacker's project")
	fs.StringVar(&a.apiURL, "api", "", "cfhost base URL (rebuild)")
	fs.StringVar(&a.token, "token", "", "admin API token (rebuild)")
	fs.StringVar(&a.from, "from", "", "local address to send from, e.g. 127.0.0.2 (default: any)")
	dur := fs.Duration("for", 20*time.Second, "how long to keep the attack up (at most 10m)")
	fs.Parse(args)
	fn, ok := attacks[a.name]
	if !ok {
		return fmt.Errorf("unknown attack %q; want one of %s", a.name, attackNames())
	}
	if *dur <= 0 || *dur > 10*time.Minute {
		return fmt.Errorf("-for %s: want between 0 and 10m", *dur)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	stats := fn(ctx, &a)
	fmt.Fprintf(os.Stderr, "attacker %s: %s\n", a.name, stats)
	return nil
}
