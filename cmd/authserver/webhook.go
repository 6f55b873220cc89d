package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"authserver/config"
	"authserver/governance"
	"authserver/outbox"
	"authserver/outbox/webhook"
	"authserver/signing"
	"authserver/storage"
)

// webhookSealer seals and opens webhook secrets with a key derived from
// the key-encryption key (see signing.NewSealer), so that every replica
// with the KEK can sign deliveries.
func webhookSealer(cfg *config.Config) (*signing.Sealer, error) {
	k, err := kek(cfg)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return signing.NewSealer(k, webhook.SecretPurpose)
}

// deliveryTiming is events.delivery as the outbox takes it.
func deliveryTiming(cfg *config.Config) outbox.Timing {
	d := cfg.Events.Delivery
	return outbox.Timing{Interval: d.Interval.D(), Lease: d.Lease.D(), RetryFor: d.RetryFor.D(), Retention: d.Retention.D(),
		MinBackoff: d.MinBackoff.D(), MaxBackoff: d.MaxBackoff.D()}
}

func (a *app) orgWebhookCommand() *cobra.Command {
	return group("webhook", "Add, list and remove an organization's webhooks (lifecycle events, signed)",
		a.webhookAddCommand(), a.webhookListCommand(), a.webhookRemoveCommand())
}

func (a *app) webhookAddCommand() *cobra.Command {
	var org, url string
	var types []string
	cmd := &cobra.Command{
		Use:   "add --org ORG --url URL [--event-type TYPE]...",
		Short: "Add a webhook; its signing secret is printed on stdout, this once",
		Long: `Add a webhook to an organization: its lifecycle events (PATs created, revoked,
expired; users deactivated; …) are POSTed to the URL as JSON, signed as Standard Webhooks
define. The URL must be https; plain http is accepted only to 127.0.0.1, [::1] or
localhost, for tests and development. Unless events.webhooks.private_networks is true,
a URL naming a loopback, private, link-local or other non-public address is refused,
and deliveries never connect to one. --event-type, repeated, sends only those types.

The signing secret (whsec_…) is printed on stdout and never shown again: give it to the
receiver, which verifies every request with it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, o, err := a.openOrg(ctx, org)
			if err != nil {
				return err
			}
			defer s.Close()
			sealer, err := webhookSealer(s.cfg)
			if err != nil {
				return err
			}
			opts := governanceOptions(s.cfg, s.st)
			opts.WebhookSecrets = sealer
			nw, err := governance.New(opts).CreateWebhook(ctx, governance.CLI(), o.ID,
				governance.WebhookRequest{URL: url, EventTypes: types})
			if err != nil {
				return flagError(err, map[string]string{"url": "--url", "event_types": "--event-type"})
			}
			if _, err := fmt.Fprintln(a.stdout, nw.Secret); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "added webhook %s to organization %s, sending %s\n", nw.Webhook.ID, o.Name, typesOf(nw.Webhook))
			fmt.Fprintln(a.stderr, "the signing secret (on stdout) is shown only this once: give it to the receiver now")
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization name (required)")
	cmd.Flags().StringVar(&url, "url", "", "where events are POSTed: https, or http to the loopback host (required)")
	cmd.Flags().StringArrayVar(&types, "event-type", nil, "send only this event type, such as pat.revoked (repeatable; default: every type)")
	_ = cmd.MarkFlagRequired("org")
	_ = cmd.MarkFlagRequired("url")
	return cmd
}

func (a *app) webhookListCommand() *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "list --org ORG",
		Short: "List an organization's webhooks (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, o, err := a.openOrg(ctx, org)
			if err != nil {
				return err
			}
			defer s.Close()
			ws, err := s.gov.ListWebhooks(ctx, governance.CLI(), o.ID)
			if err != nil {
				return err
			}
			if len(ws) == 0 {
				fmt.Fprintf(a.stderr, "organization %s has no webhooks\n", o.Name)
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tURL\tEVENT TYPES\tCREATED")
			for _, w := range ws {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", w.ID, w.URL, typesOf(w), w.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization name (required)")
	_ = cmd.MarkFlagRequired("org")
	return cmd
}

func (a *app) webhookRemoveCommand() *cobra.Command {
	var org, id string
	cmd := &cobra.Command{
		Use:   "remove --org ORG --id ID",
		Short: "Remove a webhook; deliveries to it still pending end",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, o, err := a.openOrg(ctx, org)
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.gov.DeleteWebhook(ctx, governance.CLI(), o.ID, id); err != nil {
				if governance.KindOf(err) == governance.NotFound {
					return fmt.Errorf("--id: organization %s has no such webhook", o.Name)
				}
				return err
			}
			fmt.Fprintf(a.stdout, "removed webhook %s\n", id)
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization name (required)")
	cmd.Flags().StringVar(&id, "id", "", "the webhook's id, as webhook list shows it (required)")
	_ = cmd.MarkFlagRequired("org")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

// typesOf describes a webhook's event-type filter.
func typesOf(w storage.Webhook) string {
	if len(w.EventTypes) == 0 {
		return "every event type"
	}
	return strings.Join(w.EventTypes, " ")
}
