package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"authserver/governance"
	"authserver/storage"
)

func (a *app) userCommand() *cobra.Command {
	return group("user", "Manage users", a.userCreateCommand(),
		a.userStatusCommand("deactivate", storage.UserDeactivated), a.userStatusCommand("activate", storage.UserActive))
}

func (a *app) userCreateCommand() *cobra.Command {
	var org, username, kind string
	var admin, passwordStdin bool
	cmd := &cobra.Command{
		Use:   "create --org ORG --username NAME [--kind local] [--admin] [--password-stdin]",
		Short: "Create a user",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Checked before stdin is read; governance checks them again.
			k := storage.UserKind(kind)
			switch k {
			case storage.UserLocal, storage.UserDirectory, storage.UserSAML:
			default:
				return fmt.Errorf("--kind must be local, directory or saml")
			}
			if passwordStdin && k != storage.UserLocal {
				return fmt.Errorf("only local users have a password")
			}
			req := governance.UserRequest{Username: username, Kind: k, Admin: admin}
			if passwordStdin {
				pw, err := readSecretLine(a.stdin)
				if err != nil {
					return fmt.Errorf("read password: %w", err)
				}
				if pw == "" {
					return fmt.Errorf("the password on stdin is empty")
				}
				req.Password = pw
			}
			ctx := cmd.Context()
			s, o, err := a.openOrg(ctx, org)
			if err != nil {
				return err
			}
			defer s.Close()
			u, err := s.gov.CreateUser(ctx, governance.CLI(), o.ID, req)
			var ge *governance.Error
			if errors.As(err, &ge) && ge.Code == "username-taken" {
				return fmt.Errorf("user %q already exists in organization %q", username, org)
			}
			if err != nil {
				return flagError(err, map[string]string{"username": "--username", "kind": "--kind", "password": "the password"})
			}
			fmt.Fprintf(a.stdout, "created user %s (%s)\n", u.Username, u.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization name (required)")
	cmd.Flags().StringVar(&username, "username", "", "username (required)")
	cmd.Flags().StringVar(&kind, "kind", "local", "local, directory or saml")
	cmd.Flags().BoolVar(&admin, "admin", false, "make the user an organization administrator")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the console password from the first line of stdin")
	_ = cmd.MarkFlagRequired("org")
	_ = cmd.MarkFlagRequired("username")
	return cmd
}

func (a *app) userStatusCommand(verb string, status storage.UserStatus) *cobra.Command {
	var org, username string
	cmd := &cobra.Command{
		Use:   verb + " --org ORG --user NAME",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a user",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, o, err := a.openOrg(ctx, org)
			if err != nil {
				return err
			}
			defer s.Close()
			u, err := s.user(ctx, o, username)
			if err != nil {
				return err
			}
			if u.Status == status {
				fmt.Fprintf(a.stdout, "user %s is already %s\n", u.Username, status)
				return nil
			}
			u, err = s.gov.SetUserStatus(ctx, governance.CLI(), o.ID, u.ID, status)
			if governance.KindOf(err) == governance.NotFound {
				return fmt.Errorf("no user %q in organization %q", username, org)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "user %s is now %s\n", u.Username, u.Status)
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization name (required)")
	cmd.Flags().StringVar(&username, "user", "", "username (required)")
	_ = cmd.MarkFlagRequired("org")
	_ = cmd.MarkFlagRequired("user")
	return cmd
}

// readSecretLine reads the first line of r, without its line ending.
func readSecretLine(r interface{ Read([]byte) (int, error) }) (string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 4096)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return "", err
		}
		return "", errors.New("nothing on stdin")
	}
	return strings.TrimRight(sc.Text(), "\r"), nil
}
