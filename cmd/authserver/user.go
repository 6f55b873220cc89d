package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"authserver/governance"
	"authserver/storage"
)

func (a *app) userCommand() *cobra.Command {
	return group("user", "Manage users", a.userCreateCommand(), a.userListCommand(), a.userSetPasswordCommand(),
		a.userStatusCommand("deactivate", storage.UserDeactivated), a.userStatusCommand("activate", storage.UserActive),
		a.userSetEmailCommand())
}

// passwordFlags map governance's password fields to the command line's
// words.
var passwordFlags = map[string]string{"password": "the password"}

func (a *app) userCreateCommand() *cobra.Command {
	var org, username, kind, email string
	var admin, passwordStdin, link, noPassword bool
	cmd := &cobra.Command{
		Use:   "create --org ORG --username NAME [--kind local] [--admin] [--email ADDRESS] (--password-stdin | --link | --no-password)",
		Short: "Create a user",
		Long: `Create a user. A local user needs one of:

  --password-stdin  the console password, read from the first line of stdin
  --link            a one-time set-password link, printed alone on stdout; it works once,
                    for 72 hours, and is shown only this once
  --no-password     no console password (for a user who will only use a directory, or
                    whose password an admin sets later with user set-password)

A password has at least 12 characters, at most 1024 bytes, and does not contain the
username (ignoring case). Directory and SAML users have no password here.

--email gives the user an e-mail address for the notices about their PATs: one plain
address such as alice@example.com (no display name), at most 254 bytes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Checked before stdin is read; governance checks them again.
			k := storage.UserKind(kind)
			switch k {
			case storage.UserLocal, storage.UserDirectory, storage.UserSAML:
			default:
				return fmt.Errorf("--kind must be local, directory or saml")
			}
			n := 0
			for _, set := range []bool{passwordStdin, link, noPassword} {
				if set {
					n++
				}
			}
			switch {
			case n > 1:
				return fmt.Errorf("give only one of --password-stdin, --link and --no-password")
			case (passwordStdin || link) && k != storage.UserLocal:
				return fmt.Errorf("only local users have a password")
			case n == 0 && k == storage.UserLocal:
				return fmt.Errorf("a local user needs --password-stdin, --link or --no-password")
			}
			req := governance.UserRequest{Username: username, Kind: k, Admin: admin, Link: link, Email: email}
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
				return flagError(err, map[string]string{"username": "--username", "kind": "--kind", "password": passwordFlags["password"], "email": "--email"})
			}
			if u.Link == nil {
				fmt.Fprintf(a.stdout, "created user %s (%s)\n", u.Username, u.ID)
				return nil
			}
			fmt.Fprintf(a.stderr, "created user %s (%s)\n", u.Username, u.ID)
			return a.printLink(s, u.Username, u.Link)
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization name (required)")
	cmd.Flags().StringVar(&username, "username", "", "username (required)")
	cmd.Flags().StringVar(&kind, "kind", "local", "local, directory or saml")
	cmd.Flags().BoolVar(&admin, "admin", false, "make the user an organization administrator")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the console password from the first line of stdin")
	cmd.Flags().BoolVar(&link, "link", false, "print a one-time set-password link instead")
	cmd.Flags().BoolVar(&noPassword, "no-password", false, "create a local user without a console password")
	cmd.Flags().StringVar(&email, "email", "", "the user's e-mail address, for notices about their PATs")
	_ = cmd.MarkFlagRequired("org")
	_ = cmd.MarkFlagRequired("username")
	return cmd
}

// printLink prints a set-password link alone on stdout, and what it is
// on stderr.
func (a *app) printLink(s *service, username string, l *governance.SetPasswordLink) error {
	if _, err := fmt.Fprintln(a.stdout, governance.PasswordLinkURL(s.cfg.Issuer, l.Secret)); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "the set-password link of %s (on stdout) works once, until %s; it is shown only this once\n",
		username, formatTime(l.ExpiresAt))
	return nil
}

func (a *app) userListCommand() *cobra.Command {
	var org, status, kind, search string
	cmd := &cobra.Command{
		Use:   "list --org ORG [--status active|deactivated] [--kind local|directory|saml] [--search TEXT]",
		Short: "List the users of an organization",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, o, err := a.openOrg(ctx, org)
			if err != nil {
				return err
			}
			defer s.Close()
			f := governance.UserFilter{Status: storage.UserStatus(status), Kind: storage.UserKind(kind), Search: search,
				Limit: listPageSize}
			var all []storage.User
			for {
				page, err := s.gov.ListUsers(ctx, governance.CLI(), o.ID, f)
				if err != nil {
					return flagError(err, map[string]string{"status": "--status", "kind": "--kind", "q": "--search"})
				}
				all = append(all, page.Items...)
				if page.Next == "" {
					break
				}
				f.Cursor = page.Next
			}
			if len(all) == 0 {
				fmt.Fprintf(a.stderr, "no users in organization %s match\n", o.Name)
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tKIND\tSTATUS\tADMIN\tCREATED\tID")
			for _, u := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, u.Kind, u.Status, map[bool]string{true: "yes", false: "no"}[u.Admin],
					formatTime(u.CreatedAt), u.ID)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization name (required)")
	cmd.Flags().StringVar(&status, "status", "", "only users with this status: active or deactivated")
	cmd.Flags().StringVar(&kind, "kind", "", "only users of this kind: local, directory or saml")
	cmd.Flags().StringVar(&search, "search", "", "only usernames that contain this text, ignoring case")
	_ = cmd.MarkFlagRequired("org")
	return cmd
}

func (a *app) userSetPasswordCommand() *cobra.Command {
	var org, username string
	var link bool
	cmd := &cobra.Command{
		Use:   "set-password --org ORG --user NAME [--link]",
		Short: "Set a local user's console password from stdin, or print a set-password link",
		Long: `Set a local user's console password, read from the first line of stdin:

  printf '%s\n' "$NEW_PASSWORD" | authserver user set-password --org acme --user alice

or, with --link, clear it and print a one-time set-password link alone on stdout (it works
once, for 72 hours, and is shown only this once). Either way the old password stops working
and every console session of the user ends. A password has at least 12 characters, at most
1024 bytes, and does not contain the username (ignoring case).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := governance.PasswordReset{Link: link}
			if !link {
				pw, err := readSecretLine(a.stdin)
				if err != nil {
					return fmt.Errorf("read password: %w", err)
				}
				if pw == "" {
					return fmt.Errorf("the password on stdin is empty")
				}
				r.Password = pw
			}
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
			l, err := s.gov.ResetPassword(ctx, governance.CLI(), o.ID, u.ID, r)
			switch {
			case governance.KindOf(err) == governance.NotFound:
				return fmt.Errorf("no user %q in organization %q", username, org)
			case err != nil:
				return flagError(err, passwordFlags)
			case l != nil:
				return a.printLink(s, u.Username, l)
			}
			fmt.Fprintf(a.stdout, "password of %s set; their console sessions have ended\n", u.Username)
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization name (required)")
	cmd.Flags().StringVar(&username, "user", "", "username (required)")
	cmd.Flags().BoolVar(&link, "link", false, "print a one-time set-password link instead of reading a password")
	_ = cmd.MarkFlagRequired("org")
	_ = cmd.MarkFlagRequired("user")
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

func (a *app) userSetEmailCommand() *cobra.Command {
	var org, username, email string
	var remove bool
	cmd := &cobra.Command{
		Use:   "set-email --org ORG --user NAME (--email ADDRESS | --remove)",
		Short: "Set or remove a user's e-mail address",
		Long: `Set a user's e-mail address, where the notices about their PATs go (expiry notices,
revocations someone else made), or remove it with --remove. The address is one plain
address such as alice@example.com (no display name), at most 254 bytes. The audit log
records that it was set, changed or removed, never the address.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set := cmd.Flags().Changed("email")
			switch {
			case set == remove:
				return errors.New("give exactly one of --email and --remove")
			case set && email == "":
				return errors.New("--email: is empty; use --remove to remove the address")
			}
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
			u, err = s.gov.SetUserEmail(ctx, governance.CLI(), o.ID, u.ID, email)
			switch {
			case governance.KindOf(err) == governance.NotFound:
				return fmt.Errorf("no user %q in organization %q", username, org)
			case err != nil:
				return flagError(err, map[string]string{"email": "--email"})
			case u.Email == "":
				fmt.Fprintf(a.stdout, "user %s has no e-mail address\n", u.Username)
			default:
				fmt.Fprintf(a.stdout, "e-mail address of %s set\n", u.Username)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization name (required)")
	cmd.Flags().StringVar(&username, "user", "", "username (required)")
	cmd.Flags().StringVar(&email, "email", "", "the new address")
	cmd.Flags().BoolVar(&remove, "remove", false, "remove the address")
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
