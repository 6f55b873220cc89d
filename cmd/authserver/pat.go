package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"authserver/exchange"
	"authserver/governance"
	"authserver/internal/duration"
	"authserver/storage"
)

func (a *app) patCommand() *cobra.Command {
	return group("pat", "Manage personal access tokens (as an operator, in any organization)",
		a.patCreateCommand(), a.patListCommand(), a.patRevokeCommand(), a.patRegenerateCommand())
}

// patCreateFlags are the flags of pat create.
type patCreateFlags struct {
	org, username, name, scopes, expiresIn, expiresAt string
	noExpiry                                          bool
	delegates                                         []string
	allowCIDRs                                        []string
}

func (a *app) patCreateCommand() *cobra.Command {
	var f patCreateFlags
	cmd := &cobra.Command{
		Use:   `create --org ORG --user USER --name NAME --scopes "A B" [--expires-in 30d | --expires-at RFC3339 | --no-expiry] [--delegate CLIENT]... [--allow-cidr CIDR]...`,
		Short: "Create a PAT for a user; the token alone goes to stdout",
		Long: `Create a personal access token owned by a user, under the same rules as the API: the
scopes must be in the catalogue, the organization must have PATs enabled, the owner must be an
active local user, and the expiry must respect the organization's maximum lifetime. Without an
expiry flag the token expires after the organization's maximum lifetime, or never when it has
none.

--delegate names a client allowed to exchange the PAT's access tokens on the owner's behalf
(a chained exchange, as an MCP gateway does; see docs/agents.md): a confidential client with
on_behalf_of in the configuration. Repeat it for several. Without it the PAT's tokens cannot be
exchanged further.

--allow-cidr names a network the PAT may be exchanged from (192.0.2.0/24, 2001:db8::/32, or a
single address), as the server's trusted-proxy rules name the client's address. Repeat it for
several (at most 16). Without it the PAT may be exchanged from anywhere. A regenerated PAT keeps
its networks.

The token is printed alone on stdout, followed by a newline, so that a script can capture it:

  TOKEN=$(authserver pat create --org acme --user alice --name ci --scopes "OR.Jobs.Read")

Everything else goes to stderr. The token is shown this once and never again: only its
SHA-256 is stored.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.createPAT(cmd.Context(), f) },
	}
	cmd.Flags().StringVar(&f.org, "org", "", "organization name (required)")
	cmd.Flags().StringVar(&f.username, "user", "", "username of the owner, an active local user (required)")
	cmd.Flags().StringVar(&f.name, "name", "", "name of the PAT, unique among the owner's PATs that are not revoked (required)")
	cmd.Flags().StringVar(&f.scopes, "scopes", "", `scopes from the catalogue, separated by spaces or commas, e.g. "OR.Jobs OR.Folders.Read" (required)`)
	cmd.Flags().StringVar(&f.expiresIn, "expires-in", "", "expire this long from now, e.g. 30d or 12h")
	cmd.Flags().StringVar(&f.expiresAt, "expires-at", "", "expire at this RFC 3339 time, e.g. 2030-01-31T18:00:00Z")
	cmd.Flags().BoolVar(&f.noExpiry, "no-expiry", false, "never expire (refused when the organization has a maximum lifetime)")
	cmd.Flags().StringArrayVar(&f.delegates, "delegate", nil, "client id allowed a chained exchange of the PAT's tokens (repeatable)")
	cmd.Flags().StringArrayVar(&f.allowCIDRs, "allow-cidr", nil, "network the PAT may be exchanged from, e.g. 192.0.2.0/24 (repeatable)")
	for _, name := range []string{"org", "user", "name", "scopes"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// createPAT creates the PAT f asks for and prints it.
func (a *app) createPAT(ctx context.Context, f patCreateFlags) error {
	req := governance.PATRequest{Name: f.name, Scopes: splitScopes(f.scopes), NoExpiry: f.noExpiry, Delegates: f.delegates,
		AllowedCIDRs: f.allowCIDRs}
	expiryFlag, err := f.expiry(&req)
	if err != nil {
		return err
	}
	s, o, err := a.openOrg(ctx, f.org)
	if err != nil {
		return err
	}
	defer s.Close()
	u, err := s.user(ctx, o, f.username)
	if err != nil {
		return err
	}
	nt, err := s.gov.CreatePAT(ctx, governance.CLI(), o.ID, u.ID, req)
	if err != nil {
		return patCreateRefusal(err, o, u, f.name, expiryFlag)
	}
	// The token alone on stdout; everything else on stderr.
	if _, err := fmt.Fprintln(a.stdout, nt.Token); err != nil {
		return fmt.Errorf("write the token: %w", err)
	}
	fmt.Fprintf(a.stderr, "created PAT %s %q for user %s in organization %s\n", nt.ID, nt.Name, nt.Owner, o.Name)
	fmt.Fprintf(a.stderr, "scopes: %s; expires: %s\n", strings.Join(nt.Scopes, " "), formatExpiry(nt.ExpiresAt))
	if len(nt.Delegates) > 0 {
		fmt.Fprintf(a.stderr, "delegates: %s\n", strings.Join(nt.Delegates, " "))
	}
	if len(nt.AllowedCIDRs) > 0 {
		fmt.Fprintf(a.stderr, "allowed networks: %s\n", strings.Join(nt.AllowedCIDRs, " "))
	}
	fmt.Fprintln(a.stderr, "the token (on stdout) is shown only this once: store it now, it cannot be retrieved again")
	return nil
}

// expiry sets req's expiry from at most one of the expiry flags, and
// returns the flag it came from, which a refusal of the expiry names.
func (f patCreateFlags) expiry(req *governance.PATRequest) (flag string, err error) {
	set := 0
	for _, on := range []bool{f.expiresIn != "", f.expiresAt != "", f.noExpiry} {
		if on {
			set++
		}
	}
	if set > 1 {
		return "", errors.New("use only one of --expires-in, --expires-at and --no-expiry")
	}
	switch {
	case f.expiresIn != "":
		d, err := duration.Parse(f.expiresIn)
		if err != nil {
			return "", fmt.Errorf("--expires-in: %w", err)
		}
		if d <= 0 {
			return "", errors.New("--expires-in: must be positive")
		}
		req.ExpiresAt = ptr(time.Now().Add(d))
		return "--expires-in", nil
	case f.expiresAt != "":
		at, err := time.Parse(time.RFC3339, f.expiresAt)
		if err != nil {
			return "", fmt.Errorf("--expires-at: %q is not an RFC 3339 time such as 2030-01-31T18:00:00Z", f.expiresAt)
		}
		req.ExpiresAt = &at
		return "--expires-at", nil
	}
	return "--no-expiry", nil
}

// patCreateRefusal says why governance refused to create a PAT in the
// command's terms: the flag at fault, and what to do for the two refusals
// an operator meets most.
func patCreateRefusal(err error, o *storage.Organization, u *storage.User, name, expiryFlag string) error {
	var ge *governance.Error
	switch {
	case errors.As(err, &ge) && ge.Code == "expiry-required":
		return fmt.Errorf("cannot create PAT: --no-expiry is not allowed in organization %q, whose maximum PAT lifetime is %s",
			o.Name, duration.Format(o.PATMaxLifetime))
	case errors.As(err, &ge) && ge.Code == "name-taken":
		return fmt.Errorf("cannot create PAT: user %s already has a PAT named %q that is not revoked; choose another --name",
			u.Username, name)
	}
	err = flagError(err, map[string]string{"name": "--name", "scopes": "--scopes", "expires_at": expiryFlag, "delegates": "--delegate",
		"allowed_cidrs": "--allow-cidr"})
	return fmt.Errorf("cannot create PAT: %w", err)
}

// listPageSize is how many PATs pat list reads per page; a variable so that
// tests can make the command follow several pages.
var listPageSize = governance.MaxPageSize

func (a *app) patListCommand() *cobra.Command {
	var org, username, status string
	cmd := &cobra.Command{
		Use:   "list --org ORG [--user USER] [--status active|expired|revoked]",
		Short: "List the PATs of an organization (never a token or its hash)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, o, err := a.openOrg(ctx, org)
			if err != nil {
				return err
			}
			defer s.Close()
			f := governance.PATFilter{Status: storage.PATStatus(status), Limit: listPageSize}
			if username != "" {
				u, err := s.user(ctx, o, username)
				if err != nil {
					return err
				}
				f.OwnerID = u.ID
			}
			var all []governance.PATView
			for {
				page, err := s.gov.ListPATs(ctx, governance.CLI(), o.ID, f)
				if err != nil {
					return flagError(err, map[string]string{"status": "--status"})
				}
				all = append(all, page.Items...)
				if page.Next == "" {
					break
				}
				f.Cursor = page.Next
			}
			if len(all) == 0 {
				fmt.Fprintf(a.stderr, "no PATs in organization %s match\n", o.Name)
				return nil
			}
			return writePATTable(a.stdout, all)
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization name (required)")
	cmd.Flags().StringVar(&username, "user", "", "only this user's PATs")
	cmd.Flags().StringVar(&status, "status", "", "only PATs with this status: active, expired or revoked")
	_ = cmd.MarkFlagRequired("org")
	return cmd
}

// writePATTable writes PATs as aligned columns. The hint (prefix and last
// four characters) helps match a PAT someone holds; it is not the token.
func writePATTable(w io.Writer, pats []governance.PATView) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tOWNER\tNAME\tSCOPES\tSTATUS\tCREATED\tEXPIRES\tLAST USED\tHINT")
	for _, p := range pats {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Owner, p.Name, strings.Join(p.Scopes, " "),
			p.Status, formatTime(p.CreatedAt), formatExpiry(p.ExpiresAt), formatExpiry(p.LastUsedAt), p.Hint)
	}
	return tw.Flush()
}

func (a *app) patRevokeCommand() *cobra.Command {
	var org string
	var ids []string
	var tokenStdin bool
	cmd := &cobra.Command{
		Use:   "revoke --org ORG (--id ID [--id ID…] | --token-stdin)",
		Short: "Revoke PATs of an organization by id, or one by its value read from stdin",
		Long: `Revoke PATs at once: every later exchange of them fails. Revoked PATs stay listed with
status revoked.

With --id, revoke PATs of the organization by id; ids that are not PATs of the organization
are reported and make the command fail after revoking the others.

With --token-stdin, read a token value from the first line of stdin (so that it never appears
in a process list or shell history) and revoke it if it is a PAT of the organization; its
owner and name are printed. A value that is no PAT of the organization is an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (len(ids) > 0) == tokenStdin {
				return errors.New("give either --id (once per PAT) or --token-stdin")
			}
			var value string
			if tokenStdin {
				var err error
				if value, err = readSecretLine(a.stdin); err != nil {
					return fmt.Errorf("read the token from stdin: %w", err)
				}
			}
			ctx := cmd.Context()
			s, o, err := a.openOrg(ctx, org)
			if err != nil {
				return err
			}
			defer s.Close()
			if tokenStdin {
				return a.revokeByValue(ctx, s, o, value)
			}
			return a.revokeByID(ctx, s, o, ids)
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization name (required)")
	cmd.Flags().StringSliceVar(&ids, "id", nil, "id of a PAT to revoke; repeat the flag or separate ids with commas")
	cmd.Flags().BoolVar(&tokenStdin, "token-stdin", false, "read the token to revoke from the first line of stdin")
	_ = cmd.MarkFlagRequired("org")
	return cmd
}

func (a *app) revokeByID(ctx context.Context, s *service, o *storage.Organization, ids []string) error {
	res, err := s.gov.RevokePATs(ctx, governance.CLI(), o.ID, ids)
	if err != nil {
		return flagError(err, map[string]string{"ids": "--id"})
	}
	for _, id := range res.Revoked {
		if !slices.Contains(res.AlreadyRevoked, id) {
			fmt.Fprintf(a.stdout, "revoked %s\n", id)
		}
	}
	var problems []string
	if n := len(res.AlreadyRevoked); n > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d PATs were already revoked, nothing changed for them: %s",
			n, len(res.NotFound)+len(res.Revoked), strings.Join(res.AlreadyRevoked, ", ")))
	}
	if len(res.NotFound) == 0 {
		if problems != nil {
			return errors.New(problems[0])
		}
		return nil
	}
	shown := make([]string, len(res.NotFound))
	for i, id := range res.NotFound {
		shown[i] = redactID(s.cfg.Tokens.PATPrefix, id)
	}
	problems = append(problems, fmt.Sprintf("%d of %d ids match no PAT of organization %q: %s", len(res.NotFound), len(res.NotFound)+len(res.Revoked),
		o.Name, strings.Join(shown, ", ")))
	return errors.New(strings.Join(problems, "; "))
}

// plainID is what an unknown id may look like to be echoed back.
var plainID = regexp.MustCompile(`^[0-9A-Za-z._-]{1,64}$`)

// redactID keeps a value that someone passed to --id by mistake from
// being echoed when it may be a token (or anything else) rather than an id.
func redactID(prefix, id string) string {
	if strings.HasPrefix(id, prefix) || exchange.CheckPAT(prefix, id) == nil || !plainID.MatchString(id) {
		return "(a value that is not an id; to revoke a token by value use --token-stdin)"
	}
	return id
}

func (a *app) revokeByValue(ctx context.Context, s *service, o *storage.Organization, value string) error {
	start := time.Now().UTC().Truncate(time.Microsecond)
	v, err := s.gov.RevokeByValue(ctx, governance.CLI(), o.ID, value)
	if governance.KindOf(err) == governance.NotFound {
		return fmt.Errorf("no PAT of organization %q has that value", o.Name)
	}
	if err != nil {
		return err
	}
	if v.RevokedAt != nil && v.RevokedAt.Before(start) {
		return fmt.Errorf("PAT %s %q of user %s was already revoked at %s; nothing changed", v.ID, v.Name, v.Owner, formatTime(*v.RevokedAt))
	}
	fmt.Fprintf(a.stdout, "revoked PAT %s %q of user %s\n", v.ID, v.Name, v.Owner)
	return nil
}

// patRegenerateFlags are the flags of pat regenerate.
type patRegenerateFlags struct {
	org, id, expiresIn string
	overlap            string
}

func (a *app) patRegenerateCommand() *cobra.Command {
	var f patRegenerateFlags
	cmd := &cobra.Command{
		Use:   "regenerate --org ORG --id ID [--expires-in 30d] [--overlap 24h]",
		Short: "Issue a new token for a PAT, same name and scopes; the token alone goes to stdout",
		Long: `Replace a PAT by a new one with the same owner, name and scopes, and a new token: the old
token stops working at once, and the old PAT stays listed as revoked. Only a PAT that is neither
expired nor revoked can be regenerated.

Without --expires-in the new PAT lives as long as the old one was meant to, counted from now,
and never beyond the organization's maximum lifetime. With it, the new PAT expires that long
from now, which must respect the maximum.

With --overlap (a duration such as 24h or 2d, at most 7d) the old token keeps working that long,
so that what uses it can move to the new one; the old PAT is listed as revoked meanwhile, with
the time its token stops. Presenting the old token after that is refused and audited as the
reuse of a rotated token. The new PAT keeps the old one's delegates and allowed networks.

The new token is printed alone on stdout, followed by a newline; everything else goes to
stderr. The token is shown this once and never again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.regeneratePAT(cmd.Context(), f) },
	}
	cmd.Flags().StringVar(&f.org, "org", "", "organization name (required)")
	cmd.Flags().StringVar(&f.id, "id", "", "id of the PAT to regenerate (required; see pat list)")
	cmd.Flags().StringVar(&f.expiresIn, "expires-in", "", "expire this long from now, e.g. 30d or 12h")
	cmd.Flags().StringVar(&f.overlap, "overlap", "", "keep the old token working this long, e.g. 24h or 2d (at most 7d; default: stop it at once)")
	for _, name := range []string{"org", "id"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// regeneratePAT regenerates the PAT f names and prints the new token.
func (a *app) regeneratePAT(ctx context.Context, f patRegenerateFlags) error {
	var req governance.PATRequest
	if f.expiresIn != "" {
		d, err := duration.Parse(f.expiresIn)
		if err != nil {
			return fmt.Errorf("--expires-in: %w", err)
		}
		if d <= 0 {
			return errors.New("--expires-in: must be positive")
		}
		req.ExpiresAt = ptr(time.Now().Add(d))
	}
	if f.overlap != "" {
		d, err := duration.Parse(f.overlap)
		if err != nil {
			return fmt.Errorf("--overlap: %w", err)
		}
		req.Overlap = d
	}
	s, o, err := a.openOrg(ctx, f.org)
	if err != nil {
		return err
	}
	defer s.Close()
	nt, err := s.gov.RegeneratePAT(ctx, governance.CLI(), o.ID, f.id, req)
	var ge *governance.Error
	switch {
	case governance.KindOf(err) == governance.NotFound:
		return fmt.Errorf("cannot regenerate: %s matches no PAT of organization %q", redactID(s.cfg.Tokens.PATPrefix, f.id), o.Name)
	case errors.As(err, &ge) && ge.Code == "pat-revoked":
		return fmt.Errorf("cannot regenerate PAT %s: it is revoked; create a new one with pat create", f.id)
	case errors.As(err, &ge) && ge.Code == "pat-expired":
		return fmt.Errorf("cannot regenerate PAT %s: it has expired; create a new one with pat create", f.id)
	case err != nil:
		return fmt.Errorf("cannot regenerate: %w", flagError(err, map[string]string{"expires_at": "--expires-in", "overlap": "--overlap"}))
	}
	if _, err := fmt.Fprintln(a.stdout, nt.Token); err != nil {
		return fmt.Errorf("write the token: %w", err)
	}
	oldWorks := "the old token no longer works"
	if old, err := s.st.GetPAT(ctx, o.ID, f.id); err == nil && old.OverlapUntil != nil {
		oldWorks = "the old token works until " + formatTime(*old.OverlapUntil)
	}
	fmt.Fprintf(a.stderr, "regenerated PAT %s %q of user %s in organization %s as %s; %s\n",
		f.id, nt.Name, nt.Owner, o.Name, nt.ID, oldWorks)
	fmt.Fprintf(a.stderr, "scopes: %s; expires: %s\n", strings.Join(nt.Scopes, " "), formatExpiry(nt.ExpiresAt))
	if len(nt.Delegates) > 0 {
		fmt.Fprintf(a.stderr, "delegates: %s\n", strings.Join(nt.Delegates, " "))
	}
	fmt.Fprintln(a.stderr, "the token (on stdout) is shown only this once: store it now, it cannot be retrieved again")
	return nil
}

// splitScopes reads a --scopes value: names separated by spaces or commas.
func splitScopes(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// formatExpiry formats an expiry or last use; nil is "never".
func formatExpiry(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return formatTime(*t)
}

func ptr[T any](v T) *T { return &v }
