package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"authserver/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, config.OSEnv())
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status. Errors are
// written to stderr, one line each.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env config.Env) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, env: env}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		printError(stderr, err)
		return 1
	}
	return 0
}

// printError writes err as "authserver: …" lines: one per configuration
// problem, otherwise the error on one line.
func printError(w io.Writer, err error) {
	var cerr *config.Errors
	if errors.As(err, &cerr) {
		for _, p := range cerr.Problems {
			fmt.Fprintf(w, "authserver: config: %s\n", p)
		}
		return
	}
	fmt.Fprintf(w, "authserver: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
}

// app holds what every command shares: the streams, the environment and the
// --config flag.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            config.Env
	configPath     string
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "authserver",
		Short:         "OAuth 2.0 server for personal access tokens and RFC 8693 token exchange",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Flags and arguments that do not parse are usage errors, reported
		// like any other error.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.PersistentFlags().StringVar(&a.configPath, "config", "",
		"configuration file (default: $"+config.ConfigFileEnv+", else built-in defaults)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	root.AddCommand(
		a.serveCommand(),
		a.migrateCommand(),
		a.configCommand(),
		a.patCommand(),
		a.userCommand(),
		a.roleCommand(),
		a.orgCommand(),
		a.keysCommand(),
		a.dpopCommand(),
		a.versionCommand(),
	)
	return root
}

// group returns a command that only holds subcommands: alone it prints its
// help, and an unknown subcommand is an error (cobra would otherwise print
// the help and exit 0).
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() }}
	cmd.AddCommand(subs...)
	return cmd
}

// loadConfig reads the configuration named by --config or $AUTHSERVER_CONFIG.
func (a *app) loadConfig() (*config.Config, error) {
	path := a.configPath
	if path == "" {
		path, _ = a.env.LookupEnv(config.ConfigFileEnv)
	}
	return config.Load(path, a.env)
}
