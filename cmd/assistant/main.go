// Command assistant is the Marketing Assistant server and its tools.
//
//	assistant [serve]     run the web server (the default)
//	assistant migrate     apply database migrations and exit
//	assistant version     print the version
//
// Run `assistant help` for the full list.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand of the binary.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, stdout io.Writer, args []string, getenv func(string) string) error
}

// commands is the command table; add new subcommands here.
func commands() []command {
	return []command{
		{"serve", "run the web server (default)", runServe},
		{"migrate", "apply database migrations and exit", runMigrate},
		{"version", "print the version", runVersion},
		{"admin", "manage local admin accounts: create|reset-password|list", runAdmin},
		{"sandbox", "run the local WeCom/WeChat sandbox on its own", runSandbox},
		{"apikey", "manage CRM API keys: create --name N --scopes a,b|list|revoke ID", runAPIKey},
		{"identities", "identity maintenance: audit [--repair]", runIdentities},
		{"sync", "sync from WeCom / the Official Account: employees|tags|contacts|groups|fans", runSync},
	}
}

// errUsage marks errors caused by how the command was called.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "assistant:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// run dispatches to a subcommand; "serve" when none is named.
func run(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "help" || name == "-h" || name == "--help" {
		printHelp(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, stdout, args, getenv)
		}
	}
	printHelp(stdout)
	return fmt.Errorf("%w: unknown command %q", errUsage, name)
}

func printHelp(w io.Writer) {
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	fmt.Fprintln(w, "Marketing Assistant", version)
	fmt.Fprintln(w, "\nUsage: assistant <command> [arguments]\n\nCommands:")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nConfiguration comes from environment variables; see README.md.")
}

func runVersion(_ context.Context, stdout io.Writer, _ []string, _ func(string) string) error {
	_, err := fmt.Fprintln(stdout, "assistant", version)
	return err
}
