package main

import (
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"authserver/internal/duration"
	"authserver/signing"
)

func (a *app) keysCommand() *cobra.Command {
	return group("keys", "Inspect and rotate the JWT signing keys", a.keysListCommand(), a.keysRotateCommand())
}

func (a *app) keysListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the signing keys and their states (no key material)",
		Long: `List the signing keys with their states now: pending (published in the JWKS, not signing
yet), active (signing), retiring (superseded, published until the tokens it signed expire) and
retired (unpublished, deleted at the next maintenance). No key material is read, so this needs
no encryption key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			st, err := openMigrated(ctx, cfg, false)
			if err != nil {
				return err
			}
			defer st.Close()
			keys, err := signing.ListKeys(ctx, st, time.Now())
			if err != nil {
				return err
			}
			if len(keys) == 0 {
				fmt.Fprintln(a.stderr, "no signing keys yet: serve (or keys rotate) creates the first")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATES\tRETIRES")
			for _, k := range keys {
				retires := "-"
				if k.RetiresAt != nil {
					retires = formatTime(*k.RetiresAt)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Algorithm, k.State,
					formatTime(k.CreatedAt), formatTime(k.ActivatesAt), retires)
			}
			return tw.Flush()
		},
	}
}

func (a *app) keysRotateCommand() *cobra.Command {
	var immediately bool
	cmd := &cobra.Command{
		Use:   "rotate [--immediately]",
		Short: "Create a new signing key now instead of waiting for the schedule",
		Long: `Create a new signing key (of keys.algorithm) ahead of the schedule set by keys.rotation_period.

Without --immediately the new key is pre-published: it appears in the JWKS at once but only
starts signing after keys.publish_ahead, so that resource servers that cache the JWKS have
fetched it before they see a token it signed. If a key is already pending, no new key is
created and the pending one is shown. The current key keeps signing until then, and stays
published until every token it signed has expired.

--immediately is for a compromised key: the new key signs at once (each running server picks
it up at its next key refresh, within 30 seconds), and the old key is retired as early as is
safe. Resource servers holding a cached JWKS may reject the new tokens until they fetch the
JWKS again. Tokens the old key signed stay valid until they expire; to cut them off, revoke the
PATs they came from.

This needs the key-encryption key (keys.encryption_key, or the key file beside a SQLite
database), like serve.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			st, err := openMigrated(ctx, cfg, false)
			if err != nil {
				return err
			}
			defer st.Close()
			// The keyring logs its changes; this command reports them itself.
			keys, err := openKeyring(ctx, cfg, st, slog.New(slog.DiscardHandler))
			if err != nil {
				return err
			}
			start := time.Now().UTC().Truncate(time.Microsecond)
			k, err := keys.Rotate(ctx, immediately)
			if err != nil {
				return err
			}
			switch {
			case immediately:
				fmt.Fprintf(a.stdout, "created signing key %s (%s): it signs from now on (%s)\n", k.KID, k.Algorithm, formatTime(k.ActivatesAt))
			case k.CreatedAt.Before(start):
				fmt.Fprintf(a.stdout, "signing key %s (%s) is already pending and activates at %s; no new key created\n",
					k.KID, k.Algorithm, formatTime(k.ActivatesAt))
			default:
				fmt.Fprintf(a.stdout, "created signing key %s (%s): published now, it activates at %s (after keys.publish_ahead, %s)\n",
					k.KID, k.Algorithm, formatTime(k.ActivatesAt), duration.Format(cfg.Keys.PublishAhead.D()))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&immediately, "immediately", false,
		"sign with the new key at once (for a compromised key; resource servers with a cached JWKS may reject new tokens until they refetch it)")
	return cmd
}
