package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"authserver/internal/names"
	"authserver/internal/password"
	"authserver/storage"
)

func (a *app) userCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users", Args: cobra.NoArgs}
	cmd.AddCommand(a.userCreateCommand(), a.userStatusCommand("deactivate", storage.UserDeactivated), a.userStatusCommand("activate", storage.UserActive))
	return cmd
}

func (a *app) userCreateCommand() *cobra.Command {
	var org, username, kind string
	var admin, passwordStdin bool
	cmd := &cobra.Command{
		Use:   "create --org ORG --username NAME [--kind local] [--admin] [--password-stdin]",
		Short: "Create a user",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k := storage.UserKind(kind)
			switch k {
			case storage.UserLocal, storage.UserDirectory, storage.UserSAML:
			default:
				return fmt.Errorf("--kind must be local, directory or saml")
			}
			if passwordStdin && k != storage.UserLocal {
				return fmt.Errorf("only local users have a password")
			}
			if err := validUsername(username); err != nil {
				return err
			}
			u := &storage.User{Username: username, Kind: k, Status: storage.UserActive, Admin: admin}
			if passwordStdin {
				pw, err := readSecretLine(a.stdin)
				if err != nil {
					return fmt.Errorf("read password: %w", err)
				}
				if len(pw) < 8 {
					return fmt.Errorf("the password must have at least 8 characters")
				}
				if u.PasswordHash, err = password.Hash(pw, password.Default); err != nil {
					return err
				}
			}
			return a.withOrg(cmd.Context(), org, func(ctx context.Context, st storage.Store, o *storage.Organization) error {
				u.OrgID = o.ID
				err := st.WithTx(ctx, func(tx storage.Store) error {
					if err := tx.CreateUser(ctx, u); err != nil {
						return err
					}
					return tx.AppendAudit(ctx, &storage.AuditEvent{OrgID: o.ID, Actor: "cli", Action: "user.create",
						Target: u.ID, Outcome: "success", Detail: "username " + u.Username})
				})
				if errors.Is(err, storage.ErrAlreadyExists) {
					return fmt.Errorf("user %q already exists in organization %q", username, org)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "created user %s (%s)\n", u.Username, u.ID)
				return nil
			})
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
			return a.withOrg(cmd.Context(), org, func(ctx context.Context, st storage.Store, o *storage.Organization) error {
				return st.WithTx(ctx, func(tx storage.Store) error {
					u, err := tx.GetUserByUsername(ctx, o.ID, username)
					if errors.Is(err, storage.ErrNotFound) {
						return fmt.Errorf("no user %q in organization %q", username, org)
					}
					if err != nil {
						return err
					}
					if u.Status == status {
						fmt.Fprintf(a.stdout, "user %s is already %s\n", u.Username, status)
						return nil
					}
					u.Status = status
					if err := tx.UpdateUser(ctx, u); err != nil {
						return err
					}
					if status == storage.UserDeactivated {
						if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
							return err
						}
					}
					if err := tx.AppendAudit(ctx, &storage.AuditEvent{OrgID: o.ID, Actor: "cli", Action: "user." + verb,
						Target: u.ID, Outcome: "success"}); err != nil {
						return err
					}
					fmt.Fprintf(a.stdout, "user %s is now %s\n", u.Username, status)
					return nil
				})
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization name (required)")
	cmd.Flags().StringVar(&username, "user", "", "username (required)")
	_ = cmd.MarkFlagRequired("org")
	_ = cmd.MarkFlagRequired("user")
	return cmd
}

// withOrg opens the migrated database and finds the organization by name.
func (a *app) withOrg(ctx context.Context, name string, fn func(context.Context, storage.Store, *storage.Organization) error) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	st, err := openMigrated(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	o, err := st.GetOrganizationByName(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no organization %q", name)
	}
	if err != nil {
		return err
	}
	return fn(ctx, st, o)
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

// validUsername applies the shared name rule to a username.
func validUsername(name string) error {
	if err := names.Check(name); err != nil {
		return fmt.Errorf("username %w", err)
	}
	return nil
}
